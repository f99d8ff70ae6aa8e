"""Packed and mixture datasets: the batches of each global step, for this rank."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from pipelines.training.shards import (
    _TOKENIZER_FIELDS,
    Shard,
    ShardError,
    TokenizerMismatch,
    check_tokenizer,
    describe_tokenizer,
    find_shards,
    tokenizer_of,
)
from pipelines.training.windows import Stream, assemble


def _dist_defaults(world_size: int | None, rank: int | None) -> tuple[int, int]:
    if world_size is None or rank is None:
        initialized = torch.distributed.is_available() and torch.distributed.is_initialized()
        world_size = (
            world_size if world_size is not None else (torch.distributed.get_world_size() if initialized else 1)
        )
        rank = rank if rank is not None else (torch.distributed.get_rank() if initialized else 0)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    return world_size, rank


class StepDataset(IterableDataset):
    """Batches by global step; the subclasses say which windows a step reads."""

    kind = "?"

    def __init__(
        self, batch_size: int, seq_len: int, seed: int, world_size: int | None, rank: int | None, boundaries: bool
    ):
        if batch_size < 1 or seq_len < 1:
            raise ValueError("batch_size and seq_len must be at least 1")
        self.batch_size, self.seq_len, self.seed = batch_size, seq_len, seed
        self.world_size, self.rank = _dist_defaults(world_size, rank)
        self.boundaries = boundaries
        self.step = 0  # batches this rank has consumed, over all epochs
        self.pad_id = 0

    # -- what a subclass provides
    def _rows(self, step: int) -> list[tuple[Stream, int, int]]:
        raise NotImplementedError

    def _stop(self, start: int) -> int | None:
        """Where an iteration begun at ``start`` ends (exclusive); None: never."""
        return None

    def _next_step(self, step: int) -> int:
        """The step after ``step`` that has rows for this rank."""
        return step + 1

    def _empty(self, step: int) -> bool:
        return False

    def _identity(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- iteration
    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of one step on this rank."""
        return assemble(self._rows(step), self.seq_len + 1, self.pad_id, self.boundaries)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        workers, me = (info.num_workers, info.id) if info is not None else (1, 0)
        start = self.step
        if self._empty(start):
            start = self._next_step(start)
        stop = self._stop(start)
        step, k = start, 0
        while stop is None or step < stop:
            following = self._next_step(step)
            if k % workers == me:
                batch = self.batch(step)
                # In the main process this is the state; a worker's copy only
                # needs to end where the main process will (persistent workers).
                self.step = following
                yield batch
            step, k = following, k + 1
        if stop is not None:
            self.step = stop

    def _advance(self) -> None:
        """One batch handed out by a loader whose workers hold their own copies."""
        self.step = self._next_step(self.step)

    # -- state
    def state_dict(self) -> dict[str, Any]:
        """The position to resume from (exact when the batches came through :class:`ResumableLoader`
        or a ``DataLoader`` without workers)."""
        return {"step": self.step, **self._identity()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = self._identity()
        wrong = [f"{k}: checkpoint {state.get(k)!r}, now {v!r}" for k, v in mine.items() if state.get(k) != v]
        if wrong:
            raise ValueError(
                "this loader state comes from a different feed (" + "; ".join(wrong) + "); "
                "resume with the same shards, seq_len, batch_size, world_size, seed and shuffle, or start afresh"
            )
        self.step = int(state["step"])


class PackedDataset(StepDataset):
    """Packed, shuffled, rank- and worker-sharded batches from one set of assay shards.

    Yields dicts of ``input_ids`` and ``labels`` (``[batch_size, seq_len]``
    int64; labels are the inputs shifted by one, -100 on padding), plus
    ``position_ids``, ``doc_ids`` and ``cu_seqlens`` with ``boundaries=True``.
    Use it with ``DataLoader(dataset, batch_size=None)`` (it batches itself),
    best through :class:`ResumableLoader`. One iteration is the rest of the
    current epoch; the next iteration starts the next epoch.

    Args:
        shards: a shard file, a glob, a folder of shards, a run's output folder, or a list of these.
        seq_len: tokens per training sequence (windows are ``seq_len + 1``).
        batch_size: sequences per batch on each rank.
        seed: seeds every shuffle; with the same seed the order is the same.
        shuffle: shuffle shard order and windows per epoch (False: stream order).
        shuffle_window: windows per shuffle chunk (locality of reads).
        drop_last: drop the stream's tail shorter than a window and the last
            partial global batch (same step count on every rank). False pads
            the tail and keeps the partial batch (some ranks may then have one
            batch fewer): for evaluation and accounting.
        world_size, rank: data-parallel position; default from ``torch.distributed`` when initialized.
        boundaries: add ``position_ids``, ``doc_ids`` and ``cu_seqlens``.
        expect_tokenizer: the tokenizer the model was built for (``TokenizerInfo``,
            a dict of ``sha256``/``vocab_size``/``eos_id``/``name``, or a name or path); checked against every manifest.
    """

    kind = "packed"

    def __init__(
        self,
        shards: Any,
        seq_len: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        shuffle_window: int = 4096,
        drop_last: bool = True,
        world_size: int | None = None,
        rank: int | None = None,
        boundaries: bool = False,
        expect_tokenizer: Any = None,
    ):
        super().__init__(batch_size, seq_len, seed, world_size, rank, boundaries)
        found = shards if isinstance(shards, list) and shards and isinstance(shards[0], Shard) else find_shards(shards)
        self.tokenizer = tokenizer_of(found)
        check_tokenizer(self.tokenizer, expect_tokenizer, f"the shards ({found[0].path} and {len(found) - 1} more)")
        self.pad_id = int(self.tokenizer.get("eos_id", 0))
        self.drop_last = drop_last
        self.stream = Stream(found, seq_len, seed, 0, shuffle, shuffle_window, pad_tail=not drop_last)
        per_step = self.world_size * batch_size
        n = self.stream.num_windows
        self.steps_per_epoch = n // per_step if drop_last else -(-n // per_step)
        if self.steps_per_epoch == 0:
            raise ShardError(
                f"{n} windows of {seq_len + 1} tokens make no full step of {per_step} sequences "
                f"(world_size {self.world_size} x batch_size {batch_size}); lower batch_size or seq_len, or drop_last=False"
            )

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    def _positions(self, step: int) -> np.ndarray:
        s = step % self.steps_per_epoch
        first = (s * self.world_size + self.rank) * self.batch_size
        return np.arange(first, min(first + self.batch_size, self.stream.num_windows), dtype=np.int64)

    def _rows(self, step: int) -> list[tuple[Stream, int, int]]:
        epoch = step // self.steps_per_epoch
        ids = self.stream.window_ids(epoch, self._positions(step))
        return [(self.stream, epoch, int(w)) for w in ids]

    def _stop(self, start: int) -> int:
        return (start // self.steps_per_epoch + 1) * self.steps_per_epoch

    def _next_step(self, step: int) -> int:
        following = step + 1
        return following + 1 if self._empty(following) else following

    def _empty(self, step: int) -> bool:
        # Without drop_last, this rank may have nothing in an epoch's last step.
        return step % self.steps_per_epoch == self.steps_per_epoch - 1 and len(self._positions(step)) == 0

    def _identity(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shards": _fingerprint([self.stream]),
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "seed": self.seed,
            "shuffle": self.stream.shuffle,
            "shuffle_window": self.stream.shuffle_window,
            "drop_last": self.drop_last,
        }


@dataclass(frozen=True)
class Source:
    """One shard set of a mixture and its weight (weights need not sum to 1)."""

    name: str
    shards: Any
    weight: float


class MixtureDataset(StepDataset):
    """Batches mixing several shard sets by weight, e.g. 70% web, 20% synthetic, 10% code.

    Endless: each source cycles through its own epochs (each shuffled by the
    seed); take as many steps as training needs. Positions are given to
    sources in blocks of at least ``mix_block`` positions; at the end of every
    block each source's cumulative count is ``floor(weight * positions)``
    (the heaviest source takes the rounding), so proportions hold to within
    one sequence per source; within a block the order is shuffled.
    ``source_counts(steps)`` says how many sequences each source gave.

    Args:
        sources: the shard sets and weights.
        seq_len, batch_size, seed, shuffle_window, world_size, rank, boundaries,
        expect_tokenizer: as for :class:`PackedDataset`; all sources must share one tokenizer.
        mix_block: positions per mixing block (larger: more random interleaving).
    """

    kind = "mixture"

    def __init__(
        self,
        sources: Sequence[Source],
        seq_len: int,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        shuffle_window: int = 4096,
        world_size: int | None = None,
        rank: int | None = None,
        boundaries: bool = False,
        expect_tokenizer: Any = None,
        mix_block: int = 1024,
    ):
        super().__init__(batch_size, seq_len, seed, world_size, rank, boundaries)
        if not sources:
            raise ValueError("a mixture needs at least one source")
        if any(s.weight <= 0 for s in sources):
            raise ValueError("mixture weights must be positive; leave a source out instead of weighting it 0")
        self.names = [s.name for s in sources]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"mixture source names must be unique: {self.names}")
        total = float(sum(s.weight for s in sources))
        self.weights = [s.weight / total for s in sources]
        self.streams, tokenizer = [], None
        for key, src in enumerate(sources):
            found = find_shards(src.shards)
            tok = tokenizer_of(found)
            check_tokenizer(tok, expect_tokenizer, f"the shards of source {src.name!r}")
            if tokenizer is not None and any(tok.get(f) != tokenizer.get(f) for f in _TOKENIZER_FIELDS):
                raise TokenizerMismatch(
                    f"source {src.name!r} was tokenized with {describe_tokenizer(tok)}, source {self.names[0]!r} with "
                    f"{describe_tokenizer(tokenizer)}; every source of a mixture must use one tokenizer"
                )
            tokenizer = tokenizer or tok
            self.streams.append(Stream(found, seq_len, seed, key, shuffle, shuffle_window, pad_tail=False))
        self.tokenizer = tokenizer
        self.pad_id = int(tokenizer.get("eos_id", 0))
        self.shuffle = shuffle
        per_step = self.world_size * batch_size
        n = len(sources)
        heaviest = max(self.weights)
        # A block long enough that the heaviest source's share never goes negative.
        need = max(mix_block, math.ceil((n - 1) / heaviest))
        self.block_steps = max(1, -(-need // per_step))
        self.block = self.block_steps * per_step
        self._main = int(np.argmax(self.weights))
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}

    def _cumulative(self, positions: int) -> np.ndarray:
        counts = np.array([math.floor(w * positions) for w in self.weights], dtype=np.int64)
        counts[self._main] = positions - (counts.sum() - counts[self._main])
        return counts

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """For each position of block ``b``: its source and that source's sample index."""
        if self._cache is not None and self._cache[0] == b:
            return self._cache[1], self._cache[2]
        before, after = self._cumulative(b * self.block), self._cumulative((b + 1) * self.block)
        source = np.repeat(np.arange(len(self.weights)), after - before)
        source = np.random.default_rng([self.seed, 1 << 20, b]).permutation(source)
        sample = np.empty(len(source), dtype=np.int64)
        for s in range(len(self.weights)):
            where = np.flatnonzero(source == s)
            sample[where] = before[s] + np.arange(len(where))
        self._cache = (b, source, sample)
        return source, sample

    def _rows(self, step: int) -> list[tuple[Stream, int, int]]:
        source, sample = self._block(step // self.block_steps)
        first = (step % self.block_steps) * self.world_size * self.batch_size + self.rank * self.batch_size
        rows = []
        for s, k in zip(
            source[first : first + self.batch_size].tolist(),
            sample[first : first + self.batch_size].tolist(),
            strict=True,
        ):
            stream = self.streams[s]
            epoch, pos = divmod(k, stream.num_windows)
            rows.append((stream, epoch, int(stream.window_ids(epoch, np.array([pos]))[0])))
        return rows

    def source_counts(self, steps: int) -> dict[str, int]:
        """Sequences each source gave to all ranks together in the first ``steps`` steps."""
        positions = steps * self.world_size * self.batch_size
        b, rest = divmod(positions, self.block)
        counts = self._cumulative(b * self.block)
        if rest:
            source, _ = self._block(b)
            counts = counts + np.bincount(source[:rest], minlength=len(self.weights))
        return dict(zip(self.names, counts.tolist(), strict=True))

    def _identity(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shards": _fingerprint(self.streams),
            "weights": dict(zip(self.names, self.weights, strict=True)),
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "block": self.block,
        }


def _fingerprint(streams: list[Stream]) -> str:
    h = hashlib.sha256()
    for stream in streams:
        for s in stream.shards:
            h.update(f"{os.path.basename(s.path)}:{s.tokens}:{s.manifest.get('sha256', '')}\n".encode())
        h.update(b"--\n")
    return h.hexdigest()[:16]
