"""Names and places: context cues, name shapes and name lists first; spaCy NER only on the windows that need it.

Why NER no longer reads whole sentences: measured on real Debian change logs
(names labelled by the logs' own ``-- Name <mail>`` trailers), v2 leaked 18.7% of
the names and Presidio's plain pass 31.9%, but 65 names only v2 leaked; 38 of
them because v2 cut the text at every line end and en_core_web_sm, given the line
``[ Aurelien Jarno ]`` or ``Hi Anna Kowalska,`` alone, tags nothing; 23 because
v2's identifier rule dropped ``YunQiang Su``. So:

* **cues** (collected from real text: change-log trailers and credits, commit
  trailers, mail greetings and sign-offs in 16 languages, bylines; see
  ``cues.txt``) mark the capitalised run after them as a name, whatever the
  language and whether any list knows it: ``Signed-off-by: X <``, ``Thanks to X``,
  ``Dear X``, ``Z poważaniem,\\nX``, ``X <mail>``, ``[ X ]``;
* **name lists** (US Census 1990 via ``names``; first names and surnames of 35
  locales from ``mimesis``, MIT) mark runs of two to four capitalised words whose
  words the lists hold as first names and surnames (either order: ``Nagy Anna``);
* **shapes**: particles (``van den``, ``de la``, ``di``, ``von``), hyphens,
  accents and titles are part of a run; a run of Cyrillic or Greek capitalised
  words in other text is a name or place;
* **NER** (spaCy, the configured languages) reads a window of about 48 characters
  either side of each remaining capitalised run that could be a name, across line
  ends, never the whole document; its types are corrected by
  :mod:`filters.gazetteer` as in v2.
"""

from __future__ import annotations

import re

from filters.gazetteer import (
    HONORIFICS,
    PARTICLES,
    UPPER,
    after_locative,
    code_word,
    fold,
    name_runs,
    place_runs,
    place_shaped,
    widen_over_particles,
    widen_place,
)
from filters.pii.fields import TRIGGERS as FIELD_TRIGGERS
from filters.pii.fields import FieldFinder
from filters.pii.patterns import Finding
from filters.pii.place_cues import CUE_TRIGGERS, PlaceCues
from filters.pii.places import TRIGGERS as ADDRESS_TRIGGERS
from filters.pii.places import AddressFinder
from filters.pii.triggers import Triggers
from filters.pii.words import cue_regex, english_stop, software, stop_words

NER_SCORE = 0.85
#: Languages that capitalise every noun (German, Luxembourgish).
NOUNS_CAPITALISED = frozenset({"de", "lb"})
RULE_SCORE = 0.8
PLACE_SCORE = 0.6
WINDOW = 24
_NER_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION",
               "DATE": "DATE_TIME", "TIME": "DATE_TIME"}
_RETYPED_LABELS = frozenset({"PERSON", "PER", "ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "WORK_OF_ART", "EVENT", "MISC"})
_UPPER = UPPER
# A full stop belongs to an initial or a title ("J.", "Dr."), not to a longer word: "Atanasov. Built" is two sentences.
_WORD = rf"(?:{_UPPER}[^\W\d_]{{0,2}}\.|{_UPPER}[^\W\d_]*(?:['’][^\W\d_]+)?(?:-{_UPPER}?[^\W\d_]+)*)"
_PARTICLE = r"(?:van der|van den|van de|de la|de las|de los|von der|von|van|de|del|della|di|da|do|dos|das|du|des|der|den|ter|ten|zu|y|e|i|la|le|af|av|mac|mc|o')"
# A capitalised run: words with particles between them (``Maria van den Broek-de Wit``).
RUN = re.compile(rf"{_WORD}(?:(?: {_PARTICLE})* {_WORD}){{0,4}}")
_NON_LATIN = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]")


_CUE = None
_CUE_WORDS: frozenset[str] = frozenset()
# After a name: more of it (``Paredes Elorza``, ``de la Blondel``), or another name in the same list (``and Y``).
_TAIL = re.compile(rf"(?: {_PARTICLE})* {_WORD}")
_ALSO = re.compile(rf"(?:,| and| und| et| en| y| e| i| og| och| a| és| ve| &) (?P<name>{_WORD}(?:(?: {_PARTICLE})* {_WORD}){{1,3}})")
# "Name <mail", "Name wrote:", "Name (Company) wrote:"
_BEFORE_MAIL = re.compile(rf"(?P<name>{_WORD}(?:(?: {_PARTICLE})* {_WORD}){{1,3}})[ \t]+(?:<[^>\s]+@|wrote:|schrieb:|a écrit)")


class NameFinder:
    """Finds PERSON and LOCATION spans (see the module docstring)."""

    def __init__(self, types, nlp=None, ner_languages=("en",), gazetteer=None, batch_size=256):
        global _CUE, _CUE_WORDS
        self._runs: list[re.Match] = []
        if _CUE is None:
            _CUE = cue_regex()
            _CUE_WORDS = frozenset(w.lower() for w in re.findall(r"[^\W\d_]+", _CUE.pattern))
        self.types = set(types)
        self.nlp = nlp
        self.ner_languages = set(ner_languages)
        self.gaz = gazetteer
        self.batch_size = batch_size
        self.stop = stop_words()
        self.addresses = AddressFinder(gazetteer)
        self.fields = FieldFinder(self.types, self._field_name)
        self.place_cues = PlaceCues(gazetteer)
        self._triggers = None

    # ------------------------------------------------------------ rules

    def _is_name_word(self, word: str) -> bool:
        """A word the name lists hold, and no English function word ("The" is a surname somewhere too)."""
        w = word.rstrip(".")
        if fold(w) in english_stop():
            return False
        return self.gaz is not None and (self.gaz.is_first_name(w) or self.gaz.is_surname(w))

    def _trim(self, text: str, start: int, end: int) -> tuple[int, int] | None:
        """A run without stop words or places at its ends; None if fewer than one name-like word is left."""
        value = text[start:end]
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", value)]
        while words and fold(value[words[-1][0] : words[-1][1]].rstrip(".,")) in self.stop:
            words.pop()
        if not words:
            return None
        return start + words[0][0], start + words[-1][1] - (1 if value[words[-1][1] - 1] in ".," else 0)

    def _cued(self, text: str, run: re.Match) -> int | None:
        """Where the name starts in a capitalised run that a cue precedes (``Dear Anna Kowalska``: at ``Anna``)."""
        starts = [run.start()] + [run.start() + k.start() + 1 for k in re.finditer(r" (?=\S)", run.group())][:2]
        for start in starts:
            before = text[max(0, start - 48) : start].rstrip(" \t:,\n!.")
            last = before.rsplit(None, 1)[-1].lower() if before.strip() else ""
            # A cheap test first: the word before the run must be a word of some cue (or a change log's "[").
            if (last in _CUE_WORDS or last.endswith("[") or last.split("-")[-1] in _CUE_WORDS) and _CUE.search(
                text, max(0, start - 48), start
            ):
                return start
        return None

    def rule_findings(self, text: str, lang: str | None = None) -> list[Finding]:
        found: list[Finding] = []
        runs = list(RUN.finditer(text))
        self._runs = runs
        if "PERSON" in self.types:
            for m in runs:
                start = self._cued(text, m)
                if start is None:
                    continue
                span = self._trim(text, start, m.end())
                while span and self._person_like(text[span[0] : span[1]], cue=True):
                    found.append(Finding("PERSON", *span, RULE_SCORE))
                    also = _ALSO.match(text, span[1])  # "Thanks to X and Y", "cc: X, Y"
                    span = self._trim(text, also.start("name"), also.end("name")) if also else None
            if "@" in text or "wrote" in text or "schrieb" in text or "écrit" in text:
                for m in _BEFORE_MAIL.finditer(text):
                    span = self._trim(text, m.start("name"), m.end("name"))
                    if span and self._person_like(text[span[0] : span[1]], cue=True):
                        found.append(Finding("PERSON", *span, RULE_SCORE))
            if self.gaz is not None:
                found += [Finding("PERSON", *self.gaz.widen_person(text, s, e), RULE_SCORE) for s, e in self._list_runs(text, lang)]
        ends = self._trigger_ends(text)
        found += self.fields.find(text, ends)
        if "LOCATION" in self.types:
            found += self.addresses.addresses(text, ends)
            found += self.place_cues.find(text, ends)
        if self.gaz is not None and "LOCATION" in self.types:
            for s, e in place_runs(self.gaz, text, lang):
                value = text[s:e]
                if software(value) or value.isupper() or fold(value) in self.stop or (
                        " " not in value and re.match(r" #?\d", text[e : e + 3])):
                    continue  # "written in Perl", "in THE", "to No", "in Bug #4111", "in Python 3"
                found.append(Finding("LOCATION", s, widen_place(self.gaz, text, s, e), PLACE_SCORE))
        if "PERSON" in self.types and _NON_LATIN.search(text):
            for m in runs:
                if len(m.group().split()) >= 2 and _NON_LATIN.search(m.group()):
                    found.append(Finding("PERSON", m.start(), m.end(), RULE_SCORE))
        return found

    def _trigger_ends(self, text: str) -> dict[str, list[int]] | None:
        """Where the address, field and place-cue rules can match (one Hyperscan pass); None: read the whole text."""
        if Triggers.whole(text):
            return None
        if self._triggers is None:
            self._triggers = Triggers({**ADDRESS_TRIGGERS, **FIELD_TRIGGERS, **CUE_TRIGGERS})
        return self._triggers.ends(text)

    def _field_name(self, value: str) -> bool:
        """Whether the value of a name field is a name: one word the lists know, or a name-like run with one."""
        words = value.split()
        if len(words) == 1:
            return self._is_name_word(words[0]) and fold(words[0]) not in self.stop
        return self._person_like(value, cue=True) and any(self._is_name_word(w.rstrip(".,")) for w in words)

    def _person_like(self, value: str, cue: bool) -> bool:
        words = [w for w in value.split() if fold(w.rstrip(".")) not in HONORIFICS]
        if not words or (self.gaz is not None and not _names_not_code(self.gaz, " ".join(words))):
            return False
        if any(fold(w.strip(".,")) in self.stop and not self._is_name_word(w.strip(",")) for w in words if w[0].isupper()):
            return False  # "The Debian Team"; but "Nagy" (Hungarian for "big") is a surname too
        if len(words) > 1 and all(w.isupper() for w in words):
            return False  # ROOT USER
        if self.gaz is not None and self.gaz.is_place(value):
            return False
        titled = len(words) < len(value.split())
        return len(words) >= 2 or titled

    def _list_runs(self, text: str, lang: str | None = None) -> list[tuple[int, int]]:
        """Runs of two to four capitalised words that the name lists hold (first + surname, surname + first)."""
        gaz = self.gaz
        spans = list(name_runs(gaz, text))
        for m in self._runs:
            words = [w for w in m.group().split() if w[0].isupper()]
            if not 2 <= len(words) <= 4:
                continue
            clean = [w.rstrip(".") for w in words]
            if any((fold(w) in self.stop and not self._is_name_word(w)) or code_word(w) or w.isupper() for w in clean[1:]):
                continue
            start = m.start()
            if not gaz.is_first_name(clean[0]) and len(clean) >= 3 and gaz.is_first_name(clean[1]):
                # "Call Ernesto Spallanzani": a sentence's first word before a first name is no part of the name
                start += m.group().index(words[1])
                clean = clean[1:]
            if (fold(clean[0]) in self.stop and not self._is_name_word(clean[0])) or code_word(clean[0]) or clean[0].isupper():
                continue
            # An unlisted word after a first name is a surname, except where every noun is capitalised.
            first_then_last = gaz.is_first_name(clean[0]) and (gaz.is_surname(clean[-1]) or (
                lang not in NOUNS_CAPITALISED and fold(clean[0]) not in self.stop and self._unknown_surname(clean[-1])))
            last_then_first = gaz.is_surname(clean[0]) and gaz.is_first_name(clean[-1]) and len(clean) == 2
            if (first_then_last or last_then_first) and not gaz.is_place(m.group()) and not place_shaped(m.group()):
                spans.append((start, m.end()))
        return spans

    def _unknown_surname(self, word: str) -> bool:
        """A word no list knows after a first name (``Ernesto Spallanzani``): a surname the lists lack, unless it is
        a place, a piece of software or too short."""
        gaz = self.gaz
        return (len(word) >= 4 and word[1:].islower() and not gaz.is_place(word) and not gaz.is_first_name(word)
                and not software(word) and fold(word) not in self.stop)

    def widen(self, text: str, f: Finding) -> Finding:
        """A name grown over the capitalised words right after it that are no stop word, place or identifier."""
        end = f.end
        for _ in range(2):
            m = _TAIL.match(text, end)
            if not m:
                break
            word = m.group().split()[-1].rstrip(".")
            if fold(word) in self.stop or code_word(word) or word.isupper() or (self.gaz and self.gaz.is_place(word)):
                break
            end = m.end() - (1 if m.group().endswith(".") else 0)
        return f if end == f.end else Finding(f.type, f.start, end, f.score)

    def _proper(self, text: str, start: int, end: int, foreign: bool) -> tuple[int, int] | None:
        """An NER name or place cut to its proper-noun words, or None when it is no proper noun.

        Every language this stage reads capitalises names and places, so an entity keeps only its capitalised
        words and the particles between them: stop words and lower-case words at its ends go (``Die Tagung`` ->
        ``Tagung``), and one inside it rejects it (the English model reading Czech tags lower-case phrases).
        When the model reads another language than its own, a single word must be one the lists know.
        """
        words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]

        def drop(word: str) -> bool:
            w = word.strip(".,;:()\"'«»„“”")
            return not w or not w[0].isupper() or (fold(w) in self.stop and not self._is_name_word(w))

        while words and drop(text[words[0][0] : words[0][1]]):
            words.pop(0)
        while words and drop(text[words[-1][0] : words[-1][1]]):
            words.pop()
        if not words:
            return None
        inner = [text[a:b] for a, b in words]
        if any(not w[0].isupper() and w not in PARTICLES for w in inner):
            return None
        if len(inner) == 1 and (software(inner[0]) or inner[0].isupper()):
            return None  # "the Perl interface", "in Java", "APT"
        if foreign and len(inner) == 1 and self.gaz is not None:
            w = inner[0].strip(".,;:")
            if not (self._is_name_word(w) or self.gaz.is_place(w) or place_shaped(w)):
                return None
        return words[0][0], words[-1][1]

    # ------------------------------------------------------------ NER on windows

    def _worth_reading(self, text: str, s: int, words: list[str], foreign: bool) -> bool:
        """Whether NER should read the capitalised run ``words`` at ``s`` (see :meth:`windows`)."""
        gaz = self.gaz
        if len(words) == 1:
            w = words[0].rstrip(".")
            line_start = not text[max(0, s - 3) : s].strip() or text[max(0, s - 3) : s].rstrip()[-1:] in ".!?:;\"'(*-#>"
            if line_start or fold(w) in self.stop or w.isupper() or code_word(w) or len(w) < 3 or software(w):
                return False
            if gaz is None or after_locative(text, s):  # "moved to Griffithston": NER reads it
                return True
            # A lone capitalised word NER should read is one the lists know as a town or a first name; the others in
            # documentation are products and commands ("Linux", "Python"), and in German every noun is capitalised
            # (the surname lists hold "Jahr" and "Graden": a surname alone is not enough).
            return gaz.is_place(w) or gaz.is_first_name(w)
        content = [w for w in words if fold(w.rstrip(".")) not in self.stop]
        if not content:
            return False
        if foreign and gaz is not None and not after_locative(text, s):
            return any(gaz.is_place(w) or self._is_name_word(w) for w in content)
        return True

    def windows(self, text: str, decided: list[Finding], foreign: bool = False) -> list[tuple[int, int]]:
        """Windows around the capitalised runs that could be names and no rule decided. ``foreign``: the model
        reads another language than its own (English NER on German, where every noun is capitalised): then only
        runs with a word the lists know, or after a locative."""
        spans: list[tuple[int, int]] = []
        covered = [(f.start, f.end) for f in decided]
        for m in RUN.finditer(text):  # (rule_findings' runs belong to the last text it read)
            s, e = m.start(), m.end()
            words = m.group().split()
            if not self._worth_reading(text, s, words, foreign):
                continue
            if any(a <= s and e <= b for a, b in covered):
                continue
            lo, hi = max(0, s - WINDOW), min(len(text), e + WINDOW)
            para = text.rfind("\n\n", 0, s)
            lo = max(lo, para + 2 if para >= 0 else 0)
            end_para = text.find("\n\n", e)
            hi = min(hi, end_para if end_para >= 0 else len(text))
            while lo > 0 and not text[lo - 1].isspace() and lo > s - WINDOW - 20:
                lo -= 1
            while hi < len(text) and not text[hi].isspace() and hi < e + WINDOW + 20:
                hi += 1
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(hi, spans[-1][1]))
            else:
                spans.append((lo, hi))
        return spans

    def ner_findings(self, texts: list[str], rows: list[int], decided: dict[int, list[Finding]],
                     foreign: frozenset[int] = frozenset()) -> dict[int, list[Finding]]:
        """NER findings of ``rows`` (those in ``foreign`` are in another language than the model's)."""
        jobs = [(row, s, e) for row in rows for s, e in self.windows(texts[row], decided.get(row, []), row in foreign)]
        out: dict[int, list[Finding]] = {}
        if not jobs:
            return out
        docs = self.nlp.pipe((texts[row][s:e] for row, s, e in jobs), batch_size=self.batch_size)
        gaz = self.gaz
        for (row, offset, _), doc in zip(jobs, docs, strict=True):
            text = texts[row]
            for ent in doc.ents:
                value = ent.text
                entity = _NER_LABELS.get(ent.label_)
                cut = 0
                if gaz is not None and ent.label_ in _RETYPED_LABELS:
                    entity = retype(gaz, entity, value, after_locative(doc.text, ent.start_char))
                    head, _, rest = value.partition(" ")
                    if entity != "PERSON" and len(rest.split()) >= 2 and not gaz.is_first_name(head) and gaz.looks_like_person(rest):
                        entity, cut = "PERSON", len(head) + 1  # "Call Günter Losekann" (ORG): the verb is no name
                if entity not in self.types:
                    continue
                if entity == "DATE_TIME" and not any(c in "/-:." for c in value.strip(".-")) and not any(c.isalpha() for c in value):
                    continue
                if entity != "DATE_TIME" and (any(c.isdigit() or c in "@_/=+<>{}" for c in value) or value.isupper()):
                    continue
                start, end = offset + ent.start_char + cut, offset + ent.end_char
                first, _, rest = value.partition(" ")
                if entity == "PERSON" and rest and first.lower() in _CUE_WORDS:
                    start += len(first) + 1  # fr_core_news_sm's "Bonjour Anaïs Lefèvre": the greeting is no name
                if entity in ("PERSON", "LOCATION"):
                    span = self._proper(text, start, end, row in foreign)
                    if span is None:
                        continue
                    start, end = span
                if gaz is not None and entity in ("PERSON", "LOCATION"):
                    if not _names_not_code(gaz, value):
                        continue
                    end = widen_over_particles(text, start, end)
                    if entity == "PERSON":
                        start, end = gaz.widen_person(text, start, end)
                    else:
                        end = widen_place(gaz, text, start, end)
                out.setdefault(row, []).append(Finding(entity, start, end, NER_SCORE))
        return out


def _names_not_code(gaz, value: str) -> bool:
    """No word of ``value`` is an identifier, except a two-part name (``YunQiang``) next to a word the lists know."""
    words = value.split()
    odd = [w for w in words if code_word(w)]
    if not odd:
        return True
    known = any(gaz.is_first_name(w.rstrip(".")) or gaz.is_surname(w.rstrip(".")) for w in words if w not in odd)
    return known and all(_mixed_name(w) for w in odd)


def _mixed_name(word: str) -> bool:
    """``YunQiang``, ``McDonald``, ``DiCaprio``: a name written in two capitalised parts, not an identifier
    (``PyMalloc`` also is, but ``code_word`` catches it only when the lists do not know its parts)."""
    return bool(re.fullmatch(r"(?:Mc|Mac|Di|De|Da|La|Le|O')?[A-Z][a-z]{1,6}[A-Z][a-z]{1,8}", word)) and len(word) <= 12


def retype(gaz, entity: str | None, value: str, locative: bool = False) -> str | None:
    """The type the name lists give an entity whose spaCy label is often wrong (``Marcel Peron`` as ORG)."""
    words = value.split()
    if entity != "LOCATION" and place_shaped(value):
        return "LOCATION"
    if entity != "LOCATION" and gaz.is_place(value):
        person_like = gaz.is_first_name(words[0]) or (len(words) == 1 and gaz.is_surname(value))
        if entity != "PERSON" or not person_like or locative:
            return "LOCATION"
    if entity != "PERSON" and gaz.looks_like_person(value) and not gaz.is_place(value):
        return "PERSON"
    return entity


__all__ = ["NameFinder", "PARTICLES", "retype"]
