"""Kill a run inside a global stage; the rerun resumes at the first unfinished step and writes what an uninterrupted
run writes.

Global operators declare their steps and the run engine checkpoints every item of every step under the stage's
folder (``_work/<run>/stage-NN-<op>/done/<step>/``). The runs are the real CLI, killed whole with SIGKILL while
fuzzy dedup is in its connected-components rounds, and while CLIP scores the parts of a top-fraction stage. The
resumed run must not redo a finished step (its checkpoint files keep their inode and mtime, and the run says so)
and must write byte-identical shards and the same ledger rows as a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from tests.clip_tiny import sample_shards
from tests.reliability.conftest import assay, run_until


def write(path: Path, recipe: dict) -> Path:
    path.write_text(json.dumps(recipe))  # YAML is a superset of JSON
    return path


def outcome(output: Path) -> dict:
    """What a reader sees: the shard files' bytes, every ledger column but the run id, the manifest's counts."""
    manifest = json.loads((output / "manifest.json").read_text())
    shards = {
        entry["shard"]: hashlib.sha256((output / "shards" / entry["shard"]).read_bytes()).hexdigest()
        for entry in manifest["shards"]
    }
    assert {p.name for p in (output / "shards").glob("*.arrow")} == set(shards)
    runs = [p.name for p in (output / "ledger").iterdir()]
    assert len(runs) == 1, runs
    con = duckdb.connect()
    ledger = con.execute(
        f"SELECT * EXCLUDE (run_id) FROM read_parquet('{output}/ledger/*/*.parquet', hive_partitioning = false) ORDER BY id"
    ).fetchall()
    return {"shards": shards, "ledger": ledger, "counts": manifest["counts"]}


def checkpoints(stage: Path) -> dict[str, tuple[int, int]]:
    """Every checkpoint file of a stage's steps with its identity (inode, mtime)."""
    return {
        str(p.relative_to(stage)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted((stage / "done").glob("*/*.json"))
    }


def step_done(out: Path, stage_glob: str, step: str) -> bool:
    return any(out.glob(f"_work/*/{stage_glob}/done/{step}/*.json"))


def kill_and_resume(tmp_path: Path, recipe: dict, stage_glob: str, kill_when, inside: str) -> tuple[dict, dict, str]:
    """An uninterrupted run, and a run killed when ``kill_when(out)`` then resumed; the stage's checkpoints
    at the kill and after the resume, and the resumed run's log."""
    reference = tmp_path / "reference"
    ran = assay("run", str(write(tmp_path / "reference.yaml", {**recipe, "output": str(reference)})), "--local")
    assert ran.returncode == 0, ran.stderr[-3000:]

    out = tmp_path / "out"
    path = write(tmp_path / "recipe.yaml", {**recipe, "output": str(out)})
    args = ["run", str(path), "--local", "--keep-work"]
    assert run_until(args, lambda: kill_when(out)), "the run finished before the kill point"
    (stage,) = out.glob(f"_work/*/{stage_glob}")
    assert not (stage / "done" / inside).exists(), f"killed after the stage's {inside} step: not inside the stage"
    before = checkpoints(stage)

    resumed = assay(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming run" in resumed.stderr
    assert outcome(out) == outcome(reference)
    return before, checkpoints(stage), resumed.stderr


@pytest.mark.slow
def test_killed_in_fuzzy_dedups_component_rounds_resumes_at_the_next_round(corpus_dir, tmp_path):
    recipe = {
        "name": "fuzzy-resume",
        "sources": [{"path": str(corpus_dir)}],
        "stages": [
            {"op": "normalize"},
            {"op": "exact_dedup"},
            # Many partitions: each component round is many work items, so the kill lands between rounds.
            {"op": "fuzzy_dedup", "params": {"threshold": 0.7, "num_partitions": 48}},
        ],
        "tokenizer": "smollm2",
        "rows_per_part": 30,
    }
    # After round 0's large-star step finished and during its small-star step (or a later round).
    before, after, log = kill_and_resume(
        tmp_path, recipe, "stage-02-fuzzy_dedup",
        lambda out: step_done(out, "stage-02-fuzzy_dedup", "components-00-small"),
        inside="survivors",
    )
    finished_steps = {key.split("/")[1] for key in before}
    assert {"signatures", "buckets", "components-00-large"} <= finished_steps
    # Nothing finished before the kill was done again: the same files, untouched.
    assert {k: after[k] for k in before} == before
    assert "fuzzy_dedup: signatures: " in log and "items already done by an earlier attempt" in log
    # ...and the rounds went on from where the kill stopped them, to the end.
    assert any(key.startswith("done/survivors/") for key in after)


@pytest.mark.slow
def test_killed_while_clip_scores_a_top_fraction_resumes_with_the_parts_left(tiny_clip, tmp_path):
    shards = sample_shards(tmp_path / "pairs", shards=2, pairs_per_shard=30)
    recipe = {
        "name": "clip-resume",
        "sources": [{"path": str(Path(shards[0]).parent / "*.tar"), "text_field": "caption"}],
        "stages": [
            {"op": "image_hygiene"},
            {
                "op": "clip_score",
                "params": {"model": tiny_clip.model, "checkpoint": tiny_clip.checkpoint, "keep_fraction": 0.5,
                           "batch_size": 4, "threads": 1},
            },
        ],
        "tokenizer": "smollm2",
        "rows_per_part": 6,
    }
    before, after, log = kill_and_resume(
        tmp_path, recipe, "stage-01-clip_score",
        lambda out: sum(1 for _ in out.glob("_work/*/stage-01-clip_score/done/score/*.json")) >= 3,
        inside="rank",
    )
    scored_before = [k for k in before if k.startswith("done/score/")]
    assert len(scored_before) >= 3
    assert {k: after[k] for k in before} == before  # the parts scored before the kill were not scored again
    assert len([k for k in after if k.startswith("done/score/")]) == 10  # 60 pairs, 6 a part
    assert "clip_score: score: " in log and "items already done by an earlier attempt" in log
