"""Long-lived Ray actors that run the items of every map of a run.

A run is a dozen maps (read, each segment, each step of a global stage, shards,
ledger). Starting a fresh actor pool for each (a Ray Data pipeline, new worker
processes that import pyarrow, our operators and their libraries again) cost
seconds per map, more than the work itself on a small run. The actors here
start once per process (per resource shape) and stay: each map sends its worker
class and arguments once, every actor builds the worker on its first item of
that map (models load once per actor and map, as before) and drops the previous
map's worker first.

An actor killed mid-item (a lost node, the OOM killer) is restarted by Ray and
its item retried there (at most :data:`ITEM_RETRIES` times); a worker that
raises fails the map, and the pool is torn down so nothing of it keeps running.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

#: Times Ray resends an item whose actor died before answering (a worker that raises is not retried).
ITEM_RETRIES = 3


class MapWorker:
    """One actor: builds each map's worker on its first item there and runs the map's items.

    The class name is what ``ps`` shows (``ray::MapWorker``), as Ray Data's
    actors showed before.
    """

    def __init__(self):
        self._key: str | None = None
        self._factory: tuple[type, dict[str, Any], bool] | None = None
        self._worker: Any = None

    def run(self, key: str, spec: list, item: dict[str, Any]) -> Any:
        """``worker(item)`` for the map ``key``; ``spec`` is ``[ObjectRef of (worker_cls, worker_kwargs, stateful)]``
        (in a list, so Ray hands over the reference and this actor fetches it once per map)."""
        if key != self._key:
            import ray

            self._worker = self._factory = None  # the previous map's worker (its models) goes before the next loads
            self._factory = ray.get(spec[0])
            self._key = key
        worker_cls, worker_kwargs, stateful = self._factory
        if not stateful:  # cheap, stateless work: a fresh worker per item, as a Ray task had
            return worker_cls(**worker_kwargs)(item)
        if self._worker is None:
            self._worker = worker_cls(**worker_kwargs)
        return self._worker(item)


class ActorPool:
    """Up to ``size`` :class:`MapWorker` actors holding ``num_cpus``/``num_gpus`` each, spread over the cluster."""

    def __init__(self, num_cpus: float, num_gpus: float):
        self.shape = (num_cpus, num_gpus)
        self.actors: list[Any] = []
        self.ready: set[int] = set()  # indexes of actors that answered once (scheduled and started)

    def grow(self, size: int) -> None:
        import ray

        remote = ray.remote(MapWorker).options(
            num_cpus=self.shape[0],
            num_gpus=self.shape[1],
            max_restarts=-1,
            max_task_retries=ITEM_RETRIES,
            scheduling_strategy="SPREAD",  # one per node first, as Ray Data's pools were placed
        )
        while len(self.actors) < size:
            self.actors.append(remote.remote())

    def kill(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors, self.ready = [], set()

    def map(
        self, worker_cls: type, items: list[dict[str, Any]], worker_kwargs: dict[str, Any], stateful: bool, size: int,
        on_result: Callable[[int, Any], None],
    ) -> list[Any]:
        """Run every item on the first ``size`` actors, one item in flight per actor; results in item order.

        An actor gets items only once it has started, so an actor the cluster
        cannot place (its CPUs held elsewhere) never holds one back.
        """
        import ray

        self.grow(size)
        actors = self.actors[:size]
        spec = [ray.put((worker_cls, worker_kwargs, stateful))]
        key = uuid.uuid4().hex
        queue = deque(enumerate(items))
        results: list[Any] = [None] * len(items)
        in_flight: dict[Any, tuple[int, int]] = {}  # item ref -> (item index, actor index)
        starting = {actors[a].__ray_ready__.remote(): a for a in range(size) if a not in self.ready}

        def send(a: int) -> None:
            if queue:
                i, item = queue.popleft()
                in_flight[actors[a].run.remote(key, spec, item)] = (i, a)

        for a in range(size):
            if a in self.ready:
                send(a)
        while in_flight or (queue and starting):
            done, _ = ray.wait([*in_flight, *starting], num_returns=1)
            ref = done[0]
            if ref in starting:
                a = starting.pop(ref)
                ray.get(ref)
                self.ready.add(a)
                send(a)
                continue
            i, a = in_flight.pop(ref)
            results[i] = ray.get(ref)
            on_result(i, results[i])
            send(a)
        return results

