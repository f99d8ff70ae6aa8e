"""Heuristic quality filters of the Gopher, C4 and FineWeb family.

Three filters, each following DataTrove's implementation of the published rules:

* ``gopher_quality``: document shape (Rae et al. 2021, "Gopher", appendix A.1.1).
* ``gopher_repetition``: repeated lines, paragraphs and n-grams (Gopher, table A1).
* ``c4_fineweb``: C4's page rules (Raffel et al. 2020, section 2.2) and FineWeb's
  line statistics (Penedo et al. 2024).

Every signal is a column computed for a whole batch at once with Arrow compute
kernels and numpy: no Python object is made per word or per line, and per-word
properties are computed once per distinct word of the batch. ``decide`` only
compares those columns with the thresholds, so a retuned threshold needs
``redecide`` alone. Each rule drops under its own reason; the first failing rule,
in the order each class's docstring gives, is the one recorded.

Shared definitions:

* A *word* is a whitespace-separated token with punctuation trimmed from both
  ends; tokens made only of punctuation are not words (DataTrove likewise drops
  NLTK's punctuation tokens). Words are Unicode (lengths in code points, letters
  of any script); they are split on ASCII whitespace, which ``normalize`` makes
  of every other space. Scripts written without spaces make one long "word".
* A *line* is a non-blank line, stripped of surrounding whitespace. Blank lines
  are not lines, so paragraphs separated by a newline or by a blank line
  (``normalize``'s output) score the same.
"""

from __future__ import annotations

import string
from typing import ClassVar, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.core.base import Filter, OperatorConfig
from operators.core.registry import register

# ASCII punctuation (what DataTrove excludes) plus the Unicode quotes, dashes and
# bullets that would otherwise stick to words or count as words.
_TRIM_CHARS = string.punctuation + "“”‘’„‚«»‹›…–—―¿¡·•"


def _np(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def _texts(table: pa.Table) -> pa.Array:
    return pc.fill_null(table.column("text"), "").combine_chunks()


def _count(texts: pa.Array, pattern: str, ignore_case: bool = False) -> np.ndarray:
    """Occurrences of a regex in each text.

    Also used for plain literals: RE2 finds a literal with memchr, while
    ``count_substring`` scans byte by byte and is ten times slower.
    """
    return _np(pc.count_substring_regex(texts, pattern, ignore_case=ignore_case))


class _Items(NamedTuple):
    """Items (words, lines, paragraphs) of a batch's documents, in document order.

    Attributes:
        doc: the row of each item.
        offsets: row ``i``'s items are ``offsets[i]:offsets[i + 1]``.
    """

    doc: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, lists: pa.ListArray, keep: np.ndarray) -> _Items:
        """The flattened items of ``lists`` (one list per row) where ``keep`` is true."""
        bounds = _np(lists.offsets)
        kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int32)])
        offsets = kept_before[bounds - bounds[0]]
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


def _words(texts: pa.Array) -> tuple[_Items, pa.Array, np.ndarray]:
    """The words of every document, as ids into the batch's vocabulary.

    Returns the items, the distinct words of the batch (``vocab``), and each
    word's index in ``vocab``. Trimming, matching and measuring run once per
    distinct word; results reach the words through their ids.
    """
    tokens = pc.ascii_split_whitespace(texts)  # twice as fast as the Unicode split
    raw = pc.dictionary_encode(pc.list_flatten(tokens))
    vocab = pc.dictionary_encode(pc.utf8_trim(raw.dictionary, characters=_TRIM_CHARS))
    ids = _np(vocab.indices)[_np(raw.indices)]
    real = _np(pc.utf8_length(vocab.dictionary))[ids] > 0
    return _Items.of(tokens, real), vocab.dictionary, ids[real]


def _lines(texts: pa.Array) -> tuple[_Items, pa.Array]:
    """The non-blank lines of every document, stripped."""
    split = pc.split_pattern(texts, "\n")
    lines = pc.utf8_trim_whitespace(pc.list_flatten(split))
    real = _np(pc.greater(pc.utf8_length(lines), 0))
    return _Items.of(split, real), lines.filter(real)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float32, 0 where ``den`` is 0 (an empty document has no repetition, no bullets...)."""
    out = np.zeros(len(num), np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out.astype(np.float32)


def _sort_groups(keys: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _repeats(items: _Items, values: pa.Array) -> np.ndarray:
    """True at each item equal to an earlier item of the same document."""
    encoded = pc.dictionary_encode(values)
    keys = items.doc.astype(np.int64) * len(encoded.dictionary) + _np(encoded.indices)
    pos, _, first = _sort_groups(keys, np.arange(len(keys)))
    repeated = np.zeros(len(keys), bool)
    repeated[pos[~first]] = True
    return repeated


def _first_failing(n_rows: int, rules: list[tuple[str, np.ndarray]]) -> list[str | None]:
    """The reason of the first rule each row fails, in rule order; None where it fails none."""
    reasons = np.full(n_rows, None, dtype=object)
    pending = np.ones(n_rows, bool)
    for reason, failed in rules:
        hit = pending & failed
        reasons[hit] = reason
        pending &= ~hit
    return reasons.tolist()


# --------------------------------------------------------------------------- gopher_quality

_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
# A line is a bullet item if it starts with a bullet sign, or with a Markdown
# "-"/"*"/en-dash marker followed by a space ("-5 degrees" is not a bullet).
_BULLET_RE = r"^(?:[•‣⁃◦▪▫●○■□➢►▶]|[-*–]\s)"
_ELLIPSIS_END_RE = r"(?:\.\.\.|…)$"


class GopherQualityConfig(OperatorConfig):
    min_words: int | None = Field(50, ge=0, description="Drop documents with fewer words.")
    max_words: int | None = Field(100_000, ge=0, description="Drop documents with more words.")
    min_mean_word_length: float | None = Field(
        3.0, ge=0, description="Drop when the mean word length is lower."
    )
    max_mean_word_length: float | None = Field(
        10.0, ge=0, description="Drop when the mean word length is higher."
    )
    max_symbol_ratio: float | None = Field(
        0.1, ge=0, description="Drop when '#' per word, or ellipses ('...', '…') per word, exceed this."
    )
    max_bullet_lines_frac: float | None = Field(
        0.9, ge=0, le=1, description="Drop when more than this fraction of lines start with a bullet."
    )
    max_ellipsis_lines_frac: float | None = Field(
        0.3, ge=0, le=1, description="Drop when more than this fraction of lines end with an ellipsis."
    )
    min_alpha_words_frac: float | None = Field(
        0.8, ge=0, le=1, description="Drop when fewer than this fraction of words contain a letter."
    )
    min_stop_words: int | None = Field(
        2, ge=0, description="Drop when fewer stop words occur (counting every occurrence, any case)."
    )
    stop_words: list[str] = Field(
        _STOP_WORDS, min_length=1, description="The stop words counted (changing them needs rescoring)."
    )
    stop_word_langs: list[str] = Field(
        ["en"],
        description="The stop-word rule applies to rows whose `lang` is one of these; "
        "to every row when the table has no `lang` column.",
    )


@register
class GopherQuality(Filter):
    """Gopher's quality rules: reject documents that do not look like prose.

    Follows DataTrove's ``GopherQualityFilter`` (Rae et al. 2021, appendix
    A.1.1). Rules, in the order they are checked, with their drop reasons:

    1. ``word_count``: fewer than ``min_words`` or more than ``max_words`` words.
    2. ``mean_word_length``: mean word length outside the configured bounds.
    3. ``symbol_ratio``: too many '#' or ellipses per word.
    4. ``bullet_lines``: most lines are bullet items.
    5. ``ellipsis_lines``: many lines trail off with an ellipsis.
    6. ``alpha_words``: too few words contain a letter.
    7. ``stop_words``: too few English stop words, checked only for rows whose
       ``lang`` is in ``stop_word_langs`` (or every row without a ``lang`` column).
    """

    name = "gopher_quality"
    version = "1"
    Config = GopherQualityConfig
    columns: ClassVar[dict[str, pa.DataType]] = {
        "gopher_word_count": pa.int32(),
        "gopher_mean_word_length": pa.float32(),
        "gopher_symbol_ratio": pa.float32(),
        "gopher_bullet_lines_frac": pa.float32(),
        "gopher_ellipsis_lines_frac": pa.float32(),
        "gopher_alpha_words_frac": pa.float32(),
        "gopher_stop_words": pa.int32(),
    }
    score_column = "gopher_alpha_words_frac"

    def score(self, table: pa.Table) -> dict[str, np.ndarray]:
        texts = _texts(table)
        words, vocab, ids = _words(texts)
        lines, line_texts = _lines(texts)
        n_words, n_lines = words.count(), lines.count()
        stop_words = pa.array(self.config.stop_words, pa.string())
        is_stop = _np(pc.is_in(pc.utf8_lower(vocab), value_set=stop_words))[ids]
        has_letter = _np(pc.match_substring_regex(vocab, r"\pL"))[ids]
        ellipses = _count(texts, r"\.\.\.") + _count(texts, "…")
        return {
            "gopher_word_count": n_words.astype(np.int32),
            "gopher_mean_word_length": _ratio(words.sum(_np(pc.utf8_length(vocab))[ids]), n_words),
            # One column for both symbols: they share the threshold.
            "gopher_symbol_ratio": _ratio(np.maximum(_count(texts, "#"), ellipses), n_words),
            "gopher_bullet_lines_frac": _ratio(
                lines.sum(_np(pc.match_substring_regex(line_texts, _BULLET_RE))), n_lines
            ),
            "gopher_ellipsis_lines_frac": _ratio(
                lines.sum(_np(pc.match_substring_regex(line_texts, _ELLIPSIS_END_RE))), n_lines
            ),
            "gopher_alpha_words_frac": _ratio(words.sum(has_letter), n_words),
            "gopher_stop_words": words.sum(is_stop).astype(np.int32),
        }

    def decide(self, table: pa.Table) -> list[str | None]:
        cfg = self.config
        col = {name: _np(table.column(name)) for name in self.columns}
        never = np.zeros(table.num_rows, bool)

        def below(name: str, limit: float | None) -> np.ndarray:
            return never if limit is None else col[name] < limit

        def above(name: str, limit: float | None) -> np.ndarray:
            return never if limit is None else col[name] > limit

        if "lang" in table.column_names:
            langs = pa.array(cfg.stop_word_langs, pa.string())
            stop_rule = _np(pc.fill_null(pc.is_in(table.column("lang"), value_set=langs), False))
        else:
            stop_rule = ~never
        return _first_failing(
            table.num_rows,
            [
                # Gopher: "fewer than 50 or more than 100,000 words".
                (
                    "word_count",
                    below("gopher_word_count", cfg.min_words) | above("gopher_word_count", cfg.max_words),
                ),
                # Gopher: "mean word length outside the range of 3 to 10 characters".
                (
                    "mean_word_length",
                    below("gopher_mean_word_length", cfg.min_mean_word_length)
                    | above("gopher_mean_word_length", cfg.max_mean_word_length),
                ),
                # Gopher: "symbol-to-word ratio greater than 0.1 for either the hash symbol or the ellipsis".
                ("symbol_ratio", above("gopher_symbol_ratio", cfg.max_symbol_ratio)),
                # Gopher: "more than 90% of lines starting with a bullet point".
                ("bullet_lines", above("gopher_bullet_lines_frac", cfg.max_bullet_lines_frac)),
                # Gopher: "more than 30% [of lines] ending with an ellipsis".
                ("ellipsis_lines", above("gopher_ellipsis_lines_frac", cfg.max_ellipsis_lines_frac)),
                # Gopher: "80% of words in a document contain at least one alphabetic character".
                ("alpha_words", below("gopher_alpha_words_frac", cfg.min_alpha_words_frac)),
                # Gopher: "at least two of the following English words: the, be, to, of, and, that, ...".
                ("stop_words", stop_rule & below("gopher_stop_words", cfg.min_stop_words)),
            ],
        )


# --------------------------------------------------------------------------- gopher_repetition

_TOP_NGRAMS = (2, 3, 4)
_DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
_PARAGRAPH_BREAK_RE = r"\n[ \t\r]*\n\s*"


class GopherRepetitionConfig(OperatorConfig):
    max_dup_line_frac: float | None = Field(
        0.3, ge=0, le=1, description="Max fraction of lines that repeat a line."
    )
    max_dup_para_frac: float | None = Field(
        0.3, ge=0, le=1, description="Max fraction of paragraphs that repeat a paragraph."
    )
    max_dup_line_char_frac: float | None = Field(
        0.2, ge=0, le=1, description="Max fraction of characters in lines that repeat a line."
    )
    max_dup_para_char_frac: float | None = Field(
        0.2, ge=0, le=1, description="Max fraction of characters in paragraphs that repeat a paragraph."
    )
    max_top_2gram_frac: float | None = Field(
        0.2, ge=0, le=1, description="Max fraction of word characters covered by the most frequent 2-gram."
    )
    max_top_3gram_frac: float | None = Field(
        0.18, ge=0, le=1, description="Max fraction of word characters covered by the most frequent 3-gram."
    )
    max_top_4gram_frac: float | None = Field(
        0.16, ge=0, le=1, description="Max fraction of word characters covered by the most frequent 4-gram."
    )
    max_dup_5gram_frac: float | None = Field(
        0.15, ge=0, le=1, description="Max fraction of word characters inside repeated 5-grams."
    )
    max_dup_6gram_frac: float | None = Field(
        0.14, ge=0, le=1, description="Max fraction of word characters inside repeated 6-grams."
    )
    max_dup_7gram_frac: float | None = Field(
        0.13, ge=0, le=1, description="Max fraction of word characters inside repeated 7-grams."
    )
    max_dup_8gram_frac: float | None = Field(
        0.12, ge=0, le=1, description="Max fraction of word characters inside repeated 8-grams."
    )
    max_dup_9gram_frac: float | None = Field(
        0.11, ge=0, le=1, description="Max fraction of word characters inside repeated 9-grams."
    )
    max_dup_10gram_frac: float | None = Field(
        0.10, ge=0, le=1, description="Max fraction of word characters inside repeated 10-grams."
    )


@register
class GopherRepetition(Filter):
    """Gopher's repetition rules: reject documents that say the same thing over and over.

    Follows DataTrove's ``GopherRepetitionFilter`` (Rae et al. 2021, table A1),
    with three deliberate differences: blank lines are not lines (DataTrove
    counts them, so any text with several blank lines has "duplicate lines");
    the top n-gram counts only n-grams that occur more than once; and n-gram
    fractions are over the characters of words (not of the raw text), so pure
    repetition scores 1. Rules, in order, with their drop reasons:

    1. ``dup_line_frac``, 2. ``dup_para_frac``: fraction of lines / paragraphs
       (separated by blank lines) that repeat an earlier one.
    3. ``dup_line_char_frac``, 4. ``dup_para_char_frac``: fraction of the
       text's characters in those repeats.
    5. ``top_2gram``, ``top_3gram``, ``top_4gram``: characters covered by all
       occurrences of the most frequent n-gram, as a fraction of word characters.
    6. ``dup_5gram`` .. ``dup_10gram``: characters of words inside any repeat
       (second or later occurrence) of an n-gram; overlapping repeats count once.
    """

    name = "gopher_repetition"
    version = "1"
    Config = GopherRepetitionConfig
    columns: ClassVar[dict[str, pa.DataType]] = {
        "rep_dup_line_frac": pa.float32(),
        "rep_dup_para_frac": pa.float32(),
        "rep_dup_line_char_frac": pa.float32(),
        "rep_dup_para_char_frac": pa.float32(),
        **{f"rep_top_{n}gram_frac": pa.float32() for n in _TOP_NGRAMS},
        **{f"rep_dup_{n}gram_frac": pa.float32() for n in _DUP_NGRAMS},
    }
    score_column = "rep_dup_5gram_frac"

    def score(self, table: pa.Table) -> dict[str, np.ndarray]:
        texts = _texts(table)
        text_chars = _np(pc.utf8_length(texts)).astype(np.float64)
        lines, line_texts = _lines(texts)
        paras = pc.split_pattern_regex(pc.utf8_trim_whitespace(texts), _PARAGRAPH_BREAK_RE)
        para_texts = pc.list_flatten(paras)
        paras = _Items.of(paras, np.ones(len(para_texts), bool))
        scores = {}
        for unit, items, values in (("line", lines, line_texts), ("para", paras, para_texts)):
            repeated = _repeats(items, values)
            scores[f"rep_dup_{unit}_frac"] = _ratio(items.sum(repeated), items.count())
            repeated_chars = _np(pc.utf8_length(values)) * repeated
            scores[f"rep_dup_{unit}_char_frac"] = _ratio(items.sum(repeated_chars), text_chars)
        words, vocab, ids = _words(texts)
        lengths = _np(pc.utf8_length(vocab)).astype(np.int64)[ids]
        scores.update(self._ngram_scores(words, ids, lengths, len(vocab)))
        return scores

    @staticmethod
    def _ngram_scores(
        words: _Items, ids: np.ndarray, lengths: np.ndarray, vocab_size: int
    ) -> dict[str, np.ndarray]:
        """Top and duplicate n-gram character fractions, for the whole batch at once.

        No n-gram is ever built: the n-gram starting at a word is named by the
        group of the (n-1)-gram there plus its n-th word, and groups are found
        by sorting. Only an n-gram whose two (n-1)-grams repeat can repeat, so
        each n looks only at the starts that passed n-1; natural text leaves
        few of those after n = 3.
        """
        n_words, n_docs, doc = len(ids), len(words.offsets) - 1, words.doc
        word_chars = words.sum(lengths)
        prefix = np.concatenate([[0], np.cumsum(lengths)])
        doc_end = words.offsets[1:][doc]  # one past the last word of each word's document
        group = doc.astype(np.int64) * vocab_size + ids  # 1-grams: (document, word)
        starts = np.arange(n_words)
        scores = {}
        for n in range(1, max(_DUP_NGRAMS) + 1):
            if n > 1:
                starts = starts[starts + n <= doc_end[starts]]
                keys = group[starts] * vocab_size + ids[starts + n - 1]
            else:
                keys = group
            starts, numbers, first = _sort_groups(keys, starts)
            count = np.bincount(numbers)[numbers]
            repeated = count > 1
            if n in _TOP_NGRAMS:
                covered = count * (prefix[starts + n] - prefix[starts])
                # Most frequent repeated n-gram of each document; ties go to the one covering more.
                rank = (count << 32) | np.minimum(covered, 2**32 - 1)
                best = np.zeros(n_docs, np.int64)
                np.maximum.at(best, doc[starts[repeated]], rank[repeated])
                top = np.minimum(best & (2**32 - 1), word_chars)
                scores[f"rep_top_{n}gram_frac"] = _ratio(top, word_chars)
            if n in _DUP_NGRAMS:
                # The words inside any later occurrence, each counted once however many overlap it.
                inside = np.zeros(n_words, bool)
                inside[(starts[~first, None] + np.arange(n)).ravel()] = True
                inside = np.flatnonzero(inside)
                dup_chars = np.bincount(doc[inside], lengths[inside], minlength=n_docs)
                scores[f"rep_dup_{n}gram_frac"] = _ratio(dup_chars, word_chars)
            group[starts] = numbers
            # An (n+1)-gram can repeat only where both n-grams inside it (at i and i+1) repeat.
            repeats_at = np.zeros(n_words + 1, bool)
            repeats_at[starts[repeated]] = True
            starts = np.flatnonzero(repeats_at[:-1] & repeats_at[1:])
        return scores

    def decide(self, table: pa.Table) -> list[str | None]:
        cfg = self.config
        # Gopher table A1: 0.3 / 0.3 / 0.2 / 0.2 for lines and paragraphs, top n-grams 0.20 / 0.18 / 0.16,
        # duplicate n-grams 0.15 down to 0.10; the limits live in the config's defaults.
        limits = [
            ("dup_line_frac", "rep_dup_line_frac", cfg.max_dup_line_frac),
            ("dup_para_frac", "rep_dup_para_frac", cfg.max_dup_para_frac),
            ("dup_line_char_frac", "rep_dup_line_char_frac", cfg.max_dup_line_char_frac),
            ("dup_para_char_frac", "rep_dup_para_char_frac", cfg.max_dup_para_char_frac),
            *[
                (f"top_{n}gram", f"rep_top_{n}gram_frac", getattr(cfg, f"max_top_{n}gram_frac"))
                for n in _TOP_NGRAMS
            ],
            *[
                (f"dup_{n}gram", f"rep_dup_{n}gram_frac", getattr(cfg, f"max_dup_{n}gram_frac"))
                for n in _DUP_NGRAMS
            ],
        ]
        return _first_failing(
            table.num_rows,
            [
                (reason, _np(table.column(column)) > limit)
                for reason, column, limit in limits
                if limit is not None
            ],
        )


# --------------------------------------------------------------------------- c4_fineweb

_TERMINAL_PUNCT_RE = r"[.!?\"']$"
_POLICY_RE = r"terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies"
# A sentence ends at terminal punctuation (closing quotes or brackets allowed)
# followed by a space or the end of the line; a stand-in for NLTK's Punkt.
_SENTENCE_END_RE = r"[.!?…]+[\"'”’)\]]*(?:\s|$)"


class C4FineWebConfig(OperatorConfig):
    max_lorem_ipsum: int | None = Field(
        0, ge=0, description="Drop when 'lorem ipsum' (any case) occurs more times than this."
    )
    max_javascript_line_frac: float | None = Field(
        0.0,
        ge=0,
        le=1,
        description="Drop when more than this fraction of lines mention 'javascript' (any case).",
    )
    max_curly_brackets: int | None = Field(0, ge=0, description="Drop when the text has more '{' than this.")
    max_policy_line_frac: float | None = Field(
        0.0,
        ge=0,
        le=1,
        description="Drop when more than this fraction of lines have cookie / terms-of-use phrases.",
    )
    min_sentences: int | None = Field(
        5, ge=0, description="Drop when fewer sentences remain in the lines C4 would keep."
    )
    min_words_per_line: int = Field(3, ge=0, description="Lines with fewer words hold no sentences for C4.")
    max_word_length: int = Field(1000, ge=1, description="Lines with a longer word hold no sentences for C4.")
    line_punct_thr: float | None = Field(
        0.12, ge=0, le=1, description="Drop when at most this fraction of lines end in terminal punctuation."
    )
    short_line_length: int = Field(30, ge=0, description="Lines of at most this many characters are short.")
    short_line_thr: float | None = Field(
        0.67, ge=0, le=1, description="Drop when at least this fraction of lines are short."
    )
    dup_line_char_thr: float | None = Field(
        0.1, ge=0, le=1, description="Drop when at least this fraction of characters are in repeated lines."
    )
    max_newline_ratio: float | None = Field(
        0.3, ge=0, description="Drop when line breaks per word exceed this (list-like pages)."
    )


@register
class C4FineWeb(Filter):
    """C4's page rules with FineWeb's extra line statistics.

    Follows DataTrove's ``C4QualityFilter`` as FineWeb configured it (no
    terminal-punctuation line filter) and ``FineWebQualityFilter``. Where C4
    removes *lines* (mentions of javascript, cookie and terms-of-use phrases),
    this filter never rewrites text: it scores the fraction of such lines and
    drops the whole *document* past a threshold. The defaults (0.0) keep C4's
    strictness, so any such line drops its page; raise them to tolerate
    footers. Rules, in order, with their drop reasons:

    1. ``lorem_ipsum``: placeholder text (C4).
    2. ``javascript``: lines mentioning javascript (C4 removes those lines).
    3. ``curly_bracket``: a '{' anywhere, i.e. likely code (C4).
    4. ``policy``: cookie / terms-of-use lines (C4's code removes those lines).
    5. ``too_few_sentences``: fewer than ``min_sentences`` sentences in the lines
       C4 would keep (at least ``min_words_per_line`` words, no overlong word,
       no javascript or policy phrase).
    6. ``line_punct``: too few lines end in terminal punctuation (FineWeb).
    7. ``short_lines``: too many short lines (FineWeb).
    8. ``dup_line_chars``: too many characters in repeated lines (FineWeb).
    9. ``newline_ratio``: too many line breaks per word (FineWeb's list rule).
    """

    name = "c4_fineweb"
    version = "1"
    Config = C4FineWebConfig
    columns: ClassVar[dict[str, pa.DataType]] = {
        "c4_lorem_ipsum": pa.int32(),
        "c4_javascript_line_frac": pa.float32(),
        "c4_curly_brackets": pa.int32(),
        "c4_policy_line_frac": pa.float32(),
        "c4_sentences": pa.int32(),
        "c4_line_punct_frac": pa.float32(),
        "c4_short_line_frac": pa.float32(),
        "c4_dup_line_char_frac": pa.float32(),
        "c4_newline_ratio": pa.float32(),
    }
    score_column = "c4_line_punct_frac"

    def score(self, table: pa.Table) -> dict[str, np.ndarray]:
        cfg = self.config
        texts = _texts(table)
        lines, line_texts = _lines(texts)
        n_lines = lines.count()
        line_chars = _np(pc.utf8_length(line_texts))
        line_words = _np(pc.list_value_length(pc.ascii_split_whitespace(line_texts)))
        javascript = _np(pc.match_substring_regex(line_texts, "javascript", ignore_case=True))
        policy = _np(pc.match_substring_regex(line_texts, _POLICY_RE, ignore_case=True))
        long_word = self._has_long_word(line_texts, line_chars)
        c4_keeps = (line_words >= cfg.min_words_per_line) & ~long_word & ~javascript & ~policy
        # NLTK finds at least one sentence in any non-blank line.
        sentences = np.maximum(_np(pc.count_substring_regex(line_texts, _SENTENCE_END_RE)), 1) * c4_keeps
        ends_in_punct = _np(pc.match_substring_regex(line_texts, _TERMINAL_PUNCT_RE))
        repeated_chars = line_chars * _repeats(lines, line_texts)
        non_newline_chars = _np(pc.utf8_length(texts)) - _count(texts, "\n")
        return {
            "c4_lorem_ipsum": _count(texts, "lorem ipsum", ignore_case=True).astype(np.int32),
            "c4_javascript_line_frac": _ratio(lines.sum(javascript), n_lines),
            "c4_curly_brackets": _count(texts, r"\{").astype(np.int32),
            "c4_policy_line_frac": _ratio(lines.sum(policy), n_lines),
            "c4_sentences": lines.sum(sentences).astype(np.int32),
            "c4_line_punct_frac": _ratio(lines.sum(ends_in_punct), n_lines),
            "c4_short_line_frac": _ratio(lines.sum(line_chars <= cfg.short_line_length), n_lines),
            "c4_dup_line_char_frac": _ratio(lines.sum(repeated_chars), non_newline_chars),
            # Breaks between non-blank lines: a blank line between paragraphs is not a second break.
            "c4_newline_ratio": _ratio(np.maximum(n_lines - 1, 0), lines.sum(line_words)),
        }

    def _has_long_word(self, lines: pa.Array, line_chars: np.ndarray) -> np.ndarray:
        """Lines holding a word longer than ``max_word_length``; only lines that long are split."""
        limit = self.config.max_word_length
        out = np.zeros(len(lines), bool)
        long_lines = np.flatnonzero(line_chars > limit)
        if len(long_lines):
            words = pc.ascii_split_whitespace(lines.take(long_lines))
            too_long = _np(pc.greater(pc.utf8_length(pc.list_flatten(words)), limit))
            out[long_lines] = np.bincount(_np(pc.list_parent_indices(words)), too_long, len(long_lines)) > 0
        return out

    def decide(self, table: pa.Table) -> list[str | None]:
        cfg = self.config
        col = {name: _np(table.column(name)) for name in self.columns}
        rules = [
            # C4: "removed any page where the phrase 'lorem ipsum' appeared".
            ("lorem_ipsum", "c4_lorem_ipsum", np.greater, cfg.max_lorem_ipsum),
            # C4: "removed any line with the word Javascript" (a page-level drop here).
            ("javascript", "c4_javascript_line_frac", np.greater, cfg.max_javascript_line_frac),
            # C4: "removed any pages that contained a curly bracket".
            ("curly_bracket", "c4_curly_brackets", np.greater, cfg.max_curly_brackets),
            # C4 (TFDS code, not the paper): cookie / terms-of-use lines (a page-level drop here).
            ("policy", "c4_policy_line_frac", np.greater, cfg.max_policy_line_frac),
            # C4: "discarded any page with fewer than 5 sentences".
            ("too_few_sentences", "c4_sentences", np.less, cfg.min_sentences),
            # FineWeb: drop when the fraction of lines ending in punctuation is <= 0.12.
            ("line_punct", "c4_line_punct_frac", np.less_equal, cfg.line_punct_thr),
            # FineWeb: drop when the fraction of lines shorter than 30 characters is >= 0.67.
            ("short_lines", "c4_short_line_frac", np.greater_equal, cfg.short_line_thr),
            # FineWeb: drop when the fraction of characters in duplicated lines is >= 0.1.
            ("dup_line_chars", "c4_dup_line_char_frac", np.greater_equal, cfg.dup_line_char_thr),
            # FineWeb (DataTrove's list_ratio): drop when newlines per word exceed 0.3.
            ("newline_ratio", "c4_newline_ratio", np.greater, cfg.max_newline_ratio),
        ]
        return _first_failing(
            table.num_rows,
            [
                (reason, fails(col[column], limit))
                for reason, column, fails, limit in rules
                if limit is not None
            ],
        )
