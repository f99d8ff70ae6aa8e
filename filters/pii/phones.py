"""Phone numbers: candidates from the one-pass scan, validated by ``phonenumbers`` for the regions that fit.

A candidate (a run of digits with phone punctuation) is a phone when ``phonenumbers``
says it is a valid number:

* with its own prefix (``+32 ...``, ``0032 ...``): in the plan that prefix names;
* in national form with separators: in a region of the document's language or an
  English-speaking one, or in any configured region when it starts with a trunk ``0``
  or has a phone word near; seven digits or fewer (a local number, a postal code)
  only with a phone word;
* as bare digits (``0471123456``): only with a phone word close before it
  (``tel``, ``phone``, ``Telefon``, ``tél``, ``puh.``, ``tlf`` ...).

It is never a date, a timestamp, an ISBN (valid check digit), a version, an amount
or a dotted quad.
"""

from __future__ import annotations

import re

# Regions whose national numbers a document of that language is likely to hold.
LANGUAGE_REGIONS = {
    "en": ("US", "GB", "IE", "CA", "AU"), "fr": ("FR", "BE", "CH", "LU", "CA"), "de": ("DE", "AT", "CH", "LU"),
    "es": ("ES", "MX", "AR"), "it": ("IT", "CH"), "pt": ("PT", "BR"), "nl": ("NL", "BE"), "pl": ("PL",),
    "sv": ("SE", "FI"), "da": ("DK",), "fi": ("FI",), "cs": ("CZ",), "sk": ("SK",), "hu": ("HU",), "ro": ("RO",),
    "sl": ("SI",), "hr": ("HR",), "tr": ("TR",), "el": ("GR", "CY"), "no": ("NO",), "nb": ("NO",), "lt": ("LT",),
    "lv": ("LV",), "et": ("EE",), "bg": ("BG",), "uk": ("UA",), "ru": ("RU",), "is": ("IS",), "mt": ("MT",),
    "ga": ("IE",), "sq": ("AL",),
}
ALL_REGIONS = tuple(dict.fromkeys(r for regions in LANGUAGE_REGIONS.values() for r in regions))
# Words that say "phone" in the languages above (compared lower-cased, within CONTEXT_CHARS before the number).
PHONE_WORDS = ("phone", "tel", "mobile", "cell", "call", "fax", "ph.", "whatsapp", "sms", "tél", "portable",
               "appel", "handy", "ruf", "teléf", "móvil", "llam", "telem", "cellulare", "chiam", "gsm", "mobiel",
               "bel ", "komór", "tlf", "puh", "mobil", "tfn", "τηλ", "тел", "моб", "numer", "number", "nummer",
               "numéro", "número", "numero")
CONTEXT_CHARS = 32
_DATE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}\b")
_COMPACT_DATE = re.compile(r"^(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")
# Words that introduce a reference number (an order, an invoice, a ticket, a bug) in the languages above.
_ID_BEFORE = re.compile(
    r"(?:order|invoice|ticket|case|ref\.?|reference|no\.|nr\.|n°|nº|#|id|bug|issue|bestell\w*|rechnung\w*|auftrag\w*"
    r"|commande|facture|dossier|pedido|factura|expediente|ordine|fattura|pratica|bestelling|factuur|zamówieni\w*"
    r"|faktur\w*|objednávk\w*|rendelés\w*|számla\w*|comand\w*|sipariş\w*|fatura\w*|tilaus\w*|lasku\w*|ordre"
    r"|ordrenummer|beställning\w*)[\s:.#]*$"
)
# A year and a serial ("2023-004471"): how order and document numbers are written, not phones.
_YEAR_ID = re.compile(r"(?:19|20)\d\d-\d{5,}")
_EXTENSION = re.compile(r" ?(?:x|ext\.?|extension) ?\d{1,6}\b", re.IGNORECASE)
_CURRENCY = re.compile(r"[€$£¥]|\b(?:eur|usd|gbp|chf|pln|sek|nok|dkk|czk|huf|zł|kr|kč|ft)\b", re.IGNORECASE)


def isbn(digits: str) -> bool:
    """Whether the digits are an ISBN-13 (978/979 and a valid check digit) or an ISBN-10."""
    if len(digits) == 13 and digits[:3] in ("978", "979"):
        return sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(digits)) % 10 == 0
    if len(digits) == 10:
        return sum(int(c) * (10 - i) for i, c in enumerate(digits)) % 11 == 0 and digits[0] in "0123456789"
    return False


def _not_a_phone(value: str, digits: str, before: str, after: str) -> bool:
    if _DATE.search(value) or (len(digits) >= 8 and value.isdigit() and _COMPACT_DATE.match(value) and len(digits) in (8, 12, 14)):
        return True
    if isbn(digits) and not value.startswith("+") and (len(digits) == 13 or "isbn" in before):
        return True
    groups = value.split(".")
    if len(groups) > 1 and (len(groups) == 4 or any(len(g.strip()) < 2 for g in groups)):
        return True  # a version, a dotted quad
    return bool(_CURRENCY.search(before[-5:].rsplit("\n", 1)[-1]) or _CURRENCY.search(after[:5].split("\n", 1)[0]))


class PhoneFinder:
    """Validates phone candidates with ``phonenumbers`` (see the module docstring)."""

    def __init__(self, regions: tuple[str, ...] = ALL_REGIONS):
        import phonenumbers

        self._pn = phonenumbers
        self.regions = tuple(regions)

    def _valid(self, value: str, regions, possible: bool = False) -> bool:
        """Valid in one of ``regions``; with ``possible``, of a possible length there (Ofcom's drama ranges)."""
        pn = self._pn
        for region in regions:
            try:
                number = pn.parse(value, region)
            except pn.NumberParseException:
                continue
            if pn.is_valid_number(number) or (possible and pn.is_possible_number(number)):
                return True
        return False

    def find(self, text: str, lower: str, start: int, end: int, lang: str | None) -> tuple[int, int, float] | None:
        """The phone in candidate ``text[start:end]`` as ``(start, end, score)``, or None."""
        if text[start] == "(" and ")" not in text[start:end]:
            start += 1
        ext = _EXTENSION.match(text, end)
        if ext:
            end = ext.end()
        value = text[start:end].rstrip(" -./(")
        end = start + len(value)
        number = value[: ext.start() - start] if ext else value  # phonenumbers reads the extension too, but not "x"
        digits = re.sub(r"\D", "", number)
        if not 7 <= len(digits) <= 15:
            return None
        before, after = lower[max(0, start - CONTEXT_CHARS) : start], lower[end : end + 8]
        if start and (text[start - 1].isalnum() or text[start - 1] in "_-./#:"):
            return None  # a piece of a longer token
        if end < len(text) and (text[end].isalnum() or text[end] in "_"):
            return None
        if _not_a_phone(value, digits, before, after):
            return None
        context = any(w in before for w in PHONE_WORDS)
        if not context and (_ID_BEFORE.search(before) or _YEAR_ID.fullmatch(value)):
            return None  # "Order No. 2023-004471", "invoice 4404123456": a reference, not a number to call
        own_prefix = value.startswith("+") or value.startswith("00")
        value = number
        if own_prefix:
            ok = self._valid("+" + value.lstrip("+")[2:] if value.startswith("00") else value, (None,), possible=True)
            return (start, end, 0.85) if ok else None
        if len(digits) < 8 and not context:
            return None  # a local number without its area code (or a postal code: 9541-048) needs a phone word
        separated = any(not c.isdigit() for c in value)
        # English-speaking regions always: documentation in any language quotes them, and the residual-PII check
        # (which knows no language) reads text as English; the stage must find at least what it finds.
        local = tuple(dict.fromkeys((*LANGUAGE_REGIONS.get(lang or "en", ()), *LANGUAGE_REGIONS["en"])))
        if separated:
            if self._valid(value, local, possible=context):
                return start, end, 0.75
            if (context or value.lstrip("(").startswith("0")) and self._valid(value, self.regions, possible=context):
                return start, end, 0.7 if not context else 0.85
            return None
        if context and self._valid(value, (*local, *self.regions), possible=True):
            return start, end, 0.8
        return None
