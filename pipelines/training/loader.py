"""The DataLoader that knows its position: exact ``state_dict()`` even while workers prefetch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from pipelines.training.datasets import StepDataset


class ResumableLoader(DataLoader):
    """A ``DataLoader`` over a :class:`PackedDataset` / :class:`MixtureDataset` that knows its position.

    It counts the batches it hands out, so ``state_dict()`` is exact even
    though the workers prefetch ahead; ``load_state_dict()`` resumes at the
    next batch. Keyword arguments go to ``DataLoader`` (``num_workers``,
    ``pin_memory``, ``prefetch_factor``, ``persistent_workers``); the dataset
    does the batching, and batches must come back in order (``in_order``).
    Leaving a loop early and iterating again continues where it stopped
    (persistent workers, which ran ahead, are restarted at that point).
    """

    def __init__(self, dataset: StepDataset, **kwargs: Any):
        if kwargs.pop("batch_size", None) is not None:
            raise ValueError("the dataset batches itself: set batch_size on the dataset, not the loader")
        if kwargs.get("in_order") is False:
            raise ValueError("in_order=False reorders batches between workers; the position could not be resumed")
        super().__init__(dataset, batch_size=None, **kwargs)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:  # type: ignore[override]
        if self.num_workers == 0:
            # The dataset runs in this process and moves its own position.
            yield from super().__iter__()
            return
        finished = False
        try:
            for batch in super().__iter__():
                self.dataset._advance()
                yield batch
            finished = True
        finally:
            if not finished:
                self._restart_workers()

    def _restart_workers(self) -> None:
        # Persistent workers hold copies that ran ahead of what was handed out:
        # drop them, so the next iteration starts fresh ones at the true position.
        iterator = getattr(self, "_iterator", None)
        if iterator is not None:
            iterator._shutdown_workers()
            self._iterator = None

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)
        self._restart_workers()
