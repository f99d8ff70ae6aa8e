"""Why a record is not kept: one string format, written and read in one place.

A reason is ``<by>:<code>[:<detail>]``. ``by`` is the operator that dropped the
record (``lang_id:lang_not_allowed``) or ``quarantine`` for a record a reader
could not accept (``quarantine:bad_json``); ``detail`` says more about this one
record (``fuzzy_dedup:near_duplicate_of:<id>``) and is left out when reasons
are counted, so every drop is counted under its operator and code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

SEPARATOR = ":"


@dataclass(frozen=True)
class Reason:
    """A parsed drop or quarantine reason.

    Attributes:
        by: the operator's name, or ``quarantine``.
        code: what went wrong (``duplicate``, ``bad_json``, ...).
        detail: about this record only (a survivor's id, a field name), or None.
    """

    by: str
    code: str
    detail: str | None = None

    QUARANTINE: ClassVar[str] = "quarantine"

    @classmethod
    def quarantine(cls, code: str, detail: str | None = None) -> Reason:
        return cls(cls.QUARANTINE, code, detail)

    @classmethod
    def parse(cls, text: str) -> Reason:
        """The reason in ``text``; a text without a separator is a code with nobody named."""
        by, sep, rest = text.partition(SEPARATOR)
        if not sep:
            return cls("", text)
        code, sep, detail = rest.partition(SEPARATOR)
        return cls(by, code, detail if sep else None)

    def format(self) -> str:
        parts = [self.by, self.code] if self.by else [self.code]
        if self.detail is not None:
            parts.append(self.detail)
        return SEPARATOR.join(parts)

    @property
    def quarantined(self) -> bool:
        return self.by == self.QUARANTINE

    @property
    def key(self) -> str:
        """What counts group by: ``<by>:<code>`` for a drop, ``<code>`` for a quarantine."""
        return self.code if self.quarantined else SEPARATOR.join(p for p in (self.by, self.code) if p)
