"""A Dagster materialization killed mid-stage resumes from the run's checkpoints and matches an uninterrupted run."""

from __future__ import annotations

import os

import pytest

from tests.reliability.conftest import assay, done_count, run_until, snapshot, write_recipe


@pytest.mark.slow
def test_a_killed_dagster_run_resumes_to_the_same_output(reference, corpus_dir, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, out)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    args = ["run", str(recipe), "--local", "--dagster"]
    assert run_until(args, lambda: done_count(out, "stage-00") >= 4, env=env), "the run finished before the kill"
    [killed] = [p.name for p in (out / "_work").iterdir()]

    resumed = assay(*args, env=env)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "stale lock" in resumed.stderr + resumed.stdout  # the killed run's lock, taken over
    assert f"resuming run {killed}" in resumed.stderr + resumed.stdout
    assert snapshot(out) == reference  # one ledger partition: the same run id, continued
    assert (out / "ledger" / f"run={killed}").is_dir()
    assert not any((out / "_work").iterdir())  # a new run would have left the killed one's work folder behind
