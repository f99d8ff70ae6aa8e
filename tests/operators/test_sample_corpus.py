"""The synthetic sample corpus: determinism, the mix of kinds, and that each kind is what it claims."""

from __future__ import annotations

import collections
import gzip
import itertools
import json
import re

import pytest

from operators import sample_corpus
from operators.core.schema import dedup_normal_form
from operators.sample_corpus import KINDS, LANGUAGES, generate, generate_with_origins, write_jsonl
from operators.sample_corpus.vocabulary import _TOXIC

N_SAMPLE = 2_000


@pytest.fixture(scope="module")
def sample() -> list[tuple[dict, str | None]]:
    return list(generate_with_origins(N_SAMPLE, seed=0))


@pytest.fixture(scope="module")
def by_id(sample) -> dict[str, dict]:
    return {record["doc_id"]: record for record, _ in sample}


def _of_kind(sample, kind: str) -> list[dict]:
    return [record for record, _ in sample if record["kind"] == kind]


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.casefold())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _jaccard(a: str, b: str) -> float:
    x, y = _shingles(a), _shingles(b)
    return len(x & y) / len(x | y)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _iban_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


_STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}


def _quality_flags(text: str) -> set[str]:
    """Gopher / C4 / FineWeb document rules (their usual thresholds) that ``text`` trips."""
    words = text.split()
    lines = [line for line in text.split("\n") if line.strip()]
    flags = set()
    if len(words) < 50:
        flags.add("too_few_words")
    if not 3 <= sum(map(len, words)) / max(len(words), 1) <= 10:
        flags.add("mean_word_length")
    if (text.count("#") + text.count("...")) / max(len(words), 1) > 0.1:
        flags.add("symbols")
    if sum(line.lstrip().startswith(("•", "-", "»", "›", "→")) for line in lines) > 0.9 * len(lines):
        flags.add("bullets")
    if sum(line.rstrip().endswith("...") for line in lines) > 0.3 * len(lines):
        flags.add("ellipsis_lines")
    if sum(bool(re.search(r"[^\W\d_]", w)) for w in words) < 0.8 * len(words):
        flags.add("non_alpha_words")
    if any(p in text.lower() for p in ("javascript", "lorem ipsum", "cookie policy")):
        flags.add("c4_phrases")
    if sum(line.rstrip().endswith((".", "!", "?")) for line in lines) < 0.12 * len(lines):
        flags.add("no_terminal_punctuation")
    if len(set(lines)) < len(lines):
        flags.add("repeated_lines")
    pairs = collections.Counter(zip(words, words[1:], strict=False))
    if pairs:
        (a, b), count = pairs.most_common(1)[0]
        if count > 1 and count * (len(a) + len(b)) > 0.2 * sum(map(len, words)):
            flags.add("top_2gram")
    return flags


def test_same_seed_same_corpus_other_seed_another():
    assert list(generate(300, seed=5)) == list(generate(300, seed=5))
    assert [r["text"] for r in generate(50, seed=5)] != [r["text"] for r in generate(50, seed=6)]


def test_prefix_property():
    assert list(generate(500, seed=3))[:200] == list(generate(200, seed=3))


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_write_jsonl_round_trips_byte_identically(tmp_path, suffix):
    import zstandard

    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    assert write_jsonl(first, 300, seed=2) == 300
    assert write_jsonl(str(second), 300, seed=2) == 300
    assert first.read_bytes() == second.read_bytes()
    raw = first.read_bytes()
    if suffix.endswith(".gz"):
        raw = gzip.decompress(raw)
    elif suffix.endswith(".zst"):
        raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
    assert [json.loads(line) for line in raw.decode("utf-8").splitlines()] == list(generate(300, seed=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name]  # no temporary files left


def test_command_line_entry(tmp_path):
    out = tmp_path / "corpus.jsonl"
    sample_corpus.main([str(out), "--docs", "25", "--seed", "4"])
    assert [json.loads(line) for line in out.read_text().splitlines()] == list(generate(25, seed=4))


def test_records_have_the_schema(sample):
    for index, (record, _) in enumerate(sample):
        assert list(record) == ["doc_id", "url", "text", "kind", "lang", "crawl_date"]
        assert record["doc_id"] == f"doc-{index + 1:06d}"
        assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z.]+/\S+", record["url"])
        assert re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["crawl_date"])
        assert record["kind"] in KINDS
        assert record["lang"] in LANGUAGES or (record["kind"] == "junk" and record["lang"] == "zxx")
        assert record["text"].strip()


def test_mix_of_kinds_and_languages(sample):
    kinds = collections.Counter(record["kind"] for record, _ in sample)
    assert set(kinds) == set(KINDS)
    for kind, weight in zip(KINDS, sample_corpus.KIND_WEIGHTS, strict=True):
        assert abs(kinds[kind] / N_SAMPLE - weight) < 0.03, (kind, kinds[kind])
    clean_langs = collections.Counter(record["lang"] for record in _of_kind(sample, "clean"))
    assert set(clean_langs) == set(LANGUAGES)
    assert 0.45 < clean_langs["en"] / sum(clean_langs.values()) < 0.55
    for kind in ("boilerplate", "pii", "toxic"):
        assert len({record["lang"] for record in _of_kind(sample, kind)}) >= 4, kind


def test_exact_dups_normalise_to_an_earlier_clean_doc(sample, by_id):
    dups = [(record, origin) for record, origin in sample if record["kind"] == "exact_dup"]
    assert dups
    for record, origin in dups:
        source = by_id[origin]
        assert source["kind"] == "clean" and source["doc_id"] < record["doc_id"]
        assert record["lang"] == source["lang"]
        assert dedup_normal_form(record["text"]) == dedup_normal_form(source["text"])
    # Some are byte-identical, others differ in case, punctuation or whitespace only.
    assert 0 < sum(record["text"] != by_id[origin]["text"] for record, origin in dups) < len(dups)


def test_near_dups_are_similar_to_their_origin(sample, by_id):
    dups = [(record, origin) for record, origin in sample if record["kind"] == "near_dup"]
    assert dups
    for record, origin in dups:
        source = by_id[origin]
        assert source["kind"] == "clean" and source["doc_id"] < record["doc_id"]
        assert dedup_normal_form(record["text"]) != dedup_normal_form(source["text"])
        assert 0.5 <= _jaccard(record["text"], source["text"]) <= 0.98


def test_duplicates_come_from_a_bounded_reservoir(monkeypatch):
    monkeypatch.setattr(sample_corpus, "RESERVOIR_SIZE", 20)
    recent: collections.deque[str] = collections.deque(maxlen=20)
    n_dups = 0
    for record, origin in generate_with_origins(600, seed=1):
        if origin is not None:
            assert origin in recent
            n_dups += 1
        if record["kind"] == "clean":
            recent.append(record["doc_id"])
    assert n_dups > 50


def test_clean_docs_read_like_prose(sample):
    clean = _of_kind(sample, "clean")
    english_words: set[str] = set()
    for record in clean:
        text = record["text"]
        assert 80 <= len(text.split()) <= 800
        paragraphs = text.split("\n\n")
        assert 3 <= len(paragraphs) <= 12
        assert all(len(re.findall(r"[.?!](?: |$)", p)) >= 2 for p in paragraphs)
        assert not _quality_flags(text), (_quality_flags(text), text)
        if record["lang"] == "en":
            words = set(text.lower().replace(".", " ").replace(",", " ").split())
            assert len(words & _STOP_WORDS) >= 2
            english_words |= words
    assert english_words >= _STOP_WORDS


def test_clean_docs_are_not_near_duplicates_of_each_other(sample):
    clean = [record["text"] for record in _of_kind(sample, "clean")[:150]]
    shingles = [_shingles(text) for text in clean]
    worst = max(len(a & b) / len(a | b) for a, b in itertools.combinations(shingles, 2))
    assert worst < 0.3


def test_boilerplate_and_junk_fail_quality_rules(sample):
    for kind in ("boilerplate", "junk"):
        for record in _of_kind(sample, kind):
            assert _quality_flags(record["text"]), (kind, record["text"])


def test_pii_docs_carry_personal_data(sample):
    card = re.compile(r"(?<![\d-])(?:\d{4}[ -]){3}\d{4}(?![\d-])|(?<![\d-])\d{13,19}(?![\d-])")
    pii = _of_kind(sample, "pii")
    assert pii
    for record in pii:
        text = record["text"]
        assert any(_luhn_ok(re.sub(r"\D", "", m)) for m in card.findall(text)), text
        assert re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text)
        ibans = re.findall(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b", text)
        assert ibans and all(_iban_ok(iban) for iban in ibans)
        assert re.search(r"\b\d{3}-\d{2}-\d{4}\b", text)  # US SSN
        assert re.search(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", text)  # IPv4


def test_toxic_docs_are_prose_with_insulting_lines(sample):
    toxic = _of_kind(sample, "toxic")
    assert toxic
    for record in toxic:
        openers, _, nouns, whole = _TOXIC[record["lang"]]
        paragraphs = record["text"].split("\n\n")
        insults = [p for p in paragraphs if p in whole or p.startswith(openers)]
        assert 2 <= len(insults) <= 4
        assert all(any(noun in p or p in whole for noun in nouns) for p in insults)
        assert len(paragraphs) - len(insults) >= 3


def test_fasttext_labels_clean_docs_with_their_language(sample):
    fasttext = pytest.importorskip("fasttext")
    from filters.lang_id import packaged_lid_model

    model = fasttext.load_model(packaged_lid_model())
    clean = _of_kind(sample, "clean")
    labels, probs = model.predict([record["text"].replace("\n", " ") for record in clean], k=1)
    right = sum(
        label[0] == f"__label__{record['lang']}" and prob[0] >= 0.65
        for record, label, prob in zip(clean, labels, probs, strict=True)
    )
    assert right / len(clean) >= 0.95


def test_the_corpus_is_byte_identical_to_the_one_before_its_vocabulary_moved_to_data_files(tmp_path):
    """The digest of write_jsonl(3000, seed 0) as the generator wrote it when its tables were Python literals
    (commit 05d18a9): reading the vocabulary from data/ must not change a byte of any corpus."""
    import hashlib

    path = tmp_path / "c.jsonl"
    write_jsonl(path, 3000, 0)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == "4130b764442ce60edde5590800c0488979f25a97f93eb211c51c20fe4f500dbc"
