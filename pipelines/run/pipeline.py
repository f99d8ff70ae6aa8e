"""The run: sources -> staged parts -> stages -> shards + rejects + ledger.

Records move between stages as Parquet *parts* (at most ``rows_per_part``
records each) in the run's work folder, so every stage is a map over parts
that an executor spreads over processes or machines, and a worker's memory is
bounded by one part. Stages are grouped into segments (:mod:`pipelines.run.stages`):
consecutive stream operators run together on each part; a global operator
(dedup, a rank over the whole run) runs its declared steps over all parts and
leaves patches that the next reader merges in.

A run is a sequence of phases (:class:`~operators.core.phases.Phase`) over a
:class:`~pipelines.run.state.RunState`, a small JSON-serialisable record of
where the run stands (its parts, pending patches and counts)::

    state = pipeline.start()
    state = pipeline.read(executor, state)         # sources -> parts
    state = pipeline.decide(executor, state)       # stream stages before the first global one
    state = pipeline.deduplicate(executor, state)  # global stages and whatever follows them
    state = pipeline.write_shards(executor, state) # tokenized shards + manifest
    state = pipeline.write_ledger(executor, state) # ledger + rejects + summary; accounting

:meth:`Pipeline.run` chains them, resuming an unfinished run of the same recipe;
the Dagster assets call them one per asset, handing the state from one asset to
the next. Each phase tells the pipeline's listeners when it starts, completes
or fails.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from operators.core.base import Operator, Resources
from operators.core.global_stage import GlobalOperator
from operators.core.io import atomic_open, exists, filesystem, join, makedirs, remove
from operators.core.phases import Phase, RunListener
from operators.execution.executor import Executor
from operators.formats.sources import SourceSpec, expand
from operators.formats.tokenize import TokenizerInfo
from pipelines.run import accounting
from pipelines.run.checkpoint import checkpointed_map, save_state, unfinished_runs
from pipelines.run.events import notify, phase_event
from pipelines.run.manifest import remove_stale_shards, write_manifest
from pipelines.run.stages import commit_global_stage, context, run_global_stage, run_segment, segments
from pipelines.run.state import RunResult, RunState, RunStateError, new_run_id, work_folder
from pipelines.run.workers import LedgerWorker, ReadWorker, ShardWorker, part_name

log = logging.getLogger(__name__)

#: The read, shard and ledger workers are built once per process (the shard worker holds the tokenizer).
_PHASE_WORKER = Resources(model=True)


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
        name: the recipe's name.
        listeners: told when the run starts and when each phase starts, completes or fails.
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
    listeners: list[RunListener] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, op in enumerate(self.stages):
            op.stage_index = i
        if not self.fingerprint:
            described = json.dumps([op.describe() for op in self.stages], sort_keys=True)
            self.fingerprint = hashlib.sha256(described.encode()).hexdigest()[:16]

    def segments(self) -> list[list[Operator]]:
        """Stages grouped: runs of stream operators, and each global operator alone."""
        return segments(self.stages)

    def first_global_segment(self) -> int:
        """Index of the first segment that is a global stage (the number of segments if none)."""
        groups = self.segments()
        return next((i for i, s in enumerate(groups) if isinstance(s[0], GlobalOperator)), len(groups))

    @property
    def global_ops(self) -> list[GlobalOperator]:
        return [op for op in self.stages if isinstance(op, GlobalOperator)]

    # -------------------------------------------------------------- the whole run and resuming

    def run(self, executor: Executor, run_id: str | None = None, resume: bool = True) -> RunResult:
        """Every phase in order; raises :class:`~pipelines.run.accounting.AccountingError` if a record was lost.

        With ``resume`` (the default), an unfinished run of the same recipe over
        the same input files in this output folder (killed, preempted, out of
        disk) is continued from its last checkpoint instead of starting over:
        finished phases, parts and steps are not recomputed, and the output is
        what an uninterrupted run would have written, under the same run id.
        """
        state = self.resumable() if resume and run_id is None else None
        if state is None:
            state = self.start(run_id)
            save_state(state)
        else:
            log.warning("resuming run %s after phase %r", state.run_id, state.phase)
        phases = {
            Phase.READ: self.read, Phase.DECIDE: self.decide, Phase.DEDUPLICATE: self.deduplicate,
            Phase.WRITE_SHARDS: self.write_shards, Phase.WRITE_LEDGER: self.write_ledger,
        }  # fmt: skip
        for phase in Phase.ran()[Phase(state.phase).number :]:
            state = phases[phase](executor, state)
            if phase is not Phase.WRITE_LEDGER:  # the last phase removes the work folder
                save_state(state)
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

    def resumable(self) -> RunState | None:
        """The latest unfinished run of this recipe over the same input in this output folder, if any."""
        candidates = [
            s for s in unfinished_runs(self.output)
            if s.fingerprint == self.fingerprint and s.phase != Phase.WRITE_LEDGER
        ]  # fmt: skip
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
        work = work_folder(self.output, run_id)
        makedirs(work)
        state = RunState(
            run_id=run_id,
            output=self.output,
            work=work,
            started_at=time.time(),
            keep_work=self.keep_work,
            fingerprint=self.fingerprint,
            input_key=self.input_key(),
        )
        notify(self.listeners, lambda listener: listener.run_started(self.name, run_id, self.output))
        return state

    def read(self, executor: Executor, state: RunState) -> RunState:
        """Sources -> staged parts (malformed input becomes quarantined records)."""
        return self._phase(Phase.READ, state, lambda st: self._read(executor, st))

    def decide(self, executor: Executor, state: RunState) -> RunState:
        """The stream stages before the first global stage: score and decide, per part."""
        return self._phase(Phase.DECIDE, state, lambda st: self._run_segments(executor, st, self.first_global_segment()))

    def deduplicate(self, executor: Executor, state: RunState) -> RunState:
        """The global stages (dedup, whole-run ranks) and any stages after them.

        The last global stage's patches stay pending: the shard and ledger
        phases merge them as they read each part, saving a pass over the data.
        """
        return self._phase(Phase.DEDUPLICATE, state, lambda st: self._run_segments(executor, st, len(self.segments())))

    def write_shards(self, executor: Executor, state: RunState) -> RunState:
        """Kept records -> tokenized Arrow shards; the dataset manifest; global stages commit."""
        return self._phase(Phase.WRITE_SHARDS, state, lambda st: self._write_shards(executor, st))

    def write_ledger(self, executor: Executor, state: RunState) -> RunState:
        """One ledger row per input record, the rejects, and the run summary.

        Raises:
            AccountingError: the ledger does not hold exactly one row per record read.
        """
        return self._phase(Phase.WRITE_LEDGER, state, lambda st: self._write_ledger(executor, st))

    def items(self, state: RunState) -> list[dict[str, Any]]:
        """One work item per current part: ``{"part": path, "patches": [[stage_index, [patch paths]], ...]}``."""
        return [
            {"part": p, "patches": [[index, patches.get(p, [])] for index, patches in state.pending]}
            for p in state.parts
        ]

    # -------------------------------------------------------------- what each phase does

    def _read(self, executor: Executor, state: RunState) -> RunState:
        t0 = time.monotonic()
        files = [(si, f) for si, spec in enumerate(self.sources) for f in expand(spec)]
        results = checkpointed_map(
            executor,
            ReadWorker,
            [{"file": f, "source_index": si, "file_index": fi} for fi, (si, f) in enumerate(files)],
            {"sources": self.sources, "out_dir": join(state.work, "stage-read"), "rows_per_part": self.rows_per_part},
            done=state.done_folder(Phase.READ),
            keys=[f"file-{fi:05d}" for fi in range(len(files))],
            resources=_PHASE_WORKER,
            desc="read",
        )
        state.parts = [p for r in results for p in r["parts"]]
        state.read = sum(r["read"] for r in results)
        state.counts[Phase.READ] = {
            "files": len(files),
            "parts": len(state.parts),
            "read": state.read,
            "quarantined": sum(r["quarantined"] for r in results),
        }
        state.timings["read"] = time.monotonic() - t0
        return state

    def _run_segments(self, executor: Executor, state: RunState, stop: int) -> RunState:
        global_ops = self.global_ops
        for segment in self.segments()[state.segments_done : stop]:
            t0 = time.monotonic()
            label = "+".join(op.name for op in segment)
            if isinstance(segment[0], GlobalOperator):
                op = segment[0]
                if state.pending:  # a global stage must see the previous global stage's decisions
                    state.parts = self._segment(executor, [], state, f"merge:{label}", global_ops)
                    state.pending = []
                ctx = context(op, state.parts, state.work, self.output, state.run_id, executor)
                state.pending.append([op.stage_index, run_global_stage(op, ctx, executor)])
            else:
                state.parts = self._segment(executor, segment, state, label, global_ops)
                state.pending = []
            state.segments_done += 1
            state.timings[label] = time.monotonic() - t0
            # Mid-phase checkpoint: the phase is not done, but this segment is.
            save_state(replace(state, phase=Phase(state.phase).previous))
        return state

    def _segment(
        self, executor: Executor, ops: list[Operator], state: RunState, label: str, global_ops: list[GlobalOperator]
    ) -> list[str]:
        index = ops[0].stage_index if ops else state.pending[-1][0]
        return run_segment(
            executor,
            ops,
            self.items(state),
            global_ops=global_ops,
            out_dir=join(state.work, f"stage-{index:02d}"),
            done=state.done_folder(f"stage-{index:02d}"),
            batch_rows=self.batch_rows,
            desc=label,
        )

    def _write_shards(self, executor: Executor, state: RunState) -> RunState:
        t0 = time.monotonic()
        fingerprint = state.fingerprint or self.fingerprint
        results = self._map_parts(
            executor, state, Phase.WRITE_SHARDS, ShardWorker, self.items(state),
            {
                "output": self.output,
                "work": state.work,
                "run_id": state.run_id,
                "global_ops": self.global_ops,
                "tokenizer": self.tokenizer,
                "recipe_fingerprint": fingerprint,
            },
            desc="tokenize+write",
        )
        totals = accounting.merge_fates(results)
        accounting.check_balance(state, totals, "shards")
        state.shards = sorted((r["shard"] for r in results if r["shard"]), key=lambda s: s["shard"])
        state.placements = {p: r["placement"] for p, r in zip(state.parts, results, strict=True)}
        state.counts[Phase.WRITE_SHARDS] = {
            **totals, "shards": len(state.shards), "tokens": accounting.tokens(state.shards)
        }
        write_manifest(state, totals, self.name, fingerprint, self.tokenizer, [op.describe() for op in self.stages])
        remove_stale_shards(self.output, {s["shard"] for s in state.shards})
        for op in self.global_ops:  # e.g. fuzzy dedup's incremental index, now that survivors are final
            commit_global_stage(op, context(op, state.parts, state.work, self.output, state.run_id, executor), executor)
        state.timings["tokenize+write"] = time.monotonic() - t0
        return state

    def _write_ledger(self, executor: Executor, state: RunState) -> RunState:
        t0 = time.monotonic()
        items = [{**item, "placement": state.placements.get(item["part"])} for item in self.items(state)]
        results = self._map_parts(
            executor, state, Phase.WRITE_LEDGER, LedgerWorker, items,
            {
                "output": self.output,
                "run_id": state.run_id,
                "stages": [op.describe() for op in self.stages],
                "global_ops": self.global_ops,
            },
            desc="ledger",
        )
        totals = accounting.merge_fates(results)
        accounting.check_balance(state, totals, "ledger")
        state.timings["ledger"] = time.monotonic() - t0
        state.summary = self._result(state, totals).to_dict()
        state.counts[Phase.WRITE_LEDGER] = {k: totals[k] for k in ("rows", "kept", "dropped", "quarantined")}
        with atomic_open(join(self.output, "summary.json"), "w") as f:
            json.dump(state.summary, f, indent=2)
        if self.keep_work or state.keep_work:
            save_state(state)  # marks the kept work folder finished: not a run to resume
        else:
            remove(state.work)
        return state

    def _map_parts(
        self, executor: Executor, state: RunState, phase: Phase, worker_cls: type, items: list[dict[str, Any]],
        worker_kwargs: dict[str, Any], desc: str,
    ) -> list[dict[str, Any]]:
        """A phase's worker over every part (one item each), checkpointed under ``done/<phase>``."""
        return checkpointed_map(
            executor, worker_cls, items, worker_kwargs,
            done=state.done_folder(phase), keys=[part_name(p) for p in state.parts], resources=_PHASE_WORKER, desc=desc,
        )

    def _result(self, state: RunState, totals: dict[str, Any]) -> RunResult:
        drop_reasons, quarantine_reasons = accounting.reason_counts(totals["reasons"])
        return RunResult(
            run_id=state.run_id,
            output=self.output,
            read=state.read,
            kept=totals["kept"],
            dropped=totals["dropped"],
            quarantined=totals["quarantined"],
            tokens=accounting.tokens(state.shards),
            shards=state.shards,
            drop_reasons=drop_reasons,
            quarantine_reasons=quarantine_reasons,
            stage_seconds={k: round(v, 3) for k, v in state.timings.items()},
            wall_seconds=round(time.time() - state.started_at, 3),
            ledger=state.ledger,
            manifest=state.manifest,
            sources=totals["sources"],
        )

    # -------------------------------------------------------------- phase bookkeeping and listeners

    def _phase(self, phase: Phase, state: RunState, body: Callable[[RunState], RunState]) -> RunState:
        """Check the order, run ``body`` on a copy of the state, and tell the listeners."""
        notify(self.listeners, lambda listener: listener.phase_started(phase_event(self.name, self.sources, phase, state)))
        try:
            if state.phase != phase.previous:
                raise RunStateError(
                    f"run {state.run_id}: phase {phase.value!r} follows {phase.previous.value!r}, but the run's "
                    f"last phase was {str(state.phase)!r}; run the phases in order (Pipeline.run does)"
                )
            if not exists(state.work):
                raise RunStateError(
                    f"run {state.run_id}: its work folder {state.work} is gone (a finished run removes it); "
                    "start a new run from the read phase"
                )
            new = state.copy()
            new.phase = phase
            new = body(new)
        except BaseException as e:
            failed = phase_event(self.name, self.sources, phase, state, error=e)
            notify(self.listeners, lambda listener: listener.phase_failed(failed))
            raise
        notify(self.listeners, lambda listener: listener.phase_completed(phase_event(self.name, self.sources, phase, new, completed=True)))
        return new
