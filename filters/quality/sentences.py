"""Sentences per line, as spaCy's ``sentencizer`` (DataTrove's sentence splitter) counts them.

DataTrove splits sentences with a blank spaCy pipeline and its rule-based
``sentencizer``: a sentence ends after a token that is one of its
punctuation characters ('.', '!', '?', '。' ...), at the next token that is
neither punctuation nor one of those. So the count only needs each token's
kind, in order: the tokens come from the chunk-wise split of
:mod:`filters.quality.tokenizers`, with the whitespace tokens spaCy makes
(every run of whitespace but a single space between two chunks) put back
where they were: they are not punctuation, so they start sentences too.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.batch import WHITESPACE, Items, char_class, to_np
from filters.quality.tokenizers import spacy_words

# Token kinds: neutral (other punctuation), a sentence-final character, anything else (can start a sentence).
_NEUTRAL, _FINAL, _OTHER = 0, 1, 2


@cache
def _final_chars() -> frozenset[str]:
    from spacy.pipeline import Sentencizer

    return frozenset(Sentencizer.default_punct_chars)


def _kinds(tokens: pa.Array) -> np.ndarray:
    encoded = pc.dictionary_encode(tokens)
    vocab = encoded.dictionary
    final = to_np(pc.is_in(vocab, value_set=pa.array(sorted(_final_chars()), pa.string())))
    punct = to_np(pc.match_substring_regex(vocab, f"^[{char_class('punct')}]+$"))
    kinds = np.where(final, _FINAL, np.where(punct, _NEUTRAL, _OTHER)).astype(np.int8)
    return kinds[to_np(encoded.indices)]


def _count(kinds: np.ndarray, line: np.ndarray, n_lines: int) -> np.ndarray:
    """Sentences per line from its tokens' kinds (``line``: each token's line, ascending)."""
    seen = np.cumsum(kinds == _FINAL)
    other = np.flatnonzero(kinds == _OTHER)
    # A token that can start a sentence does so when a final character came since the last such token
    # of its line (or since the line began).
    line_start = np.searchsorted(line, np.arange(n_lines))
    before_line = np.where(line_start > 0, seen[np.maximum(line_start - 1, 0)], 0)
    reference = np.empty(len(other), np.int64)
    if len(other):
        reference[0] = before_line[line[other[0]]]
        same = line[other[1:]] == line[other[:-1]]
        reference[1:] = np.where(same, seen[other[:-1]], before_line[line[other[1:]]])
    starts = seen[other] > reference
    return 1 + np.bincount(line[other][starts], minlength=n_lines)


def sentence_counts(lines: pa.Array, code: str) -> np.ndarray:
    """Sentences in each line, as DataTrove's ``split_into_sentences(line)`` finds them with spaCy ``code``."""
    words = spacy_words(code)
    n_lines = len(lines)
    if not n_lines:
        return np.zeros(0, np.int64)
    if not words.by_chunk:
        return np.array([_count_tokens(words.tokens(line)) for line in lines.to_pylist()], np.int64)
    chunks, pieces = words.chunk_pieces(lines)
    kinds = _kinds(pc.list_flatten(pieces))
    chunk_items = Items.of(chunks)
    piece_offsets = to_np(pieces.offsets).astype(np.int64)
    piece_offsets -= piece_offsets[0]
    token_line = np.repeat(chunk_items.doc, np.diff(piece_offsets))
    # Whitespace tokens: the runs around the chunks (n_chunks + 1 per line); one before chunk j when its run is
    # not empty (the line's start) or not a single space, and one at the end for a trailing run but " ".
    runs = pc.split_pattern_regex(lines, f"[^{WHITESPACE}]+")
    run_items = Items.of(runs)
    run_texts = pc.list_flatten(runs)
    run_length = to_np(pc.utf8_length(run_texts))
    leading = run_items.offsets[:-1][run_items.doc] == np.arange(len(run_texts))
    spaced = (run_length > 0) & (leading | ~to_np(pc.equal(run_texts, " ")))
    # A run's token goes before the first token of the chunk after it (or after the line's last token).
    j = np.arange(len(run_texts)) - run_items.offsets[:-1][run_items.doc]
    at = piece_offsets[chunk_items.offsets[:-1][run_items.doc] + j]
    inserted = np.flatnonzero(spaced)
    kinds = np.insert(kinds, at[inserted], _OTHER)
    token_line = np.insert(token_line, at[inserted], run_items.doc[inserted])
    counts = _count(kinds, token_line, n_lines)
    whole = words.whole_rows(lines)
    for i in whole.tolist():
        counts[i] = _count_tokens(words.tokens(lines[i].as_py()))
    return counts


def _count_tokens(tokens: list[str]) -> int:
    """The sentencizer's count over one text's tokens."""
    if not tokens:
        return 1
    kinds = _kinds(pa.array(tokens, pa.string()))
    return int(_count(kinds, np.zeros(len(tokens), np.int64), 1)[0])
