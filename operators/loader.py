"""The training feed: assay shards to a PyTorch training loop, packed, shuffled, resumable.

A shard's ``input_ids`` column is one contiguous int32 buffer per record
batch; :class:`PackedDataset` memory-maps the shards (``pa.memory_map`` +
``pa.ipc.open_stream``) and reads those buffers as NumPy views, so no token is
copied until it lands in a batch.

**Packing.** Per epoch, the shards are laid end to end (in a seeded order when
shuffling) into one token stream: the documents, each ending in EOS, back to
back. The stream is cut into non-overlapping windows of ``seq_len + 1``
tokens; window ``i`` covers stream tokens ``[i*(seq_len+1), (i+1)*(seq_len+1))``
and gives ``input_ids = window[:-1]`` and ``labels = window[1:]``. Every token
of the stream is in exactly one window. Documents cross window boundaries;
with ``boundaries=True`` a batch also carries ``position_ids`` (restarting at
every document start and at the row start), ``doc_ids`` (the document's index
within its row; :func:`doc_causal_mask` turns them into an attention mask) and
``cu_seqlens`` (for variable-length attention kernels over the flattened
batch). The stream's last ``len % (seq_len+1)`` tokens are dropped with
``drop_last=True`` (training); with ``drop_last=False`` they form one last
window padded with EOS whose padded labels are -100.

**Order.** Window ids are shuffled in two levels: the windows are grouped into
chunks of ``shuffle_window`` consecutive windows (reads within a chunk stay
close together on disk), the chunk order is permuted, then the windows within
each chunk. Every permutation is a pure function of ``(seed, epoch)``.

**Ranks and workers.** Global step ``g`` of an epoch takes the shuffled
positions ``[g*W*B, (g+1)*W*B)`` (``W`` ranks, ``B`` rows per batch); rank
``r`` takes the ``r``-th ``B`` of them. Within a rank, DataLoader worker ``k``
of ``K`` builds the batches ``k, k+K, k+2K, ...`` counted from where the
iteration started, which is exactly the order in which ``DataLoader`` collects
them from its workers: the batches come out the same whatever ``num_workers``.

**Resuming.** The state is one number, the steps this rank has consumed (all
ranks consume the same number). Use :class:`ResumableLoader` (a ``DataLoader``
that counts the batches it hands out); ``state_dict()`` /
``load_state_dict()`` then restart at exactly the next batch, with or without
workers.

**Mixtures.** :class:`MixtureDataset` draws from several shard sets with
weights. Positions are assigned to sources in blocks: within every block of
positions each source gets its share to within one position (cumulative
counts ``floor(weight * positions)``), shuffled by a seeded permutation, so the
realized proportions match the weights at every block boundary. Each source
cycles through its own epochs.

torch is imported by this module only; nothing else in ``operators`` imports it.
"""

from __future__ import annotations

import bisect
import glob
import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from operators.shards import MANIFEST_SUFFIX, read_manifest

IGNORE_INDEX = -100
_TOKENIZER_FIELDS = ("sha256", "vocab_size", "eos_id")


class ShardError(ValueError):
    """Shards that cannot be loaded: missing, incomplete, or not what their manifest says."""


class TokenizerMismatch(ValueError):
    """The shards were tokenized with another tokenizer than the trainer expects."""


class Shard:
    """One shard file and its manifest; memory-mapped on first use, in each process."""

    def __init__(self, path: str, manifest: dict[str, Any]):
        self.path = path
        self.manifest = manifest
        self.tokens = int(manifest["tokens"])
        self._segments: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Workers map the file themselves; a memory map is not sent through a pipe.
        return {"path": self.path, "manifest": self.manifest, "tokens": self.tokens, "_segments": None}

    @property
    def segments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per record batch: (int32 token view into the map, document starts within it)."""
        if self._segments is None:
            self._open()
        return self._segments  # type: ignore[return-value]

    def _open(self) -> None:
        mapped = pa.memory_map(self.path, "r")
        batches = list(pa.ipc.open_stream(mapped))
        # The buffers keep the mapping alive; the file descriptor is not needed
        # (thousands of shards in several workers would exhaust the limit).
        mapped.close()
        segments, total = [], 0
        for batch in batches:
            column = batch.column("input_ids")
            offsets = column.offsets.to_numpy()
            # zero_copy_only: a copy here would mean the shard is not what the loader assumes.
            values = column.values.to_numpy(zero_copy_only=True)[offsets[0] : offsets[-1]]
            if len(values) == 0:
                continue
            segments.append((values, (offsets[:-1] - offsets[0]).astype(np.int64)))
            total += len(values)
        if total != self.tokens:
            raise ShardError(
                f"{self.path}: {total} tokens, its manifest says {self.tokens}; the shard is damaged, rerun the pipeline"
            )
        self._segments = segments


def find_shards(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Shard]:
    """The shards a spec names: a shard file, a glob, a folder of shards, a run's output folder, or a list.

    Every shard must have its manifest (written last, so a shard without one
    is an incomplete write).
    """
    specs = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    paths: list[str] = []
    for s in specs:
        s = os.fspath(s)
        if "://" in s and not s.startswith("file://"):
            raise ShardError(f"{s}: the loader memory-maps local files; copy the shards to local disk first")
        s = s.removeprefix("file://")
        if os.path.isdir(s):
            folder = os.path.join(s, "shards") if os.path.isdir(os.path.join(s, "shards")) else s
            found = sorted(glob.glob(os.path.join(folder, "*.arrow")))
        elif any(c in s for c in "*?["):
            found = sorted(p for p in glob.glob(s) if p.endswith(".arrow"))
        elif os.path.isfile(s):
            found = [s]
        else:
            raise ShardError(f"{s} does not exist; give a shard file, a folder of shards or a run's output folder")
        if not found:
            raise ShardError(f"no *.arrow shards in {s}; run `assay run` (or `assay demo`) to write some")
        paths.extend(found)
    shards = []
    for p in paths:
        if not os.path.exists(p + MANIFEST_SUFFIX):
            raise ShardError(f"{p}: no manifest (an incomplete write?); rerun the pipeline or remove the file")
        shards.append(Shard(p, read_manifest(p)))
    return shards


def _tokenizer_of(shards: list[Shard]) -> dict[str, Any]:
    """The one tokenizer all shards were written with."""
    first = shards[0].manifest.get("tokenizer")
    if not first:
        raise ShardError(f"{shards[0].path}: its manifest records no tokenizer; rerun the pipeline to rewrite it")
    for s in shards[1:]:
        other = s.manifest.get("tokenizer") or {}
        if any(other.get(f) != first.get(f) for f in _TOKENIZER_FIELDS):
            raise TokenizerMismatch(
                f"{shards[0].path} and {s.path} were tokenized differently "
                f"({_describe(first)} vs {_describe(other)}); load shards of one tokenizer together"
            )
    return first


def _describe(tok: dict[str, Any]) -> str:
    sha = str(tok.get("sha256", "?"))[:12]
    return f"{tok.get('name', '?')}, sha256 {sha}…, vocab {tok.get('vocab_size', '?')}, eos id {tok.get('eos_id', '?')}"


def check_tokenizer(found: dict[str, Any], expected: Any, where: str) -> None:
    """Raise :class:`TokenizerMismatch` unless ``found`` (a manifest's tokenizer) is ``expected``.

    ``expected`` is a ``TokenizerInfo``, a dict with any of ``name``,
    ``sha256``, ``vocab_size``, ``eos_id``, or a tokenizer name/path that
    ``operators.tokenize.resolve`` understands. The file hash decides when
    both sides have one; otherwise the name.
    """
    if expected is None:
        return
    if isinstance(expected, str | os.PathLike):
        from operators.tokenize import resolve

        expected = resolve(os.fspath(expected))
    if hasattr(expected, "to_dict"):
        expected = expected.to_dict()
    fields = [f for f in _TOKENIZER_FIELDS if expected.get(f) is not None]
    if "sha256" not in fields and expected.get("name") is not None:
        fields.append("name")
    if not fields:
        raise ValueError("expect_tokenizer names nothing to compare: give sha256, vocab_size, eos_id or name")
    wrong = [f for f in fields if found.get(f) != expected[f]]
    if wrong:
        detail = ", ".join(f"{f} {found.get(f)!r} != expected {expected[f]!r}" for f in wrong)
        raise TokenizerMismatch(
            f"{where} were tokenized with {_describe(found)}, not the tokenizer the trainer expects ({detail}). "
            "Re-run the recipe with the model's tokenizer (recipe `tokenizer:`), or train a model built for this one."
        )


class _Stream:
    """One shard set as an epoch-ordered stream of ``seq_len + 1`` token windows."""

    def __init__(
        self, shards: list[Shard], seq_len: int, seed: int, key: int, shuffle: bool, shuffle_window: int, pad_tail: bool
    ):
        self.shards = shards
        self.window = seq_len + 1
        self.seed, self.key = seed, key
        self.shuffle, self.shuffle_window = shuffle, shuffle_window
        self.total = sum(s.tokens for s in shards)
        full, self.tail = divmod(self.total, self.window)
        self.num_windows = full + (1 if pad_tail and self.tail else 0)
        if self.num_windows == 0:
            raise ShardError(
                f"{len(shards)} shard(s) hold {self.total} tokens, fewer than one window of {self.window}; lower seq_len"
            )
        self._layouts: dict[int, tuple[list[int], list[np.ndarray], list[np.ndarray]]] = {}
        self._perms: dict[tuple[int, int], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_layouts": {}, "_perms": {}}

    def _rng(self, epoch: int, tag: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.key, epoch, tag])

    def _layout(self, epoch: int) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
        """The epoch's stream as record-batch segments: where each starts, its tokens, its document starts.

        Built on first use in each process (it maps every shard: opening a map
        reads only the stream's metadata).
        """
        layout = self._layouts.get(epoch)
        if layout is None:
            n = len(self.shards)
            order = self._rng(epoch, 0).permutation(n) if self.shuffle else np.arange(n)
            starts, values, docs, at = [], [], [], 0
            for i in order.tolist():
                for v, d in self.shards[i].segments:
                    starts.append(at)
                    values.append(v)
                    docs.append(d)
                    at += len(v)
            layout = (starts, values, docs)
            if len(self._layouts) > 1:
                self._layouts.clear()
            self._layouts[epoch] = layout
        return layout

    def _chunks(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The epoch's chunk order, the chunks' sizes in that order, and where each ends."""
        chunks = self._perms.get((epoch, -1))
        if chunks is None:
            w, n = self.shuffle_window, self.num_windows
            order = self._rng(epoch, 1).permutation(-(-n // w))
            sizes = np.minimum(w, n - order * w)
            chunks = self._remember((epoch, -1), (order, sizes, np.cumsum(sizes)))
        return chunks

    def _remember(self, key: tuple[int, int], value: Any) -> Any:
        if len(self._perms) > 16:
            self._perms.clear()
        self._perms[key] = value
        return value

    def window_ids(self, epoch: int, positions: np.ndarray) -> np.ndarray:
        """Which windows sit at these positions of the epoch's order (a permutation of all windows)."""
        if not self.shuffle:
            return positions
        w = self.shuffle_window
        order, sizes, ends = self._chunks(epoch)
        k = np.searchsorted(ends, positions, side="right")
        if len(k) and k[0] == k[-1]:  # positions are consecutive: usually all in one chunk
            chunk = int(order[k[0]])
            perm = self._perms.get((epoch, chunk))
            if perm is None:
                perm = self._remember((epoch, chunk), self._rng(epoch, 2 + chunk).permutation(int(sizes[k[0]])))
            return chunk * w + perm[positions - (ends[k[0]] - sizes[k[0]])]
        within = positions - (ends[k] - sizes[k])
        out = np.empty_like(positions)
        for kk in np.unique(k).tolist():  # a batch's positions mostly share one chunk
            chunk = int(order[kk])
            perm = self._perms.get((epoch, chunk))
            if perm is None:
                perm = self._remember((epoch, chunk), self._rng(epoch, 2 + chunk).permutation(int(sizes[kk])))
            here = k == kk
            out[here] = chunk * w + perm[within[here]]
        return out

    def read(self, epoch: int, window_id: int, out: np.ndarray, docs: list[np.ndarray] | None) -> int:
        """Copy a window into ``out``; return how many tokens it has (less only for the padded tail).

        With ``docs``, append arrays of the window-relative offsets where documents start.
        """
        starts, segments, doc_starts = self._layout(epoch)
        pos = window_id * self.window
        length = self.total - pos
        if length > self.window:
            length = self.window
        j = bisect.bisect_right(starts, pos) - 1
        local = pos - starts[j]
        values = segments[j]
        if docs is None and local + length <= len(values):  # the common case: one piece
            out[:length] = values[local : local + length]
            return length
        filled = 0
        while filled < length:
            n = min(length - filled, len(values) - local)
            out[filled : filled + n] = values[local : local + n]
            if docs is not None:
                lo, hi = doc_starts[j].searchsorted((local, local + n))
                docs.append(doc_starts[j][lo:hi] + (filled - local))
            filled += n
            j, local = j + 1, 0
            if filled < length:
                values = segments[j]
        return length


def _assemble(
    rows: list[tuple[_Stream, int, int]], window: int, pad_id: int, boundaries: bool
) -> dict[str, torch.Tensor]:
    """Read the windows of one batch into ``input_ids``/``labels`` (and boundary info)."""
    tokens = np.empty((len(rows), window), dtype=np.int64)
    seq_len = window - 1
    short: list[tuple[int, int]] = []
    docs: list[np.ndarray] | None = [] if boundaries else None
    doc_rows: list[int] = []
    for r, (stream, epoch, wid) in enumerate(rows):
        n = stream.read(epoch, wid, tokens[r], docs)
        if n < window:
            tokens[r, n:] = pad_id
            short.append((r, n))
        if docs is not None:
            doc_rows.extend([r] * (len(docs) - len(doc_rows)))
    t = torch.from_numpy(tokens)
    batch = {"input_ids": t[:, :-1], "labels": t[:, 1:]}
    if short:
        batch["labels"] = batch["labels"].clone()
        for r, n in short:
            batch["labels"][r, n - 1 :] = IGNORE_INDEX
    if docs is not None:
        batch.update(_boundaries(docs, doc_rows, short, len(rows), seq_len))
    return batch


def _boundaries(
    docs: list[np.ndarray], doc_rows: list[int], short: list[tuple[int, int]], rows: int, seq_len: int
) -> dict[str, torch.Tensor]:
    """position_ids, doc_ids and cu_seqlens from the document starts of each row.

    A segment of the flattened batch starts at every row start, every
    document start among the inputs, and where a short window's padding begins.
    """
    total = rows * seq_len
    limit = np.full(rows, seq_len)
    for r, n in short:
        limit[r] = min(n, seq_len)
    pad_starts = [r * seq_len + n for r, n in short if n < seq_len]
    starts = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    row = np.repeat(np.asarray(doc_rows, dtype=np.int64), [len(d) for d in docs])
    keep = starts < limit[row]
    row_starts = np.arange(0, total, seq_len)
    flat = np.unique(np.concatenate([starts[keep] + row[keep] * seq_len, row_starts, pad_starts]).astype(np.int64))
    lengths = np.diff(flat, append=total)
    segment_in_row = np.arange(len(flat)) - np.searchsorted(flat, row_starts)[flat // seq_len]
    return {
        "position_ids": torch.from_numpy((np.arange(total) - np.repeat(flat, lengths)).reshape(rows, seq_len)),
        "doc_ids": torch.from_numpy(np.repeat(segment_in_row.astype(np.int32), lengths).reshape(rows, seq_len)),
        "cu_seqlens": torch.from_numpy(np.append(flat, total).astype(np.int32)),
    }


def doc_causal_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """A ``[B, 1, L, L]`` boolean mask (True = attend) for ``scaled_dot_product_attention``:
    causal, and a token sees only tokens of its own document."""
    seq_len = doc_ids.shape[-1]
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=doc_ids.device).tril()
    return ((doc_ids[:, :, None] == doc_ids[:, None, :]) & causal)[:, None]


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


class _StepDataset(IterableDataset):
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
    def _rows(self, step: int) -> list[tuple[_Stream, int, int]]:
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
        return _assemble(self._rows(step), self.seq_len + 1, self.pad_id, self.boundaries)

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


class PackedDataset(_StepDataset):
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
        self.tokenizer = _tokenizer_of(found)
        check_tokenizer(self.tokenizer, expect_tokenizer, f"the shards ({found[0].path} and {len(found) - 1} more)")
        self.pad_id = int(self.tokenizer.get("eos_id", 0))
        self.drop_last = drop_last
        self.stream = _Stream(found, seq_len, seed, 0, shuffle, shuffle_window, pad_tail=not drop_last)
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

    def _rows(self, step: int) -> list[tuple[_Stream, int, int]]:
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


class MixtureDataset(_StepDataset):
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
            tok = _tokenizer_of(found)
            check_tokenizer(tok, expect_tokenizer, f"the shards of source {src.name!r}")
            if tokenizer is not None and any(tok.get(f) != tokenizer.get(f) for f in _TOKENIZER_FIELDS):
                raise TokenizerMismatch(
                    f"source {src.name!r} was tokenized with {_describe(tok)}, source {self.names[0]!r} with "
                    f"{_describe(tokenizer)}; every source of a mixture must use one tokenizer"
                )
            tokenizer = tokenizer or tok
            self.streams.append(_Stream(found, seq_len, seed, key, shuffle, shuffle_window, pad_tail=False))
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

    def _rows(self, step: int) -> list[tuple[_Stream, int, int]]:
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


def _fingerprint(streams: list[_Stream]) -> str:
    h = hashlib.sha256()
    for stream in streams:
        for s in stream.shards:
            h.update(f"{os.path.basename(s.path)}:{s.tokens}:{s.manifest.get('sha256', '')}\n".encode())
        h.update(b"--\n")
    return h.hexdigest()[:16]


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

    def __init__(self, dataset: _StepDataset, **kwargs: Any):
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
