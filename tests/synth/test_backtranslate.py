"""Instruction backtranslation: segments, the two prompts, curation, provenance, resume, governance.

The model is the scripted loopback server (it answers augmentation and curation
prompts on cue); the real SmolLM2 and a real llama.cpp server are in
``test_judge_models.py``.
"""

from __future__ import annotations

import glob
import json
import re

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipelines.backtranslate_input import prepare_segments, read_documents, select_segments, split_segments
from synth.backtranslate import (
    CURATE_VERSION,
    TEMPLATE_VERSION,
    Backtranslate,
    augment_prompt,
    curate_prompt,
    parse_instruction,
    parse_score,
)
from synth.config import BacktranslateConfig, SegmentConfig, SynthConfig
from synth.loopback import LoopbackServer
from synth.pool import load_seeds, read_jsonl
from tests.conftest import write_jsonl

PARA = ("The water cycle moves water between the oceans, the air and the land. Heat from the sun evaporates "
        "water from the sea, and the vapour rises and cools into clouds. When the droplets grow heavy they fall "
        "as rain or snow, and rivers carry the water back to the sea.")  # fmt: skip


def responder(body) -> str:
    """Augmentation: an instruction naming the segment's first words; curation: 5 unless the answer says 'weak'."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("Below is a response written by an AI assistant"):
        segment = prompt.rsplit("Response:\n", 1)[1].rsplit("\nInstruction:", 1)[0]
        return f"Instruction: Explain in a paragraph what happens with {' '.join(segment.split()[:6])}."
    if prompt.startswith("Below is an instruction from an user and a candidate answer"):
        answer = prompt.rsplit("Answer: ", 1)[1]
        return "The answer is on topic.\nScore: 2" if "weak" in answer else "Clear and complete.\nScore: 5"
    raise AssertionError(prompt[:80])


def config(server: LoopbackServer, **bt) -> SynthConfig:
    return SynthConfig(
        method="backtranslate",
        backend={"kind": "http", "http": {"base_url": server.base_url, "model": "loopback"}},
        backtranslate={"per_round": 2, **bt},
    )


def segments(n: int, weak: set[int] = frozenset()) -> list[dict]:
    return [
        {"id": f"doc{i}-s0", "document_id": f"doc{i}", "source": "file:///docs.jsonl",
         "text": f"Topic{i} " + PARA + (" This one is weak." if i in weak else "")}
        for i in range(n)
    ]  # fmt: skip


# ---------------------------------------------------------------- prompts and parsing


def test_prompts_are_the_versioned_templates():
    seeds = [t for t in load_seeds() if t.instances][:2]
    prompt = augment_prompt("SEGMENT", seeds)
    assert prompt.startswith("Below is a response written by an AI assistant")
    assert prompt.endswith("Response:\nSEGMENT\nInstruction:")
    assert all(f"Instruction: {t.instruction}" in prompt for t in seeds)
    curation = curate_prompt("Do X.", "Y.")
    # the paper's Table 19 rubric, then the pair
    assert curation.startswith("Below is an instruction from an user and a candidate answer. Evaluate whether or not")
    assert 'write "Score: <rating>" in the last line.' in curation
    assert curation.endswith("Instruction: Do X.\n\nAnswer: Y.")
    assert f"backtranslate-augment/1+{CURATE_VERSION}" == TEMPLATE_VERSION


@pytest.mark.parametrize(
    ("text", "instruction"),
    [
        ("Instruction: Explain rain.\n\nResponse: more", "Explain rain."),
        ("**Instruction:** \"Name three rivers.\"", "Name three rivers."),
        ("The instruction is: Describe the sea.", "Describe the sea."),
        ("Summarise the water cycle\nfor a child.", "Summarise the water cycle for a child."),
    ],
)
def test_parse_instruction(text, instruction):
    assert parse_instruction(text) == instruction


@pytest.mark.parametrize(("text", "score"), [("Good.\nScore: 4", 4), ("Score: 2\n...\nScore: 5", 5), ("**Score**: 3", 3),
                                              ("Score: 9", None), ("It deserves a high rating.", None)])  # fmt: skip
def test_parse_score(text, score):
    assert parse_score(text) == score


# ---------------------------------------------------------------- segments


def test_split_segments_packs_paragraphs_and_cuts_long_ones():
    text = "\n\n".join(["one two three"] * 5 + [" ".join(["Word."] * 25)])
    out = split_segments(text, max_words=10)
    assert out[0] == "one two three\n\none two three\n\none two three"  # 9 words: a fourth would pass 10
    assert all(len(s.split()) <= 10 for s in out)
    assert sum(len(s.split()) for s in out) == 15 + 25  # nothing lost


def test_select_segments_by_length_language_and_boilerplate():
    docs = [
        {"id": "en", "source": "s", "text": PARA},
        {"id": "short", "source": "s", "text": "Too short to be an answer."},
        {"id": "fr", "source": "s", "text": "Le cycle de l'eau déplace l'eau entre les océans, l'air et la terre. La chaleur du "
         "soleil évapore l'eau de la mer, et la vapeur monte et se refroidit en nuages. Quand les gouttes deviennent "
         "lourdes, elles tombent en pluie ou en neige."},
        {"id": "code", "source": "s", "text": "Use this code to start. " + PARA + " function f() { return 1; }"},
    ]  # fmt: skip
    kept, reasons = select_segments(docs, SegmentConfig(min_words=20))
    assert [s["document_id"] for s in kept] == ["en"]
    assert kept[0]["id"] == "en-s0" and kept[0]["text"] == PARA
    assert reasons == {"too_short": 1, "lang_id:lang_not_allowed": 1, "c4_fineweb:curly_bracket": 1}
    # languages: null keeps French; boilerplate: null keeps the code
    kept, _ = select_segments(docs, SegmentConfig(min_words=20, languages=None, boilerplate=None))
    assert [s["document_id"] for s in kept] == ["en", "fr", "code"]


def test_documents_from_a_file_have_their_reader_ids(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", [{"text": PARA}, {"text": ""}, {"text": PARA + " Again."}])
    docs = list(read_documents(path))
    assert len(docs) == 2 and docs[0]["source"].startswith("file://") and len(docs[0]["id"]) == 20
    with pytest.raises(ValueError, match="needs documents"):
        prepare_segments(BacktranslateConfig(), tmp_path / "work")
    summary = prepare_segments(BacktranslateConfig(documents=path, segments={"min_words": 20}), tmp_path / "work")
    assert summary["documents"] == 2 and summary["segments"] == 2
    assert [s["document_id"] for s in read_jsonl(tmp_path / "work" / "segments.jsonl")] == [d["id"] for d in docs]
    with pytest.raises(ValueError, match="other documents or settings"):
        prepare_segments(BacktranslateConfig(documents=path, max_documents=1), tmp_path / "work")


# ---------------------------------------------------------------- the method


def test_run_keeps_curated_pairs_with_provenance_and_resumes_free(tmp_path):
    with LoopbackServer(responder=responder) as server:
        result = Backtranslate(config(server), tmp_path, segments=segments(5, weak={1, 3})).run()
        calls = server.requests
        assert calls == 5 + 5  # one augmentation and one curation call per segment
        again = Backtranslate(config(server), tmp_path).run()
        assert server.requests == calls  # every call answered from calls.jsonl
    assert result.stop_reason == "exhausted" and again.stop_reason == "exhausted"
    assert result.record_count == 3 and again.record_count == 3
    records = read_jsonl(tmp_path / "records.jsonl")
    assert [r["parents"][1] for r in records] == ["doc0", "doc2", "doc4"]  # parents: the source document
    for r in records:
        assert r["output"].startswith("Topic") and r["input"] == ""
        assert r["instruction"].startswith("Explain in a paragraph what happens with")
        assert r["curation_score"] == 5.0
        assert r["generator"]["method"] == "backtranslate" and r["generator"]["template_version"] == TEMPLATE_VERSION
        assert json.loads(r["generator"]["params"])["threshold"] == 4
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
    rejected = read_jsonl(tmp_path / "rejected.jsonl")
    assert sorted((r["parents"][0], r["reason"], r["score"]) for r in rejected) == [("doc1", "score<4", 2), ("doc3", "score<4", 2)]


def test_threshold_is_the_recipes(tmp_path):
    with LoopbackServer(responder=responder) as server:
        result = Backtranslate(config(server, threshold=2), tmp_path, segments=segments(4, weak={1})).run()
    assert result.record_count == 4


def test_faults_are_counted_not_fatal(tmp_path):
    answers = {"n": 0}

    def flaky(body):
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Below is an instruction"):
            answers["n"] += 1
            return "I think it is quite good." if answers["n"] == 1 else "Score: 5"
        return responder(body)

    # the first two requests get HTTP 429 and are retried; one curation answer has no score
    with LoopbackServer(responder=flaky, fail_first=2, fail_status=429, retry_after=0.01) as server:
        cfg = config(server).model_copy(update={"concurrency": 1})
        result = Backtranslate(cfg, tmp_path, segments=segments(3)).run()
    assert result.record_count == 2
    assert [r["reason"] for r in read_jsonl(tmp_path / "rejected.jsonl")] == ["unparsed_score"]


def test_instruction_filters(tmp_path):
    replies = iter(["Instruction: Hi.", "I'm sorry, I cannot write an instruction for this.",
                    f"Instruction: {' '.join(PARA.split()[:12])}", "Instruction: Explain the water cycle for a class."])  # fmt: skip

    def augment(body):
        prompt = body["messages"][-1]["content"]
        return next(replies) if prompt.startswith("Below is a response") else "Score: 5"

    with LoopbackServer(responder=augment) as server:
        cfg = config(server, per_round=4).model_copy(update={"concurrency": 1})
        result = Backtranslate(cfg, tmp_path, segments=[dict(s, text=PARA) for s in segments(4)]).run()
    assert result.record_count == 1
    assert [r["reason"] for r in read_jsonl(tmp_path / "rejected.jsonl")] == ["too_short", "refusal", "copies_segment"]


def test_another_document_set_needs_another_work_folder(tmp_path):
    with LoopbackServer(responder=responder) as server:
        Backtranslate(config(server), tmp_path, segments=segments(2)).run()
        (tmp_path / "segments.jsonl").write_text(json.dumps(segments(3)[2]) + "\n")
        with pytest.raises(ValueError, match="other documents"):
            Backtranslate(config(server), tmp_path)


@pytest.mark.slow
def test_assay_synth_backtranslate_end_to_end(tmp_path):
    """Documents -> segments -> pairs -> the synth recipe's governance; the ledger names parents and scores."""
    from pipelines.cli import main

    docs = write_jsonl(tmp_path / "docs.jsonl", [{"text": f"Topic{i} {PARA}"} for i in range(3)])
    out = tmp_path / "out"
    with LoopbackServer(responder=responder) as server:
        args = ["synth", "--method", "backtranslate", "--documents", docs, "--out", str(out), "--backend", "http",
                "--base-url", server.base_url, "--model", "loopback", "--local"]  # fmt: skip
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc_ids = [d["id"] for d in read_documents(docs)]
    ledger = pq.read_table(sorted(glob.glob(str(out / "ledger" / "run=*")))[-1]).to_pylist()
    assert len(ledger) == 3
    for row in ledger:
        assert row["parents"][1] in doc_ids
        assert row["generator"]["method"] == "backtranslate" and row["generator"]["template_version"] == TEMPLATE_VERSION
        synth_op = next(op for op in row["ops"] if op["name"] == "synth_record")
        assert synth_op["score"] == 5.0  # the curation score
        assert [op["name"] for op in row["ops"]][2:] == ["toxicity", "pii", "exact_dedup", "fuzzy_dedup"]
    assert re.search(r"3 segments from 3 documents", result.output)
