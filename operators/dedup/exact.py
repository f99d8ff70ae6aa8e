"""Exact deduplication across the whole run, on the normalised content hash.

A hash-partitioned shuffle, so no process holds every hash of the corpus, in
two steps the run engine executes and checkpoints:

1. ``hash`` (one task per part): the kept rows' ``(id, content_hash)`` are split
   into ``num_buckets`` files by hash;
2. ``cluster`` (one task per bucket): rows sharing a hash form a cluster; the
   smallest id survives (the same survivor whatever the order or parallelism),
   and a patch file is written per part for the members of each cluster.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.core.base import OperatorConfig, Role
from operators.core.global_stage import GlobalOperator, Plan, StageContext, Step
from operators.core.io import join, makedirs, read_parquet, write_parquet_atomic
from operators.core.schema import kept_mask

_PATCH_SCHEMA = pa.schema(
    [("id", pa.string()), ("dup_cluster", pa.string()), ("dup_survivor", pa.string()), ("drop_reason", pa.string())]
)


class ExactDedupConfig(OperatorConfig):
    num_buckets: int = Field(
        0, ge=0, description="Hash buckets of the shuffle; 0 picks one per part, at most 256."
    )


class _MapWorker:
    def __init__(self, work_dir: str, num_buckets: int, column: str = "content_hash"):
        self.work_dir = work_dir
        self.num_buckets = num_buckets
        self.column = column

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["part"], columns=["id", self.column, "keep"])
        table = table.filter(pc.and_(kept_mask(table), pc.is_valid(table.column(self.column))))
        # Records without a hash (an image that never decoded) have nothing to match.
        table = table.drop_columns(["keep"]).rename_columns(["id", "content_hash"])
        table = table.append_column("part", pa.array([item["part"]] * table.num_rows, pa.string()))
        buckets = pc.cast(
            pc.utf8_slice_codeunits(table.column("content_hash"), 0, 8), pa.string()
        ).to_pylist()
        bucket_ids = pa.array([int(h, 16) % self.num_buckets for h in buckets], pa.int32())
        files = {}
        for b in range(self.num_buckets):
            chunk = table.filter(pc.equal(bucket_ids, b))
            if chunk.num_rows:
                path = join(self.work_dir, "map", f"b{b:05d}", f"{item['index']:06d}.parquet")
                write_parquet_atomic(chunk, path)
                files[str(b)] = path
        return {"files": files}


class _ReduceWorker:
    def __init__(self, work_dir: str, part_names: dict[str, str]):
        self.work_dir = work_dir
        self.part_names = part_names

    def __call__(self, item: dict) -> dict:
        if not item["files"]:
            return {"patches": {}}
        table = pa.concat_tables([read_parquet(f) for f in item["files"]])
        table = table.sort_by([("content_hash", "ascending"), ("id", "ascending")])
        hashes = table.column("content_hash").to_pylist()
        ids = table.column("id").to_pylist()
        parts = table.column("part").to_pylist()
        survivor: dict[str, str] = {}
        size: dict[str, int] = {}
        for h, rid in zip(hashes, ids, strict=True):
            survivor.setdefault(h, rid)
            size[h] = size.get(h, 0) + 1
        rows: dict[str, dict[str, list]] = {}
        for h, rid, part in zip(hashes, ids, parts, strict=True):
            if size[h] < 2:
                continue
            cols = rows.setdefault(part, {"id": [], "dup_cluster": [], "dup_survivor": [], "drop_reason": []})
            cols["id"].append(rid)
            cols["dup_cluster"].append(h)
            cols["dup_survivor"].append(survivor[h])
            cols["drop_reason"].append(None if survivor[h] == rid else "duplicate")
        patches = {}
        for part, cols in rows.items():
            path = join(self.work_dir, "patch", self.part_names[part], f"b{item['bucket']:05d}.parquet")
            write_parquet_atomic(pa.table(cols, schema=_PATCH_SCHEMA), path)
            patches[part] = path
        return {"patches": patches}


class ExactDedup(GlobalOperator):
    """Keeps one record per normalised content hash (drop reason ``exact_dedup:duplicate``).

    Every member of a duplicate cluster gets ``dup_cluster`` (the hash) and
    ``dup_survivor`` (the id kept) in the ledger.
    """

    name = "exact_dedup"
    version = "1"
    Config = ExactDedupConfig
    role = Role.DEDUP

    @property
    def hash_column(self) -> str:
        """The column whose equal values make duplicates (hex digests)."""
        return "content_hash"

    def plan(self, ctx: StageContext) -> Plan:
        buckets = self.config.num_buckets or max(1, min(256, len(ctx.parts)))
        makedirs(ctx.work_dir)
        maps = yield Step(
            "hash",
            _MapWorker,
            [{"part": p, "index": i} for i, p in enumerate(ctx.parts)],
            {"work_dir": ctx.work_dir, "num_buckets": buckets, "column": self.hash_column},
        )
        by_bucket: dict[int, list[str]] = {b: [] for b in range(buckets)}
        for result in maps:
            for b, path in result["files"].items():
                by_bucket[int(b)].append(path)
        part_names = {p: os.path.basename(p).removesuffix(".parquet") for p in ctx.parts}
        reduces = yield Step(
            "cluster",
            _ReduceWorker,
            [{"bucket": b, "files": files} for b, files in by_bucket.items() if files],
            {"work_dir": ctx.work_dir, "part_names": part_names},
        )
        patches: dict[str, list[str]] = {}
        for result in reduces:
            for part, path in result["patches"].items():
                patches.setdefault(part, []).append(path)
        return patches
