"""Checkpoints: every map of a run records each finished item, so a resumed run redoes only the rest.

:func:`checkpointed_map` is the one way the run engine runs a worker over
items (parts, files, a global step's partitions). Each finished item leaves its
result in ``<done>/<key>.json``, written atomically after the worker's own
outputs (which are also written atomically under deterministic names), so an
item is either done or redone from scratch. The run's :class:`RunState` is saved
beside them (:func:`save_state`) after every phase and segment.

A worker's resident memory is checked after every item against
``$ASSAY_WORKER_MEMORY_MB``: over the ceiling, the item fails before it is
recorded, and the error says which knob to turn.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from operators.core.base import Resources
from operators.core.io import atomic_open, exists, filesystem, join
from operators.execution.executor import Executor
from pipelines.run.state import STATE_FILE, WORK_FOLDER, RunState

log = logging.getLogger(__name__)

#: Per-worker memory ceiling in MB (resident set), checked after every item; unset: no ceiling.
MEMORY_ENV = "ASSAY_WORKER_MEMORY_MB"


class Checkpointed:
    """Runs a worker on an item, then records the item's result in its ``_done`` file."""

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
                f"(${MEMORY_ENV}) after {item.get('part') or item.get('file') or done}; lower rows_per_part or "
                f"max_doc_bytes in the recipe, or raise ${MEMORY_ENV}"
            )
        text = json.dumps(result)
        with atomic_open(done, "w") as f:
            f.write(text)
        # What a resumed run reads back: the same values in a fresh run and a resumed one.
        return json.loads(text)


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


def checkpointed_map(
    executor: Executor,
    worker_cls: type,
    items: list[dict[str, Any]],
    worker_kwargs: dict[str, Any],
    *,
    done: str,
    keys: list[str],
    resources: Resources,
    desc: str,
) -> list[dict[str, Any]]:
    """``executor.map`` that skips the items a previous attempt of this run finished.

    Args:
        done: the folder of this map's checkpoints.
        keys: one file-name-safe key per item, the same in every attempt.
        resources: what each worker holds (read here, and only here, into the executor's options).
    """
    fs, folder = filesystem(done)
    finished = {p.rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)} if fs.exists(folder) else set()
    results: list[dict[str, Any] | None] = [None] * len(items)
    todo: list[tuple[int, dict[str, Any]]] = []
    for i, (item, key) in enumerate(zip(items, keys, strict=True)):
        if f"{key}.json" in finished:
            with fs.open(f"{folder}/{key}.json", "r") as f:
                results[i] = json.load(f)
        else:
            todo.append((i, {**item, "_done": join(done, f"{key}.json")}))
    if len(todo) < len(items):
        log.warning("%s: %d of %d items already done by an earlier attempt", desc, len(items) - len(todo), len(items))
    if todo:
        fresh = executor.map(
            Checkpointed,
            [item for _, item in todo],
            {"worker_cls": worker_cls, "worker_kwargs": worker_kwargs},
            desc=desc,
            stateful=resources.model,
            num_gpus=resources.gpus_on(executor),
            num_cpus=resources.cpus,
        )
        for (i, _), result in zip(todo, fresh, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def save_state(state: RunState) -> None:
    """Saves the state in the run's work folder (atomically): what a resumed run starts from."""
    with atomic_open(join(state.work, STATE_FILE), "w") as f:
        f.write(state.to_json())


def unfinished_runs(output: str) -> list[RunState]:
    """The states of the runs in ``output`` whose work folder is still there, readable ones only."""
    work_root = join(output, WORK_FOLDER)
    if not exists(work_root):
        return []
    fs, root = filesystem(work_root)
    states = []
    for folder in fs.ls(root, detail=False):
        state_path = f"{folder}/{STATE_FILE}"
        if not fs.exists(state_path):
            continue
        try:
            with fs.open(state_path, "r") as f:
                states.append(RunState.from_json(f.read()))
        except (ValueError, TypeError) as e:
            log.warning("ignoring unreadable run state %s: %s", state_path, e)
    return states
