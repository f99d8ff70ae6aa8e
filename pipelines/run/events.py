"""What a run tells its listeners about a phase: the datasets it reads and writes, its counts, its error."""

from __future__ import annotations

import logging
from collections.abc import Callable

from operators.core.io import join
from operators.core.phases import Dataset, Phase, PhaseEvent, RunListener
from operators.formats.sources import SourceSpec
from pipelines.run.state import WORK_FOLDER, RunState

log = logging.getLogger(__name__)


def phase_event(
    name: str,
    sources: list[SourceSpec],
    phase: Phase,
    state: RunState,
    completed: bool = False,
    error: BaseException | None = None,
) -> PhaseEvent:
    """The event of ``phase`` of the run at ``state`` (of recipe ``name``); with ``completed``, the outputs' sizes."""
    inputs, outputs = datasets(state.output, sources, phase, state if completed else None)
    return PhaseEvent(
        pipeline=name,
        run_id=state.run_id,
        fingerprint=state.fingerprint,
        phase=phase,
        inputs=inputs,
        outputs=outputs,
        counts=dict(state.counts.get(phase, {})),
        error=error,
    )


def datasets(
    output: str, sources: list[SourceSpec], phase: Phase, done: RunState | None
) -> tuple[tuple[Dataset, ...], tuple[Dataset, ...]]:
    """What a phase reads and writes; with the state it completed with, the outputs' sizes."""
    counts = done.counts.get(phase, {}) if done is not None else {}

    def parts(after: Phase, rows: int | None = None) -> Dataset:
        # The staged parts after a phase, one dataset whatever the run (their files are the run's own).
        return Dataset(join(output, WORK_FOLDER, f"parts.{after}"), rows=rows)

    if phase is Phase.READ:
        return tuple(Dataset(s.path) for s in sources), (parts(Phase.READ, counts.get("read")),)
    if phase is Phase.DECIDE:
        return (parts(Phase.READ),), (parts(Phase.DECIDE),)
    if phase is Phase.DEDUPLICATE:
        return (parts(Phase.DECIDE),), (parts(Phase.DEDUPLICATE),)
    if phase is Phase.WRITE_SHARDS:
        size = sum(s.get("bytes", 0) for s in done.shards) if done is not None and counts else None
        return (parts(Phase.DEDUPLICATE),), (Dataset(join(output, "shards"), counts.get("kept"), size),)
    rejects = counts["dropped"] + counts["quarantined"] if counts else None
    return (parts(Phase.DEDUPLICATE),), (
        Dataset(join(output, "ledger"), counts.get("rows")),
        Dataset(join(output, "rejects"), rejects),
    )


def notify(listeners: list[RunListener], call: Callable[[RunListener], None]) -> None:
    """``call`` each listener; one that raises is logged, never fails the run."""
    for listener in listeners:
        try:
            call(listener)
        except Exception as e:  # an observer must never fail the data run
            log.warning("run listener %s failed: %s", type(listener).__name__, e)
