"""Names and places that a key or a table header announces: ``City: Brno``, ``"ville": "Sion"``, ``Name=Anna Nagy``,
and the values under a ``name`` or ``city`` column of a CSV, TSV or semicolon table.

Records, configs, forms and exports label their personal fields; the label is better evidence than any list or
model, in every language. The keys are the usual field names of the European languages (English, German, French,
Spanish, Italian, Portuguese, Dutch, Polish, the Nordic languages, Finnish, Czech, Slovak, Hungarian, Romanian,
Turkish, Slovene, Croatian), matched without case, with ``_``, ``-`` or nothing between words (``first_name``,
``firstName``). Keys that also name technical things (``state``, ``place``, ``user``) are not in the lists.
"""

from __future__ import annotations

import csv
import re

from filters.gazetteer import UPPER
from filters.pii.patterns import Finding
from filters.pii.triggers import Triggers, ascii_words, search_windows

FIELD_SCORE = 0.8

_PLACE_KEYS = (
    "city|town|village|municipality|locality|location|address|street|street address|home address|postal address|"
    "country|region|province|county|district|birthplace|place of birth|hometown|residence|"
    "ort|stadt|wohnort|gemeinde|anschrift|adresse|straße|strasse|bundesland|geburtsort|standort|"
    "ville|commune|localité|lieu|pays|région|département|lieu de naissance|domicile|"
    "ciudad|localidad|municipio|población|lugar|dirección|direccion|domicilio|país|pais|provincia|lugar de nacimiento|"
    "città|citta|comune|località|luogo|indirizzo|nazione|regione|luogo di nascita|residenza|"
    "cidade|município|concelho|morada|endereço|endereco|distrito|naturalidade|"
    "stad|plaats|woonplaats|gemeente|adres|provincie|geboorteplaats|"
    "miasto|miejscowość|gmina|województwo|miejsce urodzenia|"
    "kommune|kommun|adress|fødested|födelseort|bosted|postort|"
    "kaupunki|kunta|paikkakunta|osoite|kotipaikka|"
    "město|mesto|obec|adresa|země|bydliště|bydlisko|"
    "város|település|cím|ország|lakhely|születési hely|"
    "oraș|oras|localitate|adresă|țară|tara|județ|judet|"
    "şehir|sehir|ilçe|adresi|ülke|"
    "grad|naslov|država|drzava"
)
_PERSON_KEYS = (
    "name|full name|fullname|first name|firstname|last name|lastname|surname|given name|family name|customer|client|"
    "contact|contact name|contact person|author|employee|patient|recipient|sender|owner|manager|attendee|speaker|"
    "vorname|nachname|kunde|ansprechpartner|absender|empfänger|"
    "nom|prénom|prenom|nom de famille|destinataire|expéditeur|"
    "nombre|apellido|apellidos|cliente|destinatario|remitente|"
    "nome|cognome|mittente|sobrenome|apelido|"
    "naam|voornaam|achternaam|klant|"
    "imię|imie|nazwisko|imię i nazwisko|klient|"
    "namn|förnamn|efternamn|kund|navn|fornavn|efternavn|"
    "nimi|etunimi|sukunimi|asiakas|"
    "jméno|jmeno|příjmení|prijmeni|zákazník|meno|priezvisko|"
    "név|vezetéknév|keresztnév|ügyfél|"
    "nume|prenume|"
    "ad soyad|soyad|soyadı|müşteri|"
    "ime|priimek|prezime|stranka"
)


def _keys(alternation: str) -> str:
    # "first name" also as first_name, first-name, firstname, firstName
    return "|".join(k.replace(" ", r"[ _\-]?") for k in alternation.split("|"))


_KEY = rf"(?P<key>(?i:{_keys(_PLACE_KEYS)}|{_keys(_PERSON_KEYS)}))"
_PLACE_KEY = re.compile(rf"(?i:{_keys(_PLACE_KEYS)})")
# key, then ':' '=' '=>' with optional quotes: "City: X", "city=X", '"city": "X"', "city => 'X'", "<city>X<"
_FIELD = re.compile(
    rf"(?:^|(?<=[\s{{,;(\[\"'<]))(?:[^\W\d_][\w.-]*[_.-])?{_KEY}(?P<q1>[\"']?)[ \t]*(?::|=>|:=|=|>)[ \t]*(?P<q2>[\"']?)"
    rf"(?P<value>[^\n\"'<;|\t]{{1,80}})"
)
# Where a field can be (see filters.pii.triggers): a key before ':', '=', '=>' or '>', and a key in a header line.
TRIGGERS = {
    "field": (rf"(?:^|[^A-Za-z0-9])(?:{ascii_words(_keys(_PLACE_KEYS) + '|' + _keys(_PERSON_KEYS), ('cím',))})[\"']?[ \t]*[:=>]", True),
    "header": (rf"(?:^|[,;\t|\"'])[ ]?(?:{ascii_words(_keys(_PLACE_KEYS) + '|' + _keys(_PERSON_KEYS), ('cím',))})[ ]?[\"']?(?:[,;\t|]|$)", True),
}
_NAME_VALUE = re.compile(rf"{UPPER}[^\W\d_]*(?:['’.\-][^\W\d_]+)*\.?(?:[ ]+(?:[a-z]{{1,4}}[ ]+)*{UPPER}[^\W\d_]*(?:['’.\-][^\W\d_]+)*\.?){{0,5}}")
_PLACE_VALUE = re.compile(rf"(?:{UPPER}|\d)[^\n]*")
_HEADER_SPLIT = re.compile(r"[,;\t|]")


class FieldFinder:
    """PERSON and LOCATION values of labelled fields and table columns (see the module docstring)."""

    def __init__(self, types, name_ok=None):
        self.types = set(types)
        # A check the names module supplies: a person value must look like a name (not "Debian Team").
        self.name_ok = name_ok or (lambda value: True)

    def find(self, text: str, ends: dict[str, list[int]] | None = None) -> list[Finding]:
        """Field and column values; ``ends``: the hits of :data:`TRIGGERS` (None: the whole text is read)."""
        found = []
        fields = _FIELD.finditer(text) if ends is None else search_windows(
            _FIELD, text, Triggers.windows(ends.get("field", ()), len(text), 60, 100))
        for m in fields:
            entity = "LOCATION" if _PLACE_KEY.fullmatch(m.group("key")) else "PERSON"
            if entity not in self.types:
                continue
            span = self._value(text, m.start("value"), m.end("value"), entity, quoted=bool(m.group("q2")))
            if span:
                found.append(Finding(entity, *span, FIELD_SCORE))
        if "\n" in text and (ends is None or "header" in ends) and ("," in text or ";" in text or "\t" in text or "|" in text):
            found += self._columns(text)
        return found

    def _value(self, text: str, start: int, end: int, entity: str, quoted: bool) -> tuple[int, int] | None:
        value = text[start:end]
        if not quoted:
            value = re.split(r",[ ]*(?=[\w\"'])|  |[)\]}]", value, maxsplit=1)[0] if entity == "PERSON" else value
        value = value.rstrip(" .,)]}")
        if not value or "@" in value or "/" in value or "\\" in value or "=" in value:
            return None
        if entity == "PERSON":
            m = _NAME_VALUE.match(value)
            if not m or (m.end() < len(value) and quoted) or any(c.isdigit() for c in value[: m.end()]):
                return None
            value = m.group().rstrip(".")
            if not self.name_ok(value):
                return None
        else:
            if not _PLACE_VALUE.match(value) or not any(c.isalpha() for c in value):
                return None
            if value.isupper() and len(value) <= 3:
                return None  # a country or region code ("DE", "NSW"): no place to scrub
            if value[0].isdigit() and not re.search(rf"{UPPER}[^\W\d_]", value):
                return None
        return start, start + len(value)

    def _columns(self, text: str) -> list[Finding]:
        """Values under a person or place column of a small table (a header line, then rows)."""
        found = []
        lines = text.split("\n")
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line) + 1)
        i = 0
        while i < len(lines) - 1:
            header = lines[i]
            delim = max(",;\t|", key=header.count)
            fields = [f.strip().strip("\"'").strip() for f in header.split(delim)]
            if header.count(delim) < 1 or not all(re.fullmatch(r"[^\W\d][\w .\-]{0,30}", f) for f in fields):
                i += 1
                continue
            kinds = ["LOCATION" if _PLACE_KEY.fullmatch(f) else "PERSON" if re.fullmatch(rf"(?i:{_keys(_PERSON_KEYS)})", f)
                     else None for f in fields]
            if not any(k in self.types for k in kinds):
                i += 1
                continue
            j = i + 1
            while j < len(lines) and lines[j].count(delim) == header.count(delim) and lines[j].strip():
                row_start = offsets[j]
                cells = next(csv.reader([lines[j]], delimiter=delim))
                pos = 0
                for cell, kind in zip(cells, kinds, strict=False):
                    at = lines[j].find(cell, pos)
                    if at < 0:
                        break
                    pos = at + len(cell)
                    if kind in self.types and cell.strip():
                        lead = len(cell) - len(cell.lstrip())
                        span = self._value(text, row_start + at + lead, row_start + at + len(cell.rstrip()), kind, True)
                        if span:
                            found.append(Finding(kind, *span, FIELD_SCORE))
                j += 1
            i = j
        return found


__all__ = ["FieldFinder"]
