"""The lineage ledger's schema: one row per input record per run, whatever its fate.

The ledger is Parquet under ``<output>/ledger/run=<run_id>/``; DuckDB queries
it in place. It never holds record text or personal values: hashes, ids,
decisions and positions only.
"""

from __future__ import annotations

import pyarrow as pa

from operators.core.schema import GENERATOR_STRUCT, PII_STRUCT

OP_STRUCT = pa.struct(
    [
        pa.field("stage", pa.int16()),
        pa.field("name", pa.string()),
        pa.field("version", pa.string()),
        pa.field("fingerprint", pa.string()),
        pa.field("score", pa.float64()),
        # keep | drop | skipped (the record was already dropped or quarantined)
        # | not_scored (kept without a score, e.g. a classifier for other languages; reason says why)
        pa.field("decision", pa.string()),
        pa.field("reason", pa.string()),
    ]
)

# Annotation columns that operators add to a record table and the ledger copies
# as they are (null where the run had no operator producing them).
PASSTHROUGH = {
    "pii": pa.list_(PII_STRUCT),
    "parents": pa.list_(pa.string()),
    "generator": GENERATOR_STRUCT,
    # Image-text pairs: the hash of the image bytes as read (finds every copy of an image).
    "image_hash": pa.string(),
}

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("locator", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # a Status: kept | dropped | quarantined
        pa.field("reason", pa.string()),
        pa.field("raw_hash", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("output_hash", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float32()),
        pa.field("ops", pa.list_(OP_STRUCT)),
        pa.field("dup_cluster", pa.string()),
        pa.field("dup_survivor", pa.string()),
        pa.field("shard", pa.string()),
        pa.field("shard_row", pa.int64()),
        pa.field("token_start", pa.int64()),
        pa.field("token_count", pa.int32()),
        *(pa.field(name, type_) for name, type_ in PASSTHROUGH.items()),
    ]
)
