"""``llm_judge``: rubrics, sampling, budget, faults, cache, and the seam that keeps synth out of filters.

The model behind these tests is the scripted loopback server (``synth.loopback``),
which answers like a judge on cue and fails on cue (429, hangs, nonsense); the
real SmolLM2 in-process and a real llama.cpp server are in
``tests/synth/test_judge_models.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from filters.llm_judge import LLMJudge
from filters.rubric import RubricError, load_rubric
from operators.core.registry import get
from synth.loopback import LoopbackServer
from tests.conftest import make_table

EDU_WORDS = ("photosynthesis", "fractions", "equation", "cell", "history")


def edu_responder(body) -> str:
    """A judge that gives 4 to texts about school topics and 1 to the rest, FineWeb-Edu style."""
    text = body["messages"][-1]["content"].split("The extract:", 1)[1]
    score = 4 if any(w in text.lower() for w in EDU_WORDS) else 1
    return f"The extract is about {text.split()[0]}. Educational score: {score}"


def judge(server: LoopbackServer, tmp_path, **params) -> LLMJudge:
    backend = {"kind": "http", "http": {"base_url": server.base_url, "model": "loopback", "timeout": 2}}
    return LLMJudge({"backend": backend, "cache_dir": str(tmp_path / "judge-cache"), **params})


DOCS = [
    "Photosynthesis turns light into sugar in the leaves of plants.",
    "Buy cheap watches today, free shipping on every order.",
    "Adding fractions needs a common denominator first.",
    "Click here to win a prize, limited offer.",
]


# ---------------------------------------------------------------- rubrics


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("It explains plants well.\nEducational score: 3", 3.0),  # FineWeb-Edu's format
        ("Educational score: 2 ... no wait. Educational score: 4", 4.0),  # the conclusion, not the first guess
        ("**Educational Score**: 5", 5.0),  # how small models write it
        ("My score is 2.", 2.0),
        ("Educational score: 100", None),  # out of range: not clamped, not guessed
        ("This uses the additive 5-point scoring system and is up to 100 words.", None),  # no score given
        ("", None),
    ],
)
def test_edu_rubric_parses_scores_and_refuses_to_guess(answer, score):
    assert load_rubric("edu").parse(answer) == score


def test_shipped_rubrics_and_word_scores():
    coherence = load_rubric("coherence")
    assert coherence.parse("Coherent: yes") == 1.0
    assert coherence.parse("No, it jumps between topics.") == 0.0
    assert coherence.parse("It is hard to say.") is None
    toxicity = load_rubric("toxicity")
    assert toxicity.parse("Insults a group politely. Toxicity score: 3") == 3.0
    # FineWeb-Edu's own prompt text, with the document where it wrote <EXAMPLE>
    edu = load_rubric("edu")
    assert edu.prompt.startswith("Below is an extract from a web page. Evaluate whether the page has a high educational")
    assert edu.render("DOC").count("The extract: DOC.") == 1 and "Educational score: <total points>" in edu.prompt


def test_custom_rubric_inline_and_from_a_file(tmp_path):
    inline = {"name": "legal", "version": "legal/1", "prompt": "Is this legal advice? {text}\nAnswer: Score: <0-3>",
              "score_patterns": [r"Score:\s*(\d)"], "min": 0, "max": 3, "threshold": 2}  # fmt: skip
    op = LLMJudge(rubric=inline)
    assert op.score_column == "judge_legal" and op.skip_column == "judge_legal_not_scored"
    assert op.rubric.parse("Score: 2") == 2.0 and op.rubric.parse("Score: 7") is None
    path = tmp_path / "r.yaml"
    path.write_text("name: mine\nversion: v1\nprompt: 'Rate {text}'\nscore_patterns: ['(\\d)']\nmin: 0\nmax: 1\nthreshold: 1\n")
    assert LLMJudge(rubric=str(path)).rubric.name == "mine"


@pytest.mark.parametrize(
    ("rubric", "message"),
    [
        ({"name": "x", "version": "1", "prompt": "no placeholder", "score_patterns": ["(\\d)"]}, "{text}"),
        ({"name": "x", "version": "1", "prompt": "{text}", "score_patterns": ["\\d"]}, "needs a group"),
        ({"name": "x", "version": "1", "prompt": "{text}", "score_patterns": ["(\\d)"], "min": 5, "max": 1}, "below max"),
        ("no-such-rubric", "neither a shipped rubric"),
    ],
)
def test_bad_rubrics_are_refused_with_the_reason(rubric, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LLMJudge(rubric=rubric)
    if isinstance(rubric, str):
        with pytest.raises(RubricError):
            load_rubric(rubric)


def test_thresholds_must_lie_in_the_rubric_range():
    with pytest.raises(ValueError, match="outside the rubric"):
        LLMJudge(rubric="edu", min_score=7)


def test_registered_and_its_module_does_not_import_synth():
    assert get("llm_judge") is LLMJudge
    # filters/ may import only operators/: the backends are reached through operators.core.llm's provider seam.
    code = "import sys, filters.llm_judge, filters.judge_labels; print(sorted(m for m in sys.modules if m.split('.')[0] == 'synth'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- scoring through the backend


def test_scores_are_columns_and_thresholds_only_decide(tmp_path):
    with LoopbackServer(responder=edu_responder) as server:
        op = judge(server, tmp_path, min_score=3)
        out = op(make_table(DOCS))
        requests = server.requests
        # retuning the threshold reads the stored scores: no call
        retuned = LLMJudge(op.config.model_copy(update={"min_score": 1.0})).decide(out)
        assert server.requests == requests
    assert out.column("judge_edu").to_pylist() == [4.0, 1.0, 4.0, 1.0]
    assert out.column("judge_edu_not_scored").to_pylist() == [None] * 4
    assert out.column("keep").to_pylist() == [True, False, True, False]
    assert out.column("drop_reason").to_pylist() == [None, "llm_judge:edu<3", None, "llm_judge:edu<3"]
    assert retuned == [None] * 4
    assert requests == 4


def test_without_thresholds_nothing_is_dropped(tmp_path):
    with LoopbackServer(responder=edu_responder) as server:
        out = judge(server, tmp_path)(make_table(DOCS))
    assert out.column("keep").to_pylist() == [True] * 4


def test_a_sample_is_judged_the_rest_kept_not_scored(tmp_path):
    texts = [f"Lesson {i} on photosynthesis and cell biology." for i in range(200)]
    with LoopbackServer(responder=edu_responder) as server:
        op = judge(server, tmp_path, sample=0.25, seed=3)
        out = op(make_table(texts))
        assert server.requests == sum(r is None for r in out.column("judge_edu_not_scored").to_pylist())
    reasons = out.column("judge_edu_not_scored").to_pylist()
    judged = [i for i, r in enumerate(reasons) if r is None]
    assert 30 <= len(judged) <= 70  # ~25% of 200
    assert set(reasons) == {None, "not_sampled"}
    assert all(out.column("judge_edu")[i].as_py() is None for i, r in enumerate(reasons) if r == "not_sampled")
    assert all(out.column("keep").to_pylist())
    # the same seed picks the same documents, whatever the batch they arrive in
    again = LLMJudge(op.config)
    assert [i for i in range(200) if again.sampled(out.column("id")[i].as_py())] == judged
    assert [i for i in range(200) if LLMJudge(op.config.model_copy(update={"seed": 4})).sampled(out.column("id")[i].as_py())] != judged


def test_other_languages_are_not_judged(tmp_path):
    with LoopbackServer(responder=edu_responder) as server:
        out = judge(server, tmp_path, languages=["en"])(make_table(DOCS[:2], lang=["en", "fr"]))
        assert server.requests == 1
    assert out.column("judge_edu_not_scored").to_pylist() == [None, "lang=fr"]


def test_budget_leaves_the_rest_not_scored_and_kept(tmp_path):
    texts = [f"Photosynthesis lesson number {i} for the class." for i in range(20)]
    with LoopbackServer(responder=edu_responder) as server:
        op = judge(server, tmp_path, budget_tokens=3000, batch_size=4)
        out = op(make_table(texts))
        requests = server.requests
    reasons = out.column("judge_edu_not_scored").to_pylist()
    assert 0 < requests < 20
    assert reasons.count(None) == requests and reasons.count("budget") == 20 - requests
    assert all(out.column("keep").to_pylist())
    assert op._client.stats()["held_for_budget"] == 20 - requests


def test_cached_calls_are_not_paid_twice_and_the_budget_spans_workers(tmp_path):
    texts = [f"Equation practice sheet {i}." for i in range(6)]
    with LoopbackServer(responder=edu_responder) as server:
        first = judge(server, tmp_path)
        a = first(make_table(texts))
        assert server.requests == 6
        # a second worker (or a resumed run) with the same cache folder: answered from the cache
        second = judge(server, tmp_path)
        b = second(make_table(texts))
        assert server.requests == 6
        assert second._client.stats()["cached"] == 6
        assert b.column("judge_edu").to_pylist() == a.column("judge_edu").to_pylist()
        # a worker started with a budget already spent by the others sends nothing new
        third = judge(server, tmp_path, budget_tokens=10)
        c = third(make_table(["A different history text."]))
        assert server.requests == 6
        assert c.column("judge_edu_not_scored").to_pylist() == ["budget"]


# ---------------------------------------------------------------- faults: counted, never fatal


def test_429_is_retried_and_scores_arrive(tmp_path):
    with LoopbackServer(responder=edu_responder, fail_first=2, fail_status=429, retry_after=0.05) as server:
        op = judge(server, tmp_path, max_retries=3)
        out = op(make_table(DOCS[:1]))
    assert out.column("judge_edu").to_pylist() == [4.0]
    assert op._client.stats()["retries"] == 2


def test_a_call_that_keeps_failing_is_not_scored_not_fatal(tmp_path):
    with LoopbackServer(responder=edu_responder, hang_first=1) as server:
        op = judge(server, tmp_path, max_retries=0)  # the backend's timeout is 2 s
        out = op(make_table(DOCS[:2]))
    reasons = out.column("judge_edu_not_scored").to_pylist()
    assert sorted(reasons, key=str) == [None, "failed"]
    assert all(out.column("keep").to_pylist())
    assert op._client.stats()["failed"] == 1


def test_a_malformed_score_is_counted_not_fatal(tmp_path, caplog):
    answers = iter(["Educational score: 3", "I like this page a lot!", "Educational score: 42"])
    with LoopbackServer(responder=lambda body: next(answers)) as server:
        op = judge(server, tmp_path, concurrency=1)
        out = op(make_table(DOCS[:3]))
    assert out.column("judge_edu").to_pylist() == [3.0, None, None]
    assert out.column("judge_edu_not_scored").to_pylist() == [None, "unparsed", "unparsed"]
    assert "2 of 3 judged documents have no score" in caplog.text and "'unparsed': 2" in caplog.text


def test_describe_names_rubric_judge_and_skip_column(tmp_path):
    with LoopbackServer() as server:
        op = judge(server, tmp_path)
    d = op.describe()
    assert d["skip_column"] == "judge_edu_not_scored" and d["score_column"] == "judge_edu"
    assert d["rubric"]["name"] == "edu" and d["rubric"]["version"] == "fineweb-edu/1"
    assert d["judge"]["model"] == "loopback" and d["judge"]["backend"] == "http"
    # the rubric's content is part of the fingerprint (an edited rubric file scores differently)
    other = LLMJudge(op.config.model_copy(update={"rubric": load_rubric("edu").model_copy(update={"version": "2"})}))
    assert other.fingerprint != op.fingerprint


def test_the_provider_comes_from_its_entry_point_and_an_unknown_one_is_named(monkeypatch):
    from operators.core import llm

    monkeypatch.setattr(llm, "_PROVIDERS", {})
    assert type(llm.provider()).__module__ == "synth.llm_client"  # found through assay.llm_providers, not a module name
    with pytest.raises(KeyError, match=r"no LLM provider 'nope'; registered: assay"):
        llm.provider("nope")
