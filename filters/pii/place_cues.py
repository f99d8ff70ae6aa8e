"""Places by the words around them: after residence and travel words, in "from X to Y", beside a person (in
parentheses, at a line's end, in a table row), and towns named after people."""

from __future__ import annotations

import re

from filters.gazetteer import HYPHEN_PARTICLES, UPPER, code_word, fold, place_shaped
from filters.pii.patterns import Finding
from filters.pii.places import LC_PART, TOWN_WORD
from filters.pii.triggers import Triggers, ascii_words, search_windows
from filters.pii.words import software, stop_words

_UP = UPPER

# Words after which a place is named, whatever the place (lists need not know it): living, birth, moving, travel.
_RESIDENCE = (
    r"born in|lives in|living in|lived in|grew up in|resident of|native of|hails from|"
    r"wohnt in|wohnhaft in|geboren in|aufgewachsen in|umgezogen nach|zieht nach|"
    r"né à|née à|habite à|vit à|domiciliée? à|originaire de|déménagé à|"
    r"nació en|nacida en|vive en|reside en|residente en|se mudó a|natural de|"
    r"nato a|nata a|vive a|residente a|abita a|trasferit[oa] a|"
    r"nasceu em|nascida em|mora em|vive em|residente em|mudou-se para|"
    r"woont in|geboren in|verhuisd naar|"
    r"mieszka w|urodził się w|urodziła się w|przeprowadził się do|przeprowadziła się do|"
    r"bor i|född i|flyttade till|flyttet til|født i|bosatt i|"
    r"asuu|syntyi|muutti|"
    r"bydlí v|narodil se v|narodila se v|býva v|narodil sa v|"
    r"lakik|született|"
    r"locuiește în|născut în|născută în|s-a mutat în|"
    r"živi v|rojen v|rojena v|živi u|rođen u|rođena u|"
    r"yaşıyor|doğdu"
)
# Words after which the thing named is often a place, but in documentation as often a product ("moved to GitHub",
# "based in Python"): a place the lists know or that is built like one.
_MOVE = (
    r"moved to|moving to|relocated to|based in|located in|travel(?:led|ing)? to|flew to|flying to|arrived in|"
    r"headquartered in|mit sitz in|installée? à|basée? à|con sede en|con sede a|com sede em|gevestigd in|z siedzibą w"
)
# "from X to Y" in the languages above: both ends are places when both are built or listed as places.
_FROM_TO = (
    r"from (?P<a1>{T}) to (?P<b1>{T})|von (?P<a2>{T}) nach (?P<b2>{T})|de (?P<a3>{T}) (?:à|a|para) (?P<b3>{T})"
    r"|da (?P<a4>{T}) a (?P<b4>{T})|van (?P<a5>{T}) naar (?P<b5>{T})|z (?P<a6>{T}) do (?P<b6>{T})"
    r"|från (?P<a7>{T}) till (?P<b7>{T})|fra (?P<a8>{T}) til (?P<b8>{T})"
)
_PLACE_WORDS = rf"(?:(?:{LC_PART}|d'|l')[ ]?)?{TOWN_WORD}(?:[ ](?:(?:{LC_PART}|d'|l')[ ]?)?{TOWN_WORD}){{0,3}}"
_AFTER_RESIDENCE = re.compile(rf"(?<![\w])(?i:{_RESIDENCE})[ ](?P<place>{_PLACE_WORDS})")
_AFTER_MOVE = re.compile(rf"(?<![\w])(?i:{_MOVE})[ ](?P<place>{_PLACE_WORDS})")
_FROM_TO_RE = re.compile(_FROM_TO.replace("{T}", _PLACE_WORDS))
# A town named after a person, as English-speaking countries name them: Jacksonville, Williamsburg, Edwardstown.
_TOPONYM_END = re.compile(
    r"(?:ville|town|ton|view|mouth|haven|fort|borough|burgh|burg|bury|chester|shire|side|land|berg|furt|stad|port"
    r"|field|ford|wood|dale)$"
)


def named_town(gaz, word: str) -> bool:
    """A first name or surname with a toponym's ending (``Robinsonview``, ``Dalymouth``) that is no name itself."""
    m = _TOPONYM_END.search(word)
    if not m or not word[:1].isupper() or gaz.is_first_name(word) or gaz.is_surname(word):
        return False
    stem = word[: m.start()].rstrip("s")
    return len(stem) >= 3 and (gaz.is_first_name(stem) or gaz.is_surname(stem) or gaz.is_first_name(word[: m.start()]))


class PlaceCues:
    """Places after residence and travel words, in "from X to Y", after a person ("Anna Nagy (Győr)"), and towns
    named after people."""

    def __init__(self, gazetteer):
        self.gaz = gazetteer

    def find(self, text: str, ends: dict[str, list[int]] | None = None) -> list[Finding]:
        """Places by their cues; ``ends``: the hits of :data:`CUE_TRIGGERS` (None: the whole text is read). Places
        beside a person: :meth:`beside`."""

        def matches(regex: re.Pattern, trigger: str, before: int, after: int):
            if ends is None:
                return regex.finditer(text)
            return search_windows(regex, text, Triggers.windows(ends.get(trigger, ()), len(text), before, after))

        found = []
        for m in matches(_AFTER_RESIDENCE, "residence", 30, 80):
            if not code_word(m.group("place")):
                found.append(self._place(m.start("place"), m.end("place")))
        for m in matches(_AFTER_MOVE, "move", 30, 80):
            if self._placelike(m.group("place")):
                found.append(self._place(m.start("place"), m.end("place")))
        if ends is None or "from_to" in ends:
            for m in matches(_FROM_TO_RE, "from_to", 100, 80):
                pair = [(m.start(k), m.end(k)) for k, v in m.groupdict().items() if v]
                # One end a place the lists know or that is built like one: the other is a place too, unless it
                # is a product, an acronym or a first name ("from Paris to Kennyland"; not "from Perl to GNOME").
                like = [self._placelike(text[a:b]) for a, b in pair]
                if all(like) or any(like) and all(like[k] or self._free_place(text[a:b]) for k, (a, b) in enumerate(pair)):
                    found += [self._place(a, b) for a, b in pair]
        for m in matches(_DATELINE, "dateline", 60, 40):  # a letter's "Utrecht, 3 maart 2024"
            if self._placelike(m.group("place")):  # listed or built like one: "Released, 3 May 2021" is none
                found.append(self._place(m.start("place"), m.end("place")))
        for m in matches(_SWISS_TOWN, "canton", 40, 4):  # "Rüti ZH", "Buchs SG"
            town = m.group("town")
            words = town.replace("-", " ").split()
            if not (code_word(town) or any(software(w) for w in words) or fold(words[0]) in stop_words() or town.isupper()):
                found.append(self._place(m.start(), m.end()))
        for m in matches(_HYPHENED_PLACE, "hyphened", 40, 40):  # "Boulogne-sur-Mer", "Saint-Germain-en-Laye"
            if not code_word(m.group()):
                found.append(self._place(m.start(), m.end()))
        if self.gaz is not None:
            for m in matches(_TOPONYM_WORD, "toponym", 40, 2):
                if named_town(self.gaz, m.group()):
                    found.append(Finding("LOCATION", m.start(), m.end(), PLACE_CUE_SCORE))
        return found

    def beside(self, text: str, persons: list[Finding]) -> list[Finding]:
        """Places beside the persons found by any rule or NER: ``Natalie Clarke (Whiteton)``, ``Contact: Jan Novák,
        Brno`` at a line's end, a signature's town on the line after the name, a cell in the same table row."""
        if self.gaz is None:
            return []
        found = []
        for p in persons:
            m = _AFTER_PERSON.match(text, p.end)
            group = m and next(g for g in ("place", "place2", "place3") if m.group(g))
            # At a line's end after "Name, " (a byline, a contact line; a year may close it) a place need not be
            # listed: what else ends such a line is a title (upper case), a second name (a first name) or a company,
            # dearer to keep than to leak a town. In parentheses an affiliation is as likely, and on the line after
            # a signature's name a title or a company: listed or place-shaped only.
            value = m and m.group(group)
            if value and not value.isupper() and (self._placelike(value) or group == "place2" and self._free_place(value)):
                found.append(self._place(m.start(group), m.end(group)))
            found += self._row_places(text, p)
        return found

    def _placelike(self, value: str) -> bool:
        if self.gaz is None or code_word(value):
            return False
        words = value.split()
        return (self.gaz.is_place(value) or place_shaped(value) or any(named_town(self.gaz, w) for w in words)
                or (bool(Triggers.whole(value)) and len(words) <= 3))

    def _free_place(self, value: str) -> bool:
        """One to three words (particles between), opening with no stop word or first name, none of them software, a
        month, an acronym or an identifier."""
        words = value.split()
        return (len(words) <= 3 and not self.gaz.is_first_name(words[0]) and fold(words[0]) not in stop_words()
                and not any(w.isupper() or code_word(w) or software(w) for w in words if w[:1].isupper()))

    def _row_places(self, text: str, person: Finding) -> list[Finding]:
        """A listed or place-shaped cell in the same Markdown/pipe table row as a person: ``| Name | Town | phone |``."""
        if self.gaz is None:
            return []
        start = text.rfind("\n", 0, person.start) + 1
        end = text.find("\n", person.end)
        end = len(text) if end < 0 else end
        if not text[start:end].lstrip().startswith("|"):
            return []
        found = []
        for m in _CELL.finditer(text, start, end):
            value = m.group("cell")
            if m.start("cell") != person.start and (self.gaz.is_place(value) or place_shaped(value)) and not code_word(value):
                found.append(self._place(m.start("cell"), m.end("cell")))
        return found

    @staticmethod
    def _place(start: int, end: int) -> Finding:
        return Finding("LOCATION", start, end, PLACE_CUE_SCORE)


# A Swiss town written with its canton's code, as the Swiss tell their many Buchs and Rüti apart ("8630 Rüti ZH",
# "in Buchs SG."): after a postcode, a comma, a line's start or "in", and before the end of a line or clause; not
# AG, which after a name is a company (Aktiengesellschaft).
_CANTONS = ("AI", "AR", "BE", "BL", "BS", "FR", "GE", "GL", "GR", "JU", "LU", "NE", "NW", "OW", "SG", "SH", "SO", "SZ",
            "TG", "TI", "UR", "VD", "VS", "ZG", "ZH")
_SWISS_TOWN = re.compile(
    rf"(?:(?<=^)|(?<=\n)|(?<=, )|(?<=\()|(?<=\bin )|(?<=\bin der )|(?<=\bà )|(?<=\ba )|(?<=\bfrom ))(?:\d{{4}}[ ])?"
    rf"(?P<town>{_UP}[^\W\d_]+(?:['’][^\W\d_]+)?(?:[- ]{_UP}[^\W\d_]+){{0,2}})[ ](?:{'|'.join(_CANTONS)})"
    r"(?=[ \t]*(?:$|[\n,.;:)]))"
)
# Of the particles that join a place's name, those that also join English compounds and names ("Copy-on-Write",
# "Jean-de-Dieu") or German and Dutch words make a place only with a list or a cue behind them.
_STANDALONE_HYPHEN = "|".join(w for w in HYPHEN_PARTICLES.split("|") if w not in ("on", "de", "an", "im", "bei", "ob", "op", "aan"))
PLACE_CUE_SCORE = 0.7
# Where a place cue can be (see filters.pii.triggers).
CUE_TRIGGERS = {
    "residence": (rf"(?:^|[^A-Za-z])(?:{ascii_words(_RESIDENCE)}) ", True),
    "move": (rf"(?:^|[^A-Za-z])(?:{ascii_words(_MOVE)}) ", True),
    "from_to": (r"(?:^|[^A-Za-z])(?:from|von|de|da|van|z|fr\?n|fra) [^ \n]+(?: [^ \n]+){0,3} (?:to|nach|\?|a|para|naar|do|till|til) ", True),
    "dateline": (r", (?:(?:den|le|el|il|am|dne|dnia|d\.|on|the) )?[0-9]{1,4}[ ./-]", True),
    "canton": (rf"[a-z?] (?:{'|'.join(_CANTONS)})(?:[^A-Za-z0-9_-]|$)", False),
    "hyphened": (rf"[A-Za-z?]-(?:{ascii_words(_STANDALONE_HYPHEN)})-(?:[A-Z]|\?)", False),
    "toponym": (r"(?:^|[^A-Za-z0-9_?-])[A-Z][a-z]{2,}(?:ville|town|ton|view|mouth|haven|fort|borough|burgh|burg|bury|chester"
                r"|shire|side|land|berg|furt|stad|port|field|ford|wood|dale)(?:[^A-Za-z0-9_?-]|$)", False),
}
# A letter's place and date on a line of their own ("Utrecht, 3 maart 2024", "Praha, 5. 4. 2024", "Lyon, le 2 mai
# 2024", "Warszawa, dnia 12 marca 2024 r."): a day, a month (a word or a number) and a four-digit year.
_DATELINE = re.compile(
    rf"(?m)^[ \t]*(?P<place>{_PLACE_WORDS}),[ ](?:(?i:den|le|el|il|am|dne|dnia|d\.|on|the)[ ])?"
    r"(?:\d{1,2}(?:\.|º|er|st|nd|rd|th)?[ ]?(?:[^\W\d_]{3,}\.?|\d{1,2}\.)[ ,]{0,2}\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4})"
    r"(?:[ ]?(?:r\.|г\.|god\.))?\.?[ \t]*$"
)
_AFTER_PERSON = re.compile(
    rf"[ \t]*(?:\((?:[^()\n,]{{1,40}},[ ])?(?P<place>{_PLACE_WORDS})\)|,[ \t]*(?P<place2>{_PLACE_WORDS})[ \t]*(?=\n|$|,[ ]\d{{4}}[ \t]*(?:\n|$))"
    rf"|[ \t]*\n[ \t]*(?P<place3>{_PLACE_WORDS})[ \t]*(?=\n|$))"
)
# A town named as French, German and English towns are, with a particle between hyphens: "Boulogne-sur-Mer",
# "Aix-les-Bains", "Frankfurt-am-Main", "Stratford-upon-Avon", "Bourg-la-Reine" (not "Copy-on-Write").
_HYPHENED_PLACE = re.compile(
    rf"(?<![\w-]){_UP}[^\W\d_]+(?:['’][^\W\d_]+)?(?:-[^\W\d_]+)*-(?:{_STANDALONE_HYPHEN})-"
    rf"{_UP}[^\W\d_]+(?:-[^\W\d_]+)*"
)
# A table cell's text, without the spaces around it.
_CELL = re.compile(r"(?<=\|)[ \t]*(?P<cell>[^|\n]*?[^|\s])[ \t]*(?=\|)")
_TOPONYM_WORD = re.compile(rf"(?<![\w-]){_UP}[a-z]{{2,}}(?:ville|town|ton|view|mouth|haven|fort|borough|burgh|burg|bury|chester|shire|side|land|berg|furt|stad|port|field|ford|wood|dale)(?![\w-])")


__all__ = ["PlaceCues", "named_town"]
