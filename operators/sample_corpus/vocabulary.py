"""The sample corpus's vocabulary, read from the data files beside this module, and the table parsers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

LANGUAGES = ("en", "fr", "de", "es", "it", "pt")
TOPICS = ("cooking", "travel", "software", "gardening", "history", "sport", "science", "music")

# Language label of junk that has no natural language in it (ISO 639-2 "no linguistic content").
NO_LANGUAGE = "zxx"

# --------------------------------------------------------------------------------------
# Vocabulary: data files in data/. The .txt tables have one row per concept and one
# column per language, in LANGUAGES order (en | fr | de | es | it | pt); lines starting
# with "#" say what the table holds. Nouns end in their gender (m, f, n); adjectives give
# the masculine/feminine forms (one form when invariable) and, in French, "^" marks the
# few that go before the noun; German adjectives are stems that take case endings.
# lexicon.json holds names, cities, sentence templates, boilerplate, insults,
# personal-data templates and site-name parts.
# --------------------------------------------------------------------------------------

_DATA = resources.files("operators.sample_corpus") / "data"


def _table(name: str) -> str:
    """The rows of the table ``data/<name>.txt``, without its comment lines."""
    text = (_DATA / f"{name}.txt").read_text(encoding="utf-8")
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


def _frozen(value):
    """JSON arrays as tuples, all the way down (the tables are read-only)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


_GENERAL_NOUNS = _table("nouns")
_TOPIC_NOUNS = {topic: _table(f"nouns_{topic}") for topic in TOPICS}
_ADJECTIVES = _table("adjectives")
_VERBS = _table("verbs")
_ADVERBS = _table("adverbs")
_TIME_PHRASES = _table("time_phrases")
_CONNECTORS = _table("connectors")
_OPINIONS = _table("opinions")
_NAV_ITEMS = _table("nav_items")
_CLICK_PHRASES = _table("click_phrases")
_FOOTER_LINES = _table("footer_lines")
_SPAM_WORDS = _table("spam_words")

_LEXICON = _frozen(json.loads((_DATA / "lexicon.json").read_text(encoding="utf-8")))
_NAMES = _LEXICON["names"]  # given names, gender after the name, per language
_CITIES = _LEXICON["cities"]
# Sentence templates. Slots: S subject, O object (Sd/Od: with the definite article),
# of/with/in/for prepositional phrases, V verb, Vi infinitive, A predicate adjective
# agreeing with the last subject, Am its masculine form (impersonal uses), ADV adverb,
# T time phrase, C connector, SAY an opener of reported speech, N a person's name (a
# subject), CITY "in <city>", YEAR a year, REL a relative pronoun agreeing with the last
# subject. No template has four fixed words in a row: documents must not share word
# 5-grams by construction, nor repeat long n-grams (Gopher's repetition rules).
_TEMPLATES = _LEXICON["templates"]
# A cookie banner per language; its last line is the one C4's "javascript" rule catches.
_COOKIE_BANNERS = _LEXICON["cookie_banners"]
_PSEUDO_LATIN = _LEXICON["pseudo_latin"]  # syllables of the lorem-ipsum-like filler of link farms
# Insults at the level of mild profanity: (openers, adjectives, nouns, whole lines) per
# language; the Romance noun columns read "noun adjective" (adjectives follow the noun).
_TOXIC = _LEXICON["toxic"]
_PII_TEMPLATES = _LEXICON["pii_templates"]  # sentences carrying personal data; {name}, {email}... from faker
_FAKER_LOCALES = _LEXICON["faker_locales"]
_PHONE_FORMATS = _LEXICON["phone_formats"]  # "#" is a random digit
_CARD_TYPES = _LEXICON["card_types"]
_DOMAIN_SYLLABLES = _LEXICON["domain_syllables"]
_DOMAIN_SUFFIXES = _LEXICON["domain_suffixes"]
_TLDS = _LEXICON["tlds"]
_SECTIONS = ("blog", "news", "article", "post", "stories", "page", "read", *TOPICS)


# --------------------------------------------------------------------------------------
# Table parsing
# --------------------------------------------------------------------------------------


def _rows(table: str) -> list[list[str]]:
    """The rows of a ``|``-separated table, one list of cells per line."""
    return [[cell.strip() for cell in line.split("|")] for line in table.strip().splitlines()]


def _columns(table: str) -> dict[str, list[str]]:
    """A six-language table, as a list of cells per language."""
    rows = _rows(table)
    return {lang: [row[i] for row in rows] for i, lang in enumerate(LANGUAGES)}


_GENDERS = {"m": 0, "f": 1, "n": 2}


def _noun(cell: str, lang: str) -> tuple[str, int]:
    """``"jardin m"`` -> ``("jardin", 0)``; English nouns have no gender column."""
    if lang == "en":
        return cell, 0
    word, gender = cell.rsplit(" ", 1)
    return word, _GENDERS[gender]


@dataclass(frozen=True)
class _Adjective:
    forms: tuple[str, str]  # masculine, feminine (German: the stem twice)
    before: bool  # goes before the noun


def _adjective(cell: str, lang: str) -> _Adjective:
    before = lang in ("en", "de") or cell.startswith("^")
    cell = cell.lstrip("^*")
    masc, _, fem = cell.partition("/")
    return _Adjective((masc, fem or masc), before)


