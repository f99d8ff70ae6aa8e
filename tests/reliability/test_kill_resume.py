"""Kill a run with SIGKILL at many points; start it again; the output is what an uninterrupted run writes.

The run is the real CLI (`assay run`), in its own process group, killed whole
by signal at a point chosen by watching its checkpoints on disk: mid-read,
mid-scoring, inside the global dedup stage, after it, mid-shard-writing and
mid-ledger. The second invocation resumes the same run (one ledger partition,
no record missing or doubled) and does not redo the parts already finished.
"""

from __future__ import annotations

import pytest

from tests.reliability.conftest import assay, done_count, run_until, snapshot, write_recipe

KILL_POINTS = {
    "reading": lambda out: done_count(out, "read") >= 1,
    "scoring": lambda out: done_count(out, "stage-00") >= 4,
    "inside-dedup": lambda out: any(out.glob("_work/*/stage-03-exact_dedup/map/*/*.parquet")),
    "after-dedup": lambda out: done_count(out, "stage-04") >= 3,
    "writing-shards": lambda out: done_count(out, "write_shards") >= 4,
    "writing-ledger": lambda out: done_count(out, "write_ledger") >= 4,
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_run_resumes_to_the_same_output(point, reference, corpus_dir, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, out)
    args = ["run", str(recipe), "--local"]
    assert run_until(args, lambda: KILL_POINTS[point](out)), f"the run finished before reaching {point}"
    assert not (out / "summary.json").exists()

    # Parts that were finished before the kill, with the identity of their files.
    finished_shards = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "shards").glob("*.arrow")} \
        if (out / "shards").exists() else {}

    resumed = assay(*args)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "resuming run" in resumed.stderr
    assert snapshot(out) == reference
    assert not (out / "_work").exists() or not any((out / "_work").iterdir())
    for name, identity in finished_shards.items():  # finished shards were not rewritten
        path = out / "shards" / name
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity, name


@pytest.mark.slow
def test_killed_twice_still_resumes(reference, corpus_dir, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, out)
    args = ["run", str(recipe), "--local"]
    assert run_until(args, lambda: done_count(out, "stage-00") >= 2)
    assert run_until(args, lambda: done_count(out, "write_shards") >= 2)
    resumed = assay(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(out) == reference


@pytest.mark.slow
def test_fresh_starts_over_and_a_finished_run_is_not_resumed(reference, corpus_dir, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, out)
    assert run_until(["run", str(recipe), "--local"], lambda: done_count(out, "stage-00") >= 2)
    fresh = assay("run", str(recipe), "--local", "--fresh")
    assert fresh.returncode == 0 and "resuming" not in fresh.stderr
    again = assay("run", str(recipe), "--local")  # the killed run is older than the fresh one that finished
    assert again.returncode == 0
    assert len(list((out / "ledger").iterdir())) == 2  # the killed run never wrote a ledger; two complete runs did
