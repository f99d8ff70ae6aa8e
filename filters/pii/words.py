"""Words that are no names: stop words, software, month and day names; the name cues of ``cues.txt``."""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

from filters.gazetteer import fold

STOP_LANGUAGES = ("en", "de", "fr", "nl", "pl", "sv", "da", "fi", "cs", "sk", "hu", "ro", "sl", "hr", "pt", "it", "es",
                  "tr", "lt", "lv", "et", "nb", "is", "ga", "sq")


@functools.lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Folded stop words of the European languages spaCy knows: capitalised, they open sentences, not names."""
    words: set[str] = set()
    for lang in STOP_LANGUAGES:
        try:
            words |= {fold(w) for w in importlib.import_module(f"spacy.lang.{lang}.stop_words").STOP_WORDS}
        except ImportError:
            continue
    return frozenset(words)


@functools.lru_cache(maxsize=1)
def software_names() -> frozenset[str]:
    """Names of software (``software.txt``): a lone one is no person or place on NER's or the lists' word alone."""
    lines = Path(__file__).with_name("software.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=1)
def calendar_words() -> frozenset[str]:
    """Month and day names of every locale ``mimesis`` ships (``datasets/<locale>/datetime.json``): "in March"."""
    import glob
    import json
    import os

    import mimesis

    words: set[str] = set()
    for path in glob.glob(os.path.join(os.path.dirname(mimesis.__file__), "datasets", "*", "datetime.json")):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for key in ("month", "day"):
            names = (data.get(key) or {}).get("name") or []
            words.update(fold(n) for n in names if isinstance(n, str) and " " not in n)
    return frozenset(words)


def software(value: str) -> bool:
    """A lone word that is a piece of software, a month or a day: no person or place on NER's or a list's word."""
    value = value.strip(".,;:")
    return " " not in value and (fold(value) in software_names() or fold(value) in calendar_words())


@functools.lru_cache(maxsize=1)
def english_stop() -> frozenset[str]:
    """spaCy's English stop words, as written."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def cue_regex() -> re.Pattern:
    """Cues from ``cues.txt``, matched at the end of the text before a capitalised run: ``before`` lines (the name
    follows), ``signoff`` lines (the name is on the next line), and a change log's ``[ Name ]``."""
    before, signoff = [], []
    for line in (Path(__file__).with_name("cues.txt")).read_text(encoding="utf-8").splitlines():
        kind, _, cue = line.partition(" ")
        if kind == "before":
            before.append(cue.strip())
        elif kind == "signoff":
            signoff.append(cue.strip())
    return re.compile(
        rf"(?:(?:^|[^\w-])(?i:{'|'.join(before)})[ \t]*[:,]?[ \t]+|(?:^|[^\w])(?i:{'|'.join(signoff)})[ \t]*[,!.]?[ \t]*\n[ \t]*"
        r"|(?:^|\n)[ \t]*\[[ \t]*)$"
    )
