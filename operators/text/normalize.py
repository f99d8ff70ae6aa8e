"""Text normalisation: mojibake repair, Unicode NFC, control characters, whitespace."""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.core.base import Mapper, OperatorConfig
from operators.core.schema import content_hash, kept_mask, scatter, set_column

# C0/C1 controls except tab and newline, plus zero-width and BOM characters
# that carry no text and break n-gram statistics downstream.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_INLINE_SPACE_RE = re.compile(r"[^\S\n]+")
_TRAILING_SPACE_RE = re.compile(r" +\n")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


class NormalizeConfig(OperatorConfig):
    fix_mojibake: bool = Field(True, description="Repair mis-decoded text (UTF-8 read as Latin-1 and the like) with ftfy.")
    unicode_form: str | None = Field("NFC", description="Unicode normal form to apply (NFC, NFKC), or null for none.")
    strip_control: bool = Field(True, description="Remove control and zero-width characters (tab and newline kept).")
    collapse_whitespace: bool = Field(
        True, description="Collapse runs of spaces, strip line ends, and keep at most one blank line in a row."
    )


class Normalize(Mapper):
    """Repairs and normalises text; drops records left empty as ``normalize:empty``.

    Recomputes ``content_hash`` from the normalised text, so exact dedup
    compares what will be trained on.
    """

    name = "normalize"
    version = "1"
    Config = NormalizeConfig

    def setup(self) -> None:
        if self.config.fix_mojibake:
            import ftfy

            self._fix = ftfy.fix_text
        else:
            self._fix = None

    def normalize(self, text: str) -> str:
        cfg = self.config
        if self._fix is not None:
            text = self._fix(text, normalization=cfg.unicode_form or "NFC")
        elif cfg.unicode_form:
            text = unicodedata.normalize(cfg.unicode_form, text)
        if cfg.strip_control:
            text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        if cfg.collapse_whitespace:
            text = _INLINE_SPACE_RE.sub(" ", text)
            text = _TRAILING_SPACE_RE.sub("\n", text)
            text = _BLANK_LINES_RE.sub("\n\n", text).strip()
        return text

    def transform(self, texts: list[str]) -> list[str]:
        return [self.normalize(t) for t in texts]

    def process(self, table: pa.Table) -> pa.Table:
        table = super().process(table)
        mask = kept_mask(table)
        kept = table.filter(mask)
        if not kept.num_rows:
            return table
        hashes = scatter(mask, [content_hash(t) for t in kept.column("text").to_pylist()], table.num_rows, pa.string())
        table = set_column(table, "content_hash", pc.if_else(mask, hashes, table.column("content_hash")))
        empty = pc.equal(pc.utf8_length(pc.fill_null(table.column("text"), "")), 0)
        return self.drop(table, pc.if_else(empty, pa.scalar("empty"), pa.scalar(None, pa.string())))
