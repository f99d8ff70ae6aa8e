"""A development set for diagnosing the ``pii`` stage in other languages: built apart from the held-out set.

The tuning set (``pii.py``) is English README paragraphs with six Faker locales; the
held-out set (``pii_heldout.py``) must never be looked at value by value. This set
exists to look at: misses and false alarms can be printed (``--misses``). It shares
no part with the held-out set:

* **background**: the Debian Reference in German, Spanish, French, Italian and
  English (``/usr/share/debian-reference``), and for eleven more languages the
  translated messages of the installed programs (``/usr/share/locale/*/LC_MESSAGES``,
  ISO code lists left out: they are place names), several messages to a paragraph;
* **people and places**: Faker locales the held-out set does not use (Germany,
  France, Belgium, Quebec, Spain, Mexico, Argentina, Chile, Colombia, Italy,
  Brazil, Britain, Australia, New Zealand, India, Russia, North Macedonia,
  Luxembourg, Liechtenstein); places are towns, regions, countries, street
  addresses with postcodes in each country's order, and streets;
* **frames**: written for this set (letters, notes, tickets, invoices, CSV and JSON
  rows, signatures, travel and delivery notes) in English and nine other languages;
* **seed**: its own.

Usage::

    python benchmarks/pii_dev.py --docs 600 [--misses PERSON,LOCATION] [--ner-languages all]
"""

from __future__ import annotations

import argparse
import gettext
import glob
import html
import os
import random
import re
import sys

SEED = 4242
# Faker locales for names and places; none of them is a held-out locale.
LOCALES = {
    "en": ("en_US", "en_GB", "en_AU", "en_NZ", "en_IN", "en_CA"),
    "de": ("de_DE", "de_LI", "de_LU"),
    "fr": ("fr_FR", "fr_BE", "fr_CA"),
    "es": ("es_ES", "es_MX", "es_AR", "es_CL", "es_CO"),
    "it": ("it_IT", "it_CH"),
    "pt": ("pt_BR",),
    "other": ("ru_RU", "mk_MK", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "en_GB"),
}
# Locales whose Faker addresses are their own (the others fall back to the US ones).
ADDRESS_LOCALES = ("de_DE", "fr_FR", "es_ES", "es_MX", "es_AR", "es_CL", "es_CO", "it_IT", "pt_BR", "en_GB", "en_AU",
                   "en_NZ", "en_IN", "ru_RU", "mk_MK", "en_US")
REFERENCE_LANGS = ("en", "de", "es", "fr", "it")
MESSAGE_LANGS = ("pt", "nl", "pl", "sv", "da", "fi", "cs", "hu", "ro", "tr", "sl")
LANG_SHARE = {"en": 0.4}

# Frames: {P} person, {L} place, {A} full postal address, {C} city, {T} phone, {E} e-mail.
FRAMES = {
    "en": [
        "Invoice to: {P}, {A}.",
        "Ship the spare parts to {A} before the end of the month.",
        "{P} joined the {C} office in March and leads the packaging team there.",
        "Meeting notes, {C}, attendees: {P}, {P} and {P}.",
        "We are flying from {C} to {C} on Tuesday; {P} booked the hotel.",
        '{{"customer": "{P}", "city": "{C}", "phone": "{T}"}}',
        "name,city,country\n{P},{C},{L}",
        "-- \n{P}\nSenior Engineer, {C}\nTel. {T}",
        "The mirror hosted in {L} was down for two hours yesterday.",
        "Our new address is {A}; please update your records.",
        "{P} wrote to say the {C} build farm is back online.",
        "Delivery address: {A}",
        "Grew up near {C}, studied in {L}, now based in {C}.",
        "Per {P}'s request, the workshop moves to {C}.",
        "Customer {P} ({E}) reports the package never arrived in {C}.",
        "Attending from {L}: {P}.",
        "Visit us at {A} or call {T}.",
        "The conference returns to {C} next year, hosted by {P}.",
    ],
    "de": [
        "Rechnungsanschrift: {P}, {A}",
        "{P} arbeitet seit Mai in unserem Büro in {C}.",
        "Bitte senden Sie die Unterlagen an {A}.",
        "Die Tagung findet dieses Jahr in {C} statt; Ansprechpartnerin ist {P}.",
        "Treffen mit {P} am Bahnhof {C}, danach Weiterfahrt nach {C}.",
        "Mit freundlichen Grüßen\n{P}\n{A}\nTel.: {T}",
        "Kunde {P} aus {C} meldet einen Fehler.",
    ],
    "fr": [
        "Adresse de livraison : {P}, {A}",
        "{P} a rejoint l'équipe de {C} en septembre.",
        "La réunion aura lieu à {C} ; merci de confirmer auprès de {P}.",
        "Nous partons de {C} pour {L} lundi prochain.",
        "Cordialement,\n{P}\n{A}\nTél. : {T}",
        "Le client {P}, domicilié à {C}, signale une panne.",
    ],
    "es": [
        "Dirección de envío: {P}, {A}",
        "{P} se mudó a {C} el año pasado.",
        "La reunión será en {C}; contacte con {P}.",
        "Viajamos de {C} a {L} el martes.",
        "Saludos cordiales,\n{P}\n{A}\nTel.: {T}",
    ],
    "it": [
        "Indirizzo di spedizione: {P}, {A}",
        "{P} lavora nella sede di {C} da due anni.",
        "Il convegno si terrà a {C}; referente {P}.",
        "Cordiali saluti,\n{P}\n{A}\nTel. {T}",
    ],
    "pt": [
        "Endereço de entrega: {P}, {A}",
        "{P} mudou-se para {C} em janeiro.",
        "A reunião será em {C}; fale com {P}.",
    ],
    "nl": ["Afleveradres: {P}, {A}", "{P} werkt sinds mei op ons kantoor in {C}.", "Met vriendelijke groet,\n{P}\n{C}"],
    "pl": ["Adres dostawy: {P}, {A}", "{P} pracuje w naszym biurze w {C}.", "Spotkanie odbędzie się w {C}; kontakt: {P}."],
    "sv": ["Leveransadress: {P}, {A}", "{P} flyttade till {C} förra året.", "Mötet hålls i {C}; kontakta {P}."],
}
GENERIC = ["Contact: {P}, {C}", "{P} ({C})", "Address: {A}", "{P} – {A}"]

# Harmless values of this set (and things naive place rules take for places).
LOOKALIKES = [
    "Tested with Python 3.11 and Debian 12.", "Built on 2024-03-18T10:22:05Z.", "See RFC 5322 and ISO 8601.",
    "Order No. 2023-004471 shipped.", "Checksum 9f86d081884c7d659a2feaea0c55ad015a3bb4bf.", "Runs in Docker on Linux.",
    "Moved to GitHub in 2019.", "Mirror at Debian Stretch archive.", "Total: 1.249,00 EUR.", "Version 2.4.57-1+deb12u1.",
]


def _strip(markup: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", markup))).strip()


def _usable(p: str) -> bool:
    return 80 <= len(p) <= 1200 and "@" not in p and "://" not in p and sum(c.isalpha() for c in p) > 0.6 * len(p)


def background(lang: str, rng: random.Random, limit: int = 800) -> list[str]:
    """Real paragraphs in ``lang``: the Debian Reference, else the installed programs' translated messages."""
    out: list[str] = []
    if lang in REFERENCE_LANGS:
        for path in sorted(glob.glob(f"/usr/share/debian-reference/*.{lang}.html")):
            with open(path, encoding="utf-8", errors="replace") as f:
                out += [p for p in (_strip(m) for m in re.findall(r"<p>(.*?)</p>", f.read(), re.S)) if _usable(p)]
    else:
        messages: list[str] = []
        for path in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
            if os.path.basename(path).startswith("iso_"):
                continue
            try:
                with open(path, "rb") as f:
                    catalog = gettext.GNUTranslations(f)._catalog
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            for value in catalog.values():
                if isinstance(value, str) and 40 <= len(value) <= 300 and "%" not in value and "\n" not in value and "@" not in value:
                    messages.append(value.strip())
        rng.shuffle(messages)
        for i in range(0, len(messages) - 4, 4):
            out.append(" ".join(messages[i : i + 4]))
    rng.shuffle(out)
    return out[:limit] or ["Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."]


def _address(fake, locale: str, rng: random.Random) -> str:
    """A street address with postcode and town, in the order of the country."""
    street, post, city = fake.street_address().replace("\n", ", "), fake.postcode(), fake.city()
    if locale in ("en_US", "en_AU", "en_CA"):
        state = fake.state_abbr() if hasattr(fake, "state_abbr") else ""
        return f"{street}, {city}, {state} {post}".replace(" ,", ",")
    if locale in ("en_GB", "en_NZ", "en_IN"):
        return f"{street}, {city} {post}"
    if locale == "ru_RU":
        return f"{post}, {city}, {street}"
    return f"{street}, {post} {city}"


def make_place(fake, locale: str, rng: random.Random, kind: str) -> tuple[str, str]:
    """A place and its kind (address, town, country, region, street)."""
    if kind == "A":
        return _address(fake, locale if locale in ADDRESS_LOCALES else "en_US", rng), "address"
    if kind == "C":
        return fake.city(), "town"
    r = rng.random()
    if r < 0.45:
        return fake.city(), "town"
    if r < 0.7:
        return fake.country(), "country"
    if r < 0.85 and hasattr(fake, "administrative_unit"):
        return fake.administrative_unit(), "region"
    return fake.street_name(), "street"


def make_person(fake, rng: random.Random) -> tuple[str, tuple[int, int]]:
    """A name and the span of its family name (the last word; the first for Russian 'Family First Patronymic')."""
    r = rng.random()
    if r < 0.6:
        first, last = fake.first_name(), fake.last_name()
        text = f"{first} {last}"
        if rng.random() < 0.15 and hasattr(fake, "prefix"):
            text = f"{fake.prefix()} {text}"
        return text, (len(text) - len(last), len(text))
    text = fake.name()
    words = text.split()
    last = words[-1]
    start = text.rfind(last)
    return text, (start, len(text))


class Doc:
    """A dev document: text, language, true spans, family names' spans, look-alikes, each place's kind."""

    def __init__(self, text, lang, spans, family, lookalikes, kinds):
        self.text, self.lang, self.spans, self.family, self.lookalikes = text, lang, spans, family, lookalikes
        self.kinds = kinds


_SLOT = re.compile(r"\{([PLACTE])\}")


def make_dev(n_docs: int, seed: int = SEED) -> list[Doc]:
    from faker import Faker
    from pii import stable_faker_towns

    stable_faker_towns()
    rng = random.Random(seed)
    fakers: dict[str, Faker] = {}

    def faker(loc: str) -> Faker:
        if loc not in fakers:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fakers[loc] = Faker(loc)
            fakers[loc].seed_instance(f"{seed}-{loc}")
        return fakers[loc]

    langs = list(REFERENCE_LANGS) + list(MESSAGE_LANGS)
    backgrounds = {lang: background(lang, random.Random(f"{seed}-{lang}")) for lang in langs}
    docs = []
    for _ in range(n_docs):
        lang = "en" if rng.random() < LANG_SHARE["en"] else rng.choice(langs[1:])
        loc = rng.choice(LOCALES.get(lang, LOCALES["other"]))
        fake = faker(loc)
        text, spans, family, looks, kinds = "", [], [], [], {}
        frames = FRAMES.get(lang, []) + FRAMES["en"][:6] + GENERIC
        for k in range(rng.randint(2, 5)):
            if k:
                text += "\n\n"
            if k % 2 == 0:
                text += rng.choice(backgrounds[lang])
                continue
            frame = rng.choice(frames)
            pos = 0
            for m in _SLOT.finditer(frame):
                text += frame[pos : m.start()].replace("{{", "{").replace("}}", "}")
                slot = m.group(1)
                if slot == "P":
                    value, (a, b) = make_person(fake, rng)
                    spans.append(("PERSON", len(text), len(text) + len(value)))
                    family.append((len(text) + a, len(text) + b))
                elif slot in "LAC":
                    value, kinds[len(spans)] = make_place(fake, loc, rng, slot)
                    spans.append(("LOCATION", len(text), len(text) + len(value)))
                elif slot == "T":
                    value = fake.phone_number()
                    spans.append(("PHONE_NUMBER", len(text), len(text) + len(value)))
                else:
                    value = fake.email()
                    spans.append(("EMAIL_ADDRESS", len(text), len(text) + len(value)))
                text += value
                pos = m.end()
            text += frame[pos:].replace("{{", "{").replace("}}", "}")
        if rng.random() < 0.4:
            value = rng.choice(LOOKALIKES)
            looks.append(("dev", len(text) + 1, len(text) + 1 + len(value)))
            text += " " + value
        docs.append(Doc(text, lang, spans, family, looks, kinds))
    return docs


def place_leaks(docs, preds) -> None:
    """LOCATION leak per kind of place."""
    n: dict[str, int] = {}
    leaked: dict[str, int] = {}
    for doc, pred in zip(docs, preds, strict=True):
        mask = bytearray(len(doc.text))
        for _, s, e in pred:
            mask[s:e] = b"\x01" * (e - s)
        for k, (t, s, e) in enumerate(doc.spans):
            if t == "LOCATION":
                kind = doc.kinds[k]
                n[kind] = n.get(kind, 0) + 1
                leaked[kind] = leaked.get(kind, 0) + any(not mask[i] and not doc.text[i].isspace() for i in range(s, e))
    print("LOCATION leak by kind: " + ", ".join(f"{k} {leaked[k] / n[k]:.1%} of {n[k]}" for k in sorted(n)))


def show_misses(docs, preds, types: set[str], limit: int = 80) -> None:
    """The dev set's missed values and false alarms of ``types``, with a little context (this set only)."""
    shown = 0
    for doc, pred in zip(docs, preds, strict=True):
        mask = bytearray(len(doc.text))
        for _, s, e in pred:
            mask[s:e] = b"\x01" * (e - s)
        for t, s, e in doc.spans:
            if t in types and any(not mask[i] and not doc.text[i].isspace() for i in range(s, e)) and shown < limit:
                covered = "".join(c if mask[s + i] else "_" for i, c in enumerate(doc.text[s:e]))
                print(f"MISS {t} [{doc.lang}] …{doc.text[max(0, s - 40):s]!r} [{doc.text[s:e]!r} -> {covered!r}] {doc.text[e:e + 25]!r}")
                shown += 1
        for t, s, e in pred:
            if t in types and not any(g == t and s < b and a < e for g, a, b in doc.spans) and shown < 2 * limit:
                print(f"FALSE {t} [{doc.lang}] …{doc.text[max(0, s - 40):s]!r} [{doc.text[s:e]!r}] {doc.text[e:e + 25]!r}")
                shown += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--baseline-docs", type=int, default=0, help="also run Presidio's default on the first N")
    parser.add_argument("--ner-languages", default=None, help="the pii stage's `languages` (default: its default)")
    parser.add_argument("--misses", default="", help="comma-separated types whose misses and false alarms to print")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import pii

    pii.NER_LANGUAGES[:] = [lang for lang in (args.ner_languages or "").split(",") if lang]
    docs = make_dev(args.docs, args.seed)
    print(f"dev set: {len(docs)} documents, {sum(len(d.text) for d in docs):,} characters, "
          f"{sum(len(d.spans) for d in docs)} values")
    pairs = [(d.text, d.spans) for d in docs]
    langs = [d.lang for d in docs]
    if args.baseline_docs:
        pii.evaluate("DEV", pairs, langs, [d.family for d in docs], [d.lookalikes for d in docs], args.baseline_docs)
    preds, cpu, _ = pii.run_ours(pairs, langs=langs)
    scores = pii.entity_scores([d.text for d in docs], [d.spans for d in docs], preds, [d.family for d in docs],
                               [d.lookalikes for d in docs])
    pii._side_by_side("DEV: assay pii", scores, None)
    print(f"assay: {sum(len(d.text) for d in docs) / cpu:,.0f} chars per CPU-second")
    place_leaks(docs, preds)
    if args.misses:
        show_misses(docs, preds, set(args.misses.split(",")))


if __name__ == "__main__":
    main()
