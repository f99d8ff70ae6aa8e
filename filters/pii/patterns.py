"""Structured personal data in one pass: a Hyperscan database of every pattern, then a validator per hit.

All pattern recognizers share one Hyperscan scan of the text (the text is made
ASCII by replacing each other character with ``?``, so byte offsets are character
offsets; every pattern here is ASCII). ``HS_FLAG_SOM_LEFTMOST`` reports each end
of a match with its leftmost start: the longest interval per start is kept. The
Python work that follows is per hit (a validator for the hit's pattern), never per
recognizer per document:

* e-mail: the address, with a letter TLD;
* digit runs: a credit card (13-19 digits, Luhn, a card network's prefix), a US
  SSN (``ddd-dd-dddd`` in the issued ranges), else a phone (:mod:`.phones`);
* IBAN: the country's length and the ISO 13616 mod-97 check;
* IPv4/IPv6: :mod:`ipaddress`, not a version (``v1.2.3.4``, ``version 1.2.3.4``);
* URL: ``http(s)://``/``www.`` to the end of the token, or ``domain.tld`` with a web TLD;
* secret triggers (service prefixes, credential words): the line goes to :mod:`.secrets`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from filters.pii.phones import PhoneFinder
from filters.pii.secrets import find_secrets


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected value: its type, span ``[start, end)`` in the text, and score."""

    type: str
    start: int
    end: int
    score: float


_WEB_TLDS = ("com|org|net|edu|gov|io|info|biz|co|uk|de|fr|es|it|pt|eu|us|ca|au|nl|ch|be|at|se|no|dk|fi|pl|ru|jp|cn|br"
             "|mx|ie|cz|sk|hu|ro|hr|si|gr|bg|ua|tr|lt|lv|ee|is|mt|al|lu|li|dev|app|ai|me|tv")
_SECRET_PREFIXES = (
    rb"sk-|[rs]k_(?:live|test)_|gh[pousr]_|github_pat_|gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941|xox[abposr]-"
    rb"|hooks\.slack\.com|(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}|AIza|hf_[A-Za-z]|npm_|_authToken|pypi-|SG\."
    rb"|eyJ|-----BEGIN|PuTTY-User|AccountKey=|sq0csp-|SK[0-9a-f]{32}|AC[0-9a-f]{32}|\d{8,10}:[0-9A-Za-z_\-]{35}"
    rb"|[0-9a-z]{32}-us\d|://[^\s:/@]+:[^\s:/@]+@|[MNO][A-Za-z\d_\-]{23,25}\.[A-Za-z\d_\-]{6}\."
)
_SECRET_WORDS = (rb"api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key|priv_?key|private_?key"
                 rb"|client_?key|db_?pass|database_?pass|key_?pass|password|passwd|pwd|secret|contrase|token|bearer"
                 rb"|credential|passwort|mot_?de_?passe|wachtwoord|haslo|salasana|heslo|senha|parola|\s-p[\"']")

# id -> (name, pattern, caseless)
PATTERNS = {
    1: ("EMAIL_ADDRESS", rb"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}", False),
    2: ("DIGITS", rb"(?:\+|\(\+?)?\d[\d \-./()]{4,26}\d", False),
    3: ("IBAN_CODE", rb"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,34}", False),
    4: ("IPV4", rb"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", False),
    5: ("IPV6", rb"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{2,39}", False),
    6: ("URL", rb"(?:https?://|www\.)[!-~]+", True),
    7: ("URL", rb"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.(?:" + _WEB_TLDS.encode() + rb")(?:/[!-~]*)?", False),
    8: ("SECRET", _SECRET_PREFIXES, False),
    9: ("SECRET", _SECRET_WORDS, True),
}
SECRET_TYPES = ("AWS_ACCESS_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "JWT", "PRIVATE_KEY", "API_KEY")
_SECRET_KIND = {"AWSKeyDetector": "AWS_ACCESS_KEY", "GitHubTokenDetector": "GITHUB_TOKEN", "github_fine": "GITHUB_TOKEN",
                "SlackDetector": "SLACK_TOKEN", "JwtTokenDetector": "JWT", "private_key": "PRIVATE_KEY"}
# ISO 13616 lengths of the IBANs of Europe and of the countries most often seen with them.
IBAN_LENGTHS = {"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
                "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
                "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26,
                "IT": 27, "KZ": 20, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
                "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19,
                "SK": 24, "SM": 27, "TR": 26, "UA": 29, "XK": 20}
_SSN = re.compile(r"(\d{3})-(\d{2})-(\d{4})")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[68])|6(?:011|5|4[4-9])|35|62|67)")


def luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_end(text: str, start: int, end: int) -> int | None:
    """The end of a valid IBAN starting at ``start`` (within ``end``), or None."""
    country = text[start : start + 2]
    want = IBAN_LENGTHS.get(country)
    if want is None:
        return None
    count, pos = 0, start
    while pos < end and count < want:
        if text[pos] != " ":
            count += 1
        pos += 1
    if count != want or (pos < len(text) and text[pos].isalnum()):
        return None
    compact = text[start:pos].replace(" ", "")
    numeric = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return pos if int(numeric) % 97 == 1 else None


def _longest(hits: list[tuple[int, int, int]]) -> dict[int, list[tuple[int, int]]]:
    """Per pattern id, the maximal intervals (the longest end for each leftmost start, nested ones dropped)."""
    best: dict[tuple[int, int], int] = {}
    for pid, s, e in hits:
        if best.get((pid, s), -1) < e:
            best[(pid, s)] = e
    out: dict[int, list[tuple[int, int]]] = {}
    for (pid, s), e in sorted(best.items()):
        spans = out.setdefault(pid, [])
        if spans and s < spans[-1][1]:
            if e > spans[-1][1]:
                spans[-1] = (spans[-1][0], e)
            continue
        spans.append((s, e))
    return out


class PatternScanner:
    """The Hyperscan database of :data:`PATTERNS` for the requested types, and the validators of its hits."""

    def __init__(self, entities, phone_regions=None):
        import hyperscan

        wanted = set(entities)
        secrets = wanted & set(SECRET_TYPES)
        needed = {1: "EMAIL_ADDRESS" in wanted, 3: "IBAN_CODE" in wanted, 6: "URL" in wanted, 7: "URL" in wanted,
                  2: bool(wanted & {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN"}), 8: bool(secrets), 9: bool(secrets),
                  4: "IP_ADDRESS" in wanted, 5: "IP_ADDRESS" in wanted}
        ids = [i for i in PATTERNS if needed[i]]
        self.wanted = wanted
        self.secret_types = secrets
        self.phones = PhoneFinder(tuple(phone_regions)) if "PHONE_NUMBER" in wanted and phone_regions else (
            PhoneFinder() if "PHONE_NUMBER" in wanted else None)
        self._db = None
        if ids:
            self._db = hyperscan.Database()
            flags = [hyperscan.HS_FLAG_SOM_LEFTMOST | (hyperscan.HS_FLAG_CASELESS if PATTERNS[i][2] else 0) for i in ids]
            self._db.compile(expressions=[PATTERNS[i][1] for i in ids], ids=ids, elements=len(ids), flags=flags)

    def scan(self, text: str, lang: str | None = None) -> list[Finding]:
        if self._db is None or not text:
            return []
        hits: list[tuple[int, int, int]] = []
        data = text.encode("ascii", "replace") if not text.isascii() else text.encode()
        self._db.scan(data, match_event_handler=lambda i, s, e, _f, _c: hits.append((i, s, e)))
        if not hits:
            return []
        spans = _longest(hits)
        found: list[Finding] = []
        lower = text.lower()
        for pid, intervals in spans.items():
            for s, e in intervals:
                found += self._validate(pid, text, lower, s, e, lang)
        if 8 in spans or 9 in spans:
            found += self._secrets(text, [*spans.get(8, ()), *spans.get(9, ())])
        return found

    # ------------------------------------------------------------ validators

    def _validate(self, pid: int, text: str, lower: str, s: int, e: int, lang: str | None) -> list[Finding]:
        if pid == 1:
            before = text[s - 1] if s else " "
            return [Finding("EMAIL_ADDRESS", s, e, 1.0)] if before not in "/:" else []
        if pid == 2:
            return self._digits(text, lower, s, e, lang)
        if pid == 3:
            if s and text[s - 1].isalnum():
                return []
            end = iban_end(text, s, e)
            return [Finding("IBAN_CODE", s, end, 1.0)] if end else []
        if pid == 4:
            return self._ipv4(text, lower, s, e)
        if pid == 5:
            value = text[s:e].rstrip(".:")
            if value.count(":") < 2 or (s and (text[s - 1].isalnum() or text[s - 1] == ":")):
                return []
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                return []
            return [Finding("IP_ADDRESS", s, s + len(value), 0.9)]
        if pid in (6, 7):
            return self._url(text, s, e, pid == 6)
        return []

    def _digits(self, text: str, lower: str, s: int, e: int, lang: str | None) -> list[Finding]:
        value = text[s:e]
        digits = re.sub(r"\D", "", value)
        before = text[s - 1] if s else " "
        after = text[e] if e < len(text) else " "
        if before.isalnum() or before in "_" or (after.isalnum() and after not in "xXe") or after == "_":
            return []
        if "CREDIT_CARD" in self.wanted and 13 <= len(digits) <= 19 and re.fullmatch(r"[\d \-]+", value):
            groups = re.split(r"[ \-]", value)
            if (len(groups) == 1 or len({c for c in value if not c.isdigit()}) == 1) and luhn(digits) and _CARD_PREFIX.match(digits):
                return [Finding("CREDIT_CARD", s, e, 1.0)]
        if "US_SSN" in self.wanted:
            m = _SSN.fullmatch(value)
            if m and m.group(1) not in ("000", "666") and m.group(1)[0] != "9" and m.group(2) != "00" and m.group(3) != "0000":
                return [Finding("US_SSN", s, e, 0.85)]
        if self.phones is not None:
            phone = self.phones.find(text, lower, s, e, lang)
            if phone is not None:
                return [Finding("PHONE_NUMBER", *phone)]
        return []

    def _ipv4(self, text: str, lower: str, s: int, e: int) -> list[Finding]:
        before = lower[max(0, s - 9) : s]
        if (s and (text[s - 1].isalnum() or text[s - 1] in ".-_")) or (e < len(text) and (text[e].isalnum() or text[e:e + 2][:1] == "." and text[e + 1 : e + 2].isdigit())):
            return []
        if before.rstrip().endswith(("version", "v", "release", "ver.", "kernel")):
            return []
        try:
            ipaddress.IPv4Address(text[s:e])
        except ValueError:
            return []
        return [Finding("IP_ADDRESS", s, e, 0.95)]

    @staticmethod
    def _url(text: str, s: int, e: int, schemed: bool) -> list[Finding]:
        while e > s and text[e - 1] in ".,;:!?)]}'\"":
            e -= 1
        before = text[s - 1] if s else " "
        after = text[e] if e < len(text) else " "
        if not schemed and (before in "@._-/" or before.isalnum() or after in "@_" or after.isalnum()):
            return []  # a piece of an e-mail address or of a longer name (``john.sm`` of ``john.smith``)
        if schemed and s and (text[s - 1].isalnum()):
            return []
        return [Finding("URL", s, e, 0.85 if schemed else 0.5)]

    def _secrets(self, text: str, triggers: list[tuple[int, int]]) -> list[Finding]:
        lines = set()
        for s, _ in triggers:
            lo = text.rfind("\n", 0, s) + 1
            hi = text.find("\n", s)
            lines.add((lo, len(text) if hi < 0 else hi))
        found = []
        for kind, s, e, score in find_secrets(text, sorted(lines)):
            entity = _SECRET_KIND.get(kind, "API_KEY")
            if entity not in self.secret_types:
                entity = "API_KEY" if "API_KEY" in self.secret_types else next(iter(self.secret_types))
            found.append(Finding(entity, s, e, score))
        return found
