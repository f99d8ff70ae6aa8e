"""The image-text path in-process: WebDataset pairs -> hygiene -> caption governance -> CLIP -> dedup -> shards + ledger."""

import duckdb
import pyarrow as pa
import pytest

from operators.execution.executor import LocalExecutor
from operators.formats.shards import IMAGE_TEXT_SHARD_SCHEMA, read_shard, verify_shard
from pipelines.recipe import load
from tests.clip_tiny import sample_shards


def recipe(tmp_path, tiny_clip, **clip):
    return {
        "name": "pairs",
        "sources": [{"path": str(tmp_path / "in" / "*.tar")}],
        "stages": [
            {"op": "image_hygiene"},
            {"op": "normalize"},
            # Captions of three words are too short to gate on language reliably;
            # here lang_id only labels them.
            {"op": "lang_id", "params": {"languages": None, "min_score": 0.0}},
            {"op": "clip_score", "params": {"model": tiny_clip.model, "checkpoint": tiny_clip.checkpoint, **clip}},
            {"op": "image_dedup"},
        ],
        "output": str(tmp_path / "out"),
        "rows_per_part": 15,
    }


@pytest.mark.slow
def test_image_text_run_accounts_for_every_pair_and_writes_image_shards(tiny_clip, tmp_path):
    sample_shards(tmp_path / "in", shards=2, pairs_per_shard=40)
    pipeline = load(recipe(tmp_path, tiny_clip, threshold=0.4)).pipeline()
    result = pipeline.run(LocalExecutor())
    assert result.balanced and result.read == 80 and result.quarantined == 0
    reasons = result.drop_reasons
    # Per shard of 40: 2 empty, 2 truncated, 2 not images, 10 swapped captions, 2 copies of its first pair.
    assert reasons["image_hygiene:zero_size"] == 4
    assert reasons["image_hygiene:truncated"] == 4
    assert reasons["image_hygiene:undecodable"] == 4
    assert reasons.get("image_dedup:duplicate") == 4
    assert 18 <= reasons["clip_score:below_threshold"] <= 22, reasons
    assert result.kept == 80 - sum(reasons.values())

    shards = pa.concat_tables([read_shard(p) for p in pipeline_shards(result)])
    assert shards.schema == IMAGE_TEXT_SHARD_SCHEMA
    assert shards.num_rows == result.kept
    assert all(s >= 0.4 for s in shards.column("clip_score").to_pylist())
    assert all(len(t) > 0 for t in shards.column("input_ids").to_pylist())
    assert all(verify_shard(p) == [] for p in pipeline_shards(result))

    ledger = duckdb.sql(f"SELECT * FROM read_parquet('{result.ledger}/*.parquet')").fetch_arrow_table()
    assert ledger.num_rows == 80
    kept = ledger.filter(pa.compute.equal(ledger.column("status"), "kept")).to_pylist()
    assert all(r["shard"] and r["image_hash"] and r["lang"] for r in kept)
    clip_ops = [op for r in kept for op in r["ops"] if op["name"] == "clip_score"]
    assert all(op["decision"] == "keep" and op["score"] >= 0.4 for op in clip_ops)


def pipeline_shards(result):
    return [f"{result.output}/shards/{s['shard']}" for s in result.shards]
