"""``gopher_quality``: Gopher's document-shape rules (Rae et al. 2021, appendix A.1.1)."""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from filters.quality import words as split_words
from filters.quality.batch import (
    above,
    below,
    char_class,
    count_matches,
    first_failing,
    literal_class,
    python_lines,
    ratio,
    stripped_lines,
    texts_of,
    to_np,
)
from filters.quality.words import SplitConfig, WordFilter, Words

STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
# whitespace compat: a line is a bullet item if it starts with a bullet sign, or with a
# Markdown "-"/"*"/en-dash marker followed by a space ("-5 degrees" is not a bullet).
_BULLET_RE = r"^(?:[•‣⁃◦▪▫●○■□➢►▶]|[-*–]\s)"
_ELLIPSIS_END_RE = r"(?:\.\.\.|…)$"


@cache
def datatrove_punctuation() -> tuple[str, tuple[str, ...]]:
    """DataTrove's PUNCTUATION_SET (as an RE2 class body) and its TERMINAL_PUNCTUATION."""
    path = os.path.join(os.path.dirname(__file__), "data", "datatrove_punctuation.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    terminal = tuple(data["terminal_punctuation"])
    return literal_class(set(data["punctuation"]) | set(terminal)), terminal


class GopherQualityConfig(SplitConfig):
    min_words: int | None = Field(50, ge=0, description="Drop documents with fewer words.")
    max_words: int | None = Field(100_000, ge=0, description="Drop documents with more words.")
    min_mean_word_length: float | None = Field(3.0, ge=0, description="Drop when the mean word length is lower.")
    max_mean_word_length: float | None = Field(10.0, ge=0, description="Drop when the mean word length is higher.")
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
        2,
        ge=0,
        description="Drop when fewer stop words occur (datatrove: distinct stop words, exact case; "
        "whitespace: every occurrence, any case).",
    )
    stop_words: list[str] = Field(
        STOP_WORDS, min_length=1, description="The stop words counted (changing them needs rescoring)."
    )
    stop_word_langs: list[str] | None = Field(
        None,
        description="The stop-word rule applies to rows whose `lang` is one of these (every row when the table "
        "has no `lang` column); null: every row. Default: null under compat datatrove (DataTrove applies "
        "it to every document), [en] under whitespace.",
    )

    @model_validator(mode="before")
    @classmethod
    def _stop_word_langs_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "stop_word_langs" not in data and data.get("compat") == "whitespace":
            return {**data, "stop_word_langs": ["en"]}
        return data


class GopherQuality(WordFilter):
    """Gopher's quality rules: reject documents that do not look like prose.

    Rules, in the order they are checked, with their drop reasons:

    1. ``word_count``: fewer than ``min_words`` or more than ``max_words`` words.
    2. ``mean_word_length``: mean word length outside the configured bounds.
    3. ``symbol_ratio``: too many '#' or ellipses per word.
    4. ``bullet_lines``: most lines are bullet items.
    5. ``ellipsis_lines``: many lines trail off with an ellipsis.
    6. ``alpha_words``: too few words contain a letter.
    7. ``stop_words``: too few stop words, for rows whose ``lang`` is in
       ``stop_word_langs`` (every row when that is null or there is no ``lang``).

    ``compat: datatrove`` (default) decides as DataTrove 0.10's
    ``GopherQualityFilter`` does, so that FineWeb's filtering can be rebuilt:
    words are its tokenizer's tokens (punctuation is a token); the word count
    and mean length leave out tokens made only of punctuation, while the '#' /
    ellipsis ratio and the letter fraction count every token; lines are
    ``str.splitlines()`` lines, blank ones included, and a bullet line starts
    with '•' or '-'; the stop-word rule needs that many *distinct* stop words
    in exact case, for every document. ``compat: whitespace`` keeps assay's
    first definitions (whitespace words with punctuation trimmed, blank lines
    left out, Markdown bullets, stop words counted in any case, English only).
    """

    name = "gopher_quality"
    version = "2"  # 2: compat (DataTrove's definitions by default)
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
        words = split_words.split(table, self.config.compat, self.config.language)
        texts = texts_of(table)
        if self.config.compat == "whitespace":
            return self._score_whitespace(texts, words)
        return self._score_datatrove(texts, words)

    def _score_datatrove(self, texts: pa.Array, words: Words) -> dict[str, np.ndarray]:
        punctuation, _ = datatrove_punctuation()
        n_tokens = words.items.count()
        # "non-symbol" words: tokens with a character outside DataTrove's punctuation set.
        counted = words.per_word(pc.invert(pc.match_substring_regex(words.vocab, f"^[{punctuation}]*$")))
        n_words = words.items.sum(counted)
        mean_length = np.full(len(n_words), np.nan)
        np.divide(words.items.sum(words.lengths() * counted), n_words, out=mean_length, where=n_words > 0)
        has_letter = words.per_word(pc.match_substring_regex(words.vocab, f"[{char_class('isalpha')}]"))
        stop_words = pa.array(self.config.stop_words, pa.string())
        stop_ids = np.flatnonzero(to_np(pc.is_in(words.vocab, value_set=stop_words)))
        lines, line_texts = python_lines(texts)
        starts = pc.utf8_ltrim_whitespace(line_texts)
        ends = pc.utf8_rtrim_whitespace(line_texts)
        return {
            "gopher_word_count": n_words.astype(np.int32),
            "gopher_mean_word_length": mean_length.astype(np.float32),
            # One column for both symbols: they share the threshold.
            "gopher_symbol_ratio": ratio(
                np.maximum(count_matches(texts, "#"), count_matches(texts, r"\.\.\.") + count_matches(texts, "…")),
                n_tokens,
            ),
            "gopher_bullet_lines_frac": ratio(
                lines.sum(to_np(pc.match_substring_regex(starts, "^[•-]"))), lines.count()
            ),
            "gopher_ellipsis_lines_frac": ratio(
                lines.sum(to_np(pc.match_substring_regex(ends, _ELLIPSIS_END_RE))), lines.count()
            ),
            "gopher_alpha_words_frac": ratio(words.items.sum(has_letter), n_tokens),
            "gopher_stop_words": _distinct_count(words, stop_ids).astype(np.int32),
        }

    def _score_whitespace(self, texts: pa.Array, words: Words) -> dict[str, np.ndarray]:
        lines, line_texts = stripped_lines(texts)
        n_words, n_lines = words.items.count(), lines.count()
        stop_words = pa.array(self.config.stop_words, pa.string())
        is_stop = words.per_word(pc.is_in(pc.utf8_lower(words.vocab), value_set=stop_words))
        has_letter = words.per_word(pc.match_substring_regex(words.vocab, r"\pL"))
        ellipses = count_matches(texts, r"\.\.\.") + count_matches(texts, "…")
        return {
            "gopher_word_count": n_words.astype(np.int32),
            "gopher_mean_word_length": ratio(words.items.sum(words.lengths()), n_words),
            "gopher_symbol_ratio": ratio(np.maximum(count_matches(texts, "#"), ellipses), n_words),
            "gopher_bullet_lines_frac": ratio(
                lines.sum(to_np(pc.match_substring_regex(line_texts, _BULLET_RE))), n_lines
            ),
            "gopher_ellipsis_lines_frac": ratio(
                lines.sum(to_np(pc.match_substring_regex(line_texts, _ELLIPSIS_END_RE))), n_lines
            ),
            "gopher_alpha_words_frac": ratio(words.items.sum(has_letter), n_words),
            "gopher_stop_words": words.items.sum(is_stop).astype(np.int32),
        }

    def decide(self, table: pa.Table) -> list[str | None]:
        cfg = self.config
        col = {name: to_np(table.column(name)) for name in self.columns}
        stop_rule = np.ones(table.num_rows, bool)
        if cfg.stop_word_langs is not None and "lang" in table.column_names:
            langs = pa.array(cfg.stop_word_langs, pa.string())
            stop_rule = to_np(pc.fill_null(pc.is_in(table.column("lang"), value_set=langs), False))
        return first_failing(
            table.num_rows,
            [
                # Gopher: "fewer than 50 or more than 100,000 words".
                (
                    "word_count",
                    below(col["gopher_word_count"], cfg.min_words) | above(col["gopher_word_count"], cfg.max_words),
                ),
                # Gopher: "mean word length outside the range of 3 to 10 characters".
                (
                    "mean_word_length",
                    below(col["gopher_mean_word_length"], cfg.min_mean_word_length)
                    | above(col["gopher_mean_word_length"], cfg.max_mean_word_length),
                ),
                # Gopher: "symbol-to-word ratio greater than 0.1 for either the hash symbol or the ellipsis".
                ("symbol_ratio", above(col["gopher_symbol_ratio"], cfg.max_symbol_ratio)),
                # Gopher: "more than 90% of lines starting with a bullet point".
                ("bullet_lines", above(col["gopher_bullet_lines_frac"], cfg.max_bullet_lines_frac)),
                # Gopher: "more than 30% [of lines] ending with an ellipsis".
                ("ellipsis_lines", above(col["gopher_ellipsis_lines_frac"], cfg.max_ellipsis_lines_frac)),
                # Gopher: "80% of words in a document contain at least one alphabetic character".
                ("alpha_words", below(col["gopher_alpha_words_frac"], cfg.min_alpha_words_frac)),
                # Gopher: "at least two of the following English words: the, be, to, of, and, that, ...".
                ("stop_words", stop_rule & below(col["gopher_stop_words"], cfg.min_stop_words)),
            ],
        )


def _distinct_count(words: Words, vocab_ids: np.ndarray) -> np.ndarray:
    """How many of the given distinct words occur in each row."""
    hit = np.isin(words.ids, vocab_ids)
    rows, ids = words.items.doc[hit], words.ids[hit]
    pairs = np.unique(rows.astype(np.int64) * max(len(words.vocab), 1) + ids)
    return np.bincount(pairs // max(len(words.vocab), 1), minlength=len(words.items.offsets) - 1)
