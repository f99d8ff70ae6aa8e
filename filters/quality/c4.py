"""``c4``: C4's rules (Raffel et al. 2020, section 2.2), as DataTrove's ``C4QualityFilter`` applies them."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from filters.quality.batch import Items, below, first_failing, python_lines, texts_of, to_np
from filters.quality.sentences import sentence_counts
from filters.quality.words import SplitConfig, WordFilter, spacy_codes
from operators.core.schema import kept_mask, set_column

# Python's \d is any decimal digit; RE2's only ASCII.
_CITATION_RE = r"\[\p{Nd}*]|\[edit]|\[citation needed]"
_POLICY_RE = "terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies"
# The whitespace compat's stand-in for a sentence splitter: terminal punctuation (closing quotes or brackets
# allowed) followed by a space or the end of the line.
_SENTENCE_END_RE = r"[.!?…]+[\"'”’)\]]*(?:\s|$)"


class C4Config(SplitConfig):
    remove_citations: bool = Field(True, description="Remove Wikipedia-style citations ([1], [edit]) from lines.")
    filter_no_terminal_punct: bool = Field(
        True,
        description="Remove lines that do not end in . ? ! \" ' (or end in '...'). FineWeb turned this off.",
    )
    min_sentences: int | None = Field(
        5, ge=0, description="Drop documents with fewer sentences in the lines kept; null: no sentence rule."
    )
    min_words_per_line: int | None = Field(3, ge=0, description="Remove lines with fewer words; null: keep them.")
    max_word_length: int | None = Field(
        1000, ge=1, description="Remove lines with a longer word (characters); null: keep them."
    )
    filter_lorem_ipsum: bool = Field(True, description="Drop documents with a kept line saying 'lorem ipsum'.")
    filter_javascript: bool = Field(True, description="Remove lines mentioning 'javascript'.")
    filter_curly_bracket: bool = Field(True, description="Drop documents with a '{' in a line C4 keeps.")
    filter_policy: bool = Field(True, description="Remove lines with cookie / terms-of-use / privacy-policy phrases.")
    remove_lines: bool = Field(
        True,
        description="Rewrite each kept document as its kept lines (as C4 and DataTrove do); false: decide only.",
    )


class C4(WordFilter):
    """C4's rules, applied line by line as DataTrove 0.10's ``C4QualityFilter`` does.

    Each line (``str.splitlines()``, stripped) is looked at in order: lines
    with an overlong word, without terminal punctuation (when
    ``filter_no_terminal_punct``), or with fewer than ``min_words_per_line``
    whitespace words are removed; citations are cut from the rest. Of those,
    a line saying 'lorem ipsum' drops the document (``lorem_ipsum``); a line
    mentioning javascript is removed; a '{' drops the document
    (``curly_bracket``); a cookie or terms-of-use line is removed. The first
    such line decides which reason a document is dropped for. Then a document
    with fewer than ``min_sentences`` sentences in its kept lines is dropped
    (``too_few_sentences``): sentences as DataTrove's sentence splitter for
    ``language`` finds them (spaCy's sentencizer) under ``compat:
    datatrove``, or by terminal punctuation under ``compat: whitespace``.

    Kept documents are rewritten as their kept lines (``remove_lines``), as
    C4 did. Defaults are DataTrove's; FineWeb used
    ``filter_no_terminal_punct: false``. Scores: ``c4_lorem_ipsum_line`` and
    ``c4_curly_bracket_line`` (1-based line of the first hit, 0: none),
    ``c4_sentences``, ``c4_lines_removed``.
    """

    name = "c4"
    version = "1"
    Config = C4Config
    columns: ClassVar[dict[str, pa.DataType]] = {
        "c4_lorem_ipsum_line": pa.int32(),
        "c4_curly_bracket_line": pa.int32(),
        "c4_sentences": pa.int32(),
        "c4_lines_removed": pa.int32(),
    }
    score_column = "c4_sentences"

    def _lines(self, texts: pa.Array) -> tuple[Items, pa.Array, dict[str, np.ndarray]]:
        """Each line as C4 leaves it (stripped, citations cut) and what happens to it."""
        cfg = self.config
        items, raw = python_lines(texts)
        stripped = pc.utf8_trim_whitespace(raw)
        n_words = to_np(pc.list_value_length(pc.utf8_split_whitespace(stripped)))
        removed = np.zeros(len(raw), bool)
        if cfg.max_word_length is not None:
            removed |= self._has_long_word(stripped)
        line = pc.replace_substring_regex(stripped, _CITATION_RE, "") if cfg.remove_citations else stripped
        if cfg.filter_no_terminal_punct:
            ends = to_np(pc.match_substring_regex(line, r"[.?!\"']$"))
            removed |= ~ends | to_np(pc.match_substring_regex(line, r"\.\.\.$"))
        if cfg.min_words_per_line is not None:
            removed |= n_words < cfg.min_words_per_line
        lower = pc.utf8_lower(line)
        rule = {}
        pending = ~removed
        for name, on, values, pattern in (
            ("lorem", cfg.filter_lorem_ipsum, lower, "lorem ipsum"),
            ("javascript", cfg.filter_javascript, lower, "javascript"),
            ("curly", cfg.filter_curly_bracket, line, r"\{"),
            ("policy", cfg.filter_policy, lower, _POLICY_RE),
        ):
            hit = pending & to_np(pc.match_substring_regex(values, pattern)) if on else np.zeros(len(raw), bool)
            rule[name] = hit
            pending &= ~hit
        rule["kept"] = pending
        return items, line, rule

    def _has_long_word(self, lines: pa.Array) -> np.ndarray:
        """Lines holding a word longer than ``max_word_length``; only lines that long are split."""
        limit = self.config.max_word_length
        out = np.zeros(len(lines), bool)
        long_lines = np.flatnonzero(to_np(pc.utf8_length(lines)) > limit)
        if len(long_lines):
            words = pc.utf8_split_whitespace(lines.take(long_lines))
            too_long = to_np(pc.greater(pc.utf8_length(pc.list_flatten(words)), limit))
            out[long_lines] = np.bincount(to_np(pc.list_parent_indices(words)), too_long, len(long_lines)) > 0
        return out

    def score(self, table: pa.Table) -> dict[str, np.ndarray]:
        cfg = self.config
        items, line, rule = self._lines(texts_of(table))
        kept = rule["kept"]
        sentences = np.zeros(len(line), np.int64)
        if cfg.min_sentences is not None and kept.any():
            at = np.flatnonzero(kept)
            if cfg.compat == "whitespace":
                found = to_np(pc.count_substring_regex(line.take(at), _SENTENCE_END_RE))
                sentences[at] = np.maximum(found, 1)
            else:
                codes = spacy_codes(table, cfg.language)
                sentences[at] = _per_code(line.take(at), codes, items.doc[at])
        return {
            "c4_lorem_ipsum_line": items.first(rule["lorem"]).astype(np.int32),
            "c4_curly_bracket_line": items.first(rule["curly"]).astype(np.int32),
            "c4_sentences": items.sum(sentences).astype(np.int32),
            "c4_lines_removed": (items.count() - items.sum(kept)).astype(np.int32),
        }

    def decide(self, table: pa.Table) -> list[str | None]:
        lorem = to_np(table.column("c4_lorem_ipsum_line"))
        curly = to_np(table.column("c4_curly_bracket_line"))
        return first_failing(
            table.num_rows,
            [
                # C4: "removed any page where the phrase 'lorem ipsum' appeared" (the first such line decides).
                ("lorem_ipsum", (lorem > 0) & ((curly == 0) | (lorem <= curly))),
                # C4: "removed any pages that contained a curly bracket".
                ("curly_bracket", curly > 0),
                # C4: "discarded any page with fewer than 5 sentences".
                ("too_few_sentences", below(to_np(table.column("c4_sentences")), self.config.min_sentences)),
            ],
        )

    def process(self, table: pa.Table) -> pa.Table:
        table = super().process(table)
        if not self.config.remove_lines:
            return table
        mask = kept_mask(table)
        rows = np.flatnonzero(to_np(mask))
        if not len(rows):
            return table
        items, line, rule = self._lines(texts_of(table.take(pa.array(rows))))
        kept_lines = Items.of(pa.ListArray.from_arrays(pa.array(items.offsets, pa.int32()), line), rule["kept"])
        joined = pc.binary_join(
            pa.ListArray.from_arrays(pa.array(kept_lines.offsets, pa.int32()), line.filter(rule["kept"])), "\n"
        )
        new = pc.utf8_trim_whitespace(joined)
        texts = table.column("text").combine_chunks()
        positions = np.full(table.num_rows, -1)
        positions[rows] = np.arange(len(rows))
        merged = pc.if_else(mask, new.take(pa.array(np.maximum(positions, 0))), texts)
        return set_column(table, "text", merged)


def _per_code(lines: pa.Array, codes: pa.Array | str, line_doc: np.ndarray) -> np.ndarray:
    """Sentences per line, each line split with its document's spaCy language."""
    if isinstance(codes, str):
        return sentence_counts(lines, codes)
    line_codes = to_np(codes.take(pa.array(line_doc)))
    out = np.zeros(len(lines), np.int64)
    for code in np.unique(line_codes):
        at = np.flatnonzero(line_codes == code)
        out[at] = sentence_counts(lines.take(pa.array(at)), str(code))
    return out
