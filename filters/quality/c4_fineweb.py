"""``c4_fineweb``: C4's page rules and FineWeb's line statistics, decided per document, text unchanged."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from filters.quality.batch import count_matches, first_failing, ratio, repeats, stripped_lines, texts_of, to_np
from operators.core.base import Filter, OperatorConfig

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


class C4FineWeb(Filter):
    """C4's page rules with FineWeb's extra line statistics, decided per document.

    assay's own combination of the two, kept for recipes that never rewrite
    text: where C4 removes *lines* (mentions of javascript, cookie and
    terms-of-use phrases), this filter scores the fraction of such lines and
    drops the whole *document* past a threshold (the defaults, 0.0, drop a
    page for any such line). It does not decide as DataTrove does (lines are
    split on whitespace, sentences by a regular expression, FineWeb's
    thresholds are compared inclusively): to rebuild FineWeb's filtering rule
    for rule, use ``c4`` then ``fineweb``. Rules, in order, with their drop
    reasons:

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
        texts = texts_of(table)
        lines, line_texts = stripped_lines(texts)
        n_lines = lines.count()
        line_chars = to_np(pc.utf8_length(line_texts))
        line_words = to_np(pc.list_value_length(pc.ascii_split_whitespace(line_texts)))
        javascript = to_np(pc.match_substring_regex(line_texts, "javascript", ignore_case=True))
        policy = to_np(pc.match_substring_regex(line_texts, _POLICY_RE, ignore_case=True))
        long_word = self._has_long_word(line_texts, line_chars)
        c4_keeps = (line_words >= cfg.min_words_per_line) & ~long_word & ~javascript & ~policy
        # NLTK finds at least one sentence in any non-blank line.
        sentences = np.maximum(to_np(pc.count_substring_regex(line_texts, _SENTENCE_END_RE)), 1) * c4_keeps
        ends_in_punct = to_np(pc.match_substring_regex(line_texts, _TERMINAL_PUNCT_RE))
        repeated_chars = line_chars * repeats(lines, line_texts)
        non_newline_chars = to_np(pc.utf8_length(texts)) - count_matches(texts, "\n")
        return {
            "c4_lorem_ipsum": count_matches(texts, "lorem ipsum", ignore_case=True).astype(np.int32),
            "c4_javascript_line_frac": ratio(lines.sum(javascript), n_lines),
            "c4_curly_brackets": count_matches(texts, r"\{").astype(np.int32),
            "c4_policy_line_frac": ratio(lines.sum(policy), n_lines),
            "c4_sentences": lines.sum(sentences).astype(np.int32),
            "c4_line_punct_frac": ratio(lines.sum(ends_in_punct), n_lines),
            "c4_short_line_frac": ratio(lines.sum(line_chars <= cfg.short_line_length), n_lines),
            "c4_dup_line_char_frac": ratio(lines.sum(repeated_chars), non_newline_chars),
            # Breaks between non-blank lines: a blank line between paragraphs is not a second break.
            "c4_newline_ratio": ratio(np.maximum(n_lines - 1, 0), lines.sum(line_words)),
        }

    def _has_long_word(self, lines: pa.Array, line_chars: np.ndarray) -> np.ndarray:
        """Lines holding a word longer than ``max_word_length``; only lines that long are split."""
        limit = self.config.max_word_length
        out = np.zeros(len(lines), bool)
        long_lines = np.flatnonzero(line_chars > limit)
        if len(long_lines):
            words = pc.ascii_split_whitespace(lines.take(long_lines))
            too_long = to_np(pc.greater(pc.utf8_length(pc.list_flatten(words)), limit))
            out[long_lines] = np.bincount(to_np(pc.list_parent_indices(words)), too_long, len(long_lines)) > 0
        return out

    def decide(self, table: pa.Table) -> list[str | None]:
        cfg = self.config
        col = {name: to_np(table.column(name)) for name in self.columns}
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
        return first_failing(
            table.num_rows,
            [(reason, fails(col[column], limit)) for reason, column, fails, limit in rules if limit is not None],
        )
