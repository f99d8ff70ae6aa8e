"""Where a rule can match, for many rules in one Hyperscan pass: the Python regexes then read only windows there.

A rule written as one Python regex with a long alternation of words (street types,
field names, residence words in twenty languages) costs a try at every position of
every text; Hyperscan finds all of them at once at memory speed. The text is read as
ASCII (each other character as ``?``, so offsets stay character offsets); a word with
non-ASCII letters is matched with ``?`` in their place, and texts in other scripts
(Cyrillic, Greek) are read whole by the Python regexes.
"""

from __future__ import annotations

import re

_NON_LATIN = re.compile(r"[\u0370-\u03ff\u0400-\u052f]")


def ascii_words(alternation: str, keep: tuple[str, ...] = ()) -> str:
    """The alternatives of a word list as Hyperscan reads the text (each non-ASCII character as ``?``); those with
    fewer than two ASCII letters left (``ул.``) are dropped, unless in ``keep``."""
    out = []
    for word in alternation.split("|"):
        if sum(c.isascii() and c.isalpha() for c in word) >= 2 or word in keep:
            out.append("".join(c if c.isascii() else r"\?" for c in word))
    return "|".join(out)


class Triggers:
    """Named Hyperscan patterns; :meth:`windows` gives, per name, the merged spans around their match ends.

    Args:
        patterns: name -> (pattern over the ASCII-read text, caseless).
    """

    def __init__(self, patterns: dict[str, tuple[str, bool]]):
        import hyperscan

        self.names = list(patterns)
        self._db = hyperscan.Database()
        self._db.compile(
            expressions=[patterns[n][0].encode() for n in self.names],
            ids=list(range(len(self.names))),
            elements=len(self.names),
            flags=[hyperscan.HS_FLAG_CASELESS if patterns[n][1] else 0 for n in self.names],
        )

    @staticmethod
    def whole(text: str) -> bool:
        """Whether ``text`` holds another script, so the rules must read all of it."""
        return bool(_NON_LATIN.search(text))

    def ends(self, text: str) -> dict[str, list[int]]:
        hits: dict[str, list[int]] = {}
        data = text.encode("ascii", "replace") if not text.isascii() else text.encode()
        names = self.names
        self._db.scan(data, match_event_handler=lambda i, _s, e, _f, _c: hits.setdefault(names[i], []).append(e))
        return hits

    @staticmethod
    def windows(ends: list[int], size: int, before: int, after: int) -> list[tuple[int, int]]:
        spans: list[list[int]] = []
        for e in sorted(ends):
            lo, hi = max(0, e - before), min(size, e + after)
            if spans and lo <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        return [(lo, hi) for lo, hi in spans]


def search_windows(regex: re.Pattern, text: str, spans: list[tuple[int, int]]):
    """``regex``'s matches inside ``spans`` (its lookbehinds still see the text before each span), left to right,
    without overlaps."""
    last = -1
    for lo, hi in spans:
        for m in regex.finditer(text, lo, hi):
            if m.end() >= hi and hi < len(text):
                m = regex.match(text, m.start()) or m  # the window cut it: read it to its end
            if m.start() >= last:
                last = m.end()
                yield m


__all__ = ["Triggers", "ascii_words", "search_windows"]
