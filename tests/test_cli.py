"""The command line as a user meets it."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from tests.conftest import free_port, write_jsonl

#: What Ray prints on its own (its Python loggers, its C++ core worker, forwarded raylet/worker lines).
RAY_NOISE = re.compile(r"WARNING|core_worker|\(raylet\)|pid=\d|Progress bars|[Tt]oken authentication|\[\d{4}-\d\d-\d\d [\d:,]+ [EWI] ")


def _tiny_recipe(folder) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    texts = [f"Document {i} about rivers, mills and the wheat of the valley." for i in range(20)]
    write_jsonl(folder / "docs.jsonl", [{"text": t} for t in texts + texts[:5]])
    (folder / "recipe.yaml").write_text(
        "name: tiny\nsources:\n  - path: docs.jsonl\nstages:\n  - op: normalize\n  - op: exact_dedup\noutput: out\n"
    )
    return str(folder / "recipe.yaml")


def _stale_ray_record() -> dict[str, str]:
    """An environment whose Ray temp folder records a cluster that is gone (`ray start`, then killed).

    RAY_TMPDIR points Ray at a folder of this test's own, so the record is seen by this test's
    processes only and no other Ray on the machine is touched; short, as Ray's socket paths must be.
    """
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    os.makedirs(f"{temp}/ray")
    with open(f"{temp}/ray/ray_current_cluster", "w") as f:
        f.write(f"127.0.0.1:{free_port()}\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "RAY_TMPDIR": temp}


def test_help_lists_every_command():
    out = CliRunner().invoke(main, ["--help"]).output
    for command in ("demo", "run", "validate", "operators", "generate-corpus"):
        assert command in out
    run_help = CliRunner().invoke(main, ["run", "--help"]).output
    for option in ("--local", "--ray-address", "--concurrency", "--keep-work", "--output"):
        assert option in run_help


def test_operators_lists_builtins_with_params():
    out = CliRunner().invoke(main, ["operators"]).output
    assert "lang_id (v1, stream)" in out and "min_score" in out
    assert "exact_dedup (v1, global)" in out


def test_bad_recipe_exits_nonzero_with_location(tmp_path):
    (tmp_path / "r.yaml").write_text("name: x\nsources: []\noutput: o\n")
    result = CliRunner().invoke(main, ["run", str(tmp_path / "r.yaml"), "--local"])
    assert result.exit_code == 2
    assert "r.yaml:2: sources: List should have at least 1 item" in result.output


@pytest.mark.slow
def test_demo_runs_on_ray_and_reports(tmp_path):
    """`assay demo` end to end as a subprocess: local Ray, the packaged recipe, the generated sample."""
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--out", str(out), "--docs", "600"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["read"] == 600 == summary["kept"] + summary["dropped"] + summary["quarantined"]
    assert summary["kept"] > 200 and summary["tokens"] > 0
    reasons = summary["drop_reasons"]
    assert reasons.get("exact_dedup:duplicate", 0) > 0
    assert reasons.get("fuzzy_dedup:near_duplicate_of", 0) > 0  # the sample's near_dup records
    assert any(r.startswith("gopher_") or r.startswith("c4_fineweb") for r in reasons)
    assert "read = kept + dropped + quarantined" in proc.stdout and "ok" in proc.stdout
    # A first run reads like a finished product: Ray's own lines are in the run's log, not on the terminal.
    assert not [line for line in proc.stderr.splitlines() if RAY_NOISE.search(line)], proc.stderr
    assert re.search(r"^read done: 1 part, 600 records, [\d,]+ records/s, [\d.]+ s$", proc.stderr, re.M), proc.stderr


@pytest.mark.slow
def test_run_with_a_stale_ray_record_starts_a_local_ray_from_another_folder(tmp_path):
    """`assay run` without an address never adopts a dead recorded cluster; --output is read from the current folder."""
    recipe = _tiny_recipe(tmp_path / "recipes")
    here = tmp_path / "here"
    here.mkdir()
    env = _stale_ray_record()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "run", recipe, "--output", "rel-out"],
            cwd=here, env=env, capture_output=True, text=True, timeout=600,
        )
    finally:
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((here / "rel-out" / "summary.json").read_text())
    assert summary["read"] == 25 and summary["drop_reasons"] == {"exact_dedup:duplicate": 5}
    assert not (tmp_path / "recipes" / "rel-out").exists()
    assert not [line for line in proc.stderr.splitlines() if RAY_NOISE.search(line)], proc.stderr
    # without a terminal: one line per stage, with its counts
    assert re.search(r"^normalize done: 1 part, 25 records, [\d,]+ records/s, [\d.]+ s$", proc.stderr, re.M)
    log = re.search(r"^log: +(\S+)", proc.stderr, re.M).group(1)
    assert log.startswith(str(here / "rel-out" / "logs")) and Path(log).read_text().startswith("--- assay run")


@pytest.mark.slow
def test_an_unreachable_ray_address_fails_within_a_minute_naming_it(tmp_path):
    recipe = _tiny_recipe(tmp_path / "r")
    address = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", recipe, "--ray-address", address],
        capture_output=True, text=True, timeout=120,
    )
    assert time.monotonic() - start < 60
    assert proc.returncode == 2
    assert f"error: Ray cluster at {address} did not answer within 20 s; is it running (`ray status`)?" in proc.stderr
