"""Array helpers shared by the heuristic filters: items of a batch, ratios, groups, rule order.

Every helper works on a whole batch at once (Arrow compute kernels and numpy):
no Python object is made per word or per line.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Python's str.isspace() characters (Arrow's Unicode whitespace is the same set), as an RE2 class body.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
# Where str.splitlines() breaks a line.
LINE_BREAK = r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x{85}\x{2028}\x{2029}]"


def to_np(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def texts_of(table: pa.Table) -> pa.Array:
    return pc.fill_null(table.column("text"), "").combine_chunks()


def count_matches(texts: pa.Array, pattern: str, ignore_case: bool = False) -> np.ndarray:
    """Occurrences of a regex in each text (non-overlapping, as Python's ``str.count``).

    Also used for plain literals: RE2 finds a literal with memchr, while
    ``count_substring`` scans byte by byte and is ten times slower.
    """
    return to_np(pc.count_substring_regex(texts, pattern, ignore_case=ignore_case))


class Items(NamedTuple):
    """Items (words, lines, paragraphs) of a batch's documents, in document order.

    Attributes:
        doc: the row of each item.
        offsets: row ``i``'s items are ``offsets[i]:offsets[i + 1]``.
    """

    doc: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, lists: pa.ListArray, keep: np.ndarray | None = None) -> Items:
        """The flattened items of ``lists`` (one list per row), only those where ``keep`` is true."""
        bounds = to_np(lists.offsets).astype(np.int64)
        bounds -= bounds[0]
        offsets = bounds if keep is None else np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])[bounds]
        return cls(np.repeat(np.arange(len(lists)), np.diff(offsets)), offsets)

    def count(self) -> np.ndarray:
        """Items per row."""
        return np.diff(self.offsets).astype(np.float64)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-row sums of one number (or bool) per item."""
        out = np.zeros(len(self.offsets) - 1)
        filled = np.diff(self.offsets) > 0
        if filled.any():
            # reduceat is one pass with no temporaries (ten times faster than cumsum or
            # bincount weights here). It sums from each start to the next, so it gets
            # only the starts of rows that have items.
            out[filled] = np.add.reduceat(values, self.offsets[:-1][filled], dtype=np.float64)
        return out

    def first(self, values: np.ndarray) -> np.ndarray:
        """1-based position, within its row, of each row's first true item; 0 where none."""
        out = np.zeros(len(self.offsets) - 1, np.int64)
        hits = np.flatnonzero(values)
        rows = self.doc[hits]
        firsts = np.unique(rows, return_index=True)[1]
        out[rows[firsts]] = hits[firsts] - self.offsets[rows[firsts]] + 1
        return out


def stripped_lines(texts: pa.Array) -> tuple[Items, pa.Array]:
    """The non-blank lines of every document (split on ``\\n``), stripped."""
    split = pc.split_pattern(texts, "\n")
    lines = pc.utf8_trim_whitespace(pc.list_flatten(split))
    real = to_np(pc.greater(pc.utf8_length(lines), 0))
    return Items.of(split, real), lines.filter(real)


def python_lines(texts: pa.Array) -> tuple[Items, pa.Array]:
    """The lines of every document exactly as ``str.splitlines()`` gives them (blank lines included)."""
    split = pc.split_pattern_regex(texts, LINE_BREAK)
    lines = pc.list_flatten(split)
    # splitlines() has no empty line after a final line break, and no line at all in "".
    keep = np.ones(len(lines), bool)
    ends = to_np(split.offsets).astype(np.int64)
    ends = ends[1:] - ends[0] - 1
    keep[ends[to_np(pc.utf8_length(lines))[ends] == 0]] = False
    return Items.of(split, keep), lines.filter(keep)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float32, 0 where ``den`` is 0 (an empty document has no repetition, no bullets...)."""
    out = np.zeros(len(num), np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out.astype(np.float32)


def sort_groups(keys: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group items with equal (non-negative) ``keys``.

    ``pos`` are the items' distinct positions, ascending. Returns, in key
    order: the positions, the dense group number of each, and whether each is
    the first (leftmost) item of its group.
    """
    bits = int(pos[-1]).bit_length() if len(pos) else 0
    if len(keys) and int(keys.max()) < 1 << (63 - bits):
        # Position packed under the key: one value sort, several times faster than argsort.
        packed = np.sort((keys << bits) | pos)
        keys, pos = packed >> bits, packed & ((1 << bits) - 1)
    else:
        order = np.argsort(keys, kind="stable")
        keys, pos = keys[order], pos[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    return pos, np.cumsum(first.astype(np.int64)) - 1, first


def repeats(items: Items, values: pa.Array) -> np.ndarray:
    """True at each item equal to an earlier item of the same document."""
    encoded = pc.dictionary_encode(values)
    keys = items.doc.astype(np.int64) * max(len(encoded.dictionary), 1) + to_np(encoded.indices)
    pos, _, first = sort_groups(keys, np.arange(len(keys)))
    repeated = np.zeros(len(keys), bool)
    repeated[pos[~first]] = True
    return repeated


def first_failing(n_rows: int, rules: list[tuple[str, np.ndarray]]) -> list[str | None]:
    """The reason of the first rule each row fails, in rule order; None where it fails none."""
    reasons = np.full(n_rows, None, dtype=object)
    pending = np.ones(n_rows, bool)
    for reason, failed in rules:
        hit = pending & failed
        reasons[hit] = reason
        pending &= ~hit
    return reasons.tolist()


def above(values: np.ndarray, limit: float | None, or_equal: bool = False) -> np.ndarray:
    """``values > limit`` (or ``>=``), never true for a disabled (None) limit.

    A float32 score is compared with the limit rounded to float32, so a ratio
    that is exactly the limit (3 of 10 lines: 0.3) is not above it.
    """
    if limit is None:
        return np.zeros(len(values), bool)
    limit = values.dtype.type(limit)
    return values >= limit if or_equal else values > limit


def below(values: np.ndarray, limit: float | None, or_equal: bool = False) -> np.ndarray:
    """``values < limit`` (or ``<=``), never true for a disabled (None) limit."""
    if limit is None:
        return np.zeros(len(values), bool)
    limit = values.dtype.type(limit)
    return values <= limit if or_equal else values < limit


@cache
def char_class(predicate: str) -> str:
    """An RE2 class body of the characters for which Python says ``predicate``.

    ``isalpha``: ``str.isalpha()``; ``punct``: Unicode category P* (spaCy's
    ``is_punct``). Built from this Python's Unicode tables, as the reference
    implementations do, rather than RE2's (which know newer characters).
    """
    import unicodedata

    tests = {
        "isalpha": str.isalpha,
        "punct": lambda c: unicodedata.category(c).startswith("P"),
    }
    test = tests[predicate]
    ranges, start = [], None
    for code in range(0x110001):
        inside = code < 0x110000 and not 0xD800 <= code < 0xE000 and test(chr(code))
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append((start, code - 1))
            start = None
    return "".join(rf"\x{{{a:x}}}" if a == b else rf"\x{{{a:x}}}-\x{{{b:x}}}" for a, b in ranges)


def literal_class(chars) -> str:
    """An RE2 class body matching exactly the given characters."""
    return "".join(rf"\x{{{ord(c):x}}}" for c in sorted(set(chars)))


def re2_literal(text: str) -> str:
    """An RE2 pattern matching ``text`` literally."""
    return "".join(c if c.isalnum() and c.isascii() else rf"\x{{{ord(c):x}}}" for c in text)
