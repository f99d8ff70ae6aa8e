"""Keys of n-grams that are equal when their words are joined with nothing between them.

DataTrove's ``find_all_duplicate`` (Gopher's duplicated n-gram rules) remembers each
n-gram as ``"".join(words)``, so ``/usr / share`` and ``/usr/ share`` are one n-gram to
it although their words differ. To decide as it does, each n-gram of a batch is named
by a polynomial hash of its joined UTF-8 bytes, modulo two primes below 2**31 (so every
product fits in 64 bits, exactly): each distinct word's hash and shift are computed
once, and the n-gram's hash grows word by word, ``H(n) = H(n-1) * B**len(word) +
H(word)``, for every start at once. Two different strings share a key with a
probability of about 2**-62 per pair.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

# Two primes below 2**31 and a base for each.
_MODULI = (2_147_483_647, 2_147_483_629)
_BASES = (1_000_003, 972_663_749)


def _powers(base: int, modulus: int, count: int) -> np.ndarray:
    """``base**k % modulus`` for k in 0 .. count-1, by doubling the filled part."""
    out = np.ones(max(count, 1), np.uint64)
    filled, step = 1, np.uint64(base % modulus)
    while filled < count:
        take = min(filled, count - filled)
        out[filled : filled + take] = out[:take] * step % np.uint64(modulus)
        filled += take
        step = step * step % np.uint64(modulus)
    return out


def _word_hashes(vocab: pa.Array) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each modulus: each distinct word's hash and ``B**(its UTF-8 length)``."""
    data = vocab.cast(pa.large_binary())
    offsets = np.frombuffer(data.buffers()[1], np.int64)[data.offset : data.offset + len(data) + 1]
    raw = data.buffers()[2]
    values = np.frombuffer(raw, np.uint8)[offsets[0] : offsets[-1]] if raw is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    ends = np.repeat(offsets[1:] - offsets[0], lengths)
    exponents = ends - 1 - np.arange(len(values))  # a byte's distance from its word's last byte
    filled = lengths > 0
    out = []
    for modulus, base in zip(_MODULI, _BASES, strict=True):
        powers = _powers(base, modulus, int(lengths.max(initial=0)) + 1)
        # +1: a zero byte must not vanish from the sum.
        terms = (values.astype(np.uint64) + np.uint64(1)) * powers[exponents] % np.uint64(modulus)
        hashes = np.zeros(len(lengths), np.uint64)
        if filled.any():
            hashes[filled] = np.add.reduceat(terms, (offsets[:-1] - offsets[0])[filled]) % np.uint64(modulus)
        out.append((hashes, powers[lengths]))
    return out


def joined_ngram_keys(ids: np.ndarray, vocab: pa.Array, doc_end: np.ndarray, ns) -> Iterator[tuple]:
    """For each n in ``ns`` (ascending): the n-grams' start positions and a 62-bit key of each.

    Args:
        ids: each word's index in ``vocab``, in document order over the batch.
        vocab: the batch's distinct words.
        doc_end: for each word, one past the last word of its document (n-grams stay inside one).
        ns: the n-gram lengths wanted.

    Yields:
        ``(n, starts, keys)``: keys are equal where the n-grams' joined texts are.
    """
    per_modulus = [(h[ids], shift[ids]) for h, shift in _word_hashes(vocab)]
    running = [h.copy() for h, _ in per_modulus]
    wanted = set(ns)
    for n in range(1, max(wanted) + 1):
        if n > 1:
            for k, ((h, shift), modulus) in enumerate(zip(per_modulus, _MODULI, strict=True)):
                running[k] = (running[k][:-1] * shift[n - 1 :] + h[n - 1 :]) % np.uint64(modulus)
        if n in wanted:
            starts = np.flatnonzero(np.arange(len(running[0])) + n <= doc_end[: len(running[0])])
            keys = (running[0][starts] << np.uint64(31)) | running[1][starts]
            yield n, starts, keys.astype(np.int64)
