"""The run: sources -> staged parts -> stages -> shards + rejects + ledger.

Records move between stages as Parquet *parts* (at most ``rows_per_part``
records each) in the run's work folder, so every stage is a map over parts
that an executor spreads over processes or machines, and a worker's memory is
bounded by one part. Stages are grouped into segments: consecutive stream
operators run together on each part; a global operator (dedup) runs over all
parts and leaves patches that the next segment merges in before its own work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lineage.ledger import ledger_rows
from operators.base import GlobalOperator, Operator
from operators.executor import Executor
from operators.io import join, makedirs, read_parquet, write_parquet_atomic
from operators.readers import SourceSpec, expand, read_file
from operators.schema import kept_mask
from operators.shards import build_shard_table, write_shard
from operators.tokenize import Encoder, TokenizerInfo

log = logging.getLogger(__name__)


class AccountingError(RuntimeError):
    """read != kept + dropped + quarantined: a record was lost or invented."""


@dataclass
class RunResult:
    """What a run did, for summaries, Dagster metadata and tests."""

    run_id: str
    output: str
    read: int
    kept: int
    dropped: int
    quarantined: int
    tokens: int
    shards: list[dict[str, Any]]
    drop_reasons: dict[str, int]
    quarantine_reasons: dict[str, int]
    stage_seconds: dict[str, float]
    wall_seconds: float
    ledger: str
    manifest: str
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.read == self.kept + self.dropped + self.quarantined

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# ---------------------------------------------------------------- workers
# Each worker is built once per process (operators load their models in
# setup() on first call) and called once per part.


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


def _apply_patches(table: pa.Table, patches: list[list], ops_by_index: dict[int, GlobalOperator]) -> pa.Table:
    for stage_index, paths in patches:
        op = ops_by_index[stage_index]
        patch = pa.concat_tables([read_parquet(p) for p in paths]) if paths else None
        if patch is not None:
            table = op.apply_patch(table, patch)
    return table


class SegmentWorker:
    """Merges pending global patches into a part, then runs stream operators on it."""

    def __init__(self, ops: list[Operator], global_ops: list[GlobalOperator], out_dir: str, batch_rows: int):
        self.ops = ops
        self.global_ops = {op.stage_index: op for op in global_ops}
        self.out_dir = out_dir
        self.batch_rows = batch_rows

    def __call__(self, item: dict) -> dict:
        table = _apply_patches(read_parquet(item["part"]), item.get("patches", []), self.global_ops)
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


class FinalizeWorker:
    """Tokenizes a part's kept records into a shard; writes its rejects and ledger rows."""

    def __init__(
        self,
        output: str,
        run_id: str,
        stages: list[dict[str, Any]],
        global_ops: list[GlobalOperator],
        tokenizer: TokenizerInfo,
        recipe_fingerprint: str,
    ):
        self.output = output
        self.run_id = run_id
        self.stages = stages
        self.global_ops = {op.stage_index: op for op in global_ops}
        self.tokenizer = tokenizer
        self.recipe_fingerprint = recipe_fingerprint
        self._encoder: Encoder | None = None

    def __call__(self, item: dict) -> dict:
        if self._encoder is None:
            self._encoder = Encoder(self.tokenizer)
        table = _apply_patches(read_parquet(item["part"]), item.get("patches", []), self.global_ops)
        name = os.path.basename(item["part"]).removesuffix(".parquet").removeprefix("part-")
        mask = kept_mask(table)
        kept = table.filter(mask)
        placement: dict[str, tuple[str, int, int, int]] = {}
        shard_entry = None
        if kept.num_rows:
            texts = kept.column("text").to_pylist()
            tokens = self._encoder.encode(texts)
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
            starts = shard_table.column("token_start").to_pylist()
            counts = shard_table.column("num_tokens").to_pylist()
            for row, rid in enumerate(shard_table.column("id").to_pylist()):
                placement[rid] = (shard_name, row, starts[row], counts[row])
        rejects = table.filter(pa.compute.invert(mask))
        if rejects.num_rows:
            write_parquet_atomic(rejects, join(self.output, "rejects", f"run={self.run_id}", f"part-{name}.parquet"))
        ledger = ledger_rows(table, self.run_id, self.stages, placement)
        write_parquet_atomic(ledger, join(self.output, "ledger", f"run={self.run_id}", f"part-{name}.parquet"))
        statuses = Counter(ledger.column("status").to_pylist())
        reasons = Counter(r for r, s in zip(ledger.column("reason").to_pylist(), ledger.column("status").to_pylist(), strict=True) if s != "kept")
        sources = Counter(table.column("source").to_pylist())
        return {
            "rows": table.num_rows,
            "kept": statuses.get("kept", 0),
            "dropped": statuses.get("dropped", 0),
            "quarantined": statuses.get("quarantined", 0),
            "reasons": dict(reasons),
            "sources": dict(sources),
            "shard": shard_entry,
        }


# ---------------------------------------------------------------- the run


@dataclass
class Pipeline:
    """A recipe made concrete: sources, stages, tokenizer and output.

    Attributes:
        sources: where records come from.
        stages: operators in order (stream and global).
        tokenizer: the resolved tokenizer for the shards.
        output: output folder or fsspec URL.
        rows_per_part: records per staged part (the unit of parallel work).
        batch_rows: records per batch handed to an operator.
        keep_work: keep the staged parts after the run (for debugging).
        fingerprint: the recipe's fingerprint, recorded in manifests.
    """

    sources: list[SourceSpec]
    stages: list[Operator]
    tokenizer: TokenizerInfo
    output: str
    rows_per_part: int = 10_000
    batch_rows: int = 1_000
    keep_work: bool = False
    fingerprint: str = ""
    name: str = "assay"

    def __post_init__(self) -> None:
        for i, op in enumerate(self.stages):
            op.stage_index = i
        if not self.fingerprint:
            described = json.dumps([op.describe() for op in self.stages], sort_keys=True)
            self.fingerprint = hashlib.sha256(described.encode()).hexdigest()[:16]

    def segments(self) -> list[list[Operator]]:
        """Stages grouped: runs of stream operators, and each global operator alone."""
        groups: list[list[Operator]] = []
        for op in self.stages:
            if isinstance(op, GlobalOperator) or not groups or isinstance(groups[-1][0], GlobalOperator):
                groups.append([op])
            else:
                groups[-1].append(op)
        return groups

    def run(self, executor: Executor, run_id: str | None = None) -> RunResult:
        start = time.monotonic()
        run_id = run_id or new_run_id(self.fingerprint)
        work = join(self.output, "_work", run_id)
        makedirs(work)
        timings: dict[str, float] = {}

        # 1. read
        t0 = time.monotonic()
        files = [(si, f) for si, spec in enumerate(self.sources) for f in expand(spec)]
        read_results = executor.map(
            ReadWorker,
            [{"file": f, "source_index": si, "file_index": fi} for fi, (si, f) in enumerate(files)],
            {"sources": self.sources, "out_dir": join(work, "stage-read"), "rows_per_part": self.rows_per_part},
            desc="read",
        )
        parts = [p for r in read_results for p in r["parts"]]
        read = sum(r["read"] for r in read_results)
        timings["read"] = time.monotonic() - t0

        # 2. stages: stream segments map parts to parts; global stages add patches
        pending: list[tuple[int, dict[str, list[str]]]] = []
        global_ops = [op for op in self.stages if isinstance(op, GlobalOperator)]
        for segment in self.segments():
            t0 = time.monotonic()
            label = "+".join(op.name for op in segment)
            if isinstance(segment[0], GlobalOperator):
                op = segment[0]
                if pending:  # a global stage must see the previous global stage's decisions
                    parts = self._run_segment(executor, [], global_ops, parts, pending, work, f"merge:{label}")
                    pending = []
                patches = op.run_global(parts, join(work, f"stage-{op.stage_index:02d}-{op.name}"), executor)
                pending.append((op.stage_index, patches))
            else:
                parts = self._run_segment(executor, segment, global_ops, parts, pending, work, label)
                pending = []
            timings[label] = time.monotonic() - t0

        # 3. shards, rejects, ledger
        t0 = time.monotonic()
        stages = [op.describe() for op in self.stages]
        results = executor.map(
            FinalizeWorker,
            [{"part": p, "patches": _patches_for(p, pending)} for p in parts],
            {
                "output": self.output,
                "run_id": run_id,
                "stages": stages,
                "global_ops": global_ops,
                "tokenizer": self.tokenizer,
                "recipe_fingerprint": self.fingerprint,
            },
            desc="tokenize+write",
        )
        timings["tokenize+write"] = time.monotonic() - t0
        result = self._summarise(run_id, read, results, timings, time.monotonic() - start, stages)
        _remove_stale_shards(self.output, {s["shard"] for s in result.shards})
        if not self.keep_work:
            _remove(work)
        return result

    def _run_segment(self, executor, ops, global_ops, parts, pending, work, label) -> list[str]:
        index = ops[0].stage_index if ops else pending[-1][0]
        out_dir = join(work, f"stage-{index:02d}")
        results = executor.map(
            SegmentWorker,
            [{"part": p, "patches": _patches_for(p, pending)} for p in parts],
            {"ops": ops, "global_ops": global_ops, "out_dir": out_dir, "batch_rows": self.batch_rows},
            desc=label,
        )
        return [r["part"] for r in results]

    def _summarise(self, run_id, read, results, timings, wall, stages) -> RunResult:
        totals = Counter()
        drop_reasons: Counter = Counter()
        quarantine_reasons: Counter = Counter()
        sources: Counter = Counter()
        shards = []
        for r in results:
            for key in ("rows", "kept", "dropped", "quarantined"):
                totals[key] += r[key]
            for reason, count in r["reasons"].items():
                if reason and reason.startswith("quarantine:"):
                    quarantine_reasons[reason.split(":", 2)[1]] += count
                else:
                    drop_reasons[reason] += count
            sources.update(r["sources"])
            if r["shard"]:
                shards.append(r["shard"])
        shards.sort(key=lambda s: s["shard"])
        ledger = join(self.output, "ledger", f"run={run_id}")
        manifest_path = join(self.output, "manifest.json")
        result = RunResult(
            run_id=run_id,
            output=self.output,
            read=read,
            kept=totals["kept"],
            dropped=totals["dropped"],
            quarantined=totals["quarantined"],
            tokens=sum(s["tokens"] for s in shards),
            shards=shards,
            drop_reasons=dict(sorted(drop_reasons.items(), key=lambda kv: -kv[1])),
            quarantine_reasons=dict(sorted(quarantine_reasons.items(), key=lambda kv: -kv[1])),
            stage_seconds={k: round(v, 3) for k, v in timings.items()},
            wall_seconds=round(wall, 3),
            ledger=ledger,
            manifest=manifest_path,
            sources=dict(sources),
        )
        if totals["rows"] != read or not result.balanced:
            raise AccountingError(
                f"run {run_id}: read {read} records but accounted for {totals['rows']} "
                f"(kept {result.kept} + dropped {result.dropped} + quarantined {result.quarantined}); "
                "this is a bug in assay: please report it with the recipe and the run folder"
            )
        manifest = {
            "format": "assay-dataset",
            "name": self.name,
            "run_id": run_id,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            "recipe_fingerprint": self.fingerprint,
            "tokenizer": self.tokenizer.to_dict(),
            "stages": stages,
            "counts": {
                "read": result.read,
                "kept": result.kept,
                "dropped": result.dropped,
                "quarantined": result.quarantined,
                "tokens": result.tokens,
            },
            "shards": shards,
            "ledger": f"ledger/run={run_id}",
        }
        from operators.io import atomic_open

        with atomic_open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
        with atomic_open(join(self.output, "summary.json"), "w") as f:
            json.dump(result.to_dict(), f, indent=2)
        return result


def _patches_for(part: str, pending: list[tuple[int, dict[str, list[str]]]]) -> list[list]:
    return [[index, patches.get(part, [])] for index, patches in pending]


def _remove_stale_shards(output: str, current: set[str]) -> None:
    """The shards folder holds the latest run's shards only (the ledger keeps every run)."""
    from operators.io import filesystem
    from operators.shards import MANIFEST_SUFFIX

    fs, folder = filesystem(join(output, "shards"))
    if not fs.exists(folder):
        return
    for path in fs.ls(folder, detail=False):
        name = path.rsplit("/", 1)[-1]
        if name.removesuffix(MANIFEST_SUFFIX) not in current:
            fs.rm(path)


def new_run_id(fingerprint: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{fingerprint[:8]}"


def _remove(path: str) -> None:
    if "://" in path and not path.startswith("file://"):
        from operators.io import filesystem

        fs, p = filesystem(path)
        fs.rm(p, recursive=True)
    else:
        shutil.rmtree(path.removeprefix("file://"), ignore_errors=True)
