"""One shard set as an epoch-ordered stream of fixed-length token windows, and batch assembly."""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np
import torch

from pipelines.training.shards import IGNORE_INDEX, Shard, ShardError


class Stream:
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


def assemble(
    rows: list[tuple[Stream, int, int]], window: int, pad_id: int, boundaries: bool
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
