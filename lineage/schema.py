"""The lineage ledger's schema: one row per input record per run, whatever its fate.

The ledger is Parquet under ``<output>/ledger/run=<run_id>/``; DuckDB queries
it in place. It never holds record text or personal values: hashes, ids,
decisions and positions only.
"""

from __future__ import annotations

import pyarrow as pa

OP_STRUCT = pa.struct(
    [
        pa.field("stage", pa.int16()),
        pa.field("name", pa.string()),
        pa.field("version", pa.string()),
        pa.field("fingerprint", pa.string()),
        pa.field("score", pa.float64()),
        # keep | drop | skipped (the record was already dropped or quarantined)
        pa.field("decision", pa.string()),
        pa.field("reason", pa.string()),
    ]
)

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("locator", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # kept | dropped | quarantined
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
    ]
)

STATUSES = ("kept", "dropped", "quarantined")
