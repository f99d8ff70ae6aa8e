"""The held-out PII evaluation set: built differently from the tuning set, and never tuned on.

``benchmarks/pii.py``'s tuning set fills its templates with Faker values of six
locales (en_US, en_GB, fr_FR, de_DE, es_ES, it_IT) between README paragraphs.
This set differs in every part that could leak tuning into the figures:

* **background**: real manual pages from ``/usr/share/man`` (English and 16 other
  languages), troff stripped, without the sections that name real people (authors,
  translators, bug addresses, copyright);
* **people and places**: Faker in 28 other European locales (Dutch, Flemish,
  Polish, Swedish, Danish, Norwegian, Finnish, Czech, Slovak, Hungarian (family name
  first), Romanian, Croatian, Slovene, Portuguese, Austrian and Swiss German, Swiss
  French, Lithuanian, Latvian, Estonian, Irish, Icelandic, Maltese, Albanian, Greek,
  Bulgarian, Ukrainian, Turkish); names are composed here (titles, middle names,
  compound and hyphenated surnames) and the family name's span is kept;
* **structured values** made by other methods: phones from ``phonenumbers``' own
  numbering plans (random digits until valid) in international, national and
  separator-free forms; IBANs of those countries with computed check digits; cards
  with computed Luhn digits (Visa, Mastercard 2- and 5-series, Amex, Maestro);
  secrets in the documented formats of today's services (OpenAI, Anthropic, Stripe,
  Twilio, SendGrid, npm, PyPI, Hugging Face, GitLab, GitHub, AWS, Google, Slack,
  Telegram, JWTs, PEM keys, passwords and tokens in config);
* **frames**: how such values sit in real documents (letters, mail quotes, commit
  trailers, bylines, CSV, JSON/YAML/.env, HTTP headers, logs, code comments), in
  English and in the document's language, written for this set only;
* **harmless look-alikes** that must survive: ISBN-13s with valid check digits,
  timestamps, versions, git hashes, SHA-256 digests, UUIDs, amounts, error codes,
  coordinates in code, Luhn-failing long ids, ticket numbers.

The seed and every list are fixed here, so the set is the same on every machine
with the same man pages. Nothing in ``filters/pii`` may be changed by looking at
what this set's documents contain or what the detector misses on them.
"""

from __future__ import annotations

import glob
import gzip
import random
import re
import string
import unicodedata
from dataclasses import dataclass, field

SEED = 20261205

# Faker locales for names and places, none of them in the tuning set; the document languages they go with.
NAME_LOCALES = (
    "nl_NL", "nl_BE", "pl_PL", "sv_SE", "da_DK", "no_NO", "fi_FI", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "hr_HR",
    "sl_SI", "pt_PT", "de_AT", "de_CH", "fr_CH", "lt_LT", "lv_LV", "et_EE", "en_IE", "ga_IE", "is_IS", "mt_MT",
    "sq_AL", "el_GR", "bg_BG", "uk_UA", "tr_TR",
)
# Locales whose Faker has its own city names (the others fall back to invented English towns).
CITY_LOCALES = ("nl_NL", "nl_BE", "pl_PL", "sv_SE", "da_DK", "no_NO", "fi_FI", "cs_CZ", "sk_SK", "hu_HU", "ro_RO",
                "hr_HR", "sl_SI", "pt_PT", "de_AT", "de_CH", "fr_CH", "el_GR")
LANG_LOCALES = {
    "nl": ("nl_NL", "nl_BE"), "pl": ("pl_PL",), "sv": ("sv_SE",), "da": ("da_DK",), "fi": ("fi_FI",),
    "cs": ("cs_CZ", "sk_SK"), "hu": ("hu_HU",), "ro": ("ro_RO",), "sl": ("sl_SI", "hr_HR"), "pt": ("pt_PT",),
    "de": ("de_AT", "de_CH"), "fr": ("fr_CH", "nl_BE"), "it": ("de_CH", "sl_SI"), "es": ("pt_PT", "ro_RO"),
    "tr": ("tr_TR",),
}
REGION = {loc: loc.split("_")[1] for loc in NAME_LOCALES}
REGION.update({"ga_IE": "IE", "en_IE": "IE", "el_GR": "GR"})
# Languages whose family name comes first.
FAMILY_FIRST = ("hu_HU",)
# Share of documents in English (the rest in the other man-page languages).
ENGLISH_SHARE = 0.6
OTHER_LANGS = tuple(LANG_LOCALES)

# Sections of a man page that name real people: left out of the background.
_PEOPLE_SECTIONS = re.compile(
    r"AUTH|AUTEU|AUTOR|TRADU|BERSETZ|TŁUMACZ|VERTAL|SÄTTN|FORDÍT|PŘEKLAD|OVERSÆT|KÄÄNN|PREVOD|ÇEVIR|COPYRIGHT|"
    r"BUG|FEHLER|SEE ALSO|SIEHE|VOIR|ZIE OOK|HISTOR|THANK|DANK|REMERC|COLOPHON|KOLOPHON|CONTRIB|MAINTAIN",
    re.IGNORECASE,
)
_FONT = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)|\\s[+-]?\d|\\\*(?:\(..|\[[^\]]*\]|.)|\\[&|^%:,/]|\\\(..|\\\[[^\]]*\]")
_TEXT_MACROS = {"B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "SB", "TP", "IP", "HP"}


def _man_paragraphs(path: str) -> list[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            source = f.read(300_000)
    except (OSError, EOFError):
        return []
    paragraphs, current, skip = [], [], False
    for line in source.split("\n"):
        if line.startswith((".", "'")):
            macro, _, rest = line[1:].strip().partition(" ")
            if macro in ("SH", "SS"):
                skip = bool(_PEOPLE_SECTIONS.search(rest))
            if macro in _TEXT_MACROS and rest and not skip:
                current.append(rest.replace('"', ""))
                continue
            if macro in ("SH", "SS", "PP", "LP", "P", "TP", "IP", "HP", "RS", "RE", "nf", "fi", "sp", "br", "EX", "EE"):
                if current:
                    paragraphs.append(" ".join(current))
                current = []
            continue
        if skip:
            continue
        if not line.strip():
            if current:
                paragraphs.append(" ".join(current))
            current = []
            continue
        current.append(line)
    if current:
        paragraphs.append(" ".join(current))
    out = []
    for p in paragraphs:
        p = _FONT.sub("", p).replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ").replace("\\~", " ")
        p = re.sub(r"\s+", " ", p).strip()
        if 100 <= len(p) <= 1400 and "@" not in p and "://" not in p and sum(c.isalpha() for c in p) > 0.6 * len(p):
            out.append(p)
    return out


def background(lang: str, limit: int = 1500) -> list[str]:
    """Real paragraphs of manual pages in ``lang`` (``en``: the untranslated pages), in a fixed order."""
    base = "/usr/share/man" if lang == "en" else f"/usr/share/man/{lang}"
    files = sorted(glob.glob(f"{base}/man[1-8]/*.gz"))
    random.Random(f"{SEED}-{lang}").shuffle(files)
    paragraphs: list[str] = []
    for path in files:
        paragraphs += _man_paragraphs(path)
        if len(paragraphs) >= limit:
            break
    return paragraphs


# ---------------------------------------------------------------- values


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c) and c.isascii())


@dataclass
class Person:
    """A composed name: its text and the span of the family name inside it."""

    text: str
    family: tuple[int, int]
    first: str = ""
    last: str = ""


def make_person(fake, locale: str, rng: random.Random) -> Person:
    first = fake.first_name()
    last = fake.last_name()
    roll = rng.random()
    if roll < 0.12:
        last = f"{last}-{fake.last_name()}"
    elif roll < 0.2 and locale in ("pt_PT", "es_CA", "ro_RO"):
        last = f"{last} {fake.last_name()}"
    if rng.random() < 0.1:
        first = f"{first} {fake.first_name()}"
    if locale in FAMILY_FIRST:
        text, family = f"{last} {first}", (0, len(last))
    else:
        text, family = f"{first} {last}", (len(first) + 1, len(first) + 1 + len(last))
    if rng.random() < 0.15:
        try:
            title = fake.prefix()
        except AttributeError:
            title = "Dr."
        if title and len(title) < 12:
            text, family = f"{title} {text}", (family[0] + len(title) + 1, family[1] + len(title) + 1)
    return Person(text, family, first.split()[0], last)


def make_place(fake, rng: random.Random) -> str:
    if rng.random() < 0.15:
        return fake.country()
    return fake.city()


def make_email(fake, person: Person | None, rng: random.Random) -> str:
    if person is not None and rng.random() < 0.7:
        local = _fold(f"{person.first}.{person.last}").lower().replace(" ", "").replace("-", "")
        local = re.sub(r"[^a-z0-9.]", "", local) or "info"
        if rng.random() < 0.2:
            local += f"+{rng.choice(('lists', 'git', 'bank', 'shop'))}"
        return f"{local}@{fake.free_email_domain() if rng.random() < 0.6 else fake.domain_name()}"
    return fake.email()


def make_phone(region: str, rng: random.Random, form: str) -> str:
    """A valid number of ``region``'s plan: an example number with random digits, formatted as ``form``."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    kind = rng.choice((PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE))
    example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
    digits = str(example.national_number)
    for _ in range(50):
        keep = rng.randint(2, 3)
        candidate = digits[:keep] + "".join(rng.choice(string.digits) for _ in digits[keep:])
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(candidate),
                                          italian_leading_zero=example.italian_leading_zero)
        if phonenumbers.is_valid_number(number):
            break
    else:
        number = example
    if form == "international":
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    if form == "e164":
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    if form == "bare":
        return re.sub(r"\D", "", national)
    return national


def _luhn_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def make_card(rng: random.Random) -> str:
    prefix, length = rng.choice((("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
                                 ("37", 15), ("6759", 16), ("4", 13)))
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = body + _luhn_digit(body)
    style = rng.random()
    if length == 16 and style < 0.4:
        return " ".join(number[i : i + 4] for i in range(0, 16, 4))
    if length == 16 and style < 0.6:
        return "-".join(number[i : i + 4] for i in range(0, 16, 4))
    if length == 15 and style < 0.5:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    return number


# IBAN: country -> BBAN layout (a: letter, n: digit, c: either).
_BBAN = {"NL": "aaaannnnnnnnnn", "BE": "nnnnnnnnnnnn", "PL": "n" * 24, "SE": "n" * 20, "DK": "n" * 14, "NO": "n" * 11,
         "FI": "n" * 14, "CZ": "n" * 20, "SK": "n" * 20, "HU": "n" * 24, "RO": "aaaa" + "c" * 16, "HR": "n" * 17,
         "SI": "n" * 15, "PT": "n" * 21, "AT": "n" * 16, "CH": "n" * 17, "LT": "n" * 16, "LV": "aaaa" + "c" * 13,
         "EE": "n" * 16, "IE": "aaaa" + "n" * 14, "IS": "n" * 22, "MT": "aaaa" + "n" * 5 + "c" * 18,
         "AL": "n" * 8 + "c" * 16, "GR": "n" * 7 + "c" * 16, "BG": "aaaa" + "n" * 6 + "c" * 8, "UA": "n" * 6 + "c" * 19,
         "TR": "n" * 5 + "0" + "c" * 16}


def make_iban(region: str, rng: random.Random) -> str:
    layout = _BBAN.get(region, _BBAN["NL"])
    country = region if region in _BBAN else "NL"
    pools = {"a": string.ascii_uppercase, "n": string.digits, "c": string.ascii_uppercase + string.digits, "0": "0"}
    bban = "".join(rng.choice(pools[k]) for k in layout)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def make_ip(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8)).replace(":0:0:", "::", 1)
    while True:
        a = rng.randint(1, 223)
        if a not in (10, 127, 192, 172, 100):
            return f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def make_ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


_B62 = string.ascii_letters + string.digits
_B64URL = _B62 + "-_"


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# Secret kinds and how each is made (documented formats; the values are random).
SECRETS = {
    "openai": lambda r: "sk-proj-" + _r(r, _B64URL, 74) + "T3BlbkFJ" + _r(r, _B64URL, 74),
    "openai_legacy": lambda r: "sk-" + _r(r, _B62, 20) + "T3BlbkFJ" + _r(r, _B62, 20),
    "anthropic": lambda r: "sk-ant-api03-" + _r(r, _B64URL, 93) + "AA",
    "stripe": lambda r: r.choice(("sk_live_", "rk_live_", "sk_test_")) + _r(r, _B62, r.choice((24, 99))),
    "twilio": lambda r: "SK" + _r(r, "0123456789abcdef", 32),
    "sendgrid": lambda r: "SG." + _r(r, _B64URL, 22) + "." + _r(r, _B64URL, 43),
    "npm": lambda r: "npm_" + _r(r, _B62, 36),
    "pypi": lambda r: "pypi-AgEIcHlwaS5vcmc" + _r(r, _B64URL, 70),
    "huggingface": lambda r: "hf_" + _r(r, string.ascii_letters, 34),
    "gitlab": lambda r: "glpat-" + _r(r, _B64URL, 20),
    "github": lambda r: r.choice(("ghp_", "gho_", "ghs_")) + _r(r, _B62, 36),
    "github_fine": lambda r: "github_pat_" + _r(r, _B62, 22) + "_" + _r(r, _B62, 59),
    "aws": lambda r: "AKIA" + _r(r, string.ascii_uppercase + "234567", 16),
    "aws_secret": lambda r: _r(r, _B62 + "+/", 40),
    "google": lambda r: "AIza" + _r(r, _B64URL, 35),
    "slack": lambda r: f"xoxb-{r.randint(10**10, 10**12)}-{r.randint(10**10, 10**12)}-{_r(r, _B62, 24)}",
    "telegram": lambda r: f"{r.randint(10**8, 10**10)}:AA{_r(r, _B64URL, 33)}",
    "jwt": lambda r: "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + _r(r, _B64URL, 60) + "." + _r(r, _B64URL, 86),
    "pem": lambda r: "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(_r(r, _B62 + "+/", 70) for _ in range(4))
    + "\n-----END OPENSSH PRIVATE KEY-----",
    "password": lambda r: _r(r, _B62, r.randint(6, 10)) + r.choice("!#%&*?$") + _r(r, _B62, r.randint(2, 6)),
    "hex_token": lambda r: _r(r, "0123456789abcdef", r.choice((32, 40, 64))),
}
# Where each kind appears: frames with {S} for the secret.
SECRET_FRAMES = {
    "openai": ("OPENAI_API_KEY={S}", 'client = OpenAI(api_key="{S}")'),
    "openai_legacy": ('openai.api_key = "{S}"',),
    "anthropic": ("export ANTHROPIC_API_KEY={S}", "x-api-key: {S}"),
    "stripe": ("stripe.api_key = '{S}'", "STRIPE_SECRET={S}"),
    "twilio": ("TWILIO_API_KEY={S}", "client = Client('{S}', secret)"),
    "sendgrid": ("SENDGRID_API_KEY='{S}'", "Authorization: Bearer {S}"),
    "npm": ("//registry.npmjs.org/:_authToken={S}",),
    "pypi": ("[pypi]\nusername = __token__\npassword = {S}",),
    "huggingface": ("huggingface-cli login --token {S}", "HF_TOKEN={S}"),
    "gitlab": ('curl --header "PRIVATE-TOKEN: {S}" https://gitlab.example.com/api/v4/projects',),
    "github": ("git clone https://{S}@github.com/org/repo.git", "GITHUB_TOKEN: {S}"),
    "github_fine": ("gh auth login --with-token <<< {S}",),
    "aws": ("aws_access_key_id = {S}",),
    "aws_secret": ("aws_secret_access_key = {S}",),
    "google": ('const firebaseConfig = {{ apiKey: "{S}" }};', "https://maps.googleapis.com/maps/api/js?key={S}"),
    "slack": ("SLACK_BOT_TOKEN={S}",),
    "telegram": ("bot = telebot.TeleBot('{S}')",),
    "jwt": ("Authorization: Bearer {S}", "token: {S}"),
    "pem": ("{S}",),
    "password": ("DB_PASSWORD={S}", "password: {S}", 'mysql -u admin -p"{S}" prod', "Passwort: {S}"),
    "hex_token": ("api_token = \"{S}\"", "X-Auth-Token: {S}", "secret_key: {S}"),
}


# ---------------------------------------------------------------- harmless look-alikes


def _isbn13(rng: random.Random) -> str:
    body = rng.choice(("978", "979")) + "".join(rng.choice(string.digits) for _ in range(9))
    check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body)) % 10) % 10
    digits = body + str(check)
    if rng.random() < 0.6:
        a, b = rng.randint(1, 2), rng.randint(2, 4)
        return f"{digits[:3]}-{digits[3:3 + a]}-{digits[3 + a:3 + a + b]}-{digits[3 + a + b:12]}-{digits[12]}"
    return digits


def _luhn_failing(rng: random.Random) -> str:
    while True:
        body = str(rng.randint(10**15, 10**16 - 1))
        if _luhn_digit(body[:-1]) != body[-1]:
            return " ".join(body[i : i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else body


LOOKALIKES = {
    "isbn": lambda r: _isbn13(r),
    "timestamp": lambda r: r.choice((
        f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
        f"{r.randint(2015, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
        f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
        f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(2015, 2026)} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
        f"{r.randint(2015, 2026)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 23):02d}{r.randint(0, 59):02d}{r.randint(0, 59):02d}",
        str(r.randint(1_500_000_000, 1_800_000_000)),
    )),
    "version": lambda r: r.choice((
        f"{r.randint(0, 12)}.{r.randint(0, 40)}.{r.randint(0, 30)}",
        f"v{r.randint(1, 30)}.{r.randint(0, 20)}.{r.randint(0, 99)}",
        f"{r.randint(2, 6)}.{r.randint(1, 19)}.{r.randint(0, 200)}-{r.randint(1, 40)}-amd64",
        f"{r.randint(1, 3)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
        f"10.0.{r.randint(10000, 22631)}.{r.randint(100, 4000)}",
    )),
    "git_hash": lambda r: _r(r, "0123456789abcdef", r.choice((7, 10, 12, 40))),
    "sha256": lambda r: "sha256:" + _r(r, "0123456789abcdef", 64),
    "uuid": lambda r: "-".join(_r(r, "0123456789abcdef", n) for n in (8, 4, 4, 4, 12)),
    "amount": lambda r: r.choice((
        f"€{r.randint(1, 99)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d}",
        f"{r.randint(1, 99)}.{r.randint(0, 999):03d},{r.randint(0, 99):02d} EUR",
        f"${r.randint(1, 999)},{r.randint(0, 999):03d},{r.randint(0, 999):03d}",
        f"CHF {r.randint(1, 9)}'{r.randint(0, 999):03d}.{r.randint(0, 99):02d}",
        f"{r.randint(1, 99)} {r.randint(0, 999):03d},{r.randint(0, 99):02d} zł",
    )),
    "error_code": lambda r: r.choice((
        f"0x{r.randint(0x80000000, 0x8FFFFFFF):08X}", f"E{r.randint(1000, 9999)}", f"ORA-{r.randint(1, 99999):05d}",
        f"SQLSTATE {r.randint(10000, 99999)}", f"KB{r.randint(4000000, 5999999)}", f"errno {r.randint(1, 133)}",
    )),
    "coordinates": lambda r: f"({r.uniform(-89, 89):.6f}, {r.uniform(-179, 179):.6f})",
    "long_id": _luhn_failing,
    "ticket": lambda r: str(r.randint(10**8, 10**10)),
}
LOOKALIKE_FRAMES = {
    "isbn": ("ISBN {L}", "See the reference book (ISBN {L}) for details.", "isbn: {L}"),
    "timestamp": ("[{L}] INFO worker started", "Last modified: {L}", "created_at = {L}"),
    "version": ("Requires version {L} or later.", "pkg {L} is installed", "Upgrade to {L} to fix it."),
    "git_hash": ("Fixed in commit {L}.", "Fixes: {L} (\"net: fix a leak\")", "git checkout {L}"),
    "sha256": ("image digest {L}", "Checksum: {L}"),
    "uuid": ("request id {L}", 'volume_id = "{L}"'),
    "amount": ("The total is {L} including VAT.", "Budget: {L}"),
    "error_code": ("The call failed with {L}.", "error {L}: permission denied"),
    "coordinates": ("center = {L}", "map.setView({L}, 13)"),
    "long_id": ("transaction {L}", "serial number {L}"),
    "ticket": ("See ticket {L} in the tracker.", "Order no. {L} was shipped."),
}


# ---------------------------------------------------------------- frames

# {P}: person, {L}: place, {E}: e-mail, {T}: phone (any form), {TB}: phone without separators (context present),
# {C}: card, {I}: IBAN, {IP}: IP address, {S}: US SSN, {U}: URL.
FRAMES_EN = (
    "Dear {P},\n\nthank you for the detailed report.",
    "Hi {P}, the patch applies cleanly now.",
    "Kind regards,\n{P}",
    "Best,\n{P}\n{T}",
    "Cheers, {P}",
    "Signed-off-by: {P} <{E}>",
    "Co-authored-by: {P} <{E}>",
    "Reviewed-by: {P} <{E}>",
    " -- {P} <{E}>  Wed, 03 Jul 2024 14:05:22 +0200",
    "On Tue, 2 Jul 2024, {P} wrote:\n> the build fails on arm64",
    "By {P}, {L}",
    "Photo by {P} on a trip to {L}.",
    "name,city,phone\n{P},{L},{T}",
    '{{"owner": "{P}", "email": "{E}", "last_ip": "{IP}"}}',
    "| {P} | {L} | {T} |",
    "# TODO({P}): drop this workaround after the migration",
    "2024-07-03T14:05:22Z INFO login ok user={E} from {IP}",
    "Contact: {P}, phone {TB}",
    "Mobile: {TB}",
    "Call me on {T} if the servers go down again.",
    "Please wire the refund to {I}, account holder {P}.",
    "Card on file: {C}, expires 09/27.",
    "The applicant's SSN is {S}.",
    "cc: {P}, {P}",
    "Thanks to {P} and {P} for the translations.",
    "{P} from {L} reported the crash.",
    "I met {P} in {L} last week.",
    "Maintainer: {P} <{E}>",
    "Our new office in {L} opens in March; ask for {P}.",
    "Send the signed form to {E} or fax it to {T}.",
    "Profile: {U}",
    "Written by {P}.",
    "Reported by {P} ({L}).",
    "Prof. {P} will chair the session.",
    "{P} has joined the team as release manager.",
)
# Frames in the document's language (several cue words per language, as people write them).
FRAMES_LANG = {
    "de": ("Sehr geehrte Frau {P},\n\nvielen Dank für Ihre Nachricht.", "Mit freundlichen Grüßen\n{P}\nTel. {TB}",
           "Ansprechpartner: {P}, {L}, Telefon {T}", "Bitte überweisen Sie den Betrag auf {I}.",
           "Geschrieben von {P} in {L}."),
    "fr": ("Bonjour {P},\n\nmerci pour votre retour.", "Cordialement,\n{P}\nTél. : {TB}",
           "Contact : {P} ({E}), {L}", "Virement sur le compte {I} au nom de {P}.", "Écrit par {P} à {L}."),
    "nl": ("Beste {P},\n\nbedankt voor je bericht.", "Met vriendelijke groet,\n{P}\nTel: {TB}",
           "Contactpersoon: {P}, {L}", "Gelieve te storten op {I} t.a.v. {P}.", "Geschreven door {P} uit {L}."),
    "pl": ("Szanowny Panie {P},\n\ndziękuję za wiadomość.", "Z poważaniem,\n{P}\ntel. {TB}",
           "Kontakt: {P}, {L}, tel. {T}", "Proszę przelać kwotę na rachunek {I}.", "Autor: {P} ({L})"),
    "sv": ("Hej {P},\n\ntack för ditt meddelande.", "Med vänliga hälsningar,\n{P}\nTel: {TB}",
           "Kontaktperson: {P}, {L}", "Betala till konto {I}.", "Skriven av {P} i {L}."),
    "da": ("Kære {P},\n\ntak for din besked.", "Med venlig hilsen\n{P}\nTlf.: {TB}", "Kontakt: {P}, {L}"),
    "fi": ("Hei {P},\n\nkiitos viestistäsi.", "Ystävällisin terveisin,\n{P}\npuh. {TB}", "Yhteyshenkilö: {P}, {L}"),
    "cs": ("Vážený pane {P},\n\nděkuji za zprávu.", "S pozdravem\n{P}\ntel.: {TB}", "Kontakt: {P}, {L}"),
    "hu": ("Kedves {P}!\n\nKöszönöm a levelet.", "Üdvözlettel:\n{P}\nTel.: {TB}", "Kapcsolattartó: {P}, {L}"),
    "ro": ("Stimate domnule {P},\n\nvă mulțumesc pentru mesaj.", "Cu stimă,\n{P}\nTel: {TB}", "Contact: {P}, {L}"),
    "sl": ("Spoštovani {P},\n\nhvala za sporočilo.", "Lep pozdrav,\n{P}\nTel.: {TB}", "Kontakt: {P}, {L}"),
    "pt": ("Caro {P},\n\nobrigado pela mensagem.", "Com os melhores cumprimentos,\n{P}\nTel.: {TB}",
           "Contacto: {P}, {L}"),
    "it": ("Gentile {P},\n\ngrazie per il messaggio.", "Cordiali saluti,\n{P}\nTel. {TB}", "Referente: {P}, {L}"),
    "es": ("Estimado {P}:\n\ngracias por su mensaje.", "Atentamente,\n{P}\nTel.: {TB}", "Contacto: {P}, {L}"),
    "tr": ("Sayın {P},\n\nmesajınız için teşekkürler.", "Saygılarımla,\n{P}\nTel: {TB}", "İletişim: {P}, {L}"),
}
_SLOT = re.compile(r"\{(P|L|E|TB|T|C|I|IP|S|U)\}")
# Slot -> scored type.
SLOT_TYPES = {"P": "PERSON", "L": "LOCATION", "E": "EMAIL_ADDRESS", "T": "PHONE_NUMBER", "TB": "PHONE_NUMBER",
              "C": "CREDIT_CARD", "I": "IBAN_CODE", "IP": "IP_ADDRESS", "S": "US_SSN", "U": "URL"}


@dataclass
class Doc:
    """A held-out document: text, language, true spans ``(type, start, end)`` (for PERSON, the family name's span
    goes in ``family``), and the spans of the harmless look-alikes that must survive."""

    text: str
    lang: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    family: list[tuple[int, int]] = field(default_factory=list)
    lookalikes: list[tuple[str, int, int]] = field(default_factory=list)
    locale: str = ""


class _Builder:
    def __init__(self, lang: str, locale: str):
        self.doc = Doc("", lang, locale=locale)
        self.parts: list[str] = []
        self.length = 0

    def add(self, text: str) -> int:
        start = self.length
        self.parts.append(text)
        self.length += len(text)
        return start

    def done(self) -> Doc:
        self.doc.text = "".join(self.parts)
        return self.doc


def _fill(builder: _Builder, frame: str, fakes: dict, locale: str, rng: random.Random) -> None:
    fake = fakes[locale]
    place_fake = fakes[locale if locale in CITY_LOCALES else rng.choice(CITY_LOCALES)]
    region = REGION[locale] if REGION[locale] not in ("IS", "MT", "AL") else "IE"
    person = None
    pos = 0
    for m in _SLOT.finditer(frame):
        builder.add(frame[pos : m.start()].replace("{{", "{").replace("}}", "}"))
        slot = m.group(1)
        if slot == "P":
            person = make_person(fake, locale, rng)
            start = builder.add(person.text)
            builder.doc.family.append((start + person.family[0], start + person.family[1]))
            value = person.text
        elif slot == "L":
            value = make_place(place_fake, rng)
            start = builder.add(value)
        else:
            value = {
                "E": lambda person=person: make_email(fake, person, rng),
                "T": lambda: make_phone(region, rng, rng.choice(("international", "national", "e164"))),
                "TB": lambda: make_phone(region, rng, rng.choice(("bare", "bare", "national"))),
                "C": lambda: make_card(rng),
                "I": lambda: make_iban(REGION[locale], rng),
                "IP": lambda: make_ip(rng),
                "S": lambda: make_ssn(rng),
                "U": lambda: fake.url() + fake.uri_path(),
            }[slot]()
            start = builder.add(value)
        builder.doc.spans.append((SLOT_TYPES[slot], start, start + len(value)))
        pos = m.end()
    builder.add(frame[pos:].replace("{{", "{").replace("}}", "}"))


def _plant_secret(builder: _Builder, rng: random.Random) -> None:
    kind = rng.choice(sorted(SECRETS))
    value = SECRETS[kind](rng)
    frame = rng.choice(SECRET_FRAMES[kind])
    before, _, after = frame.partition("{S}")
    builder.add(before.replace("{{", "{").replace("}}", "}"))
    start = builder.add(value)
    builder.doc.spans.append(("SECRET", start, start + len(value)))
    builder.add(after.replace("{{", "{").replace("}}", "}"))


def _plant_lookalike(builder: _Builder, rng: random.Random) -> None:
    kind = rng.choice(sorted(LOOKALIKES))
    value = LOOKALIKES[kind](rng)
    before, _, after = rng.choice(LOOKALIKE_FRAMES[kind]).partition("{L}")
    builder.add(before)
    start = builder.add(value)
    builder.doc.lookalikes.append((kind, start, start + len(value)))
    builder.add(after)


def make_heldout(n_docs: int, seed: int = SEED) -> list[Doc]:
    """``n_docs`` labelled documents; the same ones for the same seed and man pages."""
    from faker import Faker

    rng = random.Random(seed)
    fakes = {}
    for i, loc in enumerate(NAME_LOCALES):
        fakes[loc] = Faker(loc)
        fakes[loc].seed_instance(seed + i)
    texts = {lang: background(lang) for lang in ("en", *OTHER_LANGS)}
    texts = {lang: paras for lang, paras in texts.items() if paras}
    others = [lang for lang in OTHER_LANGS if lang in texts]
    docs = []
    for _ in range(n_docs):
        lang = "en" if rng.random() < ENGLISH_SHARE or not others else rng.choice(others)
        locale = rng.choice(LANG_LOCALES[lang]) if lang != "en" else rng.choice(NAME_LOCALES)
        builder = _Builder(lang, locale)
        n_blocks = rng.randint(2, 6)
        for k in range(n_blocks):
            if k:
                builder.add("\n\n" if rng.random() < 0.7 else "\n")
            roll = rng.random()
            if roll < 0.35:
                builder.add(rng.choice(texts[lang]))
            elif roll < 0.7:
                frames = FRAMES_LANG[lang] if lang != "en" and rng.random() < 0.5 else FRAMES_EN
                _fill(builder, rng.choice(frames), fakes, locale, rng)
            elif roll < 0.82:
                _plant_secret(builder, rng)
            else:
                _plant_lookalike(builder, rng)
        docs.append(builder.done())
    return docs
