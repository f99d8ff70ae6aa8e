"""``fineweb``: FineWeb's line statistics (Penedo et al. 2024), as DataTrove's ``FineWebQualityFilter``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from filters.quality import words as split_words
from filters.quality.batch import (
    Items,
    above,
    below,
    count_matches,
    first_failing,
    literal_class,
    ratio,
    repeats,
    texts_of,
    to_np,
)
from filters.quality.gopher_quality import datatrove_punctuation
from filters.quality.words import SplitConfig, WordFilter


class FineWebConfig(SplitConfig):
    line_punct_thr: float | None = Field(
        0.12, ge=0, le=1, description="Drop when fewer than this fraction of lines end in terminal punctuation."
    )
    line_punct_exclude_zero: bool = Field(
        False, description="Keep documents where no line ends in terminal punctuation (FineWeb-2 sets this)."
    )
    stop_chars: list[str] | None = Field(
        None,
        description="The terminal punctuation characters; null: DataTrove's TERMINAL_PUNCTUATION (159, all scripts).",
    )
    short_line_length: int = Field(30, ge=0, description="Lines of at most this many characters are short.")
    short_line_thr: float | None = Field(
        0.67, ge=0, le=1, description="Drop when more than this fraction of lines are short."
    )
    char_duplicates_ratio: float | None = Field(
        0.01, ge=0, le=1, description="Drop when more than this fraction of characters are in repeated lines."
    )
    new_line_ratio: float | None = Field(
        0.3, ge=0, description="Drop when there are more line breaks per word than this (list-like pages)."
    )


class FineWeb(WordFilter):
    """FineWeb's own quality rules, as DataTrove 0.10's ``FineWebQualityFilter`` decides.

    Lines are the text's ``\\n``-separated lines that are not blank, taken as
    they are (not stripped). Rules, in order, with their drop reasons
    (DataTrove's):

    1. ``empty``: no line.
    2. ``line_punct_ratio``: fewer than ``line_punct_thr`` of the lines end in
       terminal punctuation (any script's).
    3. ``short_line_ratio``: more than ``short_line_thr`` of the lines have at
       most ``short_line_length`` characters.
    4. ``char_dup_ratio``: more than ``char_duplicates_ratio`` of the
       characters (line breaks not counted) are in lines that repeat an
       earlier line.
    5. ``list_ratio``: more than ``new_line_ratio`` line breaks per word.

    Words (for the last rule) are split as ``compat`` says, and only for the
    documents that pass the first four rules, as DataTrove does: the
    ``fineweb_list_ratio`` of a document dropped earlier is null, and
    loosening an earlier threshold then needs the operator run again (decide
    says so rather than guess).
    """

    name = "fineweb"
    version = "1"
    Config = FineWebConfig
    columns: ClassVar[dict[str, pa.DataType]] = {
        "fineweb_lines": pa.int32(),
        "fineweb_line_punct_ratio": pa.float32(),
        "fineweb_short_line_ratio": pa.float32(),
        "fineweb_char_dup_ratio": pa.float32(),
        "fineweb_list_ratio": pa.float32(),
    }
    score_column = "fineweb_line_punct_ratio"

    def score(self, table: pa.Table) -> dict[str, np.ndarray | pa.Array]:
        cfg = self.config
        texts = texts_of(table)
        split = pc.split_pattern(texts, "\n")
        all_lines = pc.list_flatten(split)
        real = to_np(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(all_lines)), 0))
        lines, line_texts = Items.of(split, real), all_lines.filter(real)
        n_lines = lines.count()
        stop = (
            literal_class(cfg.stop_chars) if cfg.stop_chars is not None else literal_class(datatrove_punctuation()[1])
        )
        line_chars = to_np(pc.utf8_length(line_texts))
        newlines = count_matches(texts, "\n")
        scores = {
            "fineweb_lines": n_lines.astype(np.int32),
            "fineweb_line_punct_ratio": ratio(
                lines.sum(to_np(pc.match_substring_regex(line_texts, f"[{stop}]$"))), n_lines
            ),
            "fineweb_short_line_ratio": ratio(lines.sum(line_chars <= cfg.short_line_length), n_lines),
            "fineweb_char_dup_ratio": ratio(
                lines.sum(line_chars * repeats(lines, line_texts)), to_np(pc.utf8_length(texts)) - newlines
            ),
        }
        # Words only where the list rule is reached.
        reached = np.flatnonzero(~self._fails_line_rules(scores))
        list_ratio = np.zeros(table.num_rows, np.float32)
        if len(reached):
            words = split_words.split(table.take(pa.array(reached)), cfg.compat, cfg.language)
            list_ratio[reached] = ratio(newlines[reached], words.items.count())
        unscored = np.ones(table.num_rows, bool)
        unscored[reached] = False
        scores["fineweb_list_ratio"] = pa.array(list_ratio, pa.float32(), mask=unscored)
        return scores

    def _fails_line_rules(self, col: dict[str, np.ndarray]) -> np.ndarray:
        return np.any([failed for _, failed in self._line_rules(col)], axis=0)

    def _line_rules(self, col: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        cfg = self.config
        punct = col["fineweb_line_punct_ratio"]
        few_punct = below(punct, cfg.line_punct_thr)
        if cfg.line_punct_exclude_zero:
            few_punct &= punct != 0
        return [
            ("empty", col["fineweb_lines"] == 0),
            # FineWeb: drop when the fraction of lines ending in punctuation is below 0.12.
            ("line_punct_ratio", few_punct),
            # FineWeb: drop when more than 0.67 of the lines are at most 30 characters long.
            ("short_line_ratio", above(col["fineweb_short_line_ratio"], cfg.short_line_thr)),
            # FineWeb: drop when more than 0.01 of the characters are in duplicated lines.
            ("char_dup_ratio", above(col["fineweb_char_dup_ratio"], cfg.char_duplicates_ratio)),
        ]

    def decide(self, table: pa.Table) -> list[str | None]:
        col = {name: to_np(table.column(name)) for name in self.columns}
        rules = self._line_rules(col)
        list_ratio = col["fineweb_list_ratio"]
        unscored = np.isnan(list_ratio) & ~np.any([failed for _, failed in rules], axis=0)
        if unscored.any():
            raise ValueError(
                "fineweb: fineweb_list_ratio was not scored for documents an earlier rule dropped when they were "
                "scored; run the operator again (not only decide) after loosening its line thresholds"
            )
        # FineWeb (DataTrove's list_ratio): drop when line breaks per word exceed 0.3.
        return first_failing(table.num_rows, [*rules, ("list_ratio", above(list_ratio, self.config.new_line_ratio))])
