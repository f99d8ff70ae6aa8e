"""pii v3's place and field rules, and what NER may and may not say: each rule finds its value, and its look-alikes
(technical prose that a naive rule would take for a place or a name) survive."""

import re

import pytest

from filters.pii import Detector, Pii
from filters.pii.names import RUN
from filters.pii.place_cues import named_town
from filters.pii.words import software_names


def _values(detector, text, lang="en"):
    [found] = detector.detect([text], [lang])
    return [(f.type, text[f.start : f.end]) for f in found]


@pytest.fixture(scope="module")
def rules():
    return Detector(["PERSON", "LOCATION"], ner_languages=())  # rules and lists only: no spaCy


@pytest.fixture(scope="module")
def ner():
    return Detector(["PERSON", "LOCATION"])  # the default: NER reads every language


ADDRESSES = [
    ("Rechnungsanschrift: Hauptstraße 12, 10115 Berlin", "Hauptstraße 12, 10115 Berlin"),  # one-word street, DE
    ("Bezorgen op Kerkstraat 12a, 1012 AB Amsterdam graag.", "Kerkstraat 12a, 1012 AB Amsterdam"),  # NL postcode
    ("Adres: ul. Długa 5, 00-950 Warszawa", "ul. Długa 5, 00-950 Warszawa"),  # street word first, PL postcode
    ("Envoyer au 12 rue de la Paix, 75002 Paris.", "12 rue de la Paix, 75002 Paris"),  # number first, FR
    ("Skicka till Storgatan 3, 111 22 Stockholm.", "Storgatan 3, 111 22 Stockholm"),  # SE postcode
    ("Cím: Kossuth Lajos utca 5, 1055 Budapest", "Kossuth Lajos utca 5, 1055 Budapest"),  # street word after, HU
    ("Adres: Atatürk Caddesi No: 5, 34000 İstanbul", "Atatürk Caddesi No: 5, 34000 İstanbul"),  # TR, "No:"
    ("Ship to 221 Baker Street, London NW1 6XE today.", "221 Baker Street, London NW1 6XE"),  # UK postcode after
    ("Mail it to 500 Oak Drive Apt. 4, Austin, TX 78701 please.", "500 Oak Drive Apt. 4, Austin, TX 78701"),  # US
    ("Indirizzo: Via Roma, 12, 00184 Roma", "Via Roma, 12, 00184 Roma"),  # IT, comma before the number
    ("Endereço: Rua Direita 29, 4050-123 Porto", "Rua Direita 29, 4050-123 Porto"),  # PT postcode
    ("Адрес: 101000, г. Москва, ул. Мясницкая, д. 26", "101000, г. Москва, ул. Мясницкая, д. 26"),  # RU order
    ("Flat 7, Rose Court, Leeds LS1 4AP", "Flat 7, Rose Court, Leeds LS1 4AP"),  # a flat and a street word-less line
]


@pytest.mark.parametrize(("text", "value"), ADDRESSES)
def test_postal_addresses_are_one_place(rules, text, value):
    assert ("LOCATION", value) in _values(rules, text)


ADDRESS_LOOKALIKES = [
    "For the date format, see ISO 8601 and RFC 3339.",  # a standard's number after a capitalised word
    "Version 1.0.0 was released in March 1998.",
    "The package moved via GitHub in 2019 and 10 Downloads were counted.",
    "Use Place Settings and the Route menu to change it.",  # street words as menu names, no number
    "Tested on CentOS Stream 8 and Debian 12.",
    "Fixed in Bug #411123, Bug #411124.",
    "It needs 1024 Bytes and 2048 Blocks.",
    "depășire PREL31 în intrarea EXIDX",  # a street word before a symbol
]


@pytest.mark.parametrize("text", ADDRESS_LOOKALIKES)
def test_address_lookalikes_survive(rules, text):
    assert [v for t, v in _values(rules, text) if t == "LOCATION"] == []


FIELDS = [
    ('{"customer": "Alex Moreno", "city": "Bretonboeuf"}', [("PERSON", "Alex Moreno"), ("LOCATION", "Bretonboeuf")]),
    ("Wohnort: Kleinmachnow\nName: Anna Nagy", [("LOCATION", "Kleinmachnow"), ("PERSON", "Anna Nagy")]),
    ("customer_city=Sion\nbilling.first_name = 'Jürgen'", [("LOCATION", "Sion"), ("PERSON", "Jürgen")]),
    ("<ville>Lausanne</ville>", [("LOCATION", "Lausanne")]),
    ("name;miasto\nJan Kowalski;Żyrardów\nEwa Nowak;Kłodzko",  # a table: the values under the header's columns
     [("PERSON", "Jan Kowalski"), ("LOCATION", "Żyrardów"), ("PERSON", "Ewa Nowak"), ("LOCATION", "Kłodzko")]),
]


@pytest.mark.parametrize(("text", "expected"), FIELDS)
def test_fields_and_columns_name_their_values(rules, text, expected):
    found = _values(rules, text)
    assert all(e in found for e in expected), found


FIELD_LOOKALIKES = [
    "Location: /usr/share/doc/debian",  # a path
    "Name: Debian Reference",  # a name field holding no name the lists know
    "name: foo\nversion: 1.2",
    "Country: DE",  # a code, nothing to scrub
    "Address: 0x7fff1234",
    "package,version,maintainer\nfoo,1.2,Team",  # a table without a person or place column
]


@pytest.mark.parametrize("text", FIELD_LOOKALIKES)
def test_field_lookalikes_survive(rules, text):
    assert _values(rules, text) == []


PLACE_CUES = [
    ("She was born in Xyzabad and never left.", "Xyzabad"),  # a residence word: any capitalised run
    ("Sie wohnt in Bad Ischl.", "Bad Ischl"),
    ("Il est né à Saint-Étienne.", "Saint-Étienne"),
    ("Natalie Clarke (Whiteton)\nSenior engineer", "Whiteton"),  # after a person, in parentheses
    ("Contact: Jan Novák, Brno\n", "Brno"),  # after a person, at a line's end
    ("The Robinsonview build farm is back.", "Robinsonview"),  # a town named after a person
    ("We flew from Almería to Almería by mistake.", "Almería"),
]


@pytest.mark.parametrize(("text", "value"), PLACE_CUES)
def test_places_by_the_words_around_them(rules, text, value):
    assert ("LOCATION", value) in _values(rules, text)


PLACE_LOOKALIKES = [
    "Migrate from Python to Perl, then from GNOME to KDE.",  # "from X to Y" with products
    "The project moved to GitHub in 2019.",
    "John Smith (Red Hat) reviewed it.",  # a company after a person
    "Use a Singleton or a Button here.",  # English words with a town's ending
    "Set it to No, for security reasons.",
]


@pytest.mark.parametrize("text", PLACE_LOOKALIKES)
def test_place_lookalikes_survive(rules, text):
    assert [v for t, v in _values(rules, text) if t == "LOCATION"] == []


def test_named_towns_need_a_name_and_an_ending():
    from filters.gazetteer import gazetteer

    gaz = gazetteer()
    assert named_town(gaz, "Jacksonville") or gaz.is_place("Jacksonville")
    assert named_town(gaz, "Dalymouth")
    assert not named_town(gaz, "Clinton")  # a surname itself
    assert not named_town(gaz, "Skeleton")  # no name before the ending


def test_software_is_no_lone_place_or_person(ner, rules):
    assert {"perl", "tcl", "java", "wayland", "linux"} <= software_names()
    text = "Some Java graphical applications and the Perl interface run on Wayland."
    assert [v for t, v in _values(ner, text) if t in ("PERSON", "LOCATION")] == []
    # A strong cue still wins over the list: a place where someone lives is a place.
    assert ("LOCATION", "Java") in _values(rules, "Rina lives in Java with her family.")


def test_ner_names_keep_only_capitalised_words(ner):
    # The English model reads Czech, Slovene and Turkish text too: it used to tag lower-case phrases as people.
    texts = [("Prostor mezi dvěma po sobě následujícími sloupci Na čtvrté úrovni znak nedělitelné mezery", "cs"),
             ("Ali naj bosta pri mešanem besedilu prikazana dva kazalca ločeno za besedilo", "sl"),
             ("Bir ağacı çalışma ağacı veya indeks ile karşılaştır Kullanıcıların işi", "tr")]
    for text, lang in texts:
        for t, v in _values(ner, text, lang):
            assert all(w[0].isupper() or w in ("van", "de", "da", "di") for w in v.split()), (t, v)


def test_ner_cut_to_the_name_and_a_first_name_before_an_unlisted_word(ner, rules):
    assert ("PERSON", "Günter Losekann") in _values(ner, "Call Günter Losekann on Monday before Friday.")
    assert ("PERSON", "Ernesto Spallanzani") in _values(rules, "Please ask Ernesto Spallanzani about the release.")
    assert _values(rules, "Eine Umgebungsvariable und die Art von Dateien.", "de") == []


def test_capitals_and_full_stops_in_runs():
    # "ś" opening the rest of a Polish word is no capital; a full stop after a word of four letters ends a sentence.
    assert [m.group() for m in RUN.finditer("zawartości okna")] == []
    assert [m.group() for m in RUN.finditer("Ciro Borghese. Built on Monday")][:1] == ["Ciro Borghese"]
    assert [m.group() for m in RUN.finditer("J. R. Hartley")] == ["J. R. Hartley"]


def test_reference_numbers_are_no_phones():
    structured = Detector(["PHONE_NUMBER"])
    assert _values(structured, "Order No. 2023-004471 shipped.") == []
    assert _values(structured, "Invoice 4404123456 is paid.") == []
    assert _values(structured, "Tel. 0471123456") == [("PHONE_NUMBER", "0471123456")]


def test_every_language_is_read_by_default():
    op = Pii()
    assert op.config.languages == ["*"]
    detector = Detector(["PERSON"], ner_languages=("*",))
    assert "en" in detector.nlps
    # A Polish record gets NER (by the English pipeline) without naming Polish anywhere.
    text = "Dokument przygotowała Katarzyna Wiśniewska z zespołu."
    assert any(v.startswith("Katarzyna") for t, v in _values(detector, text, "pl") if t == "PERSON")
    # Named languages only: a Polish record gets cues, lists and patterns, no NER window.
    assert re.sub(r"\s", "", "en") in Detector(["PERSON"], ner_languages=("en",)).nlps


def test_place_list_knows_villages_and_countries_in_every_european_language(rules):
    from filters.gazetteer import gazetteer

    gaz = gazetteer()
    # Countries as written in the document's language (pycountry's ISO 3166 translations beyond the seven
    # languages of v2), English names given with their article moved ("Congo, The Democratic Republic of the").
    for country in ("Lihtenštajn", "Γροιλανδία", "Democratic Republic of the Congo", "Lichtenštajnsko"):
        assert gaz.is_place(country), country
    # GeoNames places of 500 to 1,000 inhabitants (a Czech village), so a travel word finds it.
    assert gaz.is_place("Zlatá Olešnice")
    assert ("LOCATION", "Zlatá Olešnice") in _values(rules, "She moved to Zlatá Olešnice in May.")


def test_a_larger_place_list_adds_no_common_doc_words():
    from filters.gazetteer import gazetteer

    gaz = gazetteer()
    for word in ("Version", "Table", "Comment", "Release", "Options", "Description", "Example", "Usage", "Warning"):
        assert not gaz.is_place(word), word


BESIDE_A_PERSON = [
    ("Kontakt: Jan Novák, Chatriand am See\nTel. 123", "Chatriand am See"),  # at a line's end: need not be listed
    ("By Anna Kowalska, Výravka", "Výravka"),
    ("By Anna Kowalska, Xyzabad, 2024\n", "Xyzabad"),  # a byline closed by a year
    ("| Anna Kowalska | Rheinfelden | +41 44 123 45 67 |", "Rheinfelden"),  # a listed town in a person's table row
]


@pytest.mark.parametrize(("text", "value"), BESIDE_A_PERSON)
def test_a_place_beside_a_person(rules, text, value):
    assert ("LOCATION", value) in _values(rules, text)


@pytest.mark.parametrize("text", [
    "Reviewed by Anna Kowalska, CTO\n",  # a title
    "Signed: Anna Kowalska, Linux\n",  # software
    "Signed: Anna Kowalska, Linux, 2024\n",
    "Anna Kowalska, Release 2, 2024\n",  # a year closes the line, not any number
    "Thanks, Anna Kowalska, This\n",  # a stop word
    "| Anna Kowalska | Version | 1.2 |",  # a table cell no list knows
    "| Version | Rheinfelden | 1.2 |",  # a town in a row without a person: not this rule's
])
def test_what_ends_a_persons_line_is_not_always_a_place(rules, text):
    assert [v for t, v in _values(rules, text) if t == "LOCATION"] == []


# ---------------------------------------------------------------- addresses in the Indian, Australian and US orders

MORE_ADDRESSES = [
    # a house number and a comma before the street (India, UK): the weak postcode after the town needs it
    ("Invoice to: Brijesh Pant, 14, Shah Circle, Rajpur Sonarpur 710573.", "14, Shah Circle, Rajpur Sonarpur 710573"),
    ("Invoice to: Dipta Madan, 310, Purohit, Vadodara 657608.", "310, Purohit, Vadodara 657608"),  # no street word
    ("Our new address is H.No. 70, Swamy Nagar, Dibrugarh 580494; please", "H.No. 70, Swamy Nagar, Dibrugarh 580494"),
    # a plural street type (USPS "Glens", "Lights") and a level before the number
    ("Visit us at 031 Cory Lights Suite 226, Mendezmouth, OK 68068 or call", "031 Cory Lights Suite 226, Mendezmouth, OK 68068"),
    ("Kenneth Young – 63533 Kevin Glens Suite 776, Brandonstad, MT 36562", "63533 Kevin Glens Suite 776, Brandonstad, MT 36562"),
    ("Visit us at Level 8 2 Cruz Frontage, Feliciaburgh, WA 2073 or call", "Level 8 2 Cruz Frontage, Feliciaburgh, WA 2073"),
    # two parts found apart, one place ("RD 10": a rural delivery route)
    ("Ship the parts to 7 Baker Trail, RD 10, Potau 6108 before May.", "7 Baker Trail, RD 10, Potau 6108"),
]


@pytest.mark.parametrize(("text", "value"), MORE_ADDRESSES)
def test_addresses_whole_from_the_house_number(rules, text, value):
    assert ("LOCATION", value) in _values(rules, text)


def test_a_postcode_belongs_to_the_town_after_it_not_the_name_before_it(rules):
    # "Anna Meier, 8630" read as a town and its postcode (the Australian order) swallowed the name into the address
    found = _values(rules, "Kontakt: Anna Meier, 8630 Rüti\n", "de")
    assert ("LOCATION", "8630 Rüti") in found and not any(t == "LOCATION" and "Anna" in v for t, v in found), found


@pytest.mark.parametrize("text", [
    "Figure 3, Setup Path",  # a figure's number and a comma before a street-like title
    "2024-03-01, 10115 Berlin",  # a date's day is no house number
    "Chapter 3 Berlin",  # a number before a place without digits is no house number
])
def test_house_numbers_only_before_streets(rules, text):
    values = [v for t, v in _values(rules, text) if t == "LOCATION"]
    assert all(not v[:1].isdigit() or v.startswith("10115") for v in values) and "Figure 3, Setup Path" not in values, values


# ---------------------------------------------------------------- places grown to their whole name

def _grown(text, findings):
    from filters.pii.patterns import Finding
    from filters.pii.place_growth import grow
    from filters.pii.words import stop_words

    found = [Finding(t, text.index(v), text.index(v) + len(v), 0.7) for t, v in findings]
    return [(f.type, text[f.start : f.end]) for f in grow(text, found, stop_words())]


GROWN = [
    ("Contact: Blanca Escobedo, Nueva Uganda\n", [("LOCATION", "Uganda")], ("LOCATION", "Nueva Uganda")),
    ("Mans am Bahnhof Büsingen am Hochrhein, danach", [("LOCATION", "Büsingen")], ("LOCATION", "Büsingen am Hochrhein")),
    ("Il convegno si terrà a Camino Al Tagliamento; referente", [("LOCATION", "Camino")], ("LOCATION", "Camino Al Tagliamento")),
    ("The office in Sale San Giovanni opens", [("LOCATION", "Sale")], ("LOCATION", "Sale San Giovanni")),
    ("Senior Engineer, St. Bernard\nTel.", [("LOCATION", "Bernard")], ("LOCATION", "St. Bernard")),
    ("We drove on to Fort William that night.", [("PERSON", "William")], ("LOCATION", "Fort William")),  # a person's name
]


@pytest.mark.parametrize(("text", "findings", "grown"), GROWN)
def test_places_grow_to_their_whole_name(text, findings, grown):
    assert grown in _grown(text, findings)


def test_places_grow_over_nothing_else():
    # a preposition and a weekday after a place, a list of places, a name after a title, a name of two words
    assert _grown("We met in Paris on Monday.", [("LOCATION", "Paris")]) == [("LOCATION", "Paris")]
    assert _grown("Die Sitzung ist in Buchs am Montag.", [("LOCATION", "Buchs")]) == [("LOCATION", "Buchs")]
    assert _grown("Offices: Berlin and Vienna.", [("LOCATION", "Berlin"), ("LOCATION", "Vienna")]) == [
        ("LOCATION", "Berlin"), ("LOCATION", "Vienna")]
    assert _grown("Ask Dr. William about it.", [("PERSON", "William")]) == [("PERSON", "William")]
    assert _grown("Ask New Anna Smith.", [("PERSON", "Anna Smith")]) == [("PERSON", "Anna Smith")]
    # the Paris of a person's name stays a person; a place that meets a person is cut before it
    assert _grown("Call Lake Anna Smith", [("PERSON", "Anna Smith")]) == [("PERSON", "Anna Smith")]


# ---------------------------------------------------------------- the words around a place, in more languages

MORE_CUES = [
    ("Utrecht, 3 maart 2024\n\nGeachte heer,", "nl", "Utrecht"),  # a letter's place and date
    ("Warszawa, dnia 12 marca 2024 r.\n", "pl", "Warszawa"),
    ("Vi ses i Norrtälje nästa vecka.", "sv", "Norrtälje"),  # the short locatives of the document's language
    ("Ci vediamo a Chioggia domani.", "it", "Chioggia"),
    ("Hij woont te Amersfoort sinds 2019.", "nl", "Amersfoort"),
    ("Kontakt: Anna Meier, 8630 Xyzwil ZH\n", "de", "8630 Xyzwil ZH"),  # a Swiss town and its canton
    ("Das Treffen ist in Xyzwil SG.", "de", "Xyzwil SG"),
    ("We flew from Lyon to Xyzabad on Monday.", "en", "Xyzabad"),  # one end a listed place: the other one too
    ("# Maintainer: Jan Novak (Acme GmbH, Paderborn)", "en", "Paderborn"),  # the last of a person's parentheses
    ("Met vriendelijke groet,\nJan Jansen\nAmersfoort", "nl", "Amersfoort"),  # a signature's town line
    ("Meeting notes, Courtois-sur-Mer, attendees", "en", "Courtois-sur-Mer"),  # a particle between hyphens
    ("X-Geo-City: Zwolle", "en", "Zwolle"),  # an HTTP header's key
    ("The office is in Vila Nova de Gaia.", "en", "Vila Nova de Gaia"),  # a listed town over a name inside it
]


@pytest.mark.parametrize(("text", "lang", "value"), MORE_CUES)
def test_places_by_the_words_around_them_in_more_languages(rules, text, lang, value):
    assert ("LOCATION", value) in _values(rules, text, lang)


@pytest.mark.parametrize(("text", "lang"), [
    ("Released, 3 May 2021\n", "en"),  # a word no list knows before a date
    ("Monday, 12 March 2024\n", "en"),
    ("Version 2.1, 2024-01-01\n", "en"),
    ("I keep a Reading list and a Bath towel.", "en"),  # "a" and "i" say "in" only in other languages
    ("We moved the build from Berlin to GitLab.", "en"),  # software at the other end
    ("John Smith (Red Hat, Inc.) reviewed it.", "en"),
    ("Best regards,\nJan Jansen\nSenior Engineer", "en"),  # a title on the line after a signature's name
    ("We use Copy-on-Write pages.", "en"),
    ("  --location=DIR  where to write", "en"),  # a command-line option is no header
    ("Novartis AG and Texas TI chips; use Linux BE\n", "en"),  # a company, a code mid-clause, software
])
def test_more_place_cues_do_not_over_match(rules, text, lang):
    assert [v for t, v in _values(rules, text, lang) if t == "LOCATION" and v not in ("Berlin",)] == []
