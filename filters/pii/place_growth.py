"""A place found by any rule or by NER, grown to the whole of its name and address once every finding is known.

Each rule sees one part of a place: the list knows ``Uganda`` in ``Nueva Uganda`` and
``Büsingen`` in ``Büsingen am Hochrhein``; NER tags ``Bernard`` in ``St. Bernard`` as a
person; the address rule starts at the street and leaves the house number before it
(``14, Shah Circle``) or stops where the next part of the address is found by another
rule. What is left is personal data. So, on the resolved findings:

* a place grows left over a toponym's first word (``North``, ``Lake``, ``Port``,
  ``Saint``, ``San``, ``Bad``, ``Nueva``) and right over a particle and a capitalised
  word (``am Hochrhein``, ``de la Montaña``, ``sul Cesano``);
* a one-word person after such a first word is a place (``Fort William``, ``Port
  Elizabeth``, ``Lake Louise``);
* an address (a place with a digit in it) grows left over its house number and the
  word or flat before it (``63533``, ``14,``, ``H.No. 70,``, ``Level 8``);
* places that follow one another on a line, with only ``,`` or a dash between, are one
  place (``7 Baker Trail, RD 10, Potau 6108``).
"""

from __future__ import annotations

import re

from filters.gazetteer import HYPHEN_PARTICLES, UPPER, fold
from filters.pii.patterns import Finding
from filters.pii.places import LC_PART, NUMBER_WORDS, UNIT_WORDS
from filters.pii.words import software

# The first word of a toponym, in the languages of the name lists.
_PREFIX = (
    r"North|South|East|West|New|Old|Upper|Lower|Little|Great|High|Lake|Port|Mount|Mt\.|Fort|Cape|Saint|St\.|Sainte|"
    r"Ste\.|San|Santa|Santo|São|Sankt|Bad|Nueva|Nuevo|Vieja|Viejo|Ciudad|Villa|Puerto|Porto|Monte|Castel|Borgo|Isla|"
    r"Île|Nowa|Nowy|Stara|Stary|Nova|Novo|Stará|Nové|Velké|Velika|Veliki|Mali|Mala|Groß|Klein|Neu|Alt|Nieuw|Oud|"
    r"Norra|Södra|Östra|Västra|Nord|Sud|Vila|Vieux|Vieille|Mont"
)
_BEFORE = re.compile(rf"(?<![\w.])(?:{_PREFIX})[ ]$")
_PLACE_WORD = rf"{UPPER}[^\W\d_]*(?:['’][^\W\d_]+)?(?:-[^\W\d_]+)*"
# Particles inside a place's name, in any case ("Camino al Tagliamento", "San Vito Sul Cesano").
_PARTICLE = rf"(?i:{LC_PART}|sul|sull['’]|alla|allo|dello|im|bei|aan)|In|Nel|Nella"
# A saint's name inside a place's name ("Sale San Giovanni", "Bagni San Filippo").
_SAINT = r"San|Santa|Santo|Sant['’]|São|Saint|Sainte|St\.|Sankt"
_AFTER = re.compile(
    rf"[ ](?:(?:{_PARTICLE})[ ](?:(?:la|las|los|l['’])[ ]?)?|(?:{_SAINT})[ ]?|-(?i:{HYPHEN_PARTICLES})-)"
    rf"{_PLACE_WORD}"
)
# A house number before a street: "63533 ", "14, ", "93/49, ".
_HOUSE_NUMBER = re.compile(r"(?:(?<=[\s:(])|^)\d{1,5}[A-Za-z]?(?:/\d{1,5})?,?[ ]$")
# A flat or floor word, or a house number's word, before the number that opens an address: "Level 8 2 Cruz
# Frontage", "H.No. 70, Swamy Nagar".
_UNIT_WORD = re.compile(rf"(?<![\w.])(?:(?i:{UNIT_WORDS})|{NUMBER_WORDS})[ ]?$")
_JOIN = re.compile(r",?[ ]{1,2}|[ ]+[–—-][ ]+|,")


def grow(text: str, findings: list[Finding], stop: frozenset[str]) -> list[Finding]:
    """The findings (sorted, no overlaps) with places grown and joined as the module docstring says."""
    out: list[Finding] = []
    for f in findings:
        floor = out[-1].end if out else 0
        if f.type == "PERSON" and " " not in text[f.start : f.end].strip():
            m = _BEFORE.search(text, max(floor, f.start - 8), f.start)
            if m:
                f = Finding("LOCATION", m.start(), f.end, f.score)
        if f.type == "LOCATION":
            f = _grown(text, f, stop, floor)
            if out and out[-1].type == "LOCATION" and _JOIN.fullmatch(text[out[-1].end : f.start]):
                f = Finding("LOCATION", out.pop().start, f.end, f.score)
        if out and out[-1].end > f.start:  # the place before grew over this finding
            if out[-1].type == "LOCATION" and f.type == "LOCATION":
                last = out.pop()
                f = Finding("LOCATION", last.start, max(f.end, last.end), f.score)
            elif f.end <= out[-1].end:
                continue
            else:
                last = out.pop()
                out.append(Finding(last.type, last.start, max(last.start + 1, len(text[: f.start].rstrip())), last.score))
        out.append(f)
    return out


def _grown(text: str, f: Finding, stop: frozenset[str], floor: int) -> Finding:
    start, end = f.start, f.end
    m = _BEFORE.search(text, max(floor, start - 8), start)
    if m:
        start = m.start()
    while True:
        m = _AFTER.match(text, end)
        last = m and m.group().split()[-1].split("-")[-1]
        if not m or fold(last) in stop or software(last):  # not over "am Montag", "an Linux"
            break
        end = m.end()
    if any(c.isdigit() for c in text[start:end]):
        m = _HOUSE_NUMBER.search(text, max(floor, start - 16), start)
        if m:
            start = m.start()
        m = _UNIT_WORD.search(text, max(floor, start - 12), start) if text[start].isdigit() else None
        if m:
            start = m.start()
    return f if (start, end) == (f.start, f.end) else Finding("LOCATION", start, end, f.score)


__all__ = ["grow"]
