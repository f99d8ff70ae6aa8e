"""``gopher_repetition``: Gopher's repeated lines, paragraphs and n-grams (Rae et al. 2021, table A1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from filters.quality import words as split_words
from filters.quality.batch import (
    Items,
    above,
    first_failing,
    ratio,
    repeats,
    sort_groups,
    stripped_lines,
    texts_of,
    to_np,
)
from filters.quality.joined_ngrams import joined_ngram_keys
from filters.quality.words import SplitConfig, WordFilter, Words

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
_PARAGRAPH_BREAK_RE = r"\n[ \t\r]*\n\s*"


def _limit(default: float, what: str):
    return Field(default, ge=0, le=1, description=what)


class GopherRepetitionConfig(SplitConfig):
    max_dup_line_frac: float | None = _limit(0.3, "Max fraction of lines that repeat a line.")
    max_dup_para_frac: float | None = _limit(0.3, "Max fraction of paragraphs that repeat a paragraph.")
    max_dup_line_char_frac: float | None = _limit(0.2, "Max fraction of characters in lines that repeat a line.")
    max_dup_para_char_frac: float | None = _limit(
        0.2, "Max fraction of characters in paragraphs that repeat a paragraph."
    )
    max_top_2gram_frac: float | None = _limit(0.2, "Max fraction of characters covered by the most frequent 2-gram.")
    max_top_3gram_frac: float | None = _limit(0.18, "Max fraction of characters covered by the most frequent 3-gram.")
    max_top_4gram_frac: float | None = _limit(0.16, "Max fraction of characters covered by the most frequent 4-gram.")
    max_dup_5gram_frac: float | None = _limit(0.15, "Max fraction of characters inside repeated 5-grams.")
    max_dup_6gram_frac: float | None = _limit(0.14, "Max fraction of characters inside repeated 6-grams.")
    max_dup_7gram_frac: float | None = _limit(0.13, "Max fraction of characters inside repeated 7-grams.")
    max_dup_8gram_frac: float | None = _limit(0.12, "Max fraction of characters inside repeated 8-grams.")
    max_dup_9gram_frac: float | None = _limit(0.11, "Max fraction of characters inside repeated 9-grams.")
    max_dup_10gram_frac: float | None = _limit(0.10, "Max fraction of characters inside repeated 10-grams.")


class _NGrams(NamedTuple):
    """The n-grams of a batch that may repeat, grouped (see :func:`_ngram_groups`).

    Attributes:
        n: the n-gram length.
        starts: the word position each n-gram starts at, in group order.
        numbers: each one's group (equal n-grams of one document share it).
        first: whether it is the leftmost of its group.
        count: the size of its group.
    """

    n: int
    starts: np.ndarray
    numbers: np.ndarray
    first: np.ndarray
    count: np.ndarray


def _ngram_groups(words: Words, up_to: int = max(DUP_NGRAMS)) -> Iterator[_NGrams]:
    """Groups of equal n-grams (the same words) per document for n = 1 .. ``up_to``, for the whole batch at once.

    No n-gram is ever built: the n-gram starting at a word is named by the
    group of the (n-1)-gram there plus its n-th word, and groups are found by
    sorting. Only an n-gram whose two (n-1)-grams repeat can repeat, so each n
    looks only at the starts that passed n-1 (natural text leaves few after
    n = 3); an n-gram left out occurs once.
    """
    ids, doc = words.ids, words.items.doc
    vocab_size, n_words = max(len(words.vocab), 1), len(ids)
    doc_end = words.items.offsets[1:][doc]  # one past the last word of each word's document
    group = doc.astype(np.int64) * vocab_size + ids  # 1-grams: (document, word)
    starts = np.arange(n_words)
    for n in range(1, up_to + 1):
        if n > 1:
            starts = starts[starts + n <= doc_end[starts]]
            keys = group[starts] * vocab_size + ids[starts + n - 1]
        else:
            keys = group
        starts, numbers, first = sort_groups(keys, starts)
        count = np.bincount(numbers)[numbers] if len(numbers) else numbers
        yield _NGrams(n, starts, numbers, first, count)
        group[starts] = numbers
        # An (n+1)-gram can repeat only where both n-grams inside it (at i and i+1) repeat.
        repeats_at = np.zeros(n_words + 1, bool)
        repeats_at[starts[count > 1]] = True
        starts = np.flatnonzero(repeats_at[:-1] & repeats_at[1:])


class GopherRepetition(WordFilter):
    """Gopher's repetition rules: reject documents that say the same thing over and over.

    Rules, with their drop reasons:

    * ``dup_line_frac``, ``dup_para_frac``: fraction of lines / paragraphs
      that repeat an earlier one of the document.
    * ``dup_line_char_frac``, ``dup_para_char_frac``: fraction of the text's
      characters in those repeats.
    * ``top_2gram``, ``top_3gram``, ``top_4gram``: characters covered by all
      occurrences of the most frequent n-gram.
    * ``dup_5gram`` .. ``dup_10gram``: characters inside repeats (second or
      later occurrences) of n-grams.

    ``compat: datatrove`` (default) decides as DataTrove 0.10's
    ``GopherRepetitionFilter``: paragraphs first (split on two or more
    newlines), then lines (split on newlines, so blank lines between
    paragraphs are not lines but a leading or trailing newline gives an empty
    one), then n-grams of its tokenizer's words; fractions are over the
    characters of the whole text; the top n-gram is the most frequent one
    (the first to occur among equals) even if it occurs once, its characters
    counted with the spaces between its words; a repeated n-gram is counted by
    DataTrove's left-to-right scan, which skips past each repeat it finds, and
    two n-grams are the same when their words joined with nothing between are
    (``/usr/ share`` repeats ``/usr / share``, as DataTrove keys them).

    ``compat: whitespace`` keeps assay's first definitions: checked in the
    order lines, paragraphs (separated by blank lines), line characters,
    paragraph characters; lines are stripped and blank lines are not lines;
    words are whitespace words; only n-grams occurring more than once count
    as top n-grams; n-gram fractions are over the characters of words, and
    every word inside any repeat counts once.
    """

    name = "gopher_repetition"
    version = "2"  # 2: compat (DataTrove's definitions by default)
    Config = GopherRepetitionConfig
    columns: ClassVar[dict[str, pa.DataType]] = {
        "rep_dup_line_frac": pa.float32(),
        "rep_dup_para_frac": pa.float32(),
        "rep_dup_line_char_frac": pa.float32(),
        "rep_dup_para_char_frac": pa.float32(),
        **{f"rep_top_{n}gram_frac": pa.float32() for n in TOP_NGRAMS},
        **{f"rep_dup_{n}gram_frac": pa.float32() for n in DUP_NGRAMS},
    }
    score_column = "rep_dup_5gram_frac"

    def score(self, table: pa.Table) -> dict[str, np.ndarray]:
        texts = texts_of(table)
        words = split_words.split(table, self.config.compat, self.config.language)
        if self.config.compat == "whitespace":
            return {**self._blocks_whitespace(texts), **self._ngrams_whitespace(words)}
        text_chars = to_np(pc.utf8_length(texts)).astype(np.float64)
        return {**self._blocks_datatrove(texts, text_chars), **self._ngrams_datatrove(words, text_chars)}

    @staticmethod
    def _block_scores(unit: str, items: Items, values: pa.Array, text_chars: np.ndarray) -> dict[str, np.ndarray]:
        repeated = repeats(items, values)
        repeated_chars = to_np(pc.utf8_length(values)) * repeated
        return {
            f"rep_dup_{unit}_frac": ratio(items.sum(repeated), items.count()),
            f"rep_dup_{unit}_char_frac": ratio(items.sum(repeated_chars), text_chars),
        }

    def _blocks_datatrove(self, texts: pa.Array, text_chars: np.ndarray) -> dict[str, np.ndarray]:
        paras = pc.split_pattern_regex(pc.utf8_trim_whitespace(texts), r"\n{2,}")
        lines = pc.split_pattern_regex(texts, r"\n+")
        return {
            **self._block_scores("para", Items.of(paras), pc.list_flatten(paras), text_chars),
            **self._block_scores("line", Items.of(lines), pc.list_flatten(lines), text_chars),
        }

    def _blocks_whitespace(self, texts: pa.Array) -> dict[str, np.ndarray]:
        text_chars = to_np(pc.utf8_length(texts)).astype(np.float64)
        lines, line_texts = stripped_lines(texts)
        paras = pc.split_pattern_regex(pc.utf8_trim_whitespace(texts), _PARAGRAPH_BREAK_RE)
        return {
            **self._block_scores("line", lines, line_texts, text_chars),
            **self._block_scores("para", Items.of(paras), pc.list_flatten(paras), text_chars),
        }

    @staticmethod
    def _ngrams_datatrove(words: Words, text_chars: np.ndarray) -> dict[str, np.ndarray]:
        lengths = words.lengths()
        doc, offsets = words.items.doc, words.items.offsets
        n_docs = len(offsets) - 1
        prefix = np.concatenate([[0], np.cumsum(lengths)])
        scores = {}
        # Top n-grams: DataTrove counts " ".join(words), the same words. Repeated ones: "".join(words), below.
        for grams in _ngram_groups(words, up_to=max(TOP_NGRAMS)):
            n = grams.n
            if n in TOP_NGRAMS:
                # No repeat: the top n-gram is the document's first, once. Repeats: the most frequent,
                # the first to occur among equals (Counter.most_common keeps insertion order).
                has_n = np.diff(offsets) >= n
                pos = np.where(has_n, offsets[:-1], 0)
                count = has_n.astype(np.int64)
                lead = grams.first & (grams.count > 1)
                if lead.any():
                    starts = grams.starts[lead]
                    rank = (grams.count[lead] << 40) | ((1 << 40) - 1 - starts)
                    best = np.full(n_docs, -1, np.int64)
                    np.maximum.at(best, doc[starts], rank)
                    found = best >= 0
                    count[found] = best[found] >> 40
                    pos[found] = (1 << 40) - 1 - (best[found] & ((1 << 40) - 1))
                chars = np.where(has_n, prefix[np.minimum(pos + n, len(lengths))] - prefix[pos] + n - 1, 0)
                scores[f"rep_top_{n}gram_frac"] = ratio(count * chars, text_chars)
        for n, starts, keys in joined_ngram_keys(words.ids, words.vocab, offsets[1:][doc], DUP_NGRAMS):
            grams = _joined_groups(n, starts, keys, doc)
            scores[f"rep_dup_{n}gram_frac"] = ratio(_scanned_repeats(grams, doc, prefix, n_docs), text_chars)
        return scores

    @staticmethod
    def _ngrams_whitespace(words: Words) -> dict[str, np.ndarray]:
        lengths = words.lengths()
        doc = words.items.doc
        n_docs, n_words = len(words.items.offsets) - 1, len(lengths)
        word_chars = words.items.sum(lengths)
        prefix = np.concatenate([[0], np.cumsum(lengths)])
        scores = {}
        for n, starts, _, first, count in _ngram_groups(words):
            repeated = count > 1
            if n in TOP_NGRAMS:
                covered = count * (prefix[starts + n] - prefix[starts])
                # Most frequent repeated n-gram of each document; ties go to the one covering more.
                rank = (count << 32) | np.minimum(covered, 2**32 - 1)
                best = np.zeros(n_docs, np.int64)
                np.maximum.at(best, doc[starts[repeated]], rank[repeated])
                top = np.minimum(best & (2**32 - 1), word_chars)
                scores[f"rep_top_{n}gram_frac"] = ratio(top, word_chars)
            if n in DUP_NGRAMS:
                # The words inside any later occurrence, each counted once however many overlap it.
                inside = np.zeros(n_words, bool)
                inside[(starts[~first, None] + np.arange(n)).ravel()] = True
                inside = np.flatnonzero(inside)
                dup_chars = np.bincount(doc[inside], lengths[inside], minlength=n_docs)
                scores[f"rep_dup_{n}gram_frac"] = ratio(dup_chars, word_chars)
        return scores

    def decide(self, table: pa.Table) -> list[str | None]:
        cfg = self.config
        # Gopher table A1: 0.3 / 0.3 / 0.2 / 0.2 for lines and paragraphs, top n-grams 0.20 / 0.18 / 0.16,
        # duplicate n-grams 0.15 down to 0.10; the limits live in the config's defaults.
        blocks = ["line", "para", "line_char", "para_char"]
        if cfg.compat == "datatrove":
            blocks = ["para", "para_char", "line", "line_char"]
        limits = [
            *[(f"dup_{b}_frac", f"rep_dup_{b}_frac", getattr(cfg, f"max_dup_{b}_frac")) for b in blocks],
            *[(f"top_{n}gram", f"rep_top_{n}gram_frac", getattr(cfg, f"max_top_{n}gram_frac")) for n in TOP_NGRAMS],
            *[(f"dup_{n}gram", f"rep_dup_{n}gram_frac", getattr(cfg, f"max_dup_{n}gram_frac")) for n in DUP_NGRAMS],
        ]
        return first_failing(
            table.num_rows, [(reason, above(to_np(table.column(column)), limit)) for reason, column, limit in limits]
        )


def _joined_groups(n: int, starts: np.ndarray, keys: np.ndarray, doc: np.ndarray) -> _NGrams:
    """The n-grams at ``starts`` that may repeat, grouped by document and joined-text key.

    Most n-grams occur once and cannot be repeats: two rounds of bucket counts
    (equal n-grams always share a bucket) leave out most of them before the
    sort, which then sees a small part of the batch. Within a group the
    leftmost comes first.
    """
    mixed = keys.astype(np.uint64) ^ (doc[starts].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    for multiplier in (0xBF58476D1CE4E5B9, 0x94D049BB133111EB):
        bits = max(int(4 * len(mixed)).bit_length(), 1)
        bucket = ((mixed * np.uint64(multiplier)) >> np.uint64(64 - bits)).astype(np.int64)
        shared = np.bincount(bucket, minlength=1 << bits)[bucket] > 1
        starts, keys, mixed = starts[shared], keys[shared], mixed[shared]
    order = np.lexsort((keys, doc[starts]))  # stable: equal n-grams stay in position order
    starts, keys, docs = starts[order], keys[order], doc[starts[order]]
    first = np.ones(len(starts), bool)
    first[1:] = (keys[1:] != keys[:-1]) | (docs[1:] != docs[:-1])
    numbers = np.cumsum(first) - 1
    count = np.bincount(numbers)[numbers] if len(numbers) else numbers
    return _NGrams(n, starts, numbers, first, count)


def _scanned_repeats(grams: _NGrams, doc: np.ndarray, prefix: np.ndarray, n_docs: int) -> np.ndarray:
    """Characters of repeated n-grams per document, as DataTrove's ``find_all_duplicate`` counts them.

    It scans each document left to right, remembering the n-grams it has seen;
    at a repeat it counts the n-gram's characters and jumps past it, so the
    n-grams it jumps over are never remembered. Only n-grams that occur more
    than once can be repeats, so only those are scanned (in a plain loop: the
    jump makes each step depend on the last).
    """
    n = grams.n
    candidates = grams.count > 1
    order = np.argsort(grams.starts[candidates], kind="stable")
    positions = grams.starts[candidates][order].tolist()
    numbers = grams.numbers[candidates][order].tolist()
    seen: set[int] = set()
    hits: list[int] = []
    resume = -1
    for position, number in zip(positions, numbers, strict=True):
        if position < resume:
            continue
        if number in seen:
            hits.append(position)
            resume = position + n
        else:
            seen.add(number)
    hits_at = np.array(hits, np.int64)
    chars = prefix[hits_at + n] - prefix[hits_at]
    return np.bincount(doc[hits_at], chars, minlength=n_docs)
