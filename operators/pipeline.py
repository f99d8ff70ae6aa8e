"""The run: sources -> staged parts -> stages -> shards + rejects + ledger.

Records move between stages as Parquet *parts* (at most ``rows_per_part``
records each) in the run's work folder, so every stage is a map over parts
that an executor spreads over processes or machines, and a worker's memory is
bounded by one part. Stages are grouped into segments: consecutive stream
operators run together on each part; a global operator (dedup) runs over all
parts and leaves patches that the next segment merges in before its own work.

A run is a sequence of *phases* over a :class:`RunState`, a small
JSON-serialisable record of where the run stands (its parts, pending patches
and counts)::

    state = pipeline.start()
    state = pipeline.read(executor, state)         # sources -> parts
    state = pipeline.decide(executor, state)       # stream stages before the first global one
    state = pipeline.deduplicate(executor, state)  # global stages and whatever follows them
    state = pipeline.write_shards(executor, state) # tokenized shards + manifest
    state = pipeline.write_ledger(executor, state) # ledger + rejects + summary; accounting

:meth:`Pipeline.run` chains them; the Dagster assets call them one per asset,
handing the state from one asset to the next.
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
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lineage.ledger import ledger_rows
from lineage.openlineage import phase_events
from operators.base import GlobalOperator, Operator
from operators.executor import Executor
from operators.io import atomic_open, exists, filesystem, join, makedirs, read_parquet, write_parquet_atomic
from operators.readers import SourceSpec, expand, read_file
from operators.schema import is_image_text, kept_mask
from operators.shards import MANIFEST_SUFFIX, build_image_text_shard_table, build_shard_table, write_shard
from operators.tokenize import Encoder, TokenizerInfo

log = logging.getLogger(__name__)

#: The run state's file in the run's work folder (see :meth:`Pipeline.checkpoint`).
STATE_FILE = "state.json"

#: Equal-width bins of ``lang_score`` over [0, 1] in :meth:`Pipeline.tally`.
SCORE_BINS = 10


class AccountingError(RuntimeError):
    """read != kept + dropped + quarantined: a record was lost or invented."""


class RunStateError(RuntimeError):
    """A phase was handed a state it cannot continue (wrong order, work folder gone)."""


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


@dataclass
class RunState:
    """Where a run stands between two phases. Plain JSON values only.

    Attributes:
        run_id: the run's id (ledger partition, manifests).
        output: the output folder or URL.
        work: the run's work folder (staged parts, patches, placements).
        started_at: wall-clock start (epoch seconds).
        phase: the last phase completed.
        parts: the current staged part files, in order.
        pending: ``[[stage_index, {part: [patch paths]}], ...]`` not yet merged into the parts.
        segments_done: how many of the pipeline's segments have run.
        read: records read.
        shards: the manifests of the shards written (after ``write_shards``).
        placements: per part, its placement file (after ``write_shards``).
        counts: per phase, its totals (``{"write_shards": {"kept": ..}}``).
        timings: seconds per stage label.
        summary: the :class:`RunResult` as a dict (after ``write_ledger``).
        keep_work: keep the work folder when the run ends (for debugging).
        fingerprint: the recipe fingerprint the run started with (recorded in manifests).
    """

    run_id: str
    output: str
    work: str
    started_at: float
    phase: str = "start"
    parts: list[str] = field(default_factory=list)
    pending: list[list] = field(default_factory=list)
    segments_done: int = 0
    read: int = 0
    shards: list[dict[str, Any]] = field(default_factory=list)
    placements: dict[str, str | None] = field(default_factory=dict)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    keep_work: bool = False
    fingerprint: str = ""
    input_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> RunState:
        return cls.from_dict(json.loads(text))

    def copy(self) -> RunState:
        # Through JSON: a phase never mutates the state it was handed, and the
        # state provably stays serialisable.
        return RunState.from_json(self.to_json())

    @property
    def ledger(self) -> str:
        return join(self.output, "ledger", f"run={self.run_id}")

    @property
    def manifest(self) -> str:
        return join(self.output, "manifest.json")

    def shard_paths(self) -> list[str]:
        return [join(self.output, "shards", s["shard"]) for s in self.shards]


# ---------------------------------------------------------------- workers
# Each worker is built once per process (operators load their models in
# setup() on first call) and called once per part.


class Checkpointed:
    """Runs a worker on an item, then records the item's result in its ``_done`` file.

    Every worker writes its outputs atomically under deterministic names, so
    an item is either done (outputs and result file present) or redone from
    scratch; a resumed run reads the result files and skips those items.
    """

    def __init__(self, worker_cls: type, worker_kwargs: dict[str, Any]):
        self.worker = worker_cls(**worker_kwargs)
        self.ceiling_mb = _memory_ceiling_mb()

    def __call__(self, item: dict) -> dict:
        done = item.pop("_done")
        result = self.worker(item)
        if self.ceiling_mb and (rss := _rss_mb()) > self.ceiling_mb:
            # Before the result is recorded: the item counts as not done, and a rerun with a
            # smaller rows_per_part (or a higher ceiling) redoes it.
            raise MemoryError(
                f"worker memory {rss:.0f} MB is over the ceiling of {self.ceiling_mb:.0f} MB "
                f"(${MEMORY_ENV}) after {item.get('part') or item.get('file')}; lower rows_per_part or "
                f"max_doc_bytes in the recipe, or raise ${MEMORY_ENV}"
            )
        with atomic_open(done, "w") as f:
            json.dump(result, f)
        return result


#: Per-worker memory ceiling in MB (resident set), checked after every part; unset: no ceiling.
MEMORY_ENV = "ASSAY_WORKER_MEMORY_MB"


def _memory_ceiling_mb() -> float:
    value = os.environ.get(MEMORY_ENV, "").strip()
    return float(value) if value else 0.0


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # not Linux: fall back to the peak
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def _statuses(table: pa.Table) -> list[str]:
    """The ledger's status of every row: quarantined, kept or dropped."""
    quarantined = table.column("quarantined").to_pylist()
    keep = table.column("keep").to_pylist()
    return ["quarantined" if q else ("kept" if k else "dropped") for q, k in zip(quarantined, keep, strict=True)]


def _fates(table: pa.Table, statuses: list[str]) -> dict[str, Any]:
    """Counts of statuses, of the reasons of records not kept, and of sources."""
    counts = Counter(statuses)
    reasons = Counter(
        r for r, s in zip(table.column("drop_reason").to_pylist(), statuses, strict=True) if s != "kept"
    )
    return {
        "rows": table.num_rows,
        "kept": counts.get("kept", 0),
        "dropped": counts.get("dropped", 0),
        "quarantined": counts.get("quarantined", 0),
        "reasons": dict(reasons),
        "sources": dict(Counter(table.column("source").to_pylist())),
    }


def _part_name(part: str) -> str:
    return os.path.basename(part).removesuffix(".parquet").removeprefix("part-")


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
        self.global_ops = {op.stage_index: op for op in global_ops}
        self.tokenizer = tokenizer
        self.recipe_fingerprint = recipe_fingerprint
        self._encoder: Encoder | None = None

    def __call__(self, item: dict) -> dict:
        if self._encoder is None:
            self._encoder = Encoder(self.tokenizer)
        table = _apply_patches(read_parquet(item["part"]), item.get("patches", []), self.global_ops)
        name = _part_name(item["part"])
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
        return {**_fates(table, _statuses(table)), "shard": shard_entry, "placement": placement}


class LedgerWorker:
    """Writes a part's ledger rows (one per record) and its rejects."""

    def __init__(self, output: str, run_id: str, stages: list[dict[str, Any]], global_ops: list[GlobalOperator]):
        self.output = output
        self.run_id = run_id
        self.stages = stages
        self.global_ops = {op.stage_index: op for op in global_ops}

    def __call__(self, item: dict) -> dict:
        table = _apply_patches(read_parquet(item["part"]), item.get("patches", []), self.global_ops)
        name = _part_name(item["part"])
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
        return _fates(table, ledger.column("status").to_pylist())


class TallyWorker:
    """Counts a part's fates and lang_score histogram and picks a few sample records (for metadata)."""

    def __init__(self, global_ops: list[GlobalOperator], samples: int, text_chars: int, withhold_unscrubbed: bool = False):
        self.global_ops = {op.stage_index: op for op in global_ops}
        self.samples = samples
        self.text_chars = text_chars
        # With a PII stage in the recipe, reports show no text that stage has not scrubbed yet.
        self.withhold_unscrubbed = withhold_unscrubbed

    def __call__(self, item: dict) -> dict:
        table = _apply_patches(read_parquet(item["part"]), item.get("patches", []), self.global_ops)
        statuses = _statuses(table)
        histogram = [0] * SCORE_BINS
        if "lang_score" in table.column_names:
            for score in table.column("lang_score").to_pylist():
                if score is not None:
                    histogram[min(SCORE_BINS - 1, max(0, int(score * SCORE_BINS)))] += 1
        columns = [c for c in ("id", "lang", "lang_score", "drop_reason", "text") if c in table.column_names]
        samples: dict[str, list[dict]] = {}
        for status in ("kept", "dropped"):
            rows = [i for i, s in enumerate(statuses) if s == status][: self.samples]
            picked = table.select(columns).take(pa.array(rows, pa.int64())).to_pylist() if rows else []
            scrubbed = (
                table.column("pii").take(pa.array(rows, pa.int64())).is_valid().to_pylist()
                if rows and "pii" in table.column_names
                else [False] * len(picked)
            )
            for row, done in zip(picked, scrubbed, strict=True):
                text = row.get("text") or ""
                if self.withhold_unscrubbed and not done:
                    row["text"] = "(withheld: not yet scrubbed of personal data)"
                    continue
                row["text"] = text[: self.text_chars] + ("…" if len(text) > self.text_chars else "")
            samples[status] = picked
        return {**_fates(table, statuses), "lang_score_histogram": histogram, "samples": samples}


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

    def first_global_segment(self) -> int:
        """Index of the first segment that is a global stage (the number of segments if none)."""
        segments = self.segments()
        return next((i for i, s in enumerate(segments) if isinstance(s[0], GlobalOperator)), len(segments))

    @property
    def global_ops(self) -> list[GlobalOperator]:
        return [op for op in self.stages if isinstance(op, GlobalOperator)]

    PHASES = ("start", "read", "decide", "deduplicate", "write_shards", "write_ledger")

    def run(self, executor: Executor, run_id: str | None = None, resume: bool = True) -> RunResult:
        """Every phase in order; raises :class:`AccountingError` if a record was lost.

        With ``resume`` (the default), an unfinished run of the same recipe over
        the same input files in this output folder (killed, preempted, out of
        disk) is continued from its last checkpoint instead of starting over:
        finished phases and finished parts are not recomputed, and the output
        is what an uninterrupted run would have written, under the same run id.
        """
        state = self.resumable() if resume and run_id is None else None
        if state is None:
            state = self.start(run_id)
            self.checkpoint(state)
        else:
            log.warning("resuming run %s after phase %r", state.run_id, state.phase)
        phases = {"read": self.read, "decide": self.decide, "deduplicate": self.deduplicate,
                  "write_shards": self.write_shards, "write_ledger": self.write_ledger}
        for name in self.PHASES[self.PHASES.index(state.phase) + 1 :]:
            state = phases[name](executor, state)
            if name != "write_ledger":  # the last phase removes the work folder
                self.checkpoint(state)
        return RunResult(**state.summary)

    def input_key(self) -> str:
        """A fingerprint of the input files (names, sizes, modification times): a resumed run needs the same."""
        listing = []
        for spec in self.sources:
            for path in expand(spec):
                fs, p = filesystem(path)
                info = fs.info(p)
                listing.append([path, info.get("size"), str(info.get("mtime") or info.get("LastModified") or "")])
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]

    def checkpoint(self, state: RunState) -> None:
        """Saves the state in the run's work folder (atomically): what a resumed run starts from."""
        with atomic_open(join(state.work, STATE_FILE), "w") as f:
            f.write(state.to_json())

    def resumable(self) -> RunState | None:
        """The latest unfinished run of this recipe over the same input in this output folder, if any."""
        work_root = join(self.output, "_work")
        if not exists(work_root):
            return None
        fs, root = filesystem(work_root)
        candidates = []
        for folder in fs.ls(root, detail=False):
            state_path = f"{folder}/{STATE_FILE}"
            if not fs.exists(state_path):
                continue
            try:
                with fs.open(state_path, "r") as f:
                    state = RunState.from_json(f.read())
            except (ValueError, TypeError) as e:
                log.warning("ignoring unreadable run state %s: %s", state_path, e)
                continue
            if state.fingerprint == self.fingerprint and state.phase in self.PHASES[:-1]:
                candidates.append(state)
        if not candidates:
            return None
        latest = max(candidates, key=lambda st: st.started_at)
        if latest.input_key and latest.input_key != self.input_key():
            log.warning("not resuming run %s: its input files changed since it started", latest.run_id)
            return None
        return latest

    # -------------------------------------------------------------- phases

    def start(self, run_id: str | None = None) -> RunState:
        """A new run: its id and work folder."""
        run_id = run_id or new_run_id(self.fingerprint)
        work = join(self.output, "_work", run_id)
        makedirs(work)
        return RunState(
            run_id=run_id,
            output=self.output,
            work=work,
            started_at=time.time(),
            keep_work=self.keep_work,
            fingerprint=self.fingerprint,
            input_key=self.input_key(),
        )

    @phase_events("read")
    def read(self, executor: Executor, state: RunState) -> RunState:
        """Sources -> staged parts (malformed input becomes quarantined records)."""
        state = self._begin(state, "read", after=("start",))
        t0 = time.monotonic()
        files = [(si, f) for si, spec in enumerate(self.sources) for f in expand(spec)]
        results = self._map(
            executor,
            ReadWorker,
            [{"file": f, "source_index": si, "file_index": fi} for fi, (si, f) in enumerate(files)],
            {"sources": self.sources, "out_dir": join(state.work, "stage-read"), "rows_per_part": self.rows_per_part},
            desc="read",
            done=join(state.work, "done", "read"),
            keys=[f"file-{fi:05d}" for fi in range(len(files))],
        )
        state.parts = [p for r in results for p in r["parts"]]
        state.read = sum(r["read"] for r in results)
        state.counts["read"] = {
            "files": len(files),
            "parts": len(state.parts),
            "read": state.read,
            "quarantined": sum(r["quarantined"] for r in results),
        }
        state.timings["read"] = time.monotonic() - t0
        return state

    @phase_events("decide")
    def decide(self, executor: Executor, state: RunState) -> RunState:
        """The stream stages before the first global stage: score and decide, per part."""
        state = self._begin(state, "decide", after=("read",))
        return self._run_segments(executor, state, self.first_global_segment())

    @phase_events("deduplicate")
    def deduplicate(self, executor: Executor, state: RunState) -> RunState:
        """The global stages (dedup) and any stages after them.

        The last global stage's patches stay pending: the shard and ledger
        phases merge them as they read each part, saving a pass over the data.
        """
        state = self._begin(state, "deduplicate", after=("decide",))
        return self._run_segments(executor, state, len(self.segments()))

    @phase_events("write_shards")
    def write_shards(self, executor: Executor, state: RunState) -> RunState:
        """Kept records -> tokenized Arrow shards; the dataset manifest."""
        state = self._begin(state, "write_shards", after=("deduplicate",))
        t0 = time.monotonic()
        results = self._map(
            executor,
            ShardWorker,
            self._items(state),
            {
                "output": self.output,
                "work": state.work,
                "run_id": state.run_id,
                "global_ops": self.global_ops,
                "tokenizer": self.tokenizer,
                "recipe_fingerprint": state.fingerprint or self.fingerprint,
            },
            desc="tokenize+write",
            done=join(state.work, "done", "write_shards"),
        )
        totals = _merge_fates(results)
        _check_balance(state, totals, "shards")
        state.shards = sorted((r["shard"] for r in results if r["shard"]), key=lambda s: s["shard"])
        state.placements = {p: r["placement"] for p, r in zip(state.parts, results, strict=True)}
        state.counts["write_shards"] = {**totals, "shards": len(state.shards), "tokens": _tokens(state.shards)}
        self._write_manifest(state, totals)
        _remove_stale_shards(self.output, {s["shard"] for s in state.shards})
        for op in self.global_ops:  # e.g. fuzzy dedup's incremental index, now that survivors are final
            op.commit(join(state.work, f"stage-{op.stage_index:02d}-{op.name}"), executor, state.run_id)
        state.timings["tokenize+write"] = time.monotonic() - t0
        return state

    @phase_events("write_ledger")
    def write_ledger(self, executor: Executor, state: RunState) -> RunState:
        """One ledger row per input record, the rejects, and the run summary.

        Raises:
            AccountingError: the ledger does not hold exactly one row per record read.
        """
        state = self._begin(state, "write_ledger", after=("write_shards",))
        t0 = time.monotonic()
        items = [{**item, "placement": state.placements.get(item["part"])} for item in self._items(state)]
        results = self._map(
            executor,
            LedgerWorker,
            items,
            {
                "output": self.output,
                "run_id": state.run_id,
                "stages": [op.describe() for op in self.stages],
                "global_ops": self.global_ops,
            },
            desc="ledger",
            done=join(state.work, "done", "write_ledger"),
        )
        totals = _merge_fates(results)
        _check_balance(state, totals, "ledger")
        state.timings["ledger"] = time.monotonic() - t0
        result = self._result(state, totals)
        state.summary = result.to_dict()
        state.counts["write_ledger"] = {k: totals[k] for k in ("rows", "kept", "dropped", "quarantined")}
        with atomic_open(join(self.output, "summary.json"), "w") as f:
            json.dump(state.summary, f, indent=2)
        if self.keep_work or state.keep_work:
            self.checkpoint(state)  # marks the kept work folder finished: not a run to resume
        else:
            _remove(state.work)
        return state

    def tally(self, executor: Executor, state: RunState, samples: int = 3, text_chars: int = 160) -> dict[str, Any]:
        """Counts, reasons, a lang_score histogram and sample records of the parts as they stand.

        For reporting (Dagster metadata); one more map over the parts, changing nothing.
        """
        self._require_work(state)
        if not state.parts:
            return {**_merge_fates([]), "lang_score_histogram": [0] * SCORE_BINS, "samples": {"kept": [], "dropped": []}}
        results = executor.map(
            TallyWorker,
            self._items(state),
            {
                "global_ops": self.global_ops,
                "samples": samples,
                "text_chars": text_chars,
                "withhold_unscrubbed": any(getattr(op, "scrubs_pii", False) for op in self.stages),
            },
            desc="tally",
        )
        tally = _merge_fates(results)
        tally["lang_score_histogram"] = [sum(col) for col in zip(*(r["lang_score_histogram"] for r in results), strict=True)]
        tally["samples"] = {
            status: [row for r in results for row in r["samples"][status]][:samples] for status in ("kept", "dropped")
        }
        return tally

    # -------------------------------------------------------------- helpers

    def _begin(self, state: RunState, phase: str, after: tuple[str, ...]) -> RunState:
        if state.phase not in after:
            raise RunStateError(
                f"run {state.run_id}: phase {phase!r} follows {' or '.join(after)!r}, but the run's last phase was "
                f"{state.phase!r}; run the phases in order (Pipeline.run does)"
            )
        self._require_work(state)
        state = state.copy()
        state.phase = phase
        return state

    @staticmethod
    def _require_work(state: RunState) -> None:
        if not exists(state.work):
            raise RunStateError(
                f"run {state.run_id}: its work folder {state.work} is gone (a finished run removes it); "
                "start a new run from the read phase"
            )

    def _items(self, state: RunState) -> list[dict[str, Any]]:
        return [{"part": p, "patches": _patches_for(p, state.pending)} for p in state.parts]

    def _run_segments(self, executor: Executor, state: RunState, stop: int) -> RunState:
        segments = self.segments()
        for segment in segments[state.segments_done : stop]:
            t0 = time.monotonic()
            label = "+".join(op.name for op in segment)
            if isinstance(segment[0], GlobalOperator):
                op = segment[0]
                if state.pending:  # a global stage must see the previous global stage's decisions
                    state.parts = self._segment(executor, [], state, f"merge:{label}")
                    state.pending = []
                stage_dir = join(state.work, f"stage-{op.stage_index:02d}-{op.name}")
                if exists(stage_dir):  # an interrupted attempt's leftovers: the global stage reruns whole
                    _remove(stage_dir)
                patches = op.run_global(state.parts, stage_dir, executor)
                state.pending.append([op.stage_index, patches])
            else:
                state.parts = self._segment(executor, segment, state, label)
                state.pending = []
            state.segments_done += 1
            state.timings[label] = time.monotonic() - t0
            # Mid-phase checkpoint: the phase is not done, but this segment is.
            self.checkpoint(replace(state, phase=self.PHASES[self.PHASES.index(state.phase) - 1]))
        return state

    def _segment(self, executor: Executor, ops: list[Operator], state: RunState, label: str) -> list[str]:
        index = ops[0].stage_index if ops else state.pending[-1][0]
        results = self._map(
            executor,
            SegmentWorker,
            self._items(state),
            {
                "ops": ops,
                "global_ops": self.global_ops,
                "out_dir": join(state.work, f"stage-{index:02d}"),
                "batch_rows": self.batch_rows,
            },
            desc=label,
            done=join(state.work, "done", f"stage-{index:02d}"),
        )
        return [r["part"] for r in results]

    @staticmethod
    def _map(
        executor: Executor,
        worker_cls: type,
        items: list[dict[str, Any]],
        worker_kwargs: dict[str, Any],
        *,
        desc: str,
        done: str,
        keys: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``executor.map`` that skips the items a previous attempt of this run finished.

        Each finished item leaves its result in ``done/<key>.json`` (keys default
        to the part names), so a resumed run recomputes only unfinished parts.
        """
        keys = keys or [_part_name(item["part"]) for item in items]
        fs, folder = filesystem(done)
        finished = set()
        if fs.exists(folder):
            finished = {p.rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)}
        results: list[dict[str, Any] | None] = [None] * len(items)
        todo: list[tuple[int, dict[str, Any]]] = []
        for i, (item, key) in enumerate(zip(items, keys, strict=True)):
            if f"{key}.json" in finished:
                with fs.open(f"{folder}/{key}.json", "r") as f:
                    results[i] = json.load(f)
            else:
                todo.append((i, {**item, "_done": join(done, f"{key}.json")}))
        if len(todo) < len(items):
            log.warning("%s: %d of %d parts already done by an earlier attempt", desc, len(items) - len(todo), len(items))
        fresh = executor.map(
            Checkpointed, [item for _, item in todo], {"worker_cls": worker_cls, "worker_kwargs": worker_kwargs}, desc=desc
        )
        for (i, _), result in zip(todo, fresh, strict=True):
            results[i] = result
        return results  # type: ignore[return-value]

    def _write_manifest(self, state: RunState, totals: dict[str, Any]) -> None:
        manifest = {
            "format": "assay-dataset",
            "name": self.name,
            "run_id": state.run_id,
            "created": dt.datetime.now(dt.UTC).isoformat(),
            "recipe_fingerprint": state.fingerprint or self.fingerprint,
            "tokenizer": self.tokenizer.to_dict(),
            "stages": [op.describe() for op in self.stages],
            "counts": {
                "read": state.read,
                "kept": totals["kept"],
                "dropped": totals["dropped"],
                "quarantined": totals["quarantined"],
                "tokens": _tokens(state.shards),
            },
            "shards": state.shards,
            "ledger": f"ledger/run={state.run_id}",
        }
        with atomic_open(state.manifest, "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)

    def _result(self, state: RunState, totals: dict[str, Any]) -> RunResult:
        drop_reasons: Counter = Counter()
        quarantine_reasons: Counter = Counter()
        for reason, count in totals["reasons"].items():
            if reason and reason.startswith("quarantine:"):
                quarantine_reasons[reason.split(":", 2)[1]] += count
            else:
                # A third field is a detail (e.g. which record it duplicates): count by operator:reason.
                drop_reasons[":".join((reason or "").split(":", 2)[:2]) if reason else reason] += count
        return RunResult(
            run_id=state.run_id,
            output=self.output,
            read=state.read,
            kept=totals["kept"],
            dropped=totals["dropped"],
            quarantined=totals["quarantined"],
            tokens=_tokens(state.shards),
            shards=state.shards,
            drop_reasons=dict(sorted(drop_reasons.items(), key=lambda kv: -kv[1])),
            quarantine_reasons=dict(sorted(quarantine_reasons.items(), key=lambda kv: -kv[1])),
            stage_seconds={k: round(v, 3) for k, v in state.timings.items()},
            wall_seconds=round(time.time() - state.started_at, 3),
            ledger=state.ledger,
            manifest=state.manifest,
            sources=totals["sources"],
        )


def _merge_fates(results: list[dict[str, Any]]) -> dict[str, Any]:
    totals: Counter = Counter()
    reasons: Counter = Counter()
    sources: Counter = Counter()
    for r in results:
        for key in ("rows", "kept", "dropped", "quarantined"):
            totals[key] += r[key]
        reasons.update(r["reasons"])
        sources.update(r["sources"])
    return {
        **{key: totals[key] for key in ("rows", "kept", "dropped", "quarantined")},
        "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "sources": dict(sources),
    }


def _check_balance(state: RunState, totals: dict[str, Any], where: str) -> None:
    if totals["rows"] != state.read or state.read != totals["kept"] + totals["dropped"] + totals["quarantined"]:
        raise AccountingError(
            f"run {state.run_id} ({where}): read {state.read} records but accounted for {totals['rows']} "
            f"(kept {totals['kept']} + dropped {totals['dropped']} + quarantined {totals['quarantined']}); "
            "this is a bug in assay: please report it with the recipe and the run folder"
        )


def _tokens(shards: list[dict[str, Any]]) -> int:
    return sum(s["tokens"] for s in shards)


def _patches_for(part: str, pending: list[tuple[int, dict[str, list[str]]]]) -> list[list]:
    return [[index, patches.get(part, [])] for index, patches in pending]


def _remove_stale_shards(output: str, current: set[str]) -> None:
    """The shards folder holds the latest run's shards only (the ledger keeps every run)."""

    fs, folder = filesystem(join(output, "shards"))
    if not fs.exists(folder):
        return
    for path in fs.ls(folder, detail=False):
        name = path.rsplit("/", 1)[-1]
        if name.removesuffix(MANIFEST_SUFFIX) not in current:
            fs.rm(path)


def new_run_id(fingerprint: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{fingerprint[:8]}"


def _remove(path: str) -> None:
    if "://" in path and not path.startswith("file://"):
        fs, p = filesystem(path)
        fs.rm(p, recursive=True)
    else:
        shutil.rmtree(path.removeprefix("file://"), ignore_errors=True)
