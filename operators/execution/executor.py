"""Executors: run a worker over a list of work items, in-process or on Ray.

The executor knows nothing about operators. A *worker* is a callable class
built once per process (where models load) and called once per work item (a
dict of plain values, e.g. ``{"part": path}``), returning a JSON-able dict.

Every Ray call that runs workers lives here and in :mod:`operators.execution.actor_pool`
(long-lived actors that every map of a run reuses): Ray's APIs change spelling across
versions, and Ray is pinned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from operators.execution.actor_pool import ActorPool

log = logging.getLogger(__name__)

#: (stage description, items done, items in all, records handled so far or None when the workers do not say)
Progress = Callable[[str, int, int, "int | None"], None]

#: Keys under which a worker's result may report how many records it handled (a part's rows; a file's records
#: read): the progress display shows records and records/s from them.
RECORD_KEYS = ("rows", "read")


def _records(result: Any) -> int | None:
    if isinstance(result, dict):
        for key in RECORD_KEYS:
            if isinstance(result.get(key), int):
                return result[key]
    return None


class _Tally:
    """Records handled so far in a stage; None until some result says."""

    def __init__(self):
        self.records: int | None = None

    def add(self, result: Any) -> None:
        n = _records(result)
        if n is not None:
            self.records = (self.records or 0) + n


class Executor(ABC):
    """Runs ``worker_cls(**worker_kwargs)(item)`` for every item; returns results in item order."""

    def __init__(self, progress: Progress | None = None):
        self.progress = progress

    @abstractmethod
    def map(
        self,
        worker_cls: type,
        items: list[dict[str, Any]],
        worker_kwargs: dict[str, Any] | None = None,
        *,
        desc: str = "",
        stateful: bool = True,
        num_gpus: float = 0,
        num_cpus: float = 1,
    ) -> list[dict[str, Any]]:
        """Run the worker over ``items``.

        Args:
            worker_cls: a class whose instances are called with one item.
            items: work items (dicts of JSON-able values).
            worker_kwargs: constructor arguments (must pickle).
            desc: what to call the stage in progress output.
            stateful: True for workers that load models (an actor pool on Ray);
                False for cheap stateless work (Ray tasks).
            num_gpus: GPUs each worker holds (a model on the GPU); 0 for CPU work.
            num_cpus: CPU cores each worker holds.
        """

    @property
    def parallelism(self) -> int:
        return 1

    @property
    def gpus(self) -> int:
        """GPUs the workers of this executor can use (0: CPU only)."""
        return 0

    def close(self) -> None:
        """Release what the executor started (a local Ray); the executor is not used afterwards."""
        return None

    def _tick(self, desc: str, done: int, total: int, records: int | None = None) -> None:
        if self.progress is not None:
            self.progress(desc, done, total, records)


class LocalExecutor(Executor):
    """Runs everything in this process, in order. For unit tests and debugging."""

    def map(self, worker_cls, items, worker_kwargs=None, *, desc="", stateful=True, num_gpus=0, num_cpus=1):
        worker = worker_cls(**(worker_kwargs or {}))
        results = []
        tally = _Tally()
        self._tick(desc, 0, len(items))
        for i, item in enumerate(items):
            results.append(worker(item))
            tally.add(results[-1])
            self._tick(desc, i + 1, len(items), tally.records)
        return results

    @property
    def gpus(self) -> int:
        import glob

        # No GPU device node (NVIDIA, or AMD's for ROCm builds of torch): no need to import torch (2 s, 500 MB) to know.
        if not glob.glob("/dev/nvidia[0-9]*") and not os.path.exists("/dev/kfd"):
            return 0
        import torch

        return torch.cuda.device_count()


#: Seconds to wait for a Ray cluster named by an address (``--ray-address``, ``RAY_ADDRESS``) to answer.
CONNECT_TIMEOUT_ENV = "ASSAY_RAY_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT_S = 20.0


class RayUnreachableError(ConnectionError):
    """The Ray cluster at an address did not answer in time."""


def connect_timeout() -> float:
    value = os.environ.get(CONNECT_TIMEOUT_ENV, "").strip()
    return float(value) if value else DEFAULT_CONNECT_TIMEOUT_S


def start_ray(address: str | None = None, *, quiet: bool = True, timeout: float | None = None) -> None:
    """Start a local Ray in this process, or connect to the cluster at ``address`` (default ``$RAY_ADDRESS``).

    Without an address Ray is started locally, explicitly: ``ray.init()`` with no
    address adopts the cluster that the last ``ray start`` recorded in
    ``/tmp/ray/ray_current_cluster``, and if that cluster has died since, waits
    for it forever. With an address, the cluster must answer (a gRPC handshake
    with its head) within ``timeout`` seconds, else :class:`RayUnreachableError`.

    Args:
        quiet: keep Ray's own Python logging at warnings (``False``: info).
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    timeout = connect_timeout() if timeout is None else timeout
    if address not in (None, "local", "auto") and not cluster_answers(address, timeout):
        raise RayUnreachableError(
            f"Ray cluster at {address} did not answer within {timeout:g} s; is it running (`ray status`)?"
        )
    if ray.is_initialized():
        return
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": True,  # worker output reaches this process's stderr (`assay` sends it to the run's log)
        "logging_level": logging.WARNING if quiet else logging.INFO,
        "configure_logging": True,
    }
    ray.init(address="local" if address is None else address, **options)


def cluster_answers(address: str, timeout: float | None = None) -> bool:
    """Whether a gRPC server (a Ray head: GCS or Ray Client server) at ``address`` (``host:port``, ``ray://host:port``)
    completes a handshake within ``timeout`` seconds (default :func:`connect_timeout`)."""
    import grpc

    timeout = connect_timeout() if timeout is None else timeout
    channel = grpc.insecure_channel(address.split("://", 1)[-1])
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()


class RayExecutor(Executor):
    """Runs workers on long-lived Ray actors (:mod:`~operators.execution.actor_pool`), one work item per call.

    Ray starts locally in this process unless ``address`` or ``RAY_ADDRESS``
    names a running cluster (see :func:`start_ray`). Work items and results are
    small (paths and counts); the records themselves move through files on
    shared storage, so a stage's memory is bounded by one part, whatever the
    corpus size.
    """

    def __init__(
        self,
        address: str | None = None,
        concurrency: int | None = None,
        progress: Progress | None = None,
        quiet: bool = True,
    ):
        super().__init__(progress)
        import ray

        self._ray = ray
        self._started = not ray.is_initialized()
        start_ray(address, quiet=quiet)
        self._concurrency = concurrency

    def close(self) -> None:
        release_pool()
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()

    @property
    def parallelism(self) -> int:
        if self._concurrency:
            return self._concurrency
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    @property
    def gpus(self) -> int:
        return int(self._ray.cluster_resources().get("GPU", 0))

    def map(self, worker_cls, items, worker_kwargs=None, *, desc="", stateful=True, num_gpus=0, num_cpus=1):
        if not items:
            return []
        size = min(self.parallelism, len(items))
        if num_gpus:
            # One actor per GPU share: more would queue for a device that is not there.
            size = max(1, min(len(items), int(self.gpus / num_gpus)))
        # Never more actors than the cluster can place at once.
        size = max(1, min(size, int(self._ray.cluster_resources().get("CPU", 1) // max(num_cpus, 1e-9) or 1)))
        tally = _Tally()
        self._tick(desc, 0, len(items))
        done = 0

        def on_result(_index: int, result: Any) -> None:
            nonlocal done
            done += 1
            tally.add(result)
            self._tick(desc, done, len(items), tally.records)

        start = time.monotonic()
        pool = _pool(num_cpus, num_gpus)
        try:
            results = pool.map(worker_cls, items, worker_kwargs or {}, stateful, size, on_result)
        except BaseException:
            release_pool()  # a failed or interrupted map leaves no item running
            raise
        log.debug("%s: %d items in %.1fs", desc, len(items), time.monotonic() - start)
        return results


#: The actors every RayExecutor of this process shares while Ray stays up: (Ray session and job, pool).
_POOL: tuple[tuple[str, str], ActorPool] | None = None


def _pool(num_cpus: float, num_gpus: float) -> ActorPool:
    """The process's actor pool for this resource shape (another shape's pool is released first)."""
    import ray

    global _POOL
    context = ray.get_runtime_context()
    identity = (context.get_session_name(), context.get_job_id())
    if _POOL is not None and (_POOL[0] != identity or _POOL[1].shape != (num_cpus, num_gpus)):
        release_pool()
    if _POOL is None:
        _POOL = (identity, ActorPool(num_cpus, num_gpus))
    return _POOL[1]


def release_pool() -> None:
    """Ends the shared actors (their CPUs and GPUs return to the cluster); the next map starts new ones."""
    global _POOL
    if _POOL is None:
        return
    pool, _POOL = _POOL[1], None
    import ray

    if ray.is_initialized():
        with contextlib.suppress(Exception):  # a cluster already gone has nothing to release
            pool.kill()


def describe_executor(local: bool = False, address: str | None = None) -> str:
    """Where a run's workers run, for messages: in-process, a local Ray, or the Ray cluster at an address."""
    if local:
        return "in-process (no Ray)"
    return f"Ray at {address or os.environ.get('RAY_ADDRESS') or 'a local Ray'}"


def make_executor(
    local: bool = False,
    address: str | None = None,
    concurrency: int | None = None,
    progress: Progress | None = None,
    quiet: bool = True,
) -> Executor:
    """The executor a run asks for: in-process, local Ray, or a Ray cluster."""
    if local:
        return LocalExecutor(progress)
    return RayExecutor(address=address, concurrency=concurrency, progress=progress, quiet=quiet)
