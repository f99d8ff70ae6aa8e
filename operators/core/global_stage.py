"""Global operators: stages that must see the whole run, declared as steps the run engine executes.

A global operator does not run itself. Its :meth:`GlobalOperator.plan` is a
generator that *yields* :class:`Step` s (a worker class, its work items and
what each worker holds) and is *sent* back the list of the step's results; its
return value is the stage's patches: ``{part path: [patch files]}``. The run
engine executes each step as a map over its items, checkpointing every finished
item under the stage's folder by step name and item key, exactly as it does for
every other phase::

    def plan(self, ctx):
        maps = yield Step("hash", _MapWorker, [{"part": p} for p in ctx.parts], {...})
        reduces = yield Step("cluster", _ReduceWorker, buckets_of(maps), {...})
        return patches_of(reduces)

A resumed run replays the generator from the start: finished steps are answered
from their checkpoints without running anything, and execution continues at the
first unfinished step. So steps must be named deterministically (an iterative
step numbers its rounds: ``components-03-large``), and whatever the generator
decides must follow from the results it was sent.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from operators.core.base import Operator, Resources
from operators.core.schema import scatter, set_column

#: What a global operator's ``plan`` returns: per part, its patch files.
Patches = dict[str, list[str]]
#: A plan: yields steps, is sent each step's results, returns the patches.
Plan = Generator["Step", list[dict[str, Any]], Patches]


@dataclass
class Step:
    """One map of a global stage: ``worker_cls(**worker_kwargs)(item)`` for every item.

    Attributes:
        name: unique within the stage and the same in every attempt of the run
            (its checkpoints are found by it).
        worker_cls: a class built once per process and called once per item,
            returning a JSON-able dict.
        items: the work items (dicts of JSON-able values).
        worker_kwargs: constructor arguments (must pickle).
        resources: what each worker holds (a model on a GPU, or cheap CPU work).
        keys: one file-name-safe key per item for its checkpoint; default: its position.
    """

    name: str
    worker_cls: type
    items: list[dict[str, Any]]
    worker_kwargs: dict[str, Any] = field(default_factory=dict)
    resources: Resources = Resources()
    keys: list[str] | None = None

    def item_keys(self) -> list[str]:
        return self.keys if self.keys is not None else [f"{i:06d}" for i in range(len(self.items))]


@dataclass(frozen=True)
class StageContext:
    """What a global operator's plan may know about the run.

    Attributes:
        parts: the staged part files, in order.
        work_dir: the stage's own folder (its intermediate files; the engine keeps
            its checkpoints there too).
        output: the run's output folder (persistent state such as an index lives under it).
        run_id: the run's id.
        parallelism: how many workers the executor runs at once.
        gpus: GPUs the executor's workers can use (0: CPU only, or the operator asks for none).
    """

    parts: list[str]
    work_dir: str
    output: str
    run_id: str = ""
    parallelism: int = 1
    gpus: int = 0


class GlobalOperator(Operator):
    """An operator that must see the whole run before it can decide.

    Its plan's steps write, for each part that has anything to change, patch
    files with an ``id`` column, optional annotation columns, and a
    ``drop_reason`` column (null = keep). The engine merges each part's patches
    into it (:meth:`apply_patch`) before the next stage reads it. No step may
    need the whole corpus in memory.
    """

    kind = "global"

    @abstractmethod
    def plan(self, ctx: StageContext) -> Plan:
        """Yield the stage's steps; return ``{part path: [patch paths]}`` for the parts that change."""

    def commit(self, ctx: StageContext) -> Generator[Step, list[dict[str, Any]], None]:
        """Steps run once the run's shards are written: persist state for later runs (an index).

        Must be safe to replay after a kill, like :meth:`plan`. Default: nothing.
        """
        return
        yield  # a generator that yields nothing

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
