"""The workers of a run's phases, each built once per process and called once per work item.

Every worker that reads a staged part reads it through :func:`read_part`, which
merges the part's pending global patches (the last global stage's decisions are
not written back to the parts: the next reader merges them, saving a pass).
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lineage.ledger import ledger_rows
from operators.core.base import Operator
from operators.core.global_stage import GlobalOperator
from operators.core.io import join, read_parquet, write_parquet_atomic
from operators.core.schema import is_image_text, kept_mask, statuses
from operators.formats.readers import read_file
from operators.formats.shards import build_image_text_shard_table, build_shard_table, write_shard
from operators.formats.sources import SourceSpec
from operators.formats.tokenize import Encoder, TokenizerInfo
from pipelines.run.accounting import fates


def part_name(part: str) -> str:
    """The key of a staged part (``part-00001-00002.parquet`` -> ``00001-00002``)."""
    return os.path.basename(part).removesuffix(".parquet").removeprefix("part-")


def read_part(item: dict[str, Any], global_ops: dict[int, GlobalOperator]) -> pa.Table:
    """The part of a work item (``{"part": path, "patches": [[stage_index, [patch paths]], ...]}``), patched."""
    table = read_parquet(item["part"])
    for stage_index, paths in item.get("patches", []):
        if paths:
            table = global_ops[stage_index].apply_patch(table, pa.concat_tables([read_parquet(p) for p in paths]))
    return table


def by_stage(global_ops: list[GlobalOperator]) -> dict[int, GlobalOperator]:
    return {op.stage_index: op for op in global_ops}


class ReadWorker:
    """Reads one source file into parts."""

    def __init__(self, sources: list[SourceSpec], out_dir: str, rows_per_part: int):
        self.sources = sources
        self.out_dir = out_dir
        self.rows_per_part = rows_per_part

    def __call__(self, item: dict) -> dict:
        spec = self.sources[item["source_index"]]
        parts, read, quarantined = [], 0, 0
        for chunk, table in enumerate(read_file(item["file"], spec, self.rows_per_part)):
            path = join(self.out_dir, f"part-{item['file_index']:05d}-{chunk:05d}.parquet")
            write_parquet_atomic(table, path)
            parts.append(path)
            read += table.num_rows
            quarantined += sum(table.column("quarantined").to_pylist())
        return {"parts": parts, "read": read, "quarantined": quarantined}


class SegmentWorker:
    """Merges pending global patches into a part, then runs stream operators on it, batch by batch."""

    def __init__(self, ops: list[Operator], global_ops: list[GlobalOperator], out_dir: str, batch_rows: int):
        self.ops = ops
        self.global_ops = by_stage(global_ops)
        self.out_dir = out_dir
        self.batch_rows = batch_rows

    def __call__(self, item: dict) -> dict:
        table = read_part(item, self.global_ops)
        out = []
        for batch in table.to_batches(max_chunksize=self.batch_rows):
            sub = pa.Table.from_batches([batch], schema=table.schema)
            for op in self.ops:
                sub = op(sub)
            out.append(sub)
        table = pa.concat_tables(out, promote_options="default") if out else table
        path = join(self.out_dir, os.path.basename(item["part"]))
        write_parquet_atomic(table, path)
        return {"part": path, "rows": table.num_rows}


class ShardWorker:
    """Tokenizes a part's kept records into a shard and records where each landed."""

    def __init__(
        self,
        output: str,
        work: str,
        run_id: str,
        global_ops: list[GlobalOperator],
        tokenizer: TokenizerInfo,
        recipe_fingerprint: str,
    ):
        self.output = output
        self.work = work
        self.run_id = run_id
        self.global_ops = by_stage(global_ops)
        self.tokenizer = tokenizer
        self.recipe_fingerprint = recipe_fingerprint
        self._encoder: Encoder | None = None

    def __call__(self, item: dict) -> dict:
        if self._encoder is None:
            self._encoder = Encoder(self.tokenizer)
        table = read_part(item, self.global_ops)
        name = part_name(item["part"])
        kept = table.filter(kept_mask(table))
        shard_entry, placement = None, None
        if kept.num_rows:
            texts = kept.column("text").to_pylist()
            tokens = self._encoder.encode(texts)
            if is_image_text(kept):
                shard_table = build_image_text_shard_table(kept, tokens)
            else:
                shard_table = build_shard_table(
                    kept.column("id").to_pylist(), kept.column("source").to_pylist(), texts, tokens
                )
            shard_name = f"shard-{name}.arrow"
            shard_entry = write_shard(
                shard_table,
                join(self.output, "shards", shard_name),
                {
                    "run_id": self.run_id,
                    "recipe_fingerprint": self.recipe_fingerprint,
                    "tokenizer": self.tokenizer.to_dict(),
                },
            )
            # Where each kept record landed, for the ledger phase.
            placement = join(self.work, "placement", f"{name}.parquet")
            write_parquet_atomic(
                pa.table(
                    {
                        "id": shard_table.column("id"),
                        "shard": pa.array([shard_name] * shard_table.num_rows, pa.string()),
                        "shard_row": pa.array(range(shard_table.num_rows), pa.int64()),
                        "token_start": shard_table.column("token_start"),
                        "token_count": shard_table.column("num_tokens"),
                    }
                ),
                placement,
            )
        return {**fates(table, statuses(table)), "shard": shard_entry, "placement": placement}


class LedgerWorker:
    """Writes a part's ledger rows (one per record) and its rejects."""

    def __init__(self, output: str, run_id: str, stages: list[dict[str, Any]], global_ops: list[GlobalOperator]):
        self.output = output
        self.run_id = run_id
        self.stages = stages
        self.global_ops = by_stage(global_ops)

    def __call__(self, item: dict) -> dict:
        table = read_part(item, self.global_ops)
        name = part_name(item["part"])
        placement: dict[str, tuple[str, int, int, int]] = {}
        if item.get("placement"):
            rows = read_parquet(item["placement"]).to_pylist()
            placement = {r["id"]: (r["shard"], r["shard_row"], r["token_start"], r["token_count"]) for r in rows}
        rejects = table.filter(pc.invert(kept_mask(table)))
        if rejects.num_rows:
            write_parquet_atomic(rejects, join(self.output, "rejects", f"run={self.run_id}", f"part-{name}.parquet"))
        ledger = ledger_rows(table, self.run_id, self.stages, placement)
        write_parquet_atomic(ledger, join(self.output, "ledger", f"run={self.run_id}", f"part-{name}.parquet"))
        # Counted from the ledger as written: the accounting check is on what a reader will see.
        return fates(table, ledger.column("status").to_pylist())
