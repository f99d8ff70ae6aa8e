"""PII: exact spans per type, each scrubbing mode, surrogate consistency, nothing personal in any output."""

import json
import logging
import subprocess
import textwrap

import pyarrow as pa
import pytest

from filters.pii import Pii
from operators.core.registry import get
from operators.core.subject import subject_hash
from operators.execution.executor import LocalExecutor
from pipelines.checks import no_residual_pii
from pipelines.orchestrate.metadata import tally as dagster_tally
from pipelines.recipe import load
from tests.conftest import make_table, set_up, write_jsonl

GH = "ghp_" + "Ab3dE" * 7 + "x"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAwJ3X\n-----END RSA PRIVATE KEY-----"

# (text, type, value): the value must be found exactly, as that type.
CASES = [
    ("Write to jane.doe@example.com today.", "EMAIL_ADDRESS", "jane.doe@example.com"),
    ("Please call +44 20 7946 0958 after six.", "PHONE_NUMBER", "+44 20 7946 0958"),
    ("Paid with 4111 1111 1111 1111 yesterday.", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("Wire it to DE89370400440532013000 please.", "IBAN_CODE", "DE89370400440532013000"),
    ("The login came from 203.0.113.54 at noon.", "IP_ADDRESS", "203.0.113.54"),
    ("Docs are at https://docs.acme.com/setup now.", "URL", "https://docs.acme.com/setup"),
    ("Her social security number is 536-22-8726.", "US_SSN", "536-22-8726"),
    ("Yesterday John Smith went home early.", "PERSON", "John Smith"),
    ("They moved to London last year.", "LOCATION", "London"),
    ("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
    (f"git clone https://{GH}@github.com/acme/x.git", "GITHUB_TOKEN", GH),
    ("SLACK_BOT_TOKEN=xoxb-1234567890-abcdefghijkl", "SLACK_TOKEN", "xoxb-1234567890-abcdefghijkl"),
    ('config = {"api_key": "sk_live_abcdef1234567890"}', "API_KEY", "sk_live_abcdef1234567890"),
    (f"Authorization: Bearer {JWT}", "JWT", JWT),
    (f"key:\n{KEY}\nend", "PRIVATE_KEY", KEY),
]


@pytest.fixture(scope="module")
def op():
    return set_up(Pii())


def _findings(table: pa.Table) -> list[list[dict]]:
    return table.column("pii").to_pylist()


def test_registered_by_name():
    assert get("pii") is Pii


def test_exact_spans_per_type(op):
    out = op(make_table([c[0] for c in CASES]))
    for (text, entity, value), found in zip(CASES, _findings(out), strict=True):
        start = text.index(value)
        spans = [(f["type"], f["start"], f["end"]) for f in found]
        assert spans == [(entity, start, start + len(value))], (entity, spans)
        assert found[0]["hash"] == subject_hash(value)
    assert out.column("pii_count").to_pylist() == [1] * len(CASES)


def test_known_false_positives_are_fixed(op):
    texts = ["Mail john.smith@example.com now.", "Version 1234 was built in 20110606 steps from configure.ac."]
    found = _findings(op(make_table(texts)))
    assert [f["type"] for f in found[0]] == ["EMAIL_ADDRESS"]  # not also URL "john.sm" / "example.com"
    assert found[1] == []  # no date, phone or URL in bare numbers and file names


# What the name and place lists add to en_core_web_sm (filters/gazetteer.py): (text, type, value).
GAZETTEER_CASES = [
    ("Thanks to Frau Gertrude Börner MBA. for testing.", "PERSON", "Frau Gertrude Börner MBA."),  # title, letters
    ("You can reach Marcel Peron at the front desk.", "PERSON", "Marcel Peron"),  # NER: ORG
    ("Call Trevor Green on the landline before Friday.", "PERSON", "Trevor Green"),  # NER: nothing
    ("Maryse Boucher du Lopes moved here last spring.", "PERSON", "Maryse Boucher du Lopes"),  # particle
    ("Our office in Albanie opens at nine.", "LOCATION", "Albanie"),  # a country in French; NER: PERSON
    ("Valeria spent a year in Ourense and liked it.", "LOCATION", "Ourense"),  # a town after "in"; NER: nothing
    ("He moved to Neunburg vorm Wald in May.", "LOCATION", "Neunburg vorm Wald"),  # NER: "Neunburg"
]


def _typed(found: list[dict], text: str) -> list[tuple[str, str]]:
    return [(f["type"], text[f["start"] : f["end"]]) for f in found if f["type"] in ("PERSON", "LOCATION")]


def test_name_and_place_lists_correct_and_complete_ner(op):
    texts = [c[0] for c in GAZETTEER_CASES]
    with_lists = _findings(op(make_table(texts)))
    ner_only = Pii(gazetteer=False)
    ner_only.setup()
    without = _findings(ner_only(make_table(texts)))
    for (text, entity, value), found, bare in zip(GAZETTEER_CASES, with_lists, without, strict=True):
        assert (entity, value) in _typed(found, text), (text, _typed(found, text))
        if value != "Maryse Boucher du Lopes":  # v3's NER reads a window around the run and gets this one alone
            assert (entity, value) not in _typed(bare, text)  # what NER alone gets wrong here
    # A deletion request names the person, not the title: the hash is the bare name's.
    title = next(f for f in with_lists[0] if f["type"] == "PERSON")
    assert title["hash"] == subject_hash("Gertrude Börner")


def test_identifiers_and_sentence_words_are_not_names(op):
    texts = ["If you disable PyMalloc, use KMail or GtkAboutDialog instead.", "She was born in Lake Mark."]
    found = _findings(op(make_table(texts)))
    assert _typed(found[0], texts[0]) == []
    assert _typed(found[1], texts[1]) == [("LOCATION", "Lake Mark")]  # a first name + a surname, shaped as a place


def test_two_surnames_opening_a_paragraph_are_a_heading_not_a_name():
    # "Fresh" and "Coffee" are both surnames in the lists: mid-sentence that reads as a name, but a paragraph's
    # first words are a heading or a sign (image privacy joins OCR rows by blank lines) and need a first name.
    from filters.gazetteer import gazetteer, name_runs

    gaz = gazetteer()
    heading = "Anna Keller +1 415 555 0132\n\nFresh Coffee"
    assert [heading[s:e] for s, e in name_runs(gaz, heading)] == ["Anna Keller"]
    # Not over-matched: mid-sentence, and at a paragraph's start with a first name, the rule still reads names.
    inline = "Anna Keller +1 415 555 0132 and then Fresh Coffee"
    assert [inline[s:e] for s, e in name_runs(gaz, inline)] == ["Anna Keller", "Fresh Coffee"]
    named = "Anna Keller\n\nChristophe Couturier"
    assert [named[s:e] for s, e in name_runs(gaz, named)] == ["Anna Keller", "Christophe Couturier"]


def test_tag_mode_and_spans_in_the_original_text(op):
    text = "Mail jane.doe@example.com or call +44 20 7946 0958."
    out = op(make_table([text]))
    assert out.column("text").to_pylist() == ["Mail <EMAIL> or call <PHONE>."]
    [found] = _findings(out)
    assert [text[f["start"] : f["end"]] for f in found] == ["jane.doe@example.com", "+44 20 7946 0958"]


def test_hash_mode_uses_the_salted_hash():
    op = Pii(entities={"EMAIL_ADDRESS": {"mode": "hash"}})
    out = op(make_table(["Mail jane.doe@example.com."]))
    assert out.column("text").to_pylist() == [f"Mail <EMAIL:{subject_hash('jane.doe@example.com')[:12]}>."]


def test_surrogates_are_consistent_and_not_the_value():
    op = Pii(entities={"PERSON": {"mode": "surrogate"}, "EMAIL_ADDRESS": {"mode": "surrogate"}})
    texts = ["Yesterday John Smith wrote to jane.doe@corp.io about it.",
             "Later John Smith wrote again to jane.doe@corp.io, then to bob.roe@corp.io."]
    out = op(make_table(texts)).column("text").to_pylist()
    assert "John Smith" not in "".join(out) and "jane.doe@corp.io" not in "".join(out)
    first = out[0].removeprefix("Yesterday ").split(" wrote to ")
    name, email = first[0], first[1].removesuffix(" about it.")
    assert out[1].startswith(f"Later {name} wrote again to {email}, then to ")
    other = out[1].rsplit(" then to ", 1)[1].removesuffix(".")
    assert other != email and other.endswith(".invalid")
    # A new operator (another worker, another run) with the same salt makes the same surrogates.
    again = Pii(entities={"PERSON": {"mode": "surrogate"}, "EMAIL_ADDRESS": {"mode": "surrogate"}})
    assert again(make_table(texts[:1])).column("text").to_pylist() == out[:1]


def test_drop_modes_scrub_the_dropped_text_too():
    op = Pii(entities={"EMAIL_ADDRESS": {}, "PRIVATE_KEY": {"mode": "drop"}}, max_density=0.5)
    texts = ["Mail jane.doe@example.com about the garden party next week, please.", f"{KEY}",
             "a@b.io c@d.io"]
    out = op(make_table(texts))
    assert out.column("drop_reason").to_pylist() == [None, "pii:private_key", "pii:density"]
    assert out.column("keep").to_pylist() == [True, False, False]
    assert out.column("text").to_pylist()[1:] == ["<SECRET>", "<EMAIL> <EMAIL>"]


def test_allow_lists_and_thresholds():
    op = Pii(entities={"EMAIL_ADDRESS": {"allow": ["support@acme.io"]}, "PHONE_NUMBER": {"min_score": 0.9}},
             allow=["203.0.113.54"])
    out = op(make_table(["Ask support@acme.io or jane@acme.io, phone +44 20 7946 0958, host 203.0.113.54."]))
    assert [f["type"] for f in _findings(out)[0]] == ["EMAIL_ADDRESS"]
    assert out.column("text").to_pylist() == ["Ask support@acme.io or <EMAIL>, phone +44 20 7946 0958, host 203.0.113.54."]


def test_ner_only_for_configured_languages_name_lists_everywhere():
    op = Pii(entities=["PERSON", "EMAIL_ADDRESS"], languages=["en"])
    out = op(make_table(["Yesterday John Smith wrote to a@b.io.", "Hier John Smith a écrit à a@b.io."], lang=["en", "fr"]))
    # The French record is not read by the English NER, but the name lists know "John Smith" in any language.
    assert [[f["type"] for f in row] for row in _findings(out)] == [["PERSON", "EMAIL_ADDRESS"]] * 2
    assert set(op._model_detector.nlps) == {"en"}


def test_unknown_entity_is_a_config_error():
    with pytest.raises(ValueError, match="unknown entity type"):
        Pii(entities=["EMAIL", "PERSON"])


def test_logs_hold_counts_not_values(op, caplog):
    with caplog.at_level(logging.DEBUG):
        op(make_table([c[0] for c in CASES]))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "EMAIL_ADDRESS" in logged
    assert not [value for _, _, value in CASES if value in logged]


# ---------------------------------------------------------------- residual-PII gate


def test_residual_check_passes_on_scrubbed_text_and_fails_on_leaks(op):
    stages = ["normalize", "pii", "exact_dedup"]
    scrubbed = op(make_table([c[0] for c in CASES])).column("text").to_pylist()
    clean = no_residual_pii(stages, scrubbed)
    assert clean.passed, clean.description
    leaked = no_residual_pii(stages, [c[0] for c in CASES])
    assert not leaked.passed
    for kind in ("email", "phone", "credit_card", "iban", "ip_address", "us_ssn", "secret"):
        assert leaked.metadata[kind] >= 1, kind
    assert not [c[2] for c in CASES if c[2] in leaked.description + json.dumps(leaked.metadata)]


# ---------------------------------------------------------------- a whole run


PLANTED = ["jane.planted@example.org", "+44 20 7946 0958", "4111 1111 1111 1111", "DE89370400440532013000",
           "AKIAIOSFODNN7PLANTED"]


@pytest.mark.slow
def test_no_planted_value_reaches_any_output_file(tmp_path, caplog):
    prose = ("The village library opened a reading room for children, and the volunteers painted the walls in "
             "bright colours over the summer holidays. ")
    records = [
        {"text": prose * 3 + f"Contact {PLANTED[0]} or call {PLANTED[1]}.", "url": "a"},
        {"text": prose * 3 + f"Card {PLANTED[2]}, account {PLANTED[3]}.", "url": "b"},
        {"text": f"{PLANTED[4]} {PLANTED[0]} {PLANTED[1]}", "url": "c"},  # dropped: mostly PII
        {"text": "tiny " + PLANTED[0], "url": "d"},  # dropped before the PII stage, scrubbed for the rejects
        {"text": prose * 3, "url": "e"},
    ]
    write_jsonl(tmp_path / "corpus.jsonl", records)
    (tmp_path / "r.yaml").write_text(textwrap.dedent("""\
        name: planted
        sources: [{path: corpus.jsonl}]
        stages:
          - op: normalize
          - op: gopher_quality
            params: {min_words: 3}
          - op: pii
            params: {max_density: 0.5}
          - op: exact_dedup
        output: out
    """))
    pipeline = load(tmp_path / "r.yaml").pipeline()
    with caplog.at_level(logging.DEBUG):
        state = pipeline.start()
        for phase in (pipeline.read, pipeline.decide):
            state = phase(LocalExecutor(), state)
        tally = dagster_tally(pipeline, LocalExecutor(), state)  # what Dagster metadata shows
        for phase in (pipeline.deduplicate, pipeline.write_shards, pipeline.write_ledger):
            state = phase(LocalExecutor(), state)
    result = state.summary
    assert result["kept"] == 3 and result["dropped"] == 2
    work = tmp_path / "out" / "_work"
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and work not in p.parents]
    assert any("ledger" in str(p) for p in files) and any("rejects" in str(p) for p in files)
    # Parquet pages may be compressed: read every table back as text, and grep the raw bytes too.
    blobs = [p.read_bytes().decode("latin-1") for p in files]
    for p in files:
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq

            blobs.append(json.dumps(pq.read_table(p).to_pylist(), default=str))
    blobs.append(json.dumps(tally, default=str))
    blobs.append("\n".join(r.getMessage() for r in caplog.records))
    for value in PLANTED:
        assert not [b for b in blobs if value in b], value
    # The ledger holds the hashes a deletion request matches.
    import duckdb

    hashes = duckdb.sql(
        f"SELECT unnest(pii).hash AS h FROM read_parquet('{tmp_path}/out/ledger/*/*.parquet')"
    ).fetchall()
    assert (subject_hash(PLANTED[0]),) in hashes
    grep = subprocess.run(["grep", "-rl", PLANTED[0], str(tmp_path / "out" / "shards")], capture_output=True)
    assert grep.returncode == 1
