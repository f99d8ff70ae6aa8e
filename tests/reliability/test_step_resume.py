"""Kill a run inside a global stage; the rerun resumes at the first unfinished step and writes what an uninterrupted
run writes.

Global operators declare their steps and the run engine checkpoints every item of every step under the stage's
folder (``_work/<run>/stage-NN-<op>/done/<step>/``). The runs are the real CLI, killed whole with SIGKILL while
fuzzy dedup is in its connected-components rounds, while CLIP scores the parts of a top-fraction stage, and while
semantic dedup assigns records to clusters after embedding every part. The resumed run must not redo a finished step
(its checkpoint files keep their inode and mtime, and the run says so) and must write byte-identical shards and the
same ledger rows as a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
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


def identities(folder: Path, pattern: str) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` matching ``pattern`` with its identity (inode, mtime)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.glob(pattern))
    }


def checkpoints(stage: Path) -> dict[str, tuple[int, int]]:
    """Every checkpoint file of a stage's steps with its identity (inode, mtime)."""
    return identities(stage, "done/*/*.json")


def step_done(out: Path, stage_glob: str, step: str) -> bool:
    return any(out.glob(f"_work/*/{stage_glob}/done/{step}/*.json"))


def steps_of(files: dict[str, tuple[int, int]], step: str) -> dict[str, tuple[int, int]]:
    return {k: v for k, v in files.items() if k.startswith(f"done/{step}/")}


def kill_and_resume(tmp_path: Path, recipe: dict, stage_glob: str, kill_when, inside: str,
                    watch: tuple[str, ...] = ()) -> tuple[dict, dict, str]:
    """An uninterrupted run, and a run killed when ``kill_when(out)`` then resumed; the stage's checkpoints (and the
    files matching the ``watch`` patterns, relative to the run's output) at the kill and after the resume, and the
    resumed run's log."""
    reference = tmp_path / "reference"
    ran = assay("run", str(write(tmp_path / "reference.yaml", {**recipe, "output": str(reference)})), "--local")
    assert ran.returncode == 0, ran.stderr[-3000:]

    out = tmp_path / "out"
    path = write(tmp_path / "recipe.yaml", {**recipe, "output": str(out)})
    args = ["run", str(path), "--local", "--keep-work"]
    assert run_until(args, lambda: kill_when(out)), "the run finished before the kill point"
    (stage,) = out.glob(f"_work/*/{stage_glob}")

    def files() -> dict[str, tuple[int, int]]:
        found = checkpoints(stage)
        for pattern in watch:
            found.update(identities(out, pattern))
        return found

    assert not (stage / "done" / inside).exists(), f"killed after the stage's {inside} step: not inside the stage"
    before = files()

    resumed = assay(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming run" in resumed.stderr
    assert outcome(out) == outcome(reference)
    return before, files(), resumed.stderr


@dataclass(frozen=True)
class Kill:
    """A run killed inside a global stage, and what its resumed run must show.

    Attributes:
        recipe: the recipe, from the test's folder and pytest's ``request`` (for fixtures).
        stage: the stage folder's name.
        when: the kill point, from the run's output folder.
        inside: a step of the stage that must not have finished at the kill.
        finished: steps with checkpoints at the kill (all answered from them on resume).
        said: what the resumed run's log says about the first of them (``<op>: <step>: ``).
        last: a step that has checkpoints once the resumed run ends.
        check: more assertions on the files at the kill, after the resume, and the resumed run's log.
        watch: patterns (under the output) of more files that must be left untouched by the resume.
    """

    recipe: Callable[[Path, pytest.FixtureRequest], dict]
    stage: str
    when: Callable[[Path], bool]
    inside: str
    finished: frozenset[str]
    said: str
    last: str
    check: Callable[[dict, dict, str], None] = lambda before, after, log: None
    watch: tuple[str, ...] = field(default=())


def fuzzy_recipe(tmp_path: Path, request: pytest.FixtureRequest) -> dict:
    return {
        "name": "fuzzy-resume",
        "sources": [{"path": str(request.getfixturevalue("corpus_dir"))}],
        "stages": [
            {"op": "normalize"},
            {"op": "exact_dedup"},
            # Many partitions: each component round is many work items, so the kill lands between rounds.
            {"op": "fuzzy_dedup", "params": {"threshold": 0.7, "num_partitions": 48}},
        ],
        "tokenizer": "smollm2",
        "rows_per_part": 30,
    }


def clip_recipe(tmp_path: Path, request: pytest.FixtureRequest) -> dict:
    tiny_clip = request.getfixturevalue("tiny_clip")
    shards = sample_shards(tmp_path / "pairs", shards=2, pairs_per_shard=30)
    return {
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


def clip_scored_every_part_once(before: dict, after: dict, log: str) -> None:
    assert len(steps_of(before, "score")) >= 3
    assert len(steps_of(after, "score")) == 10  # 60 pairs, 6 a part


def semantic_recipe(tmp_path: Path, request: pytest.FixtureRequest) -> dict:
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("semantic_dedup needs the 'embeddings' extra (make test installs it)")
    corpus = request.getfixturevalue("corpus_dir")
    return {
        "name": "semantic-resume",
        "sources": [{"path": str(corpus / "corpus-0.jsonl.gz")}],  # 200 documents: embedding is the slow part
        "stages": [{"op": "normalize"}, {"op": "exact_dedup"}, {"op": "semantic_dedup", "params": {"threads": 1}}],
        "tokenizer": "smollm2",
        "rows_per_part": 20,
    }


def semantic_embedded_every_part_once(before: dict, after: dict, log: str) -> None:
    embedded = steps_of(before, "embed")
    assert len(embedded) >= 5
    assert steps_of(after, "embed") == embedded  # every part was embedded before the kill, and none again
    # The embeddings themselves (the stage's and those kept for later runs) were not written again either.
    kept = {k: v for k, v in before.items() if k.startswith("_embeddings/")}
    assert 0 < len(kept) <= len(embedded) and {k: after[k] for k in kept} == kept


CASES = {
    # After round 0's large-star step finished and during its small-star step (or a later round).
    "fuzzy_dedup-components": Kill(
        fuzzy_recipe, "stage-02-fuzzy_dedup",
        lambda out: step_done(out, "stage-02-fuzzy_dedup", "components-00-small"),
        inside="survivors", finished=frozenset({"signatures", "buckets", "components-00-large"}),
        said="fuzzy_dedup: signatures: ", last="survivors",
    ),
    # While the parts are scored: three of ten done.
    "clip_score-score": Kill(
        clip_recipe, "stage-01-clip_score",
        lambda out: sum(1 for _ in out.glob("_work/*/stage-01-clip_score/done/score/*.json")) >= 3,
        inside="rank", finished=frozenset({"score"}), said="clip_score: score: ", last="decide",
        check=clip_scored_every_part_once,
    ),
    # Every part embedded and the centroids fitted: the kill lands while records are assigned to clusters.
    "semantic_dedup-after-embed": Kill(
        semantic_recipe, "stage-02-semantic_dedup",
        lambda out: step_done(out, "stage-02-semantic_dedup", "centroids"),
        inside="patches", finished=frozenset({"embed", "centroids"}), said="semantic_dedup: embed: ", last="patches",
        check=semantic_embedded_every_part_once, watch=("_work/*/stage-02-semantic_dedup/emb/*.parquet",
                                                        "_embeddings/*/*.parquet"),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_killed_inside_a_global_stage_resumes_at_the_first_unfinished_step(case: Kill, tmp_path, request):
    recipe = case.recipe(tmp_path, request)
    before, after, log = kill_and_resume(tmp_path, recipe, case.stage, case.when, case.inside, case.watch)
    finished_steps = {key.split("/")[1] for key in before if key.startswith("done/")}
    assert case.finished <= finished_steps
    # Nothing finished before the kill was done again: the same files, untouched.
    assert {k: after[k] for k in before} == before
    assert case.said in log and "items already done by an earlier attempt" in log
    # ...and the stage went on from where the kill stopped it, to the end.
    assert steps_of(after, case.last)
    case.check(before, after, log)
