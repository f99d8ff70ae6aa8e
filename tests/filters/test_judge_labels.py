"""Distilling an LLM judge into fastText: the packaged FineWeb-Edu loop, judge -> train -> filter.

The judge is the scripted loopback server scoring by a rule the classifier can
learn (how many school words a document has), so these tests check the
machinery: the scores travel from the ledger to the labels, the split, the
agreement figures, the card, and the classifier in a filter recipe. How well a
*real* small judge does is measured in ``benchmarks/judge_distill.py``.
"""

from __future__ import annotations

import glob
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from filters.classifiers.train import Params, TrainingDataError, train
from filters.judge_labels import JudgeDistillation, read_judgments
from operators.execution.executor import LocalExecutor
from pipelines.recipe import load
from synth.loopback import LoopbackServer
from tests.conftest import write_jsonl

RECIPES = Path(__file__).parents[2] / "pipelines" / "recipes"
SCHOOL = ["photosynthesis", "fractions", "equation", "grammar", "volcano", "molecule", "history", "geometry"]
OTHER = ["discount", "shipping", "weekend", "party", "coupon", "celebrity", "gossip", "parking"]
FILLER = ["the", "a", "this", "page", "about", "with", "for", "and", "our", "you", "today", "more", "here"]


def school_score(text: str) -> int:
    return min(5, sum(w in text for w in SCHOOL))


def judge_responder(body) -> str:
    text = body["messages"][-1]["content"].split("The extract:", 1)[1]
    return f"Justification.\nEducational score: {school_score(text)}"


def corpus(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        k = rng.randint(0, 5)
        words = rng.sample(SCHOOL, k) + rng.sample(OTHER, 5 - k) + rng.choices(FILLER, k=25)
        rng.shuffle(words)
        docs.append({"text": f"Document {i}: " + " ".join(words) + "."})
    return docs


def judge_recipe(tmp_path: Path, server: LoopbackServer, sources: list[str], sample: float = 1.0):
    """The packaged judge recipe, pointed at the loopback judge and the test corpus."""
    data = yaml.safe_load((RECIPES / "edu_judge.yaml").read_text())
    stage = next(s for s in data["stages"] if s["op"] == "llm_judge")
    stage["params"].update(
        backend={"kind": "http", "http": {"base_url": server.base_url, "model": "loopback"}},
        cache_dir=str(tmp_path / "judge-cache"), sample=sample,
    )  # fmt: skip
    data["stages"] = [s for s in data["stages"] if s["op"] != "lang_id"]  # the test corpus is not real English
    data["sources"] = [{"path": p, "name": Path(p).stem} for p in sources]
    data["output"] = str(tmp_path / "judge")
    return load(data)


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("judged")
    a = write_jsonl(tmp / "web.jsonl", corpus(240, seed=1))
    b = write_jsonl(tmp / "forum.jsonl", corpus(80, seed=2))
    with LoopbackServer(responder=judge_responder) as server:
        result = judge_recipe(tmp, server, [a, b], sample=0.9).pipeline().run(LocalExecutor())
    return tmp, result


def test_packaged_loop_recipes_validate():
    for name in ("edu_judge", "edu_filter"):
        loaded = load(RECIPES / f"{name}.yaml", check_paths=False)
        loaded.pipeline()
    judge = load(RECIPES / "edu_judge.yaml", check_paths=False).operators[-1]
    assert judge.name == "llm_judge" and judge.config.min_score is None  # step 1 only scores


def test_judged_scores_come_back_from_the_ledger_with_their_texts(judged_run):
    tmp, result = judged_run
    assert result.read == 320 and result.kept == 320  # the judge run drops nothing
    run = read_judgments(tmp / "judge", "edu")
    assert 250 <= len(run.examples) <= 310  # a 90% sample
    assert run.not_scored == {"not_sampled": 320 - len(run.examples)}
    assert all(ex.score == school_score(ex.text) for ex in run.examples)
    assert {Path(ex.source).name for ex in run.examples} == {"web.jsonl", "forum.jsonl"}
    assert run.stage["judge"]["model"] == "loopback"
    ledger = pq.read_table(glob.glob(str(tmp / "judge" / "ledger" / "run=*"))[0]).to_pylist()
    decisions = {op["reason"] for row in ledger for op in row["ops"] if op["name"] == "llm_judge"}
    assert decisions == {None, "not_scored:not_sampled"}


def test_binary_distillation_agrees_with_the_judge_and_cards_it(judged_run):
    tmp, _ = judged_run
    run = read_judgments(tmp / "judge", "edu")
    hook = JudgeDistillation(run, "binary")
    examples = hook.examples()
    assert {ex.label for ex in examples} == {"edu_ge3", "edu_lt3"}
    result = train(examples, [], tmp / "edu.bin", mode="judge", params=Params(epoch=50, thread=1),
                   test_fraction=0.25, hook=hook)  # fmt: skip
    a = result.card["judge"]["agreement"]
    assert a["held_out"] == result.card["metrics"]["held_out"] >= 60
    assert a["f1"] > 0.75 and a["spearman"] > 0.6  # random labels: F1 ~0.5, Spearman ~0
    assert result.card["judge"]["rubric"]["name"] == "edu" and result.card["judge"]["judge"]["model"] == "loopback"
    assert result.card["judge"]["judged_documents"] == len(examples)
    md = result.card_md.read_text()
    assert "## Judge" in md and "labels: {edu_ge3: edu}" in md


def test_bucket_distillation_learns_the_ordinal_score(judged_run):
    tmp, _ = judged_run
    run = read_judgments(tmp / "judge", "edu")
    hook = JudgeDistillation(run, "buckets")
    examples = hook.examples()
    three = next(ex for ex in examples if ex.score == 3)
    assert (three.label, three.extra_labels) == ("edu_ge3", ("edu_ge0", "edu_ge1", "edu_ge2"))
    result = train(examples, [], tmp / "edu-buckets.bin", mode="judge",
                   params=Params(epoch=50, thread=1, loss=hook.loss), test_fraction=0.25, hook=hook)  # fmt: skip
    metrics = result.card["metrics"]
    assert metrics["judge_agreement"]["spearman"] > 0.6
    assert metrics["mean_absolute_error"] < 1.0
    assert set(metrics["labels"]) == {f"edu_ge{k}" for k in range(1, 6)}
    assert set(result.card["labels"]) == {f"edu_ge{k}" for k in range(6)}


def test_holdout_by_source_trains_on_one_source_and_evaluates_on_the_other(judged_run):
    tmp, _ = judged_run
    run = read_judgments(tmp / "judge", "edu")
    hook = JudgeDistillation(run, "binary", holdout_sources=["*forum.jsonl"])
    train_set, test_set = hook.split(hook.examples(), 0.1, 0)
    assert {Path(ex.source).name for ex in test_set} == {"forum.jsonl"}
    assert {Path(ex.source).name for ex in train_set} == {"web.jsonl"}
    with pytest.raises(TrainingDataError, match="must match some but not all"):
        JudgeDistillation(run, "binary", holdout_sources=["*nowhere*"]).split(hook.examples(), 0.1, 0)


def test_errors_name_what_to_change(judged_run, tmp_path):
    tmp, _ = judged_run
    with pytest.raises(TrainingDataError, match="no manifest.json"):
        read_judgments(tmp_path, "edu")
    with pytest.raises(TrainingDataError, match=r"no llm_judge stage with rubric 'toxicity' \(judged rubrics: edu\)"):
        read_judgments(tmp / "judge", "toxicity")
    with pytest.raises(TrainingDataError, match="outside the rubric's scores"):
        JudgeDistillation(read_judgments(tmp / "judge", "edu"), "binary", threshold=9)


def test_the_whole_loop_judge_train_filter(judged_run, tmp_path, monkeypatch):
    """`assay train-classifier --from-judge` on the judged run, then the packaged filter recipe on a new corpus."""
    from pipelines.cli import main

    tmp, _ = judged_run
    monkeypatch.chdir(tmp_path)  # the filter recipe reads out/edu.bin from the working folder
    # 100 epochs: the judged 90% sample is chosen by record ids, which hash the files' paths, so it changes with
    # pytest's temporary folder; at 50 epochs recall on the fresh corpus ranged 0.69-0.83 over twelve folders
    # (one under the 0.7 asserted below), at 100 epochs 0.85-0.90.
    result = CliRunner().invoke(main, ["train-classifier", "out/edu.bin", "--from-judge", str(tmp / "judge"),
                                       "--rubric", "edu", "--holdout-source", "*forum.jsonl", "--epoch", "100", "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "agreement with the judge" in result.output and "labels: {edu_ge3: edu}" in result.output
    card = json.loads((tmp_path / "out" / "edu.card.json").read_text())
    assert card["judge"]["held_out"].startswith("documents of sources matching")
    assert card["judge"]["agreement"]["f1"] > 0.75

    fresh = corpus(200, seed=3)
    path = write_jsonl(tmp_path / "corpus.jsonl", fresh)
    data = yaml.safe_load((RECIPES / "edu_filter.yaml").read_text())
    data["stages"] = [s for s in data["stages"] if s["op"] != "lang_id"]
    data["sources"] = [{"path": path}]
    data["output"] = str(tmp_path / "filtered")
    run = load(data).pipeline().run(LocalExecutor())
    kept_texts = []
    for shard in sorted(glob.glob(str(tmp_path / "filtered" / "shards" / "*.arrow"))):
        import pyarrow.ipc as ipc

        with ipc.open_stream(shard) as f:
            kept_texts += f.read_all().column("text").to_pylist()
    truth = {d["text"]: school_score(d["text"]) >= 3 for d in fresh}
    kept = set(kept_texts)
    precision = sum(truth[t] for t in kept) / len(kept)
    recall = sum(truth[t] for t in kept) / sum(truth.values())
    assert run.read == 200 and precision > 0.7 and recall > 0.7
