"""Places by their structure: postal addresses, address fields, table columns (the words around a place:
:mod:`filters.pii.place_cues`).

A place NER and the lists miss is most often written inside an address or a field
that says what it is. Three rules, all language-independent in their mechanics and
fed with the words of the European languages (street types from ``mimesis``'
address data and the postal conventions of each country):

* **postal addresses**: a street (a street-type word before its name, ``rue``,
  ``Via``, ``Calle``, ``ul.``, ``ул.``, ``Rruga``, or after it, ``Street``,
  ``Straße``, ``utca``, ``Caddesi``, ``iela``, or inside it, ``Hauptstraße``,
  ``Kerkstraat``, ``Storgatan``, ``Nørregade``, ``Mannerheimintie``) with its house
  number, and a town with its postcode in the country's format (``75001 Paris``,
  ``1012 AB Amsterdam``, ``00-950 Warszawa``, ``London SW1A 1AA``, ``Austin, TX
  78701``); the address is one span from the first of its parts to the last
  (flat, floor, postcode, town, state, country);
* **fields**: the value after a key that names a place or a person (``City:``,
  ``"ville": "..."``, ``Wohnort=``, ``Name:``), in the same languages;
* **table columns**: in CSV/TSV/semicolon tables, the values under a header that
  names a place or a person.
"""

from __future__ import annotations

import re

from filters.gazetteer import UPPER, after_locative
from filters.pii.patterns import Finding
from filters.pii.triggers import Triggers, ascii_words, search_windows

ADDRESS_SCORE = 0.9
FIELD_SCORE = 0.7

_UP = UPPER
_CAP = rf"{_UP}[^\W\d_]*(?:['’.][^\W\d_]+)*\.?"  # a capitalised word ("O'Neil", "St.", "A.")
_CAPH = rf"{_CAP}(?:-{_CAP}|-[^\W\d_]+)*"  # with hyphenated parts ("Saint-Jean-de-Luz", "Rivière-du-Loup")
# Lower-case words inside street and town names ("Rue de la Paix", "Frankfurt am Main", "Newcastle upon Tyne"); no
# preposition that ends a sentence's place ("in Frosini on Tuesday").
LC_PART = r"(?:de|del|della|delle|dei|degli|di|da|do|dos|das|du|des|la|le|les|los|las|el|al|am|an der|an|der|den|van|von|sur|sous|lès|aux|upon|ob der|nad|pod)"
_NUM = r"\d{1,5}(?:[ ]?[^\W\d_](?![^\W\d_]))?(?:[ ]?[-/][ ]?\d{1,5}(?:[^\W\d_](?![^\W\d_]))?)?"
# The words before a house number: "No. 5", "Nr 5", "nº 5", "H.No. 70".
NUMBER_WORDS = r"[Nn][oº°r]\.?|N[oº°]:?|[Nn]úm\.?|[Nn]r\.?|#|nº|n\.|H\.[ ]?No\."
_NUMWORD = rf"(?:(?:{NUMBER_WORDS})[ ]?)?{_NUM}(?:[ ]?(?:bis|ter|[a-z]))?"

# A street-type word before the street's name (case-insensitive; "rue de la Paix", "Via Roma", "ul. Długa").
_BEFORE = (
    # French
    r"rue|avenue|av\.|ave\.|boulevard|bd\.?|bld\.?|chemin|ch\.|allée|impasse|imp\.|place|quai|route|rte\.?|cours|square|"
    r"passage|voie|sentier|rond-point|faubourg|fbg\.?|esplanade|promenade|parvis|cité|résidence|lieu-dit|hameau|montée|"
    r"traverse|ruelle|venelle|clos|"
    # Spanish, Catalan
    r"calle|c/|avenida|avda\.?|paseo|pº|plaza|pza\.|camino|carrera|cra\.|carretera|ctra\.|ronda|travesía|pasaje|glorieta|"
    r"callejón|vía|diagonal|calzada|cerrada|privada|prolongación|andador|circuito|bulevar|urbanización|colonia|barrio|"
    r"vial|senda|rambla|costanilla|cuesta|pasadizo|carrer|passeig|plaça|"
    # Italian
    r"via|viale|v\.le|piazza|p\.za|piazzale|corso|c\.so|largo|vicolo|strada|contrada|borgo|lungomare|lungotevere|salita|"
    r"galleria|rotonda|traversa|stradone|vico|località|loc\.|frazione|fraz\.|incrocio|"
    # Portuguese
    r"rua|praça|travessa|tv\.|estrada|alameda|rodovia|rod\.|viela|beco|ladeira|praceta|quinta|jardim|conjunto|quadra|"
    r"setor|residencial|fazenda|chácara|sítio|feira|campo|morro|parque|passeio|vereda|"
    # Dutch (those written before the name)
    r"laan van|plein|"
    # Polish, Czech, Slovak, Romanian, South Slavic
    r"ul\.|ulica|al\.|aleja|pl\.|plac|os\.|osiedle|rondo|skwer|bulwar|ulice|nám\.|náměstí|námestie|třída|tř\.|nábřeží|"
    r"nábrežie|str\.|bulevardul|b-dul|calea|aleea|piața|șoseaua|șos\.|splaiul|intrarea|drumul|cesta|trg|obala|avenija|"
    r"prilaz|šetalište|"
    # Albanian, Maltese, Irish, Greek
    r"rruga|rr\.|bulevardi|sheshi|triq|misraħ|sqaq|sráid|bóthar|οδός|οδ\.|λεωφόρος|λεωφ\.|πλατεία|"
    # Cyrillic
    r"ул\.|улица|пр\.|просп\.|проспект|пр-т|пер\.|переулок|бул\.|бульвар|наб\.|набережная|ш\.|шоссе|пл\.|площадь|алл\.|"
    r"аллея|вул\.|вулиця|пров\.|провулок|майдан|тупик|проезд|мкр\.|микрорайон|ж\.к\.|кв\."
)
# A street-type word after the street's name ("Baker Street", "Berliner Straße", "Kossuth Lajos utca").
_AFTER_STRONG = (
    r"street|st\.|road|rd\.|avenue|ave\.|lane|boulevard|blvd\.?|straße|strasse|str\.|gasse|allee|chaussee|utca|út|útja|"
    r"körút|krt\.|sokak|sokağı|sok\.|caddesi|cad\.|cd\.|bulvarı|mahallesi|mah\.|gatvė|iela|bulvāris|prospekts|tänav|"
    r"maantee|mnt\.|puiestee|ulica|nábrežie|námestie|trieda"
)
# Only with a house number ("42 Spencer Drive", "Rue X" aside): on their own they are ordinary words.
_AFTER_WEAK = (
    r"st|rd|ave|drive|dr\.|court|ct\.|place|pl\.|way|terrace|crescent|close|grove|gardens|garden|square|sq\.|parade|mews|"
    r"row|walk|hill|park|parkway|pkwy\.?|highway|hwy\.?|circle|cir\.|trail|plaza|alley|bend|bridge|causeway|cove|creek|"
    r"crossing|estate|expressway|extension|ferry|field|fields|freeway|glen|green|heights|junction|landing|loop|mall|"
    r"manor|motorway|pass|path|pike|point|ranch|rapids|route|run|shore|spur|station|trace|turnpike|viaduct|view|villas|"
    r"wharf|wynd|vale|rise|quay|gate|end|embankment|centre|center|common|corner|esplanade|grange|hollow|knoll|lodge|"
    r"meadow|meadows|orchard|oval|plains|ridge|springs|stream|summit|track|valley|vista|wells|woods|weg|platz|ring|"
    r"damm|ufer|steig|pfad|markt|tér|köz|sor|sétány|rakpart|fasor|yolu|meydanı|g\.|pr\.|prospektas|alėja|"
    r"tn\.?|tee|väljak|cesta|rad|"
    # USPS street suffixes (Publication 28, appendix C1) that are no common word after a number
    r"branch|brook|canyon|cliff|courtyard|crest|falls|forest|forge|frontage|harbor|harbour|inlet|island|isle|mill|"
    r"mountain|overpass|plain|prairie|radial|shoal|skyway|stravenue|throughway|tunnel|underpass|village"
)
# Weak after-words that take a plural ("Kevin Glens", "Cory Lights", "Mill Springs").
_AFTER_WEAK_PLURAL = r"glen|light|court|cove|creek|ridge|meadow|field|garden|point|spring|mill|island|shoal|plain|crest|cliff|brook"
# The after-words whose number follows the name ("Berliner Platz 5", "Andrássy út 12"), not precedes it.
_AFTER_NUMBER_AFTER = r"weg|platz|ring|damm|ufer|steig|pfad|markt|tér|köz|sor|sétány|rakpart|fasor|yolu|meydanı|g\.|pr\.|prospektas|alėja|tn\.?|tee|väljak|cesta|rad"
# The end of one word that is a street's name ("Hauptstraße 5", "Kerkstraat 12", "Storgatan 3"): with a number only.
_COMPOUND = (
    r"straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|pfad|chaussee|markt|graben|stieg|"
    r"straat|laan|plein|gracht|kade|singel|dreef|dijk|steeg|"
    r"gatan|gata|vägen|väg|gränd|torget|torg|stigen|backen|"
    r"vej|gade|allé|plads|stræde|vænge|torv|"
    r"veien|vei|gate|plass|"
    r"katu|tie|kuja|polku|tori|raitti|väylä|kaari|aukio|"
    r"vegur|stræti|braut|stígur"
)
# Flats, floors and units: the word before a number inside an address.
UNIT_WORDS = (
    r"apt\.?|apartment|suite|level|lvl\.?|ste\.|unit|flat|floor|fl\.|room|rm\.|studio|building|bldg\.?|block|wohnung|whg\.?|etage|"
    r"stock|tür|app\.?|appartement|bâtiment|bât\.?|étage|piso|puerta|dpto\.?|depto\.?|int\.|interno|scala|piano|"
    r"appartamento|bus|bte|boîte|lok\.|m\.|mieszk\.|apto\.?|sala|bloco|andar|кв\.|д\.|корп\.|стр\.|к\.|оф\."
)
_SECONDARY = rf"(?:{UNIT_WORDS})[ ]?(?:{_NUM}|[A-Z])"
_ST_NAME = rf"(?:{_CAPH}|{_NUM}(?:st|nd|rd|th|e|er|ème|º|ª|\.)?)(?:[ ](?:(?:{LC_PART})[ ])*{_CAPH})*"

_STREET = re.compile(
    # type word first: "12 rue de la Paix", "Via Roma, 12", "ul. Długa 5", "Calle 5 # 8-8 Este"
    rf"(?:(?<![\w.]){_NUMWORD},?[ ])?(?<![\w-])(?i:{_BEFORE})[ ](?:\d{{1,4}}(?![\w.])|(?:(?:{LC_PART}|d'|l')[ ]?)*{_CAPH}(?:[ ](?:(?:{LC_PART})[ ])*{_CAPH})*)(?:,?[ ]{_NUMWORD}(?![\w]))?"
    # type word after: "221B Baker Street", "Berliner Straße 5", "Atatürk Caddesi No: 5"
    rf"|(?:(?<![\w.]){_NUMWORD}[ ])?{_ST_NAME}[ ](?i:{_AFTER_STRONG})(?![\w])(?:,?[ ]{_NUMWORD}(?![\w]))?"
    rf"|(?<![\w.]){_NUMWORD},?[ ]{_ST_NAME}[ ](?i:{_AFTER_WEAK}|(?:{_AFTER_WEAK_PLURAL})s)(?![\w])"
    rf"|{_ST_NAME}[ ](?i:{_AFTER_NUMBER_AFTER})(?![\w]),?[ ]{_NUMWORD}(?![\w])"
    # one word: "Hauptstraße 5", "Kerkstraat 12a"
    rf"|(?<![\w-]){_UP}[^\W\d_]*(?i:{_COMPOUND})(?![\w])[ ]{_NUMWORD}(?![\w])"
)
_SECONDARY_RE = re.compile(rf"(?i:{_SECONDARY})(?![\w])")
# A town's words: a full stop only after an abbreviation ("St. Gallen"), never across a sentence's end.
TOWN_WORD = rf"(?:{_UP}[^\W\d_]{{0,2}}\.|{_UP}[^\W\d_]*(?:['’][^\W\d_]+)*(?:-[^\W\d_]+)*)"
_TOWN = rf"{TOWN_WORD}(?:[ ](?:(?:{LC_PART}|d'|l')[ ]?)?{TOWN_WORD}){{0,3}}(?:[ ]\({_CAPH}\.?\))?"
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|"
    "PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|AA|AE|AP|AS|GU|MP|VI|FM|MH|PW"
)
_CA_PROVINCES = "AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT"
_AU_STATES = "NSW|VIC|QLD|SA|WA|TAS|NT|ACT"
# Postcode then town, by country format: DE FR ES IT FI HR TR (5), AT CH BE DK NO HU SI LU BG (4), NL, PL, SE CZ SK GR,
# PT, BR, IS (3), RO RU (6), with a country letter prefix (D-, CH-, LT-).
_PC_FIRST = (
    r"(?:[A-Z]{1,2}-)?\d{5}(?:-\d{3})?|(?:[A-Z]{1,2}-)?\d{4}(?:[ ]?[A-Z]{2}(?![\w]))?|\d{2}-\d{3}|\d{3}[ ]\d{2}|\d{4}-\d{3}"
    r"|\d{6}|\d{3}"
)
# Town then postcode: UK, Ireland (Eircode), US (state + ZIP), Canada, Australia, India, New Zealand.
_PC_AFTER = (
    rf"[A-Z]{{1,2}}\d[A-Z\d]?[ ]?\d[A-Z]{{2}}|[A-Z]\d{{2}}[ ]?[A-Z\d]{{4}}|(?:{_US_STATES})[ ]\d{{5}}(?:-\d{{4}})?"
    rf"|(?:{_CA_PROVINCES})?[ ]?[A-Z]\d[A-Z][ ]?\d[A-Z]\d|(?:{_AU_STATES})[ ]\d{{4}}|\d{{6}}|\d{{4}}"
)
_POSTTOWN = (
    re.compile(rf"(?<![\w.,/:-])(?P<pc1>{_PC_FIRST})[ ](?P<town1>{_TOWN})"),
    re.compile(rf"(?P<town2>{_TOWN}),?[ ]{{1,2}}(?P<pc2>{_PC_AFTER})(?![\w])"),
)
_DISTINCT_PC = re.compile(
    rf"^(?:[A-Z]{{1,2}}-\d{{3,5}}|\d{{4}}[ ]?[A-Z]{{2}}|\d{{2}}-\d{{3}}|\d{{4}}-\d{{3}}|\d{{5}}-\d{{3}}|[A-Z]{{1,2}}\d[A-Z\d]?[ ]?\d[A-Z]{{2}}"
    rf"|(?:{_US_STATES})[ ]\d{{5}}(?:-\d{{4}})?|(?:{_CA_PROVINCES})?[ ]?[A-Z]\d[A-Z][ ]?\d[A-Z]\d|(?:{_AU_STATES})[ ]\d{{4}})$"
)
# Russian-style settlements: "г. Москва", "с. Листвянка", "пгт Name".
_SETTLEMENT = re.compile(r"(?<![\w])(?:\d{6},?[ ])?(?:г|гор|с|д|п|пос|пгт|ст|ст-ца|х|аул|клх|село|город|деревня)\.?[ ][А-ЯЁЇІЄҐЈЉЊЋЏЃЌЅ][\w-]+(?:[ ][А-ЯЁЇІЄҐЈЉЊЋЏЃЌЅ][\w-]+)?(?:[ ]\([\w.]+\))?")
_ADDRESS_FIELD = re.compile(
    r"(?i:address|adresse|anschrift|dirección|direccion|domicilio|indirizzo|endereço|morada|adres|adresa|cím|osoite|"
    r"adress|naslov|адрес|адреса|διεύθυνση)[\"']?\s*[:=]?\s*[\"']?$"
)
_BARE_STREET = re.compile(rf"(?<![\w.])(?:(?:{_CAPH}[ ])+{_NUM}|{_NUM},?[ ](?:{_CAPH}[ ]?)+),[ ]?$")
_UNIT_LINE = re.compile(rf"(?i:{_SECONDARY}),[ ](?:{_CAPH}[ ]?){{1,4}},[ ]?$")
_JOIN = re.compile(r",?[ \t]*(?:\n[ \t]*)?|[ ]+[–-][ ]+")


# Where a street can be: a street word before a space, after a space, a weak one after a number and a few words,
# the end of a one-word street before its number; a town before a postcode of the English-speaking countries.
TRIGGERS = {
    "street_before": (rf"(?:^|[^A-Za-z0-9_?-])(?:{ascii_words(_BEFORE)}) ", True),
    "street_after": (rf" (?:{ascii_words(_AFTER_STRONG, ('út',))})(?:[^A-Za-z0-9_?]|$)", True),
    "street_weak": (rf"[0-9][^ \n]{{0,6}} (?:[^ \n]+ ){{1,4}}(?:{ascii_words(_AFTER_WEAK, ('tér', 'köz'))}|(?:{_AFTER_WEAK_PLURAL})s)(?:[^A-Za-z0-9_?]|$)", True),
    "street_one": (rf"(?:{ascii_words(_COMPOUND)}) [0-9]", True),
    "town_postcode": (r"[A-Za-z?],? {1,2}(?:[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}|[A-Z][0-9]{2} ?[A-Z0-9]{4}|[A-Z]{2} [0-9]{5}"
                      r"|(?:[A-Z]{2} ?)?[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]|[A-Z]{2,3} [0-9]{4}|[0-9]{4}|[0-9]{6})(?:[^A-Za-z0-9]|$)", False),
}
_STREET_TRIGGERS = ("street_before", "street_after", "street_weak", "street_one")
_DIGIT = re.compile(r"\d")


class AddressFinder:
    """Postal addresses, place and name fields, table columns (see the module docstring)."""

    def __init__(self, gazetteer=None):
        self.gaz = gazetteer
        self._triggers = None

    def ends(self, text: str) -> dict[str, list[int]] | None:
        """The hits of :data:`TRIGGERS` in ``text``, or None when the rules must read it whole (another script)."""
        if Triggers.whole(text):
            return None
        if self._triggers is None:
            self._triggers = Triggers(TRIGGERS)
        return self._triggers.ends(text)

    # ------------------------------------------------------------ addresses

    def addresses(self, text: str, ends: dict[str, list[int]] | None = None) -> list[Finding]:
        """Postal addresses; ``ends``: the trigger hits (see :meth:`ends`; None: the whole text is read)."""
        if not _DIGIT.search(text) and not _SETTLEMENT.search(text):
            return []
        if ends is None:
            ends = self.ends(text)
        parts: list[tuple[int, int, frozenset[str]]] = []  # (start, end, kinds)
        if ends is None:
            streets, towns_after = _STREET.finditer(text), _POSTTOWN[1].finditer(text)
        else:
            street_ends = [e for k in _STREET_TRIGGERS for e in ends.get(k, ())]
            streets = search_windows(_STREET, text, Triggers.windows(street_ends, len(text), 110, 60))
            towns_after = search_windows(_POSTTOWN[1], text, Triggers.windows(ends.get("town_postcode", ()), len(text), 90, 12))
        for m in streets:
            if not any(w.isupper() and len(w) > 1 for w in m.group().split()[1:2]):  # "intrarea EXIDX": a symbol
                parts.append((m.start(), m.end(), _STREET_PART))
        for regex, matches in ((_POSTTOWN[0], _POSTTOWN[0].finditer(text)), (_POSTTOWN[1], towns_after)):
            for m in matches:
                town = m.group("town1" if "town1" in regex.groupindex else "town2")
                pc = m.group("pc1" if "pc1" in regex.groupindex else "pc2")
                if pc.isdigit() and len(pc) == 4 and 1900 <= int(pc) <= 2099 and "pc1" in regex.groupindex:
                    continue  # "2019 Debian": a year before a capitalised word
                if pc.isdigit() and "pc2" in regex.groupindex and _POSTTOWN[0].match(text, m.start("pc2")):
                    continue  # "Anna Meier, 8630 Rüti": the number is the postcode of the town after it
                # A town and a bare number after it ("Cookleigh 5391", but also "ISO 8601") only inside an address.
                listed = pc.isdigit() and len(pc) in (4, 5) and "pc1" in regex.groupindex and self._listed(town)
                strong = _DISTINCT_PC.match(pc) or listed
                parts.append((m.start(), m.end(), _STRONG if strong else _WEAK))
        if ends is None:  # (Cyrillic settlements: only in texts read whole)
            for m in _SETTLEMENT.finditer(text):
                parts.append((m.start(), m.end(), _STRONG))
        if not parts:
            return []
        parts.sort()
        # Chain the parts that follow one another (", ", a line break, " - "), with flats and floors between them.
        chains: list[list[tuple[int, int, frozenset[str]]]] = []
        for p in parts:
            if chains and p[0] < chains[-1][-1][1]:
                last = chains[-1][-1]
                chains[-1][-1] = (last[0], max(last[1], p[1]), last[2] | p[2])
                continue
            if chains and self._joined(text, chains[-1][-1][1], p[0]):
                chains[-1].append(p)
            else:
                chains.append([p])
        found = []
        for chain in chains:
            kinds = frozenset().union(*(k for _, _, k in chain))
            if "strong" in kinds:
                chain[0] = (self._unit_line_before(text, chain[0][0]), *chain[0][1:])
            start, end = chain[0][0], chain[-1][1]
            before = self._address_before(text, start)
            if kinds == {"posttown"} and before is None:
                continue  # "10 Downloads" alone: a number before a capitalised word is no address
            if kinds == {"street"} and not re.search(r"^\d+\w?(?!,)|\d\w?$", text[start:end]) and before is None and not after_locative(text, start):
                continue  # "Use Place Settings", "via GitHub", "Figure 3, Setup Path": a street needs its number before
                # it (not a figure's) or after it, or an address word
            if before is not None:
                start = before
            if text[end - 1] == "." and text[end - 4 : end - 1].isalpha() and not re.match(r" ?\d", text[end : end + 2]):
                end -= 1  # the sentence's full stop
            start = self._secondary_before(text, start)
            end = self._secondary_after(text, end)
            found.append(Finding("LOCATION", start, end, ADDRESS_SCORE))
        return found

    @staticmethod
    def _unit_line_before(text: str, start: int) -> int:
        """The start of a flat and a street without a street word before a town and its postcode (``Flat 29, Rees
        Shoal, Taylorfort B1A 1AF``): from the flat."""
        lo = max(0, start - 60)
        m = _UNIT_LINE.search(text, lo, start)
        return m.start() if m else start

    def _listed(self, town: str) -> bool:
        if self.gaz is None:
            return False
        town = re.sub(r" \(.*\)$", "", town)
        return self.gaz.is_place(town) or self.gaz.is_place(town.split()[0])

    @staticmethod
    def _joined(text: str, end: int, start: int) -> bool:
        gap = text[end:start]
        if _JOIN.fullmatch(gap):
            return True
        # a flat or floor between two parts: "Main Street 5, Apt. 3, 10115 Berlin"
        m = re.fullmatch(rf",?[ \t\n]*(?:{_SECONDARY}[ ,\t\n]*)+", gap, re.IGNORECASE)
        return bool(m) and len(gap) < 40

    @staticmethod
    def _address_before(text: str, start: int) -> int | None:
        """Where the address starts when an address field (at ``start``) or a street-like part without a street
        word (``Луј Пастер 8б, ``: from it) comes right before ``start``; else None."""
        lo = max(0, start - 60)
        before = text[lo:start]
        if _ADDRESS_FIELD.search(before):
            return start
        m = _BARE_STREET.search(before)
        return lo + m.start() if m else None

    @staticmethod
    def _secondary_before(text: str, start: int) -> int:
        m = re.search(rf"(?i:{_SECONDARY}),?[ \t]*\n?[ \t]*$", text[max(0, start - 24) : start])
        return start - len(m.group()) if m else start

    @staticmethod
    def _secondary_after(text: str, end: int) -> int:
        while True:
            m = re.match(rf",?[ ](?i:{_SECONDARY})(?![\w])", text[end : end + 24])
            if not m:
                return end
            end += m.end()


def _mid_sentence(text: str, start: int) -> bool:
    before = text[max(0, start - 3) : start].rstrip()
    return bool(before) and before[-1] not in ".!?:;\n\"'(*-#>"


_STREET_PART, _STRONG, _WEAK = frozenset({"street"}), frozenset({"strong"}), frozenset({"posttown"})


__all__ = ["NUMBER_WORDS", "UNIT_WORDS", "AddressFinder"]
