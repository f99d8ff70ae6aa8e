"""fastText classifiers: train, reload, score at each granularity, decide, skip other languages; default toxicity."""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from pathlib import Path

import fasttext
import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from filters.classifiers.base import fasttext_line
from filters.classifiers.fasttext import FastTextClassifier
from filters.classifiers.toxicity import Toxicity
from filters.classifiers.train import Params, TrainingDataError, read_labelled, train
from lineage.ledger import ledger_rows
from pipelines.cli import main
from tests.conftest import make_table, write_jsonl

SPORT = ["football", "tennis", "the match", "the striker", "the goalkeeper", "the referee", "the league", "the coach"]
SPORT_VERBS = ["scored a goal in", "won", "lost", "played hard in", "was sent off in", "trained for"]
FOOD = ["the soup", "the bread", "the pasta", "a cake", "the sauce", "the onions", "garlic", "the oven"]
FOOD_VERBS = ["simmered with", "baked beside", "was seasoned with", "tasted of", "was chopped with", "roasted with"]


def _sentences(subjects, verbs, n, seed):
    rng = random.Random(seed)
    return [f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(subjects)}." for _ in range(n)]


@pytest.fixture(scope="module")
def topic_model(tmp_path_factory):
    """A tiny sport-vs-cooking classifier, trained from inline labelled JSONL."""
    tmp = tmp_path_factory.mktemp("topic")
    records = [{"text": t, "label": "sport"} for t in _sentences(SPORT, SPORT_VERBS, 80, 1)]
    records += [{"text": t, "label": "cooking"} for t in _sentences(FOOD, FOOD_VERBS, 80, 2)]
    data = write_jsonl(tmp / "topics.jsonl", records)
    examples, files = read_labelled([data])
    result = train(examples, files, tmp / "topic.bin", params=Params(epoch=30, dim=16, bucket=200_000, thread=1), languages=["en"])
    return result, data


def _op(result, **params):
    return FastTextClassifier(model_path=str(result.model_path), labels={"sport": "sport"}, **params)


def test_training_writes_model_and_card(topic_model):
    result, data = topic_model
    card = json.loads(result.card_json.read_text())
    assert card["labels"] == ["cooking", "sport"] and card["languages"] == ["en"]
    (file,) = card["data"]["files"]
    assert file["sha256"] == hashlib.sha256(Path(data).read_bytes()).hexdigest() and file["records"] == 160
    assert card["data"]["train_examples"] == 144 and card["data"]["held_out_examples"] == 16
    assert card["model_sha256"] == hashlib.sha256(result.model_path.read_bytes()).hexdigest()
    assert card["fasttext"].startswith("fasttext") and card["created"].startswith("20")
    assert card["parameters"]["epoch"] == 30
    # The topics share no words: the held-out set is classified without error.
    assert card["metrics"]["accuracy"] == 1.0
    assert card["metrics"]["labels"]["sport"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 8}
    md = result.card_md.read_text()
    assert "| sport | 1.000 | 1.000 | 1.000 | 8 |" in md and file["sha256"] in md


def test_reloaded_model_scores_each_aggregation(topic_model):
    result, _ = topic_model
    model = fasttext.load_model(str(result.model_path))
    lines = ["The striker scored a goal in the match.", "The soup simmered with garlic and the onions for an hour.", "Bread."]
    doc = "\n".join(lines)

    def p_sport(text):
        labels, probs = model.predict(fasttext_line(text), k=-1)
        return min(float(dict(zip(labels, probs, strict=True))["__label__sport"]), 1.0)

    per_line = np.array([p_sport(x) for x in lines])
    lengths = np.array([len(x) for x in lines])
    expected = {
        ("document", "mean"): p_sport(doc),
        ("line", "mean"): per_line.mean(),
        ("line", "max"): per_line.max(),
        ("line", "length_weighted"): (per_line * lengths).sum() / lengths.sum(),
        # The same three units, told apart by sentence ends instead of line breaks.
        ("sentence", "max"): per_line.max(),
    }
    for (granularity, aggregation), want in expected.items():
        op = _op(result, granularity=granularity, aggregation=aggregation)
        got = op(make_table([doc, lines[0]])).column("sport").to_pylist()
        assert got[0] == pytest.approx(want, abs=1e-5), (granularity, aggregation)
        assert got[1] == pytest.approx(per_line[0], abs=1e-5)
    sentences = " ".join(lines)
    got = _op(result, granularity="sentence", aggregation="max")(make_table([sentences])).column("sport")[0].as_py()
    assert got == pytest.approx(per_line.max(), abs=1e-5)
    assert per_line[0] > 0.8 and per_line[1] < 0.2  # the model learnt the topics


def test_threshold_retune_needs_no_rescoring(topic_model):
    result, _ = topic_model
    docs = ["The coach won the league.", "A cake baked beside the bread.", "The referee tasted of garlic."]
    scored = _op(result, max_scores={"sport": 1.0})(make_table(docs))
    assert scored.column("keep").to_pylist() == [True, True, True]
    sport = scored.column("sport").to_pylist()

    strict = _op(result, max_scores={"sport": 0.5})
    out = strict.redecide(scored)
    assert not strict._ready and not hasattr(strict, "_model")  # the model was never loaded
    want = ["fasttext_classifier:topic:sport>0.5" if s > 0.5 else None for s in sport]
    assert out.column("drop_reason").to_pylist() == want and want[0] and not want[1]
    assert out.column("sport").to_pylist() == sport
    quality_style = _op(result, name="sporty", min_scores={"sport": 0.5}).redecide(scored)
    assert quality_style.column("drop_reason").to_pylist() == [
        None if s >= 0.5 else "fasttext_classifier:sporty:sport<0.5" for s in sport
    ]


def test_other_languages_are_not_scored_and_the_ledger_says_so(topic_model):
    result, _ = topic_model
    op = _op(result, max_scores={"sport": 0.5})  # languages come from the model card: [en]
    op.stage_index = 1
    table = op(make_table(["The striker won the match.", "Le buteur a gagné le match.", "The soup."], ["en", "fr", "en"]))
    assert table.column("sport")[1].as_py() is None and table.column("topic_not_scored").to_pylist() == [None, "lang=fr", None]
    assert table.column("keep").to_pylist() == [False, True, True]
    ledger = ledger_rows(table, "run1", [op.describe()], {}).to_pylist()
    ops = [row["ops"][0] for row in ledger]
    assert [(o["decision"], o["reason"]) for o in ops] == [
        ("drop", "fasttext_classifier:topic:sport>0.5"),
        ("not_scored", "not_scored:lang=fr"),
        ("keep", None),
    ]
    assert ops[1]["score"] is None and ops[2]["score"] < 0.5
    # A recipe can widen the languages the card declares.
    wide = _op(result, languages=["en", "fr"])(make_table(["Le match."], ["fr"]))
    assert wide.column("sport")[0].as_py() is not None


def test_operator_ships_to_workers_without_its_model(topic_model):
    result, _ = topic_model
    op = _op(result)
    table = make_table(["The coach won the league."])
    first = op(table)
    clone = pickle.loads(pickle.dumps(op))
    assert not hasattr(clone, "_model") and clone(table).column("sport").equals(first.column("sport"))


def test_bad_configs_say_what_to_fix(topic_model, tmp_path):
    result, _ = topic_model
    with pytest.raises(ValidationError, match="not score columns"):
        _op(result, max_scores={"quality": 0.5})
    with pytest.raises(ValueError, match="its labels are"):
        FastTextClassifier(model_path=str(result.model_path), labels={"hq": "quality"})(make_table(["x"]))
    with pytest.raises(FileNotFoundError, match="model_path"):
        FastTextClassifier(model_path=str(tmp_path / "none.bin"), labels={"a": "b"})(make_table(["x"]))
    one_label = write_jsonl(tmp_path / "one.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 1}])
    with pytest.raises(TrainingDataError, match="at least two"):
        train(*read_labelled([one_label]), tmp_path / "m.bin")
    with pytest.raises(TrainingDataError, match="--label-field"):
        read_labelled([write_jsonl(tmp_path / "nolabel.jsonl", [{"text": "a"}])])


def test_cli_trains_from_two_corpora(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl.gz", [{"body": t} for t in _sentences(SPORT, SPORT_VERBS, 60, 3)])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"body": t} for t in _sentences(FOOD, FOOD_VERBS, 60, 4)])
    out = tmp_path / "models" / "quality.ftz"
    res = CliRunner().invoke(
        main,
        ["train-classifier", str(out), "--positive", good, "--negative", bad, "--text-field", "body",
         "--positive-label", "hq", "--negative-label", "cc", "--epoch", "30", "--dim", "16", "--bucket", "200000", "--threads", "1"],
    )
    assert res.exit_code == 0, res.output
    assert "precision" in res.output and "fasttext_classifier" in res.output
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["data"]["mode"] == "corpora" and card["parameters"]["quantized"] is True
    assert [(f["label"], f["records"]) for f in card["data"]["files"]] == [("hq", 60), ("cc", 60)]
    assert card["metrics"]["labels"]["hq"]["support"] == 6 and card["metrics"]["accuracy"] >= 0.9
    op = FastTextClassifier(model_path=str(out), labels={"hq": "quality"}, min_scores={"quality": 0.5})
    kept = op(make_table(["The coach trained for the match.", "The sauce was seasoned with garlic."]))
    assert kept.column("drop_reason").to_pylist() == [None, "fasttext_classifier:quality:quality<0.5"]

    res = CliRunner().invoke(main, ["train-classifier", str(out), "--data", good, "--positive", good])
    assert res.exit_code == 2 and "either --data" in res.output


ABUSIVE = [
    "You are a worthless idiot and everyone hates you.",
    "Shut the fuck up, you pathetic moron.",
    "Go kill yourself, you piece of shit.",
    "What a stupid bitch, nobody wants to hear your crap.",
    "Fuck off and die, you disgusting loser.",
    "Only a brainless retard would post this garbage.",
]
BENIGN = [
    "The committee will meet on Tuesday to discuss the budget.",
    "Thanks for sharing this recipe, the apple pie turned out great.",
    "The train to Edinburgh leaves at nine in the morning.",
    "Our library extends its opening hours during the exam period.",
    "She planted tomatoes and basil in the garden this spring.",
    "The new bridge should reduce traffic across the river.",
]


def test_default_toxicity_separates_abuse_from_benign_text():
    op = Toxicity()
    out = op(make_table(ABUSIVE + BENIGN, ["en"] * 12))
    scores = out.column("toxicity").to_pylist()
    assert min(scores[:6]) > 0.9 and max(scores[6:]) < 0.2, scores
    assert out.column("drop_reason").to_pylist() == ["toxicity:score>0.8"] * 6 + [None] * 6
    # One abusive line in an otherwise clean page is enough with the default line/max scoring.
    page = "\n".join(BENIGN[:3] + ABUSIVE[:1] + BENIGN[3:])
    assert op(make_table([page], ["en"])).column("drop_reason")[0].as_py() == "toxicity:score>0.8"
    # English only: a French insult is not scored, and says why.
    fr = op(make_table(["Ferme-la, espèce de crétin."], ["fr"]))
    assert fr.column("toxicity")[0].as_py() is None and fr.column("toxicity_not_scored")[0].as_py() == "lang=fr"


def test_toxicity_takes_a_fasttext_model(topic_model):
    result, _ = topic_model
    op = Toxicity(model_path=str(result.model_path), label="__label__sport", max_score=0.5)
    out = op(make_table(["The striker scored a goal in the match.", "The soup."], ["en", "en"]))
    assert out.column("drop_reason").to_pylist() == ["toxicity:score>0.5", None]
    assert op.describe()["score_column"] == "toxicity" and out.column("toxicity").type == pa.float32()


def test_fingerprint_names_the_weights(topic_model):
    result, _ = topic_model
    op = _op(result)
    card = json.loads(result.card_json.read_text())
    assert op.describe()["model"] == f"sha256:{card['model_sha256']}"
    assert op.fingerprint != op.config.fingerprint()  # the weights count, not just the config
    assert Toxicity().describe()["model"].startswith("alt-profanity-check 1.9")


def test_quantizing_recovers_from_fasttexts_spurious_nan(tmp_path):
    """fastText's retraining inside quantize() can report "Encountered NaN" (seen once in a full CI run): the model
    is trained again and quantized; a second NaN falls back to quantizing without retraining."""
    from filters.classifiers.train import _quantize, _train_supervised

    train_file = tmp_path / "train.txt"
    train_file.write_text("".join(f"__label__{i % 2} word{i % 7} other{i % 5}\n" for i in range(200)))

    class NaNOnRetrain:  # a real model whose quantize() fails when asked to retrain
        def __init__(self, fails: bool):
            self.model = _train_supervised(fasttext, str(train_file), Params(epoch=2), lambda m: None)
            self.fails, self.words, self.retrains = fails, self.model.words, []

        def quantize(self, retrain, **kw):
            self.retrains.append(retrain)
            if retrain and self.fails:
                raise RuntimeError("Encountered NaN.")
            self.model.quantize(retrain=retrain, **kw)

    # (whether each successive model's retraining fails, which model is quantized, how)
    for fails, last, final_retrain in (([True, False], 1, [True]), ([True, True, True], 2, [False])):
        models = [NaNOnRetrain(f) for f in fails]
        later = iter(models[1:])

        class FastText:
            @staticmethod
            def train_supervised(_later=later, **kw):
                return next(_later)

        messages = []
        got = _quantize(FastText, models[0], str(train_file), Params(), messages.append)
        assert got is models[last]
        assert got.retrains == final_retrain and got.model.is_quantized()
        assert any("NaN while quantizing" in m for m in messages)
