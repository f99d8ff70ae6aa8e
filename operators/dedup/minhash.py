"""Vectorised MinHash signatures, bit-identical to ``datasketch.MinHash`` (scheme ``affine32``).

``datasketch.MinHash.update_batch`` calls its ``hashfunc`` once per shingle in Python and
then permutes the hashes with NumPy. At ~800 word 5-grams per 5 kB document the Python
calls cost as much as the permutations. Here the shingle hashes of a whole batch of
documents come from one NumPy pass over the concatenated normalised text (a polynomial
hash of every shingle's bytes via prefix sums, finalised by MurmurHash3's 64-bit mixer),
and datasketch's own permutation parameters are applied to a block of shingles at once.
The result is exactly the ``hashvalues`` that ``datasketch.MinHash(num_perm, seed,
scheme="affine32", hashfunc=shingle_hash)`` gives after ``update_batch(shingles(text))``
(a test holds that), so signatures can be compared with datasketch's ``jaccard`` and fed
to its ``MinHashLSH``.

Physical limit: every shingle costs ``num_perm`` multiply-add-min operations, so the work
is ``num_perm / bytes_per_shingle`` permuted hashes per input byte (128 / ~6.5 for English
word 5-grams: ~20 per byte).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Odd multiplier of the polynomial shingle hash (mod 2^64); any odd constant has an inverse.
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 1 << 64)
_M64 = (1 << 64) - 1

# Runs of anything that is not a letter or digit become one space (case folded first):
# the same "case, punctuation and whitespace do not make a new document" rule as exact dedup.
_NON_WORD = r"[^\p{L}\p{N}]+"

# Text bytes per vectorised chunk and shingles per permutation block (bounds memory:
# a block is SHINGLE_BLOCK x num_perm uint32).
TEXT_CHUNK = 1 << 20
SHINGLE_BLOCK = 1 << 14


def normalise(texts: pa.Array | list[str]) -> pa.Array:
    """Lower-cased text with every run of non-letter, non-digit characters turned into one space.

    ASCII texts (most of a web crawl) take a byte-table path in NumPy; the others a
    Unicode regex (``[^\\p{L}\\p{N}]+``); both give the same normal form.
    """
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_lower(pc.fill_null(arr.cast(pa.string()), ""))
    ascii_ = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    if ascii_.all():
        return _normalise_ascii(arr)
    if not ascii_.any():
        return _normalise_regex(arr)
    a_idx, u_idx = np.flatnonzero(ascii_), np.flatnonzero(~ascii_)
    merged = pa.concat_arrays(
        [_normalise_ascii(arr.take(pa.array(a_idx))), _normalise_regex(arr.take(pa.array(u_idx)))]
    )
    position = np.empty(len(arr), np.int64)
    position[np.concatenate([a_idx, u_idx])] = np.arange(len(arr))
    return merged.take(pa.array(position))


def _normalise_regex(arr: pa.Array) -> pa.Array:
    return pc.utf8_trim(pc.replace_substring_regex(arr, _NON_WORD, " "), " ")


# Lower-case ASCII letters and digits stay; every other ASCII byte becomes a space.
_ASCII_LUT = np.full(256, 32, np.uint8)
_ASCII_LUT[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", np.uint8)] = np.frombuffer(
    b"abcdefghijklmnopqrstuvwxyz0123456789", np.uint8
)


def _normalise_ascii(arr: pa.Array) -> pa.Array:
    n = len(arr)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = arr.buffers()[2]
    c = np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    offsets = offsets - offsets[0]
    c = _ASCII_LUT[c]
    word = c != 32
    words_at = np.flatnonzero(word)
    # A space survives only right before a word character of the same text and after one:
    # runs collapse to one space and both ends are trimmed.
    cand = np.flatnonzero(~word[:-1] & word[1:])
    doc = np.searchsorted(offsets, cand, side="right") - 1
    first_word = words_at[np.minimum(np.searchsorted(words_at, offsets[:-1]), max(len(words_at) - 1, 0))] if len(words_at) else offsets[:-1]
    ok = (cand + 1 < offsets[1:][doc]) & (first_word[doc] < cand)
    keep = word.copy()
    keep[cand[ok]] = True
    out = c[keep]
    per_doc = np.diff(np.searchsorted(words_at, offsets)) + np.bincount(doc[ok], minlength=n)
    new_offsets = np.concatenate([[0], np.cumsum(per_doc)]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(new_offsets), pa.py_buffer(out)])


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads int64 keys evenly for hash partitioning."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def shingle_hash(data: bytes) -> int:
    """The 32-bit hash of one shingle (its UTF-8 bytes): the scalar twin of the vectorised path.

    Usable as ``datasketch.MinHash(hashfunc=shingle_hash)``.
    """
    h = 0
    for byte in data:
        h = (h * _BASE + byte) & _M64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    h ^= h >> 33
    return h >> 32


def shingles(text: str, kind: str = "word", n: int = 5) -> list[bytes]:
    """The shingles of one text, in order (the reference the vectorised path must match).

    Word shingles are ``n`` consecutive words of the normalised text joined by one space;
    char shingles are ``n`` consecutive characters. A text shorter than one shingle is one
    shingle (so short texts still compare); an empty text has none.
    """
    norm = normalise([text])[0].as_py()
    if not norm:
        return []
    if kind == "word":
        words = norm.split(" ")
        if len(words) < n:
            return [norm.encode()]
        return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]
    if len(norm) < n:
        return [norm.encode()]
    return [norm[i : i + n].encode() for i in range(len(norm) - n + 1)]


class Signer:
    """Computes MinHash signatures of many texts at once.

    Args:
        num_perm: permutations (signature length).
        seed: datasketch's seed for the permutation parameters.
        kind: ``"word"`` or ``"char"`` shingles.
        n: shingle length in words or characters.
    """

    def __init__(self, num_perm: int = 128, seed: int = 1, kind: str = "word", n: int = 5):
        from datasketch import MinHash

        if kind not in ("word", "char"):
            raise ValueError(f"shingle kind must be 'word' or 'char', got {kind!r}")
        perms = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        self.a = np.ascontiguousarray(perms[0], dtype=np.uint32)
        self.b = np.ascontiguousarray(perms[1], dtype=np.uint32)
        self.num_perm = num_perm
        self.seed = seed
        self.kind = kind
        self.n = n
        self._pow = np.ones(1, np.uint64)
        self._inv = np.ones(1, np.uint64)

    def _powers(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._pow) < length + 1:
            size = max(length + 1, 2 * len(self._pow))
            with np.errstate(over="ignore"):
                self._pow = np.cumprod(np.full(size, _BASE, np.uint64), dtype=np.uint64)
                self._pow = np.concatenate([[np.uint64(1)], self._pow[:-1]])
                self._inv = np.cumprod(np.full(size, _BASE_INV, np.uint64), dtype=np.uint64)
                self._inv = np.concatenate([[np.uint64(1)], self._inv[:-1]])
        return self._pow, self._inv

    def signatures(self, texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Signatures of ``texts``.

        Returns:
            ``(sig, has)``: a ``(len(texts), num_perm)`` uint32 matrix, and a bool vector
            that is False for texts with no shingle (empty after normalisation), whose
            rows are all ``2**32 - 1`` and which must not take part in LSH.
        """
        norm = normalise(texts)
        n_docs = len(norm)
        sig = np.full((n_docs, self.num_perm), np.uint32(0xFFFFFFFF), np.uint32)
        has = np.zeros(n_docs, bool)
        offsets = np.frombuffer(norm.buffers()[1], np.int32)[norm.offset : norm.offset + n_docs + 1].astype(np.int64)
        data = norm.buffers()[2]
        data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        start = 0
        while start < n_docs:
            # Docs [start, stop) with about TEXT_CHUNK bytes (at least one doc).
            stop = int(np.searchsorted(offsets, offsets[start] + TEXT_CHUNK, side="right")) - 1
            stop = min(max(stop, start + 1), n_docs)
            self._chunk(data, offsets[start : stop + 1], sig[start:stop], has[start:stop])
            start = stop
        return sig, has

    def _shingle_bounds(self, c: np.ndarray, offs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, end, doc) of every shingle in the chunk, ordered by doc."""
        n = self.n
        lengths = np.diff(offs)
        docs_nonempty = np.flatnonzero(lengths > 0)
        doc_start, doc_end = offs[:-1][docs_nonempty], offs[1:][docs_nonempty]
        if self.kind == "word":
            spaces = np.flatnonzero(c == 32)
            starts = np.sort(np.concatenate([doc_start, spaces + 1]))
            ends = np.sort(np.concatenate([spaces, doc_end]))
        else:
            # Character starts of the UTF-8 bytes; a char n-gram ends where the n-th next char starts.
            starts = np.flatnonzero((c & 0xC0) != 0x80)
            ends = np.concatenate([starts[1:], [len(c)]])
        unit_doc = np.searchsorted(offs, starts, side="right") - 1
        counts = np.bincount(unit_doc, minlength=len(lengths))
        if len(starts) >= n:
            last = np.arange(n - 1, len(starts))
            first = last - (n - 1)
            ok = unit_doc[first] == unit_doc[last]
            s_start, s_end, s_doc = starts[first[ok]], ends[last[ok]], unit_doc[first[ok]]
        else:
            s_start = s_end = s_doc = np.zeros(0, np.int64)
        # Docs shorter than one shingle are one shingle: the whole text.
        short = docs_nonempty[counts[docs_nonempty] < n]
        if len(short):
            s_start = np.concatenate([s_start, offs[:-1][short]])
            s_end = np.concatenate([s_end, offs[1:][short]])
            s_doc = np.concatenate([s_doc, short])
            order = np.argsort(s_doc, kind="stable")
            s_start, s_end, s_doc = s_start[order], s_end[order], s_doc[order]
        return s_start, s_end, s_doc

    def _chunk(self, data: np.ndarray, offs: np.ndarray, sig: np.ndarray, has: np.ndarray) -> None:
        base = int(offs[0])
        c = data[base : int(offs[-1])]
        offs = offs - base
        s_start, s_end, s_doc = self._shingle_bounds(c, offs)
        if not len(s_doc):
            return
        length = len(c)
        pw, inv = self._powers(length)
        with np.errstate(over="ignore"):
            # P[i] = sum_{j<i} c[j] * B^(L-1-j); the hash of c[s:e] is (P[e]-P[s]) * B^-(L-e).
            prefix = np.zeros(length + 1, np.uint64)
            np.cumsum(c.astype(np.uint64) * pw[length - 1 :: -1][:length], out=prefix[1:])
            h = (prefix[s_end] - prefix[s_start]) * inv[length - s_end]
            h32 = _fmix32((_fmix64(h) >> np.uint64(32)).astype(np.uint32))
        has[np.unique(s_doc)] = True
        a, b = self.a, self.b
        for i in range(0, len(h32), SHINGLE_BLOCK):
            hb = h32[i : i + SHINGLE_BLOCK]
            db = s_doc[i : i + SHINGLE_BLOCK]
            # (num_perm, shingles): the min runs along contiguous rows, several times faster
            # than reducing down the columns of the transposed block.
            with np.errstate(over="ignore"):
                block = np.multiply.outer(a, hb)
                block += b[:, None]
            seg = np.flatnonzero(np.concatenate([[True], db[1:] != db[:-1]]))
            mins = np.minimum.reduceat(block, seg, axis=1).T
            docs = db[seg]
            sig[docs] = np.minimum(sig[docs], mins)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` uint64 hash of each band (``rows`` consecutive signature values)."""
    out = np.empty((sig.shape[0], bands), np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            h = np.full(sig.shape[0], np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15), np.uint64)
            for k in range(band * rows, (band + 1) * rows):
                h = _fmix64(h ^ sig[:, k].astype(np.uint64))
            out[:, band] = h
    return out
