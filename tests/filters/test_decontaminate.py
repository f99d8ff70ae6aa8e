"""Decontamination: n-gram overlap with evaluation sets from JSONL, Parquet and datasets folders; drop and cut."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.decontaminate import Decontaminate, Tokens, ngram_hashes
from tests.conftest import make_table, write_jsonl

QUESTIONS = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in April and May. #### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
        "How much did she earn?",
        "answer": "Weng earns 12/60 = $0.2 per minute. Working 50 minutes, she earned 0.2 x 50 = $10. #### 10",
    },
]
TRIVIA = [{"prompt": "Which river flows through the ancient city of Babylon in present day Iraq?", "answer": "Euphrates"}]
FILLER = (
    "The committee met on Tuesday to review the budget for the new library wing. Members discussed the cost of "
    "shelving, the lighting plan and the schedule for moving the archive collection before the winter term. "
)


@pytest.fixture
def gsm(tmp_path):
    return write_jsonl(tmp_path / "gsm8k.jsonl", QUESTIONS)


def op_for(path, **params):
    sets = params.pop("sets", None) or [{"name": "gsm8k", "path": str(path), "fields": ["question", "answer"]}]
    return Decontaminate(eval_sets=sets, **params)


def words(text):
    return text.split()


def distinct_grams(doc: str, item: str, n: int = 13) -> int:
    """Distinct n-grams the document shares with the item, computed independently of the operator's lookup."""
    tok = Tokens()
    a, b = ngram_hashes(tok.hashes(doc), n), ngram_hashes(tok.hashes(item), n)
    return len(np.intersect1d(a, b))


def test_a_copied_question_is_dropped_with_the_set_and_the_count(gsm):
    q = QUESTIONS[0]
    # Case, punctuation and digits differ from the evaluation file: the normalisation must see through them.
    copied = q["question"].upper().replace(",", " ;").replace("48", "52")
    doc = FILLER + copied + " " + FILLER
    clean = FILLER * 3
    out = op_for(gsm)(make_table([doc, clean]))
    item = q["question"] + " " + q["answer"]
    expected = distinct_grams(doc, item)
    assert expected >= 10
    assert out.column("drop_reason").to_pylist() == [f"decontaminate:gsm8k:ngrams={expected}", None]
    assert out.column("contamination").to_pylist() == [expected, 0]
    assert out.column("contamination_set").to_pylist() == ["gsm8k", None]


def test_twelve_shared_words_are_not_a_match_but_thirteen_are(gsm):
    item = words(QUESTIONS[1]["question"])
    twelve = FILLER + " ".join(item[:12]) + " zebra " + FILLER
    thirteen = FILLER + " ".join(item[:13]) + " zebra " + FILLER
    out = op_for(gsm)(make_table([twelve, thirteen]))
    assert out.column("drop_reason").to_pylist() == [None, "decontaminate:gsm8k:ngrams=1"]


def test_the_overlap_of_prompt_and_answer_counts(gsm):
    # The question's last 6 words and the answer's first 7 ('=' is punctuation, not a word): only the joined
    # item has this 13-gram.
    q, a = words(QUESTIONS[1]["question"]), words(QUESTIONS[1]["answer"])
    doc = FILLER + " ".join(q[-6:] + a[:8]) + " " + FILLER
    assert op_for(gsm)(make_table([doc])).column("contamination").to_pylist() == [1]
    only_answer = op_for(gsm, sets=[{"name": "gsm8k", "path": gsm, "fields": ["answer"]}])
    assert only_answer(make_table([doc])).column("contamination").to_pylist() == [0]


def test_min_matches(gsm):
    item = words(QUESTIONS[1]["question"])
    doc = FILLER + " ".join(item[:14]) + " " + FILLER  # two 13-grams
    assert op_for(gsm, min_matches=2)(make_table([doc])).column("keep").to_pylist() == [False]
    assert op_for(gsm, min_matches=3)(make_table([doc])).column("keep").to_pylist() == [True]


def test_short_items_match_whole_and_very_short_ones_never(tmp_path):
    path = write_jsonl(tmp_path / "trivia.jsonl", TRIVIA + [{"prompt": "Capital of France?", "answer": "Paris"}])
    op = op_for(path, sets=[{"name": "trivia", "path": path, "fields": ["prompt", "answer"]}])
    whole = FILLER + TRIVIA[0]["prompt"] + " Euphrates. " + FILLER  # the 14-word item's two 13-grams
    partial = FILLER + "capital of France? Paris is lovely. " + FILLER  # 4-word item: below min_ngram, never indexed
    out = op(make_table([whole, partial]))
    assert out.column("keep").to_pylist() == [False, True]
    short = write_jsonl(tmp_path / "short.jsonl", [{"q": "the quick brown fox jumps over the lazy dog"}])  # 9 words
    op = op_for(short, sets=[{"name": "short", "path": short, "fields": ["q"]}])
    out = op(make_table([FILLER + "The quick brown fox jumps over the lazy dog! " + FILLER, FILLER + "the quick brown fox"]))
    assert out.column("drop_reason").to_pylist() == ["decontaminate:short:ngrams=1", None]


def test_parquet_and_datasets_folders_give_the_same_index(tmp_path, gsm):
    import datasets

    pq.write_table(pa.Table.from_pylist(QUESTIONS), tmp_path / "gsm8k.parquet")
    datasets.Dataset.from_list(QUESTIONS).save_to_disk(str(tmp_path / "hf"))
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(TRIVIA), "test": datasets.Dataset.from_list(QUESTIONS)}
    ).save_to_disk(str(tmp_path / "hfdict"))
    doc = FILLER + QUESTIONS[0]["answer"] + " " + FILLER
    table = make_table([doc, FILLER * 2])
    expected = op_for(gsm)(table).column("drop_reason").to_pylist()
    assert expected[0].startswith("decontaminate:gsm8k:ngrams=")
    for path, split in [(tmp_path / "gsm8k.parquet", None), (tmp_path / "hf", None), (tmp_path / "hfdict", "test")]:
        sets = [{"name": "gsm8k", "path": str(path), "fields": ["question", "answer"], "split": split}]
        assert op_for(None, sets=sets)(table).column("drop_reason").to_pylist() == expected, path
    every_split = [{"name": "x", "path": str(tmp_path / "hfdict"), "fields": ["question"]}]  # train has no question
    with pytest.raises(ValueError, match="train.*has no field"):
        op_for(None, sets=every_split)(table)


def test_the_set_with_most_matches_is_named(tmp_path, gsm):
    other = write_jsonl(tmp_path / "other.jsonl", [QUESTIONS[1]])
    sets = [{"name": "gsm8k", "path": gsm, "fields": ["question", "answer"]},
            {"name": "subset", "path": other, "fields": ["question", "answer"]}]
    both = FILLER + QUESTIONS[1]["question"] + " " + FILLER  # in both sets equally: the first listed
    first_only = FILLER + QUESTIONS[0]["question"] + " " + FILLER
    out = op_for(None, sets=sets)(make_table([both, first_only]))
    assert [r.split(":ngrams")[0] for r in out.column("drop_reason").to_pylist()] == ["decontaminate:gsm8k"] * 2
    out = op_for(None, sets=list(reversed(sets)))(make_table([both, first_only]))
    assert [r.split(":ngrams")[0] for r in out.column("drop_reason").to_pylist()] == ["decontaminate:subset", "decontaminate:gsm8k"]


def test_bloom_filter_finds_what_the_hash_index_finds(gsm):
    item = words(QUESTIONS[0]["question"])
    docs = [FILLER + " ".join(item[:k]) + " zebra " + FILLER for k in range(10, 20)] + [FILLER * 4]
    exact = op_for(gsm)(make_table(docs))
    bloom = op_for(gsm, bloom_above=0)
    out = bloom(make_table(docs))
    assert bloom._loaded_index.bloom
    assert out.column("drop_reason").to_pylist() == exact.column("drop_reason").to_pylist()
    assert out.column("contamination").to_pylist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 0]


def test_cut_removes_the_span_with_its_context_and_keeps_the_rest(gsm):
    head = "Opening paragraph about gardening and the care of tomato plants in a small greenhouse. " * 4
    tail = "Closing paragraph about the weather in the mountains and the best season for hiking trips. " * 4
    doc = head + QUESTIONS[0]["question"] + " " + tail
    out = op_for(gsm, mode="cut", context_chars=20, min_chars=50)(make_table([doc]))
    (text,) = out.column("text").to_pylist()
    assert out.column("keep").to_pylist() == [True]
    assert "Natalia" not in text and "clips" not in text
    assert text.startswith(head[:100]) and text.endswith(tail.strip()[-100:])
    removed = len(doc) - len(text)
    assert len(QUESTIONS[0]["question"]) < removed <= len(QUESTIONS[0]["question"]) + 2 * 20 + 2
    # Nothing left worth keeping: dropped with the same reason as in drop mode.
    out = op_for(gsm, mode="cut", context_chars=200, min_chars=50)(make_table([QUESTIONS[0]["question"]]))
    assert out.column("drop_reason").to_pylist()[0].startswith("decontaminate:gsm8k:ngrams=")
    # Cut into more than max_pieces pieces: dropped.
    spread = " ".join(f"{head} {QUESTIONS[0]['question']}" for _ in range(3))
    assert op_for(gsm, mode="cut", context_chars=0, max_pieces=2, min_chars=10)(make_table([spread])).column("keep").to_pylist() == [False]


def test_errors_name_the_file_and_record(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(QUESTIONS[0]) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"bad.jsonl line 2 is not JSON"):
        op_for(bad)(make_table([FILLER]))
    missing = write_jsonl(tmp_path / "missing.jsonl", [QUESTIONS[0], {"question": "only a question here"}])
    with pytest.raises(ValueError, match=r"missing.jsonl record 2 lacks"):
        op_for(missing)(make_table([FILLER]))
    with pytest.raises(ValueError, match="does not exist"):
        op_for(tmp_path / "nope.jsonl")(make_table([FILLER]))


def test_the_index_is_built_once_and_rebuilt_when_a_file_changes(tmp_path, gsm, monkeypatch):
    import filters.decontaminate as module

    monkeypatch.setenv("ASSAY_CACHE", str(tmp_path / "cache"))  # not the session's cache, which has this index
    built = []
    real = module.build_index
    monkeypatch.setattr(module, "build_index", lambda cfg, folder: (built.append(folder), real(cfg, folder)))
    table = make_table([FILLER + QUESTIONS[1]["question"]])
    assert not op_for(gsm)(table).column("keep").to_pylist()[0]
    assert not op_for(gsm)(table).column("keep").to_pylist()[0]  # a second worker: loads, does not build
    assert len(built) == 1
    write_jsonl(gsm, QUESTIONS[:1])
    assert op_for(gsm)(table).column("keep").to_pylist() == [True]
    assert len(built) == 2


def test_a_passage_split_across_lines_with_hyphenation_still_matches(gsm):
    q = words(QUESTIONS[0]["question"])
    # Six words a line, every line's last word hyphenated across the break: no 13 words run unbroken.
    lines = [" ".join(q[i : i + 6]) for i in range(0, len(q), 6)]
    doc = FILLER + "\n".join(line[:-2] + "-\n    " + line[-2:] for line in lines) + " " + FILLER
    assert op_for(gsm)(make_table([doc])).column("keep").to_pylist() == [False]
    # An ordinary hyphenated word is not glued to the next line's word.
    assert Tokens().hashes("well-known\nfact").size == 2
