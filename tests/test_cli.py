"""The command line as a user meets it."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pipelines.cli import main


def test_help_lists_every_command():
    out = CliRunner().invoke(main, ["--help"]).output
    for command in ("demo", "run", "validate", "operators", "generate-corpus", "report", "export"):
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
    # `assay run` writes the run's report and prints where.
    report = out / "reports" / f"run={summary['run_id']}.html"
    assert report.exists() and f"report:   {report}" in proc.stderr
