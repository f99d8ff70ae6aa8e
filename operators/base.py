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
* :class:`GlobalOperator` needs to see the whole run (exact and fuzzy dedup): it
  runs between streaming segments over the staged parts and returns, per part,
  a patch of annotations and drop reasons.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from operators.io import join
from operators.schema import kept_mask, scatter, set_column

if TYPE_CHECKING:
    from operators.executor import Executor


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
        prefixed = pc.binary_join_element_wise(pa.scalar(self.name), reasons, ":")
        table = set_column(table, "drop_reason", pc.if_else(newly, prefixed, table.column("drop_reason")))
        stage = pa.scalar(self.stage_index, pa.int16())
        table = set_column(table, "dropped_at", pc.if_else(newly, stage, table.column("dropped_at")))
        return set_column(table, "keep", pc.if_else(newly, False, table.column("keep")))


class Filter(Operator):
    """Score the kept rows, then decide from thresholds.

    Subclasses implement ``score`` (expensive, adds columns) and ``decide``
    (cheap, reads those columns and the config's thresholds).
    """

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


class GlobalOperator(Operator):
    """An operator that must see the whole run before it can decide.

    ``run_global`` receives the staged part files of the run and writes, for
    each part that has anything to change, patch files with an ``id`` column,
    optional annotation columns, and a ``drop_reason`` column (null = keep).
    The pipeline merges each part's patches into it (``apply_patch``) before
    the next stage reads it. No step may need the whole corpus in memory.
    """

    kind = "global"
    #: Whether the stage removes duplicates (its drops count in the duplicate-rate checks); a global
    #: scorer that ranks the whole run (clip_score) sets False.
    deduplicates: ClassVar[bool] = True

    @abstractmethod
    def run_global(self, parts: list[str], work_dir: str, executor: Executor) -> dict[str, list[str]]:
        """Return ``{part path: [patch paths]}`` for the parts that change."""

    def output_folder(self, work_dir: str, path: str) -> str:
        """``path`` as given when absolute or a URL, else under the run's output folder.

        For state that outlives a run (an index, cached embeddings): the work folder is
        ``<output>/_work/<run_id>/stage-NN-<name>`` and is removed when the run ends.
        """
        if "://" in path or os.path.isabs(path):
            return path
        output = work_dir
        for _ in range(3):
            output = output.rstrip("/").rsplit("/", 1)[0]
        return join(output, path)

    def commit(self, work_dir: str, executor: Executor, run_id: str) -> None:
        """Called once the run's shards are written: persist state for later runs (an index)."""

    def apply_patch(self, table: pa.Table, patch: pa.Table) -> pa.Table:
        """Merge a patch (rows keyed by ``id``) into ``table``."""
        if not patch.num_rows:
            return table
        position = {rid: i for i, rid in enumerate(table.column("id").to_pylist())}
        rows = [position.get(rid) for rid in patch.column("id").to_pylist()]
        if any(r is None for r in rows):
            raise ValueError(f"{self.name}: patch names records that are not in the part")
        mask = [False] * table.num_rows
        for r in rows:
            mask[r] = True
        mask_arr = pa.array(mask)
        # Patch rows in table order, so values line up with the mask.
        order = pa.array(sorted(range(len(rows)), key=rows.__getitem__))
        patch = patch.take(order)
        for name in patch.column_names:
            if name in ("id", "drop_reason"):
                continue
            values = scatter(mask_arr, patch.column(name), table.num_rows)
            if name in table.column_names:
                values = pc.if_else(mask_arr, values, table.column(name).cast(values.type))
            table = set_column(table, name, values)
        if "drop_reason" in patch.column_names:
            table = self.drop(table, scatter(mask_arr, patch.column("drop_reason"), table.num_rows, pa.string()))
        return table

    def process(self, table: pa.Table) -> pa.Table:  # pragma: no cover - not a stream operator
        raise TypeError(f"{self.name} is a global operator; run it through the pipeline")
