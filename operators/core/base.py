"""The operator contract.

An operator has a registered ``name``, a ``version``, a typed ``Config`` whose
fingerprint goes into lineage, a lazy ``setup()`` that loads models once per
worker, and ``__call__(table) -> table``. It adds columns and updates the
decision columns; it never removes a row.

Three role templates narrow it:

* :class:`Filter` scores the rows still kept, then decides from thresholds in
  its config. Scores are columns, so a threshold can be retuned from the stored
  scores without rerunning the model (``decide`` alone).
* :class:`Mapper` rewrites the text of kept rows (normalisation, redaction).
* :class:`~operators.core.global_stage.GlobalOperator` needs to see the whole run
  (dedup, a rank over the run): it declares steps that the run engine executes
  over the staged parts, and returns, per part, a patch of annotations and drop
  reasons.

What an operator needs and is, it declares as class attributes that the rest of
assay reads and does not guess: ``resources`` (CPUs, GPUs, whether a model
loads), ``role``, ``scrubs_pii``, and ``extra`` / ``extra_modules`` (the pip
extra its optional packages come from).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from operators.core.reasons import SEPARATOR
from operators.core.schema import kept_mask, scatter, set_column


class Role(StrEnum):
    """What an operator does to records: how reports and quality gates count its drops."""

    MAPPER = "mapper"  # rewrites or annotates records (normalisation, PII scrubbing, chat rendering)
    FILTER = "filter"  # scores records and drops those outside its thresholds
    DEDUP = "dedup"  # keeps one record of each group of duplicates


@dataclass(frozen=True)
class Resources:
    """What one worker of an operator (or a step) holds.

    Attributes:
        cpus: CPU cores per worker.
        gpus: GPUs per worker when the cluster has GPUs (0: CPU work).
        model: the worker loads a model: built once per process and kept (an
            actor pool on Ray); False for cheap stateless work (Ray tasks).
    """

    cpus: float = 1
    gpus: float = 0
    model: bool = False

    def gpus_on(self, executor: Any) -> float:
        """The GPUs each worker asks ``executor`` for: none on an executor without GPUs."""
        if not self.gpus:
            return 0
        try:
            return self.gpus if executor.gpus else 0
        except ImportError:  # the executor cannot tell (no torch): CPU
            return 0

    @staticmethod
    def of(needs: list[Resources]) -> Resources:
        """What a worker running all of ``needs`` one after the other holds: the most of each."""
        return Resources(
            cpus=max((n.cpus for n in needs), default=1),
            gpus=max((n.gpus for n in needs), default=0),
            model=any(n.model for n in needs),
        )


class OperatorConfig(BaseModel):
    """Base of every operator's typed configuration.

    Unknown fields are errors (a misspelt threshold must not be ignored), and
    configs are immutable so their fingerprint cannot drift after it is taken.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def fingerprint(self) -> str:
        """A short hash of the canonical JSON of this config."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Operator(ABC):
    """Base of all operators.

    Attributes:
        name: registry name, used by recipes and written to lineage.
        version: bumped whenever the same config would give a different result.
        Config: the typed configuration model.
        kind: ``"stream"`` (per batch) or ``"global"`` (needs the whole run).
        role: what it does to records (:class:`Role`).
        resources: what each of its workers holds (:class:`Resources`).
        scrubs_pii: it removes personal data from the text: reports withhold sample
            text until it has run, and the residual-PII gate checks its output.
        score_column: the column recorded as this operator's score in lineage.
        stage_index: position in the pipeline; set by the pipeline, recorded in
            ``dropped_at`` so lineage can tell which stage dropped a record.
        extra: the pip extra that carries this operator's optional packages
            (``pip install 'assay[<extra>]'``), or None when it needs none.
        extra_modules: the modules that extra provides; a recipe that uses the
            operator fails validation, naming the extra, when one is missing.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Config: ClassVar[type[OperatorConfig]] = OperatorConfig
    kind: ClassVar[str] = "stream"
    role: ClassVar[Role] = Role.MAPPER
    resources: ClassVar[Resources] = Resources()
    scrubs_pii: ClassVar[bool] = False
    score_column: ClassVar[str | None] = None
    extra: ClassVar[str | None] = None
    extra_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: OperatorConfig | dict[str, Any] | None = None, **params: Any):
        if isinstance(config, OperatorConfig):
            if params:
                config = config.model_copy(update=params)
        else:
            config = self.Config(**{**(config or {}), **params})
        self.config = config
        self.stage_index: int = 0
        self._ready = False

    @property
    def fingerprint(self) -> str:
        return self.config.fingerprint()

    @classmethod
    def missing_extra(cls) -> str | None:
        """Why this operator cannot run in this installation, or None when it can.

        Checked when a recipe is validated, so a missing optional package fails
        in a second with the command that installs it, not in a worker an hour in.
        """
        missing = [m for m in cls.extra_modules if importlib.util.find_spec(m.split(".")[0]) is None]
        if not missing:
            return None
        return (
            f"operator {cls.name!r} needs the optional packages of the {cls.extra!r} extra "
            f"(missing: {', '.join(missing)}); install them with: pip install 'assay[{cls.extra}]'"
        )

    def describe(self) -> dict[str, Any]:
        """What lineage records about this operator."""
        return {
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "stage_index": self.stage_index,
            "score_column": self.score_column,
            "config": self.config.model_dump(mode="json"),
        }

    def setup(self) -> None:  # noqa: B027 - optional hook: most operators load nothing
        """Load models and other heavy state. Called once per worker, lazily."""

    def __call__(self, table: pa.Table) -> pa.Table:
        if not self._ready:
            self.setup()
            self._ready = True
        return self.process(table)

    @abstractmethod
    def process(self, table: pa.Table) -> pa.Table:
        """Annotate ``table`` and return it with the same rows."""

    def __getstate__(self) -> dict[str, Any]:
        # Ship config, not loaded models: each worker runs its own setup().
        state = self.__dict__.copy()
        for key in list(state):
            if key.startswith("_model") or key.startswith("_loaded"):
                state.pop(key)
        state["_ready"] = False
        return state

    def drop(self, table: pa.Table, reasons: pa.Array | list[str | None]) -> pa.Table:
        """Drop the kept rows whose entry in ``reasons`` is not null.

        Reasons are written as ``"<operator>:<reason>"`` so every drop can be
        counted under its own name. Rows already dropped keep their first reason.
        """
        reasons = reasons if isinstance(reasons, (pa.Array, pa.ChunkedArray)) else pa.array(reasons, pa.string())
        newly = pc.and_(kept_mask(table), pc.is_valid(reasons))
        if not pc.any(newly).as_py():
            return table
        prefixed = pc.binary_join_element_wise(pa.scalar(self.name), reasons, SEPARATOR)
        table = set_column(table, "drop_reason", pc.if_else(newly, prefixed, table.column("drop_reason")))
        stage = pa.scalar(self.stage_index, pa.int16())
        table = set_column(table, "dropped_at", pc.if_else(newly, stage, table.column("dropped_at")))
        return set_column(table, "keep", pc.if_else(newly, False, table.column("keep")))


class Filter(Operator):
    """Score the kept rows, then decide from thresholds.

    Subclasses implement ``score`` (expensive, adds columns) and ``decide``
    (cheap, reads those columns and the config's thresholds).
    """

    role = Role.FILTER

    #: Column name -> Arrow type of every column ``score`` returns.
    columns: ClassVar[dict[str, pa.DataType]] = {}

    @abstractmethod
    def score(self, table: pa.Table) -> dict[str, list | pa.Array]:
        """Score every row of ``table`` (only kept rows are passed)."""

    @abstractmethod
    def decide(self, table: pa.Table) -> list[str | None]:
        """Return a drop reason (or None to keep) for every row of ``table``."""

    def process(self, table: pa.Table) -> pa.Table:
        mask = kept_mask(table)
        kept = table.filter(mask)
        scores = self.score(kept) if kept.num_rows else {name: [] for name in self.columns}
        for name, type_ in self.columns.items():
            values = scores[name]
            values = values if isinstance(values, pa.Array) else pa.array(values, type_)
            table = set_column(table, name, scatter(mask, values, table.num_rows, type_))
        return self.redecide(table)

    def redecide(self, table: pa.Table) -> pa.Table:
        """Apply ``decide`` to the kept rows of an already scored table."""
        mask = kept_mask(table)
        kept = table.filter(mask)
        if not kept.num_rows:
            return table
        reasons = scatter(mask, pa.array(self.decide(kept), pa.string()), table.num_rows, pa.string())
        return self.drop(table, reasons)


class Mapper(Operator):
    """Rewrite the text of kept rows; dropped and quarantined rows are untouched."""

    @abstractmethod
    def transform(self, texts: list[str]) -> list[str]:
        """Return the new text for each input text, in order."""

    def process(self, table: pa.Table) -> pa.Table:
        mask = kept_mask(table)
        kept = table.filter(mask)
        if not kept.num_rows:
            return table
        new = pa.array(self.transform(kept.column("text").to_pylist()), pa.string())
        merged = scatter(mask, new, table.num_rows, pa.string())
        return set_column(table, "text", pc.if_else(mask, merged, table.column("text")))
