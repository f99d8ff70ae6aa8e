"""Shared pieces of the reliability suite: a corpus, a recipe, a CLI run that can be killed, output snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from operators.formats.shards import read_shard, verify_shard
from operators.sample_corpus import write_jsonl

ASSAY = str(Path(sys.executable).with_name("assay"))


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """Three sample-corpus files (600 documents), so reading is several work items too."""
    folder = tmp_path_factory.mktemp("reliability-corpus")
    for seed in range(3):
        write_jsonl(folder / f"corpus-{seed}.jsonl.gz", 200, seed)
    return folder


@pytest.fixture(scope="session")
def reference(corpus_dir, tmp_path_factory):
    """The uninterrupted run every fault and kill test compares its outcome with (one run per session)."""
    folder = tmp_path_factory.mktemp("reference")
    recipe = write_recipe(folder / "recipe.yaml", corpus_dir, folder / "out")
    result = assay("run", str(recipe), "--local", "--fresh")
    assert result.returncode == 0, result.stderr + result.stdout
    return snapshot(folder / "out")


def write_recipe(path: Path, corpus: Path | str, output: Path, rows_per_part: int = 30) -> Path:
    recipe = {
        "name": "reliability",
        "sources": [{"path": str(corpus)}],
        "stages": [
            {"op": "normalize"},
            {"op": "lang_id", "params": {"languages": ["en", "fr", "de", "es", "it", "pt"], "min_score": 0.65}},
            {"op": "gopher_quality"},
            {"op": "exact_dedup"},
            {"op": "gopher_repetition"},
        ],
        "tokenizer": "smollm2",
        "output": str(output),
        "rows_per_part": rows_per_part,
    }
    path.write_text(json.dumps(recipe))  # YAML is a superset of JSON
    return path


def assay(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([ASSAY, *args], capture_output=True, text=True, timeout=timeout, env=env)


def run_until(args: list[str], condition: Callable[[], bool], timeout: float = 300, env: dict | None = None) -> bool:
    """Start ``assay ARGS`` in its own process group; SIGKILL the whole group once ``condition()`` holds.

    Returns True if the run was killed, False if it finished first.
    """
    proc = subprocess.Popen(
        [ASSAY, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if condition():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"assay {' '.join(args)} neither finished nor reached the kill point")
            time.sleep(0.005)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def done_count(output: Path, phase_dir: str) -> int:
    return sum(len(list(d.glob("*.json"))) for d in output.glob(f"_work/*/done/{phase_dir}"))


def snapshot(output: Path) -> dict:
    """What a reader of the output sees: shard contents, ledger rows (without run ids), counts."""
    manifest = json.loads((output / "manifest.json").read_text())
    shards = {}
    for entry in manifest["shards"]:
        path = str(output / "shards" / entry["shard"])
        assert verify_shard(path) == [], path
        table = read_shard(path)
        shards[entry["shard"]] = list(zip(table.column("id").to_pylist(), table.column("input_ids").to_pylist(), strict=True))
    # No shard in the folder that the manifest does not list (a half-written one that looks complete).
    on_disk = {p.name for p in (output / "shards").glob("*.arrow")}
    assert on_disk == set(shards), on_disk ^ set(shards)
    assert not list((output / "shards").glob("*.tmp-*")), "temporary files left in shards/"
    runs = sorted(p.name for p in (output / "ledger").iterdir())
    assert len(runs) == 1, runs  # a resumed run continues the same run: one ledger partition
    ledger = duckdb.connect().execute(
        f"SELECT id, status, reason, shard, shard_row, token_start, token_count, output_hash, dup_survivor "
        f"FROM read_parquet('{output}/ledger/*/*.parquet') ORDER BY id"
    ).fetchall()
    assert len(ledger) == len({row[0] for row in ledger}), "a record appears twice in the ledger"
    counts = {k: manifest["counts"][k] for k in ("read", "kept", "dropped", "quarantined", "tokens")}
    return {"shards": shards, "ledger": ledger, "counts": counts}
