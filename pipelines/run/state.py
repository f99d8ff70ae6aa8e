"""Where a run stands between two phases (:class:`RunState`) and what it did (:class:`RunResult`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from operators.core.io import join
from operators.core.phases import Phase

#: The run state's file in the run's work folder.
STATE_FILE = "state.json"
#: The folder of a run's work folders, under its output.
WORK_FOLDER = "_work"


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
        work: the run's work folder (staged parts, patches, placements, checkpoints).
        started_at: wall-clock start (epoch seconds).
        phase: the last phase completed (a :class:`~operators.core.phases.Phase` value).
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
        input_key: a fingerprint of the input files; a run resumes only over the same files.
    """

    run_id: str
    output: str
    work: str
    started_at: float
    phase: str = Phase.START
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

    def done_folder(self, name: str) -> str:
        """Where the checkpoints of one map of this run go (``<work>/done/<name>``)."""
        return join(self.work, "done", name)


def new_run_id(fingerprint: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{fingerprint[:8]}"


def work_folder(output: str, run_id: str) -> str:
    return join(output, WORK_FOLDER, run_id)
