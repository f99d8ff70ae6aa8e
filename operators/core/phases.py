"""The phases of a run, and the hooks a run calls as it goes (for lineage, metrics, UIs).

A run is a fixed sequence of phases. The run engine (``pipelines.run``) executes
them; Dagster runs one per asset; OpenLineage names a job after each; so they
are listed here once. Their values are kept in every run's checkpoint and in
the OpenLineage job names consumers key on: they do not change.

A :class:`RunListener` is told when a run starts and when each phase starts,
completes or fails, with the datasets the phase reads and writes. The engine
knows no listener in particular; whoever starts a run (the CLI, Dagster) hands
it the listeners it wants. A listener must not fail the run: the engine logs
what a listener raises and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    """The phases of a run, in order."""

    START = "start"  # a run id and a work folder; nothing read yet
    READ = "read"  # sources -> staged parts; malformed input becomes quarantined records
    DECIDE = "decide"  # the stream stages before the first global stage: score, decide, rewrite
    DEDUPLICATE = "deduplicate"  # the global stages (dedup, whole-run ranks) and the stream stages after them
    WRITE_SHARDS = "write_shards"  # kept records -> tokenized Arrow shards + manifest
    WRITE_LEDGER = "write_ledger"  # one ledger row per record, the rejects, the summary; accounting checked

    @classmethod
    def ran(cls) -> list[Phase]:
        """The phases that do work (every one but START), in order."""
        return [p for p in cls if p is not cls.START]

    @property
    def number(self) -> int:
        """Position in the run: START is 0."""
        return list(Phase).index(self)

    @property
    def previous(self) -> Phase:
        return list(Phase)[self.number - 1]


@dataclass(frozen=True)
class Dataset:
    """A dataset a phase reads or writes: a file, a folder or a URL, with what is known of its size."""

    path: str
    rows: int | None = None
    bytes: int | None = None


@dataclass(frozen=True)
class PhaseEvent:
    """What a listener is told about a phase.

    Attributes:
        pipeline: the recipe's name.
        run_id: the run's id.
        fingerprint: the recipe's fingerprint.
        phase: the phase.
        inputs: the datasets it reads.
        outputs: the datasets it writes (with rows and bytes once it has completed).
        counts: the phase's totals (``RunState.counts[phase]``), once known.
        error: what made it fail.
    """

    pipeline: str
    run_id: str
    fingerprint: str
    phase: Phase
    inputs: tuple[Dataset, ...] = ()
    outputs: tuple[Dataset, ...] = ()
    counts: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


class RunListener:
    """Hooks a run calls; every hook does nothing unless overridden."""

    def run_started(self, pipeline: str, run_id: str, output: str) -> None:
        """A new run (not a resumed one) has its id and work folder."""

    def phase_started(self, event: PhaseEvent) -> None:
        """A phase begins."""

    def phase_completed(self, event: PhaseEvent) -> None:
        """A phase finished; ``event.counts`` and the outputs' sizes are known."""

    def phase_failed(self, event: PhaseEvent) -> None:
        """A phase raised ``event.error`` (the run stops, and may be resumed)."""
