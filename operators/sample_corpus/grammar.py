"""The sample corpus's grammar: noun phrases, articles and contractions, and template sentences per language.

Everything a sentence needs is compiled once at import (:data:`_LANG`,
:data:`_TOPIC`); :func:`_sentence` is the hot loop of the generator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from operators.sample_corpus.vocabulary import (
    _ADJECTIVES,
    _ADVERBS,
    _CITIES,
    _CLICK_PHRASES,
    _CONNECTORS,
    _FOOTER_LINES,
    _GENDERS,
    _GENERAL_NOUNS,
    _NAMES,
    _NAV_ITEMS,
    _OPINIONS,
    _SPAM_WORDS,
    _TEMPLATES,
    _TIME_PHRASES,
    _TOPIC_NOUNS,
    _VERBS,
    LANGUAGES,
    TOPICS,
    _Adjective,
    _adjective,
    _columns,
    _noun,
    _rows,
)

# --------------------------------------------------------------------------------------
# Grammar: noun phrases, articles and contractions per language
# --------------------------------------------------------------------------------------

# Determiner kinds: definite, indefinite, demonstrative, possessive ("our"), distributive
# ("every"); _DET_DRAW below says how often each is drawn.
_DET_KINDS = ("def", "indef", "dem", "poss", "each")

# Romance and English determiners: (masculine, feminine). Elisions and contractions
# ("le arbre" -> "l'arbre", "de el" -> "del") are repaired afterwards (see _FIXES).
_DETERMINERS = {
    "en": {"def": ("the", "the"), "indef": ("a", "a"), "dem": ("this", "this"),
           "poss": ("our", "our"), "each": ("every", "every")},
    "fr": {"def": ("le", "la"), "indef": ("un", "une"), "dem": ("ce", "cette"),
           "poss": ("notre", "notre"), "each": ("chaque", "chaque")},
    "es": {"def": ("el", "la"), "indef": ("un", "una"), "dem": ("este", "esta"),
           "poss": ("nuestro", "nuestra"), "each": ("cada", "cada")},
    "it": {"def": ("il", "la"), "indef": ("un", "una"), "dem": ("questo", "questa"),
           "poss": ("il nostro", "la nostra"), "each": ("ogni", "ogni")},
    "pt": {"def": ("o", "a"), "indef": ("um", "uma"), "dem": ("este", "esta"),
           "poss": ("o nosso", "a nossa"), "each": ("cada", "cada")},
}

# German: determiner forms per case for (masculine, feminine, neuter), and whether an
# adjective after it takes weak ("der kleine") or mixed ("ein kleiner") endings.
_DE_DETERMINERS = {
    "def": {"nom": ("der", "die", "das"), "acc": ("den", "die", "das"), "dat": ("dem", "der", "dem")},
    "indef": {"nom": ("ein", "eine", "ein"), "acc": ("einen", "eine", "ein"),
              "dat": ("einem", "einer", "einem")},
    "dem": {"nom": ("dieser", "diese", "dieses"), "acc": ("diesen", "diese", "dieses"),
            "dat": ("diesem", "dieser", "diesem")},
    "poss": {"nom": ("unser", "unsere", "unser"), "acc": ("unseren", "unsere", "unser"),
             "dat": ("unserem", "unserer", "unserem")},
    "each": {"nom": ("jeder", "jede", "jedes"), "acc": ("jeden", "jede", "jedes"),
             "dat": ("jedem", "jeder", "jedem")},
}
_DE_WEAK = {"nom": ("e", "e", "e"), "acc": ("en", "e", "e"), "dat": ("en", "en", "en")}
_DE_MIXED = {"nom": ("er", "e", "es"), "acc": ("en", "e", "es"), "dat": ("en", "en", "en")}
_DE_MIXED_KINDS = frozenset({"indef", "poss"})

# Prepositional slots: (preposition, German case).
_PREPOSITIONS = {
    "en": {"of": ("of", ""), "with": ("with", ""), "in": ("in", ""), "for": ("for", "")},
    "fr": {"of": ("de", ""), "with": ("avec", ""), "in": ("dans", ""), "for": ("pour", "")},
    "de": {"of": ("von", "dat"), "with": ("mit", "dat"), "in": ("in", "dat"), "for": ("für", "acc")},
    "es": {"of": ("de", ""), "with": ("con", ""), "in": ("en", ""), "for": ("para", "")},
    "it": {"of": ("di", ""), "with": ("con", ""), "in": ("in", ""), "for": ("per", "")},
    "pt": {"of": ("de", ""), "with": ("com", ""), "in": ("em", ""), "for": ("para", "")},
}
_CITY_PREPOSITION = {"en": "in", "fr": "à", "de": "in", "es": "en", "it": "a", "pt": "em"}
_RELATIVE = {"en": "that", "fr": "qui", "es": "que", "it": "che", "pt": "que"}
_DE_RELATIVE = ("der", "die", "das")

_FR_VOWEL = "aeiouyhàâäéèêëîïôöûüœ"
_IT_VOWEL = "aeiouàèéìòù"


def _substitutions(*rules: tuple[str, str] | tuple[dict[str, str], str]) -> Callable[[str], str]:
    """One function applying rewrites in order.

    A rule is ``(pattern, replacement)``, or ``(table, lookahead)`` where ``table`` maps
    words to their replacement; tables also match the capitalised words (sentence starts).
    """
    compiled = []
    for what, how in rules:
        if isinstance(what, dict):
            table = dict(what)
            table.update({k[0].upper() + k[1:]: v[0].upper() + v[1:] for k, v in what.items()})
            alternatives = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
            compiled.append((re.compile(rf"\b(?:{alternatives}){how}"), lambda m, t=table: t[m.group(0)]))
        else:
            compiled.append((re.compile(what), how))

    def fix(text: str) -> str:
        for regex, repl in compiled:
            text = regex.sub(repl, text)
        return text

    return fix


# Articles and prepositions that merge or elide: "a apple" -> "an apple", "le arbre" ->
# "l'arbre", "de le" -> "du", "in dem" -> "im", "di il" -> "del". Noun phrases are built
# naively and repaired with these. Regexes are slow, so they never run on whole sentences:
# only on the noun phrases pre-built at import and (once each) on the heads of those with
# an adjective. French template words before a slot elide in _slot_elided.
_FIXES: dict[str, Callable[[str], str]] = {
    "en": _substitutions((r"\b([aA]) (?=[aeiou])(?!us|uni|eu)", r"\1n ")),
    "fr": _substitutions(
        (rf"\b(qu|Qu|[dlnjsDLNJS])e (?=[{_FR_VOWEL}])", r"\1'"),
        (rf"\b([lL])a (?=[{_FR_VOWEL}])", r"\1'"),
        (rf"\b([cC])e (?=[{_FR_VOWEL}])", r"\1et "),
        ({"de le ": "du ", "de les ": "des ", "à le ": "au ", "à les ": "aux "}, ""),
    ),
    "de": _substitutions(({"von dem": "vom", "in dem": "im"}, r"\b")),
    "es": _substitutions(({"de el": "del", "a el": "al"}, r"\b")),
    "it": _substitutions(
        ({"il ": "lo ", "un ": "uno "}, r"(?=s[^aeiou]|z|gn|ps|x)"),
        (
            {"il ": "l'", "la ": "l'", "una ": "un'", "questo ": "quest'", "questa ": "quest'"},
            rf"(?=[{_IT_VOWEL}])",
        ),
        (
            {"di il ": "del ", "di lo ": "dello ", "di la ": "della ", "di l'": "dell'",
             "in il ": "nel ", "in lo ": "nello ", "in la ": "nella ", "in l'": "nell'"},
            "",
        ),
    ),
    "pt": _substitutions(
        (
            {"de o": "do", "de a": "da", "de este": "deste", "de esta": "desta", "em o": "no", "em a": "na",
             "em um": "num", "em uma": "numa", "em este": "neste", "em esta": "nesta"},
            r"\b",
        ),
    ),
}

_CASES = ("nom", "acc", "dat")
# Determiner indices (into _DET_KINDS) in proportion to how often each is drawn:
# definite 55%, indefinite 25%, demonstrative 10%, possessive and distributive 5% each.
_DET_DRAW = (0,) * 11 + (1,) * 5 + (2,) * 2 + (3, 4)

# A noun: (word, gender, forms); forms[key][det] is its noun phrase without adjective, key
# a case ("nom", "acc") or a prepositional slot ("of", "with", "in", "for").
_Noun = tuple[str, int, dict[str, tuple[str, ...]]]


@dataclass(slots=True)
class _Language:
    """Everything needed to write sentences in one language."""

    code: str
    general_nouns: list[_Noun]
    topic_nouns: dict[str, list[_Noun]]
    articles: tuple  # [case][det][gender] -> determiner
    endings: tuple | None  # German adjective endings, [case][det][gender]
    adjectives: list[_Adjective]
    impersonal_adjectives: list[_Adjective]
    general_verbs: list[tuple[str, str]]
    topic_verbs: dict[str, list[tuple[str, str]]]
    adverbs: list[str]
    time_phrases: list[str]
    connectors: list[str]
    opinions: list[str]
    names: list[tuple[str, int]]
    cities: list[str]
    prepositions: dict[str, tuple[str, int]]  # slot -> (preposition, case index)
    templates: list[tuple[str, tuple]]  # (format string, the (make, argument) of its slots)
    words: list[str]  # single words of the vocabulary (near-duplicate edits, junk)
    fix: Callable[[str], str]
    # fix() of the heads of noun phrases ("de le petit"): few distinct ones, and regexes are slow.
    fixed_heads: dict[str, str] = field(default_factory=dict)


def _articles(lang: str) -> tuple[tuple, tuple | None]:
    """Determiners by [case][det][gender], and German adjective endings likewise."""
    if lang == "de":
        articles = tuple(tuple(_DE_DETERMINERS[det][case] for det in _DET_KINDS) for case in _CASES)
        endings = tuple(
            tuple((_DE_MIXED if det in _DE_MIXED_KINDS else _DE_WEAK)[case] for det in _DET_KINDS)
            for case in _CASES
        )
        return articles, endings
    by_det = tuple(_DETERMINERS[lang][det] for det in _DET_KINDS)
    return (by_det,) * len(_CASES), None


def _make_noun(cell: str, lang: str, articles: tuple) -> _Noun:
    word, gender = _noun(cell, lang)
    fix = _FIXES[lang]
    forms = {
        case: tuple(fix(f"{art[gender]} {word}") for art in by_det)
        for case, by_det in zip(_CASES, articles, strict=True)
    }
    for slot, (preposition, case) in _PREPOSITIONS[lang].items():
        by_det = articles[_CASES.index(case or "nom")]
        forms[slot] = tuple(fix(f"{preposition} {art[gender]} {word}") for art in by_det)
    return word, gender, forms


def _load_language(lang: str, index: int) -> _Language:
    def cells(table: str) -> list[str]:
        return [row[index] for row in _rows(table)]

    articles, endings = _articles(lang)
    general_nouns = [_make_noun(c, lang, articles) for c in cells(_GENERAL_NOUNS)]
    topic_nouns = {
        topic: [_make_noun(c, lang, articles) for c in cells(table)] for topic, table in _TOPIC_NOUNS.items()
    }
    adjective_rows = _rows(_ADJECTIVES)
    adjectives = [_adjective(row[index], lang) for row in adjective_rows]
    impersonal = [adj for adj, row in zip(adjectives, adjective_rows, strict=True) if row[0].startswith("*")]
    general_verbs: list[tuple[str, str]] = []
    topic_verbs: dict[str, list[tuple[str, str]]] = {topic: [] for topic in TOPICS}
    for row in _rows(_VERBS):
        topic, _, first = row[0].rpartition(":")
        third, infinitive = (first.strip() if index == 0 else row[index]).split("/")
        (topic_verbs[topic] if topic else general_verbs).append((third, infinitive))
    names = []
    for item in _NAMES[lang].split(","):
        name, gender = item.split()
        names.append((name, _GENDERS[gender]))
    prepositions = {
        slot: (word, _CASES.index(case or "nom")) for slot, (word, case) in _PREPOSITIONS[lang].items()
    }
    all_nouns = [noun for nouns in [general_nouns, *topic_nouns.values()] for noun in nouns]
    vocabulary = {w for noun in all_nouns for w in noun[0].split()}
    vocabulary.update(form for adj in adjectives for form in adj.forms)
    vocabulary.update(v for verbs in [general_verbs, *topic_verbs.values()] for pair in verbs for v in pair)
    return _Language(
        code=lang,
        general_nouns=general_nouns,
        topic_nouns=topic_nouns,
        articles=articles,
        endings=endings,
        adjectives=adjectives,
        impersonal_adjectives=impersonal,
        general_verbs=general_verbs,
        topic_verbs=topic_verbs,
        adverbs=cells(_ADVERBS),
        time_phrases=cells(_TIME_PHRASES),
        connectors=cells(_CONNECTORS),
        opinions=cells(_OPINIONS),
        names=names,
        cities=[f"{_CITY_PREPOSITION[lang]} {c.strip()}" for c in _CITIES[lang].split(",")],
        prepositions=prepositions,
        templates=[_compile_template(t, lang) for t in _TEMPLATES[lang]],
        words=sorted(w for w in vocabulary if w.isalpha()),
        fix=_FIXES[lang],
    )


@dataclass(slots=True)
class _Topic:
    """What a document draws from: its language, its topic's nouns and verbs, and sentence templates."""

    lang: _Language
    nouns: list[_Noun]
    verbs: list[tuple[str, str]]
    general_nouns: list[_Noun]
    general_verbs: list[tuple[str, str]]
    templates: list[tuple[str, tuple]]  # (format string, its slots), the language's templates


# --------------------------------------------------------------------------------------
# Sentences. This is the hot loop of the generator (tens of sentences per document, and
# benchmarks want thousands of documents a second): slots are pre-compiled handlers and
# noun phrases without adjectives are pre-built strings.
# --------------------------------------------------------------------------------------

# Share of nouns drawn from the document's topic (the rest from the general list), of
# verbs drawn from the topic's own verbs, and of noun phrases that get an adjective.
_TOPIC_NOUN_SHARE = 0.67
_TOPIC_VERB_SHARE = 0.5
_ADJECTIVE_SHARE = 0.22


def _with_adjective(rnd: Callable[[], float], language: _Language, noun: _Noun, key: str, det: int) -> str:
    """``noun`` with a determiner and an adjective, after the preposition of ``key`` if it is one."""
    word, gender, _ = noun
    adjectives = language.adjectives
    adjective = adjectives[int(rnd() * len(adjectives))]
    preposition, case = language.prepositions.get(key) or ("", 1 if key == "acc" else 0)
    article = language.articles[case][det][gender]
    if preposition:
        article = f"{preposition} {article}"
    # Only the first words can merge ("de le" -> "du", "il albero" -> "l'albero").
    if language.endings is not None:
        head, tail = f"{article} {adjective.forms[0]}{language.endings[case][det][gender]}", word
    elif adjective.before:
        head, tail = f"{article} {adjective.forms[gender]}", word
    else:
        head, tail = f"{article} {word}", adjective.forms[gender]
    fixed = language.fixed_heads.get(head)
    if fixed is None:
        fixed = language.fixed_heads[head] = language.fix(head)
    return f"{fixed} {tail}"


# Slots are closures over the word lists of one (language, topic), made once at import:
# slot(rnd, state) -> text, where state[0] is the gender of the last subject (adjectives and
# relative pronouns agree with it). Closures read their lists faster than attribute lookups.
_Slot = Callable[[Callable[[], float], list[int]], str]


def _noun_slot(topic: _Topic, arg: tuple[str, bool, bool]) -> _Slot:
    """A noun phrase: ``arg`` is (case or prepositional slot, definite article?, subject?)."""
    key, definite, subject = arg
    topical, general, language = topic.nouns, topic.general_nouns, topic.lang

    def slot(rnd, state):
        nouns = topical if rnd() < _TOPIC_NOUN_SHARE else general
        noun = nouns[int(rnd() * len(nouns))]
        if subject:
            state[0] = noun[1]
        det = 0 if definite else _DET_DRAW[int(rnd() * 20)]
        if rnd() < _ADJECTIVE_SHARE:
            return _with_adjective(rnd, language, noun, key, det)
        return noun[2][key][det]

    return slot


def _verb_slot(topic: _Topic, form: int) -> _Slot:
    """A verb: ``form`` 0 is the third person singular, 1 the infinitive."""
    topical, general = topic.verbs, topic.general_verbs

    def slot(rnd, state):
        verbs = topical if rnd() < _TOPIC_VERB_SHARE else general
        return verbs[int(rnd() * len(verbs))][form]

    return slot


def _adjective_slot(topic: _Topic, agree: bool) -> _Slot:
    """A predicate adjective agreeing with the last subject, or (impersonal) in the masculine."""
    adjectives = topic.lang.adjectives if agree else topic.lang.impersonal_adjectives

    def slot(rnd, state):
        return adjectives[int(rnd() * len(adjectives))].forms[min(state[0], 1) if agree else 0]

    return slot


def _word_slot(topic: _Topic, field_name: str) -> _Slot:
    """A word or phrase from one of the language's lists (adverbs, connectors, ...)."""
    words = getattr(topic.lang, field_name)

    def slot(rnd, state):
        return words[int(rnd() * len(words))]

    return slot


def _name_slot(topic: _Topic, _: None) -> _Slot:
    names = topic.lang.names

    def slot(rnd, state):
        name, state[0] = names[int(rnd() * len(names))]
        return name

    return slot


def _year_slot(topic: _Topic, _: None) -> _Slot:
    def slot(rnd, state):
        return str(1450 + int(rnd() * 575))

    return slot


def _relative_slot(topic: _Topic, _: None) -> _Slot:
    code = topic.lang.code

    def slot(rnd, state):
        return _DE_RELATIVE[state[0]] if code == "de" else _RELATIVE[code]

    return slot


def _elided_slot(topic: _Topic, arg: tuple) -> _Slot:
    """A French word that elides before a vowel ("de" + "utiliser" -> "d'utiliser"), then a slot."""
    word, (make, make_arg) = arg
    inner = make(topic, make_arg)

    def slot(rnd, state):
        text = inner(rnd, state)
        return f"{word[:-1]}'{text}" if text[0].lower() in _FR_VOWEL else f"{word} {text}"

    return slot


_SLOTS = {
    "S": (_noun_slot, ("nom", False, True)),
    "Sd": (_noun_slot, ("nom", True, True)),
    "O": (_noun_slot, ("acc", False, False)),
    "Od": (_noun_slot, ("acc", True, False)),
    "of": (_noun_slot, ("of", False, False)),
    "with": (_noun_slot, ("with", False, False)),
    "in": (_noun_slot, ("in", False, False)),
    "for": (_noun_slot, ("for", False, False)),
    "V": (_verb_slot, 0),
    "Vi": (_verb_slot, 1),
    "A": (_adjective_slot, True),
    "Am": (_adjective_slot, False),
    "ADV": (_word_slot, "adverbs"),
    "T": (_word_slot, "time_phrases"),
    "C": (_word_slot, "connectors"),
    "SAY": (_word_slot, "opinions"),
    "CITY": (_word_slot, "cities"),
    "N": (_name_slot, None),
    "YEAR": (_year_slot, None),
    "REL": (_relative_slot, None),
}


# French template words that elide before a vowel-initial slot.
_FR_ELIDING = ("de", "que", "ne", "le")


def _compile_template(template: str, lang: str) -> tuple[str, tuple]:
    """``"{S} {V} {O}."`` -> ``("{} {} {}.", ((make, arg), (make, arg), (make, arg)))``.

    ``make(topic, arg)`` makes the slot for a topic (see _topic).
    """
    parts = re.split(r"\{(\w+)\}", template)
    compiled: list = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if part:
                compiled.append(part)
            continue
        if part not in _SLOTS:
            raise KeyError(f"unknown slot {{{part}}} in a {lang} template: {template!r}")
        slot = _SLOTS[part]
        previous = compiled[-1] if compiled and isinstance(compiled[-1], str) else ""
        last = previous[:-1].rpartition(" ")[2]
        if lang == "fr" and previous.endswith(" ") and last in _FR_ELIDING:
            # "... de {Vi}": the slot decides between "de " and "d'".
            compiled[-1] = previous[: len(previous) - len(last) - 1]
            if not compiled[-1]:
                compiled.pop()
            slot = (_elided_slot, (last, slot))
        compiled.append(slot)
    # str.format fills the slots in one C call: cheaper than joining pieces in Python.
    fmt = "".join(p.replace("{", "{{").replace("}", "}}") if isinstance(p, str) else "{}" for p in compiled)
    return fmt, tuple(p for p in compiled if not isinstance(p, str))


def _topic(language: _Language, name: str) -> _Topic:
    topic = _Topic(
        language, language.topic_nouns[name], language.topic_verbs[name], language.general_nouns,
        language.general_verbs, templates=[],
    )
    topic.templates = [
        (fmt, tuple(make(topic, arg) for make, arg in slots)) for fmt, slots in language.templates
    ]
    return topic


def _sentence(rnd: Callable[[], float], topic: _Topic) -> str:
    """One sentence from a random template of the topic's language."""
    templates = topic.templates
    fmt, slots = templates[int(rnd() * len(templates))]
    state = [0]
    text = fmt.format(*[slot(rnd, state) for slot in slots])
    # Capitalise the first letter (after Spanish inverted punctuation).
    if text[0] == "¿":
        return "¿" + text[1].upper() + text[2:]
    return text[0].upper() + text[1:]


_LANG = {lang: _load_language(lang, i) for i, lang in enumerate(LANGUAGES)}
_TOPIC = {(lang, topic): _topic(language, topic) for lang, language in _LANG.items() for topic in TOPICS}
_NAV = _columns(_NAV_ITEMS)
_CLICKS = _columns(_CLICK_PHRASES)
_FOOTERS = _columns(_FOOTER_LINES)
_SPAM = _columns(_SPAM_WORDS)


