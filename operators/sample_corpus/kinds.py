"""The kinds of document in the sample corpus, one builder each, and their made-up metadata."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from random import Random

from operators.sample_corpus.grammar import _CLICKS, _FOOTERS, _LANG, _NAV, _SPAM, _TOPIC, _sentence
from operators.sample_corpus.vocabulary import (
    _CARD_TYPES,
    _COOKIE_BANNERS,
    _DOMAIN_SUFFIXES,
    _DOMAIN_SYLLABLES,
    _FAKER_LOCALES,
    _PHONE_FORMATS,
    _PII_TEMPLATES,
    _PSEUDO_LATIN,
    _SECTIONS,
    _TLDS,
    _TOXIC,
    NO_LANGUAGE,
    TOPICS,
)

# --------------------------------------------------------------------------------------
# Documents, one builder per kind
# --------------------------------------------------------------------------------------

MIN_WORDS, MAX_WORDS = 80, 800


def _clean_paragraphs(rng: Random, lang: str, topic_name: str) -> list[str]:
    """Paragraphs of prose on one topic: 3-12 paragraphs of 2 or more sentences, 80-800 words in all."""
    rnd = rng.random
    topic = _TOPIC[lang, topic_name]
    # Lengths spread over the whole range, more short documents than long ones, as on the web.
    target = int(MIN_WORDS + 10 + (MAX_WORDS - MIN_WORDS - 60) * rnd() ** 3.3)
    n_paragraphs = max(3, min(12, target // rng.randint(25, 70)))
    per_paragraph = target / n_paragraphs
    paragraphs: list[list[str]] = []
    counts: list[int] = []
    for _ in range(n_paragraphs):
        sentences: list[str] = []
        words = 0
        while len(sentences) < 2 or words < per_paragraph:
            sentence = _sentence(rnd, topic)
            sentences.append(sentence)
            words += sentence.count(" ") + 1
        paragraphs.append(sentences)
        counts.append(words)
    # Each paragraph overshoots its share by up to a sentence: trim the longest ones.
    while sum(counts) > MAX_WORDS:
        i = max(range(len(counts)), key=lambda j: (len(paragraphs[j]) > 2, counts[j]))
        counts[i] -= paragraphs[i].pop().count(" ") + 1
    while sum(counts) < MIN_WORDS:
        sentence = _sentence(rnd, topic)
        paragraphs[-1].append(sentence)
        counts[-1] += sentence.count(" ") + 1
    return [" ".join(sentences) for sentences in paragraphs]


def _clean(rng: Random, lang: str) -> str:
    return "\n\n".join(_clean_paragraphs(rng, lang, rng.choice(TOPICS)))


def _exact_dup(rng: Random, text: str) -> str:
    """``text`` again, at most with other case, punctuation or whitespace: what exact dedup must merge."""
    u = rng.random()
    if u < 0.4:
        return text
    if u < 0.55:
        return text.lower()
    if u < 0.65:
        first, sep, rest = text.partition("\n\n")
        return first.upper() + sep + rest
    if u < 0.85:
        # Re-spaced: a different paragraph break, double spaces, trailing blanks.
        text = text.replace("\n\n", rng.choice(["\n", "\r\n\r\n", "\n \n", "\n\n\n"]))
        return text.replace(". ", ".  ").replace(", ", " , ") + "  "
    # Re-punctuated: paragraphs end in "!", commas turn into semicolons (every line still
    # ends in punctuation, so that quality rules keep it and dedup has to catch it).
    return text.replace(".\n", "!\n").removesuffix(".").replace(",", ";") + "!"


# ASCII punctuation -> spaces, on bytes: a Unicode \w+ regex takes twice as long, and the
# near-duplicate check tokenises every near duplicate twice.
_PUNCTUATION_TO_SPACE = bytes.maketrans(b".,;:?!'\"()-|/#", b" " * 14)


def _word_shingles(text: str, n: int = 5) -> set[tuple[bytes, ...]]:
    """The set of word ``n``-grams of ``text`` (case and ASCII punctuation ignored)."""
    words = text.casefold().encode().translate(_PUNCTUATION_TO_SPACE).split()
    return set(zip(*(words[i:] for i in range(n)), strict=False))


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


# Near duplicates stay in this band of word 5-gram Jaccard similarity to their origin:
# close enough for MinHash dedup to find, far enough not to be exact duplicates.
NEAR_DUP_JACCARD = (0.6, 0.93)


def _edit_words(rng: Random, text: str, words: list[str], n_edits: int) -> str:
    """``text`` with ``n_edits`` words inserted, deleted or substituted (paragraph breaks kept)."""
    tokens = text.split(" ")
    done = 0
    while done < n_edits:
        i = rng.randrange(len(tokens))
        op = rng.random()
        if op < 0.34:
            tokens.insert(i, rng.choice(words))
        elif "\n" in tokens[i]:
            continue  # a paragraph break: edit elsewhere
        elif op < 0.67:
            del tokens[i]
        else:
            token = tokens[i]
            tokens[i] = rng.choice(words) + (token[-1] if token[-1] in ".,;:?!" else "")
        done += 1
    return " ".join(tokens)


def _near_dup(rng: Random, text: str, lang: str) -> str:
    """A light edit of ``text``: a few % of its words changed, maybe another footer added.

    The number of edits aims at a Jaccard similarity drawn inside ``NEAR_DUP_JACCARD``: an
    edit replaces about five word 5-grams, so ``k`` edits to ``N`` 5-grams (and ``F`` new
    ones from a footer) give about ``(N - 5k) / (N + F + 5k)``.
    """
    words = _LANG[lang].words
    original = _word_shingles(text)
    n = len(original)
    target = rng.uniform(0.72, 0.9)
    footer = "\n".join(_footer_lines(rng, lang)) if rng.random() < 0.35 else ""
    f = len(_word_shingles(footer)) + 4 if footer else 0
    k = max(0 if footer else 2, round((n * (1 - target) - target * f) / (5 * (1 + target))))
    edited = _edit_words(rng, text, words, k)
    out = f"{edited}\n\n{footer}" if footer else edited
    # Edits can overlap and undo each other: check, and edit more while still too similar.
    while _jaccard(original, _word_shingles(out)) > NEAR_DUP_JACCARD[1]:
        edited = _edit_words(rng, edited, words, max(2, k // 3))
        out = f"{edited}\n\n{footer}" if footer else edited
    return out


def _footer_lines(rng: Random, lang: str) -> list[str]:
    footer = _FOOTERS[lang]
    site = _site_name(rng).capitalize()
    lines = [f"© {rng.randint(2015, 2026)} {site}. {footer[0]}"]
    lines += rng.sample(footer[1:], rng.randint(2, 4))
    lines.append("Facebook | X | LinkedIn | Email")
    return lines


def _boilerplate(rng: Random, lang: str) -> str:
    """Page furniture without content: what line- and document-level quality rules remove."""
    nouns = [noun[0] for noun in _LANG[lang].topic_nouns[rng.choice(TOPICS)]]
    blocks = {
        "cookies": lambda: list(_COOKIE_BANNERS[lang]),
        "nav": lambda: _nav_block(rng, lang),
        "click": lambda: _click_block(rng, lang, nouns),
        "links": lambda: _link_farm(rng, lang, nouns),
        "footer": lambda: _footer_lines(rng, lang),
    }
    # A cookie banner or a link farm in every page (each trips document-level rules on its
    # own), with up to three other blocks; a banner alone makes a page too short to keep.
    names = [rng.choice(("cookies", "links"))]
    names += rng.sample([name for name in blocks if name != names[0]], rng.randint(0, 3))
    rng.shuffle(names)
    lines: list[str] = []
    for name in names:
        lines.extend(blocks[name]())
    return "\n".join(lines)


def _nav_block(rng: Random, lang: str) -> list[str]:
    chosen = rng.sample(_NAV[lang], rng.randint(5, 12))
    style = rng.random()
    if style < 0.4:
        return chosen
    if style < 0.7:
        return [f"• {item}" for item in chosen]
    return [" | ".join(chosen)]


def _click_block(rng: Random, lang: str, nouns: list[str]) -> list[str]:
    phrases = _CLICKS[lang]
    bullet = rng.choice(["»", "•", "-", "›", "→"])
    return [f"{bullet} {rng.choice(nouns)}: {rng.choice(phrases)}..." for _ in range(rng.randint(4, 10))]


def _link_farm(rng: Random, lang: str, nouns: list[str]) -> list[str]:
    spam = _SPAM[lang]
    lines = []
    for _ in range(rng.randint(3, 8)):
        items = []
        for _ in range(rng.randint(3, 6)):
            noun = rng.choice(nouns)
            items.append(rng.choice([
                f"{spam[0]} {noun} {spam[3]}",
                f"{spam[4]} {noun} {spam[1]}",
                f"#{noun.replace(' ', '').lower()}",
                f"{noun} {spam[5]} 2026",
                f"{noun} {spam[2]}",
            ]))
        lines.append(" | ".join(items))
    filler = " ".join(
        "".join(rng.choice(_PSEUDO_LATIN) for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(20, 60))
    )
    lines.append(f"Lorem ipsum {filler}.")
    return lines


_SOUP = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()_+-=[]{};:,.<>/?~|\\"
# Random bytes -> soup characters in one C call (one character per byte value).
_SOUP_TABLE = bytes(ord(_SOUP[b % len(_SOUP)]) for b in range(256))


def _junk(rng: Random, lang: str) -> tuple[str, str]:
    """Text that fails quality rules, and its language (``zxx`` where there is none)."""
    style = rng.randrange(5)
    if style == 0:  # character soup
        n_lines = rng.randint(5, 25)
        lines = [rng.randbytes(rng.randint(20, 90)).translate(_SOUP_TABLE).decode() for _ in range(n_lines)]
        return "\n".join(lines), NO_LANGUAGE
    if style == 1:  # an inlined binary blob
        blob = base64.b64encode(rng.randbytes(rng.randint(300, 3000))).decode("ascii")
        lines = [blob[j : j + 76] for j in range(0, len(blob), 76)]
        return "data:application/octet-stream;base64,\n" + "\n".join(lines), NO_LANGUAGE
    if style == 2:  # a table of numbers
        n_cols = rng.randint(3, 8)
        rows = [
            " | ".join(f"{rng.uniform(0, 10_000):.{rng.randint(0, 3)}f}" for _ in range(n_cols))
            for _ in range(rng.randint(10, 60))
        ]
        return "\n".join(rows), NO_LANGUAGE
    words = _LANG[lang].words
    if style == 3:  # one or two words over and over
        chosen = rng.sample(words, rng.randint(1, 2))
        return " ".join(chosen[k % len(chosen)] for k in range(rng.randint(60, 400))), lang
    # keyword stuffing: a handful of words in random order, no sentences
    chosen = rng.sample(words, rng.randint(3, 6))
    lines = [
        " ".join(rng.choice(chosen) for _ in range(rng.randint(5, 15))) for _ in range(rng.randint(8, 30))
    ]
    return "\n".join(lines), lang


_fakers: dict[str, object] = {}


def _faker(locale: str):
    """A Faker per locale, made once: building one takes far longer than a document."""
    if locale not in _fakers:
        from faker import Faker

        # Unweighted draws of names are ten times faster, and frequency realism does not matter here.
        _fakers[locale] = Faker(locale, use_weighting=False)
    return _fakers[locale]


def _digits(rng: Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


def _public_ipv4(rng: Random) -> str:
    """A public-looking IPv4 address (faker's own is slow: it filters private networks)."""
    first = rng.choice((23, 31, 45, 62, 77, 81, 89, 93, 104, 109, 128, 145, 151, 178, 185, 193, 203, 212))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"


def _card_number(fake, rng: Random) -> str:
    """A Luhn-valid card number, written plain or in groups as people type them."""
    number = fake.credit_card_number(card_type=rng.choice(_CARD_TYPES))
    style = rng.random()
    if style < 0.4 or len(number) != 16:
        return number
    sep = " " if style < 0.8 else "-"
    return sep.join(number[j : j + 4] for j in range(0, 16, 4))


def _pii_sentences(rng: Random, lang: str, doc_seed: int) -> list[str]:
    """Sentences full of personal data, every kind at least once (two phones, two shapes)."""
    locales = _FAKER_LOCALES[lang]
    fake = _faker(locales[rng.randrange(len(locales))])
    fake.seed_instance(doc_seed)
    us = _faker("en_US")
    us.seed_instance(doc_seed + 1)
    templates = _PII_TEMPLATES[lang]
    phone_formats = _PHONE_FORMATS[lang]

    makers: dict[str, Callable[[], str]] = {
        "name": fake.name,
        "address": lambda: fake.address().replace("\n", ", "),
        "email": fake.email,
        # Faker's local formats and our international ones: phones come in many shapes.
        "phone": lambda: (
            fake.phone_number() if rng.random() < 0.3 else _digits(rng, rng.choice(phone_formats))
        ),
        # Card numbers are not local; en_US knows every card type.
        "card": lambda: _card_number(us, rng),
        "expiry": lambda: f"{rng.randint(1, 12):02d}/{rng.randint(27, 34)}",
        "iban": fake.iban,
        "ip": lambda: _public_ipv4(rng),
        "ssn": us.ssn,
    }
    keys = list(templates)
    keys += rng.sample(keys, rng.randint(0, 2))
    rng.shuffle(keys)
    sentences = []
    for key in keys:
        template = templates[key]
        # Only the fields the sentence shows: faker calls cost more than the rest of a document.
        fields = {name: make() for name, make in makers.items() if "{" + name + "}" in template}
        sentences.append(template.format(**fields))
    return sentences


def _pii(rng: Random, lang: str, doc_seed: int) -> str:
    """A clean document with paragraphs of personal data woven in."""
    paragraphs = _clean_paragraphs(rng, lang, rng.choice(TOPICS))
    sentences = _pii_sentences(rng, lang, doc_seed)
    # Spread the personal data over two or three places, each after a paragraph of prose.
    n_groups = min(len(paragraphs), rng.randint(2, 3))
    cut = sorted(rng.sample(range(1, len(sentences)), n_groups - 1))
    groups = [sentences[a:b] for a, b in zip([0, *cut], [*cut, len(sentences)], strict=True)]
    spots = sorted(rng.sample(range(1, len(paragraphs) + 1), n_groups), reverse=True)
    for spot, group in zip(spots, groups, strict=True):
        paragraphs.insert(spot, " ".join(group))
    return "\n\n".join(paragraphs)


def _toxic_lines(rng: Random, lang: str, n: int) -> list[str]:
    openers, adjectives, nouns, whole = _TOXIC[lang]
    lines = set()
    while len(lines) < n:
        if rng.random() < 0.5:
            lines.add(rng.choice(whole))
        elif lang in ("en", "fr", "de"):
            lines.add(f"{rng.choice(openers)} {rng.choice(adjectives)} {rng.choice(nouns)}.")
        else:
            lines.add(f"{rng.choice(openers)} {rng.choice(nouns)} {rng.choice(adjectives)}.")
    return sorted(lines)


def _toxic(rng: Random, lang: str) -> str:
    """A clean document with a few abusive lines, each a paragraph of its own (like comments)."""
    paragraphs = _clean_paragraphs(rng, lang, rng.choice(TOPICS))
    lines = _toxic_lines(rng, lang, rng.randint(2, 4))
    rng.shuffle(lines)
    for line in lines:
        paragraphs.insert(rng.randint(1, len(paragraphs)), line)
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------


def _site_name(rng: Random) -> str:
    return rng.choice(_DOMAIN_SYLLABLES) + rng.choice(_DOMAIN_SYLLABLES)


def _url(rng: Random, lang: str) -> str:
    """A made-up address; nothing in it gives the kind of the document away."""
    site = _site_name(rng)
    if rng.random() < 0.6:
        site += "-" + rng.choice(_DOMAIN_SUFFIXES)
    host = ("www." if rng.random() < 0.5 else "") + f"{site}.{rng.choice(_TLDS[lang])}"
    return f"https://{host}/{rng.choice(_SECTIONS)}/{rng.randint(2015, 2026)}/{rng.randrange(10**7):07d}"


def _crawl_date(rng: Random) -> str:
    seconds = int(rng.random() * 336 * 86_400)  # twelve months of 28 days
    day, seconds = divmod(seconds, 86_400)
    hours, minutes = seconds // 3600, seconds // 60 % 60
    return f"2026-{day // 28 + 1:02d}-{day % 28 + 1:02d}T{hours:02d}:{minutes:02d}:{seconds % 60:02d}Z"


def _doc_seed(seed: int, index: int) -> int:
    """The seed of faker for document ``index``."""
    digest = hashlib.blake2b(f"assay-sample:{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _draw(u: float, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    edge = 0.0
    for option, weight in zip(options, weights, strict=True):
        edge += weight
        if u < edge:
            return option
    return options[-1]


