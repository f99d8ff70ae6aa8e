"""Stages: stream segments mapped over the parts, and global stages whose declared steps are run here.

Consecutive stream operators form a *segment* that runs on each part in one
worker (its resources are the most any of its operators asks for, GPUs
included). A global operator is a segment of its own: its plan's steps
(:class:`~operators.core.global_stage.Step`) run through the same checkpointed
map as every other phase, with their checkpoints under the stage's folder
(``stage-NN-<name>/done/<step>/``), so a killed run resumes at the first
unfinished step and finished steps are answered from their checkpoints.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from operators.core.base import Operator, Resources
from operators.core.global_stage import GlobalOperator, Patches, StageContext, Step
from operators.core.io import join
from operators.execution.executor import Executor
from pipelines.run.checkpoint import checkpointed_map
from pipelines.run.workers import SegmentWorker, part_name

#: Segment workers are built once per process and keep their operators set up (models loaded).
_SEGMENT = Resources(model=True)


def segments(stages: list[Operator]) -> list[list[Operator]]:
    """Stages grouped: runs of stream operators, and each global operator alone."""
    groups: list[list[Operator]] = []
    for op in stages:
        if isinstance(op, GlobalOperator) or not groups or isinstance(groups[-1][0], GlobalOperator):
            groups.append([op])
        else:
            groups[-1].append(op)
    return groups


def stage_folder(work: str, op: Operator) -> str:
    return join(work, f"stage-{op.stage_index:02d}-{op.name}")


def run_segment(
    executor: Executor,
    ops: list[Operator],
    items: list[dict[str, Any]],
    *,
    global_ops: list[GlobalOperator],
    out_dir: str,
    done: str,
    batch_rows: int,
    desc: str,
) -> list[str]:
    """Stream operators ``ops`` (none: only merge the pending patches) over every part; the new parts."""
    results = checkpointed_map(
        executor,
        SegmentWorker,
        items,
        {"ops": ops, "global_ops": global_ops, "out_dir": out_dir, "batch_rows": batch_rows},
        done=done,
        keys=[part_name(item["part"]) for item in items],
        resources=Resources.of([_SEGMENT, *(op.resources for op in ops)]),
        desc=desc,
    )
    return [r["part"] for r in results]


def run_steps(plan: Generator[Step, list[dict[str, Any]], Any], executor: Executor, done_root: str, label: str) -> Any:
    """Execute a plan's steps in order, each a checkpointed map under ``done_root/<step name>``; the plan's value."""
    seen: set[str] = set()
    try:
        step = next(plan)
        while True:
            if step.name in seen:
                raise ValueError(f"{label}: two steps are named {step.name!r}; a step's name must be unique in its stage")
            seen.add(step.name)
            results = checkpointed_map(
                executor,
                step.worker_cls,
                step.items,
                step.worker_kwargs,
                done=join(done_root, step.name),
                keys=step.item_keys(),
                resources=step.resources,
                desc=f"{label}: {step.name}",
            )
            step = plan.send(results)
    except StopIteration as stop:
        return stop.value
    finally:
        plan.close()


def context(op: GlobalOperator, parts: list[str], work: str, output: str, run_id: str, executor: Executor) -> StageContext:
    """What ``op``'s plan may know: its parts and folders, and the executor's parallelism and GPUs."""
    # Asking an in-process executor for GPUs imports torch: only a stage that wants GPUs asks.
    gpus = int(op.resources.gpus_on(executor) and executor.gpus)
    return StageContext(
        parts=list(parts), work_dir=stage_folder(work, op), output=output, run_id=run_id,
        parallelism=executor.parallelism, gpus=gpus,
    )


def run_global_stage(op: GlobalOperator, ctx: StageContext, executor: Executor) -> Patches:
    """The global stage's patches: its plan's steps run (or answered from their checkpoints) here."""
    return run_steps(op.plan(ctx), executor, join(ctx.work_dir, "done"), op.name)


def commit_global_stage(op: GlobalOperator, ctx: StageContext, executor: Executor) -> None:
    """The stage's commit steps (persisting state such as an index), once the run's shards are final."""
    run_steps(op.commit(ctx), executor, join(ctx.work_dir, "done-commit"), f"{op.name} commit")
