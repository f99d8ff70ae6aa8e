"""Training data from an LLM judge's scores: the distillation step of the FineWeb-Edu recipe.

A run with an ``llm_judge`` stage leaves, per judged document, a score in its
ledger (the stage's score) and the text in its shards (kept documents) or its
rejects (dropped ones). :func:`read_judgments` joins them; the scores become
fastText labels in one of two ways:

* **binary** at a threshold: ``edu_ge3`` (score >= 3) against ``edu_lt3``;
* **buckets** (ordinal regression): a document scored *s* carries every label
  ``edu_ge<k>`` for *k* <= *s*, trained one-vs-all, so each label's probability
  estimates P(score >= k). The expected score is ``min + sum_k P(score >= k)``,
  and any threshold can be chosen at filtering time by mapping that label.

Either way the positive label ``<rubric>_ge<threshold>`` is what
``fasttext_classifier`` maps to a score column (``labels: {edu_ge3: edu}``,
``min_scores: {edu: 0.5}``). :class:`JudgeDistillation` is the hook
``filters.classifiers.train.train`` calls: it splits (at random, or holding out the
documents of other sources), evaluates agreement with the judge on the held-out
documents (Spearman of the classifier's score against the judge's, precision /
recall / F1 at the threshold) and writes the judge's part of the model card.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from filters.classifiers.base import fasttext_line
from filters.classifiers.train import Example, TrainingDataError, evaluate, split

MODES = ("binary", "buckets")


@dataclass
class JudgedExample(Example):
    """A judged document: its text, label(s), the judge's score and where it came from."""

    score: float = 0.0
    source: str = ""
    record_id: str = ""


@dataclass
class JudgeRun:
    """What a finished run's ``llm_judge`` stage decided."""

    output: str
    run_id: str
    stage: dict[str, Any]
    examples: list[JudgedExample]
    not_scored: dict[str, int] = field(default_factory=dict)

    @property
    def rubric(self) -> dict[str, Any]:
        return self.stage["rubric"]

    @property
    def score_range(self) -> tuple[float, float]:
        cfg = self.stage["config"]["rubric"]
        return float(cfg["min"]), float(cfg["max"])


def judge_stages(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in manifest.get("stages", []) if s.get("name") == "llm_judge"]


def read_judgments(output: str | Path, rubric: str) -> JudgeRun:
    """The judged documents (text and score) of the run that wrote ``output``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(output)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise TrainingDataError(
            f"{root} has no manifest.json: give the output folder of a finished `assay run` whose recipe has an "
            "llm_judge stage"
        )
    manifest = json.loads(manifest_path.read_text())
    stages = judge_stages(manifest)
    stage = next((s for s in stages if s["rubric"]["name"] == rubric), None)
    if stage is None:
        found = ", ".join(s["rubric"]["name"] for s in stages) or "none"
        raise TrainingDataError(f"the run in {root} has no llm_judge stage with rubric {rubric!r} (judged rubrics: {found})")
    run_id = manifest["run_id"]
    ledger = root / "ledger" / f"run={run_id}"
    if not ledger.is_dir():
        raise TrainingDataError(f"{ledger} is missing: the run's ledger is needed for the judge's scores")
    rows = pq.read_table(ledger, columns=["id", "source", "ops"]).to_pylist()
    scores: dict[str, tuple[float, str]] = {}
    not_scored: Counter = Counter()
    index = stage["stage_index"]
    for row in rows:
        op = next((o for o in row["ops"] or [] if o["stage"] == index), None)
        if op is None or op["decision"] == "skipped":
            continue
        if op["decision"] == "not_scored" or op["score"] is None:
            not_scored[(op["reason"] or "not_scored:unknown").removeprefix("not_scored:")] += 1
            continue
        scores[row["id"]] = (float(op["score"]), row["source"])
    texts: dict[str, str] = {}
    for entry in manifest.get("shards", []):
        with pa.memory_map(str(root / "shards" / entry["shard"])) as f:
            table = pa.ipc.open_stream(f).read_all().select(["id", "text"])
        texts.update((r["id"], r["text"]) for r in table.to_pylist() if r["id"] in scores)
    rejects = root / "rejects" / f"run={run_id}"
    if rejects.is_dir():
        for part in sorted(rejects.glob("*.parquet")):
            table = pq.read_table(part, columns=["id", "text"])
            texts.update((r["id"], r["text"]) for r in table.to_pylist() if r["id"] in scores)
    missing = len(scores) - sum(1 for rid in scores if texts.get(rid) is not None)
    if missing:
        not_scored["text_not_found"] += missing  # erased since, or quarantined text
    examples = [
        JudgedExample(texts[rid], "", score=s, source=src, record_id=rid)
        for rid, (s, src) in sorted(scores.items())
        if texts.get(rid) is not None
    ]
    if not examples:
        raise TrainingDataError(
            f"the run in {root} judged no document with a score (not scored: {dict(not_scored) or 'none'}); "
            "raise the judge's sample or budget, or check its answers parse"
        )
    return JudgeRun(str(root), run_id, stage, examples, dict(not_scored))


def label_name(rubric: str, k: float) -> str:
    return f"{rubric}_ge{k:g}"


class JudgeDistillation:
    """Labels, split, evaluation and model card for training a classifier on a judge's scores.

    Args:
        run: the judged documents.
        mode: ``binary`` (at ``threshold``) or ``buckets`` (ordinal, one-vs-all).
        threshold: the positive class is score >= threshold; default: the rubric's.
        holdout_sources: glob patterns of source URIs whose documents are held
            out for evaluation (and not trained on); empty: a random share.
    """

    def __init__(self, run: JudgeRun, mode: str = "binary", threshold: float | None = None,
                 holdout_sources: list[str] | None = None):  # fmt: skip
        if mode not in MODES:
            raise TrainingDataError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        self.run = run
        self.mode = mode
        self.name = run.rubric["name"]
        self.lo, self.hi = run.score_range
        self.threshold = float(run.stage["config"]["rubric"]["threshold"] if threshold is None else threshold)
        if not self.lo < self.threshold <= self.hi:
            raise TrainingDataError(f"threshold {self.threshold:g} is outside the rubric's scores ({self.lo:g}, {self.hi:g}]")
        if mode == "buckets":
            self.threshold = float(math.ceil(self.threshold))
        self.holdout_sources = list(holdout_sources or [])
        self.positive = label_name(self.name, self.threshold)

    @property
    def loss(self) -> str:
        """fastText's loss: softmax for two exclusive labels, one-vs-all for the cumulative bucket labels."""
        return "softmax" if self.mode == "binary" else "ova"

    def examples(self) -> list[JudgedExample]:
        """The judged documents with their labels set for the mode."""
        out = []
        for ex in self.run.examples:
            if self.mode == "binary":
                ex.label = self.positive if ex.score >= self.threshold else f"{self.name}_lt{self.threshold:g}"
                ex.extra_labels = ()
            else:
                top = int(min(self.hi, max(self.lo, round(ex.score))))
                ex.label = label_name(self.name, top)  # the top bucket: the split stratifies by score
                ex.extra_labels = tuple(label_name(self.name, k) for k in range(int(self.lo), top))
            out.append(ex)
        return out

    def split(self, examples: list[Example], test_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
        if not self.holdout_sources:
            return split(examples, test_fraction, seed)
        test = [ex for ex in examples if any(fnmatch.fnmatch(ex.source, p) for p in self.holdout_sources)]
        train = [ex for ex in examples if not any(fnmatch.fnmatch(ex.source, p) for p in self.holdout_sources)]
        if not test or not train:
            raise TrainingDataError(
                f"--holdout-source {' '.join(self.holdout_sources)} matches {len(test)} of {len(examples)} judged "
                "documents; it must match some but not all (sources look like "
                f"{examples[0].source if examples else 'file:///...'})"
            )
        return train, test

    def predicted_scores(self, model, texts: list[str], lowercase: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(classifier score, P(positive))`` per text: P(positive) in binary mode, the expected score in buckets."""
        labels, probs = model.predict([fasttext_line(t, lowercase) for t in texts], k=-1, threshold=0.0)
        score = np.zeros(len(texts))
        positive = np.zeros(len(texts))
        for i, (labs, ps) in enumerate(zip(labels, probs, strict=True)):
            p = {lab.removeprefix("__label__"): float(v) for lab, v in zip(labs, ps, strict=True)}
            positive[i] = min(1.0, p.get(self.positive, 0.0))
            if self.mode == "binary":
                score[i] = positive[i]
            else:
                ks = range(int(self.lo) + 1, int(self.hi) + 1)
                score[i] = self.lo + sum(min(1.0, p.get(label_name(self.name, k), 0.0)) for k in ks)
        return score, positive

    def evaluate(self, model, test: list[JudgedExample], lowercase: bool) -> dict[str, Any]:
        """Held-out metrics: the usual per-label ones, and agreement with the judge."""
        texts = [ex.text for ex in test]
        judge = np.array([ex.score for ex in test], dtype=float)
        score, positive = self.predicted_scores(model, texts, lowercase)
        if self.mode == "binary":

            def predict(batch: list[str]) -> list[str]:
                labels, _ = model.predict([fasttext_line(t, lowercase) for t in batch], k=1)
                return [lab[0].removeprefix("__label__") if lab else "" for lab in labels]

            metrics = evaluate(predict, test)
        else:
            per_label = {}
            for k in range(int(self.lo) + 1, int(self.hi) + 1):
                per_label[label_name(self.name, k)] = _prf(judge >= k, self.bucket_probability(model, texts, k, lowercase) >= 0.5)
            buckets = np.clip(np.rint(score), self.lo, self.hi)
            with_support = [m["f1"] for m in per_label.values() if m["support"]]
            metrics = {
                "held_out": len(test),
                "accuracy": float(np.mean(buckets == np.rint(judge))) if len(test) else None,
                "macro_f1": float(np.mean(with_support)) if with_support else None,
                "labels": per_label,
                "mean_absolute_error": float(np.mean(np.abs(score - judge))) if len(test) else None,
            }
        metrics["judge_agreement"] = {
            "spearman": spearman(score, judge),
            "threshold": self.threshold,
            **_prf(judge >= self.threshold, positive >= 0.5),
            "held_out": len(test),
            "held_out_positive": int(np.sum(judge >= self.threshold)),
        }
        return metrics

    def bucket_probability(self, model, texts: list[str], k: int, lowercase: bool) -> np.ndarray:
        labels, probs = model.predict([fasttext_line(t, lowercase) for t in texts], k=-1, threshold=0.0)
        want = "__label__" + label_name(self.name, k)
        return np.array([next((float(p) for lab, p in zip(ls, ps, strict=True) if lab == want), 0.0)
                         for ls, ps in zip(labels, probs, strict=True)])  # fmt: skip

    def card(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The judge's part of the model card."""
        scores = Counter(ex.score for ex in self.run.examples)
        return {
            "run": self.run.output,
            "run_id": self.run.run_id,
            "rubric": self.run.rubric,
            "judge": self.run.stage.get("judge"),
            "mode": self.mode,
            "threshold": self.threshold,
            "positive_label": self.positive,
            "judged_documents": len(self.run.examples),
            "not_scored": self.run.not_scored,
            "score_counts": {f"{k:g}": v for k, v in sorted(scores.items())},
            "held_out": f"documents of sources matching {self.holdout_sources}" if self.holdout_sources else "random share",
            "agreement": metrics["judge_agreement"],
        }

    def card_markdown(self, card: dict[str, Any]) -> list[str]:
        j = card["judge"]
        a = j["agreement"]
        judge = j["judge"] or {}
        return [
            "## Judge",
            "",
            f"Distilled from the `llm_judge` scores of run `{j['run_id']}` in `{j['run']}`: rubric "
            f"`{j['rubric']['name']}` ({j['rubric']['version']}), judge {judge.get('model', '?')} "
            f"({judge.get('backend', '?')}).",
            f"Judged documents: {j['judged_documents']:,} (score counts: "
            + ", ".join(f"{k}: {v}" for k, v in j["score_counts"].items())
            + f"); not scored: {j['not_scored'] or 'none'}.",
            f"Mode: {j['mode']}; positive label `{j['positive_label']}` (score >= {j['threshold']:g}). "
            f"Held out: {j['held_out']}.",
            "",
            "Agreement with the judge on the held-out documents:",
            "",
            "| Spearman | precision | recall | F1 at threshold | held out (positive) |",
            "| ---: | ---: | ---: | ---: | ---: |",
            f"| {_fmt(a['spearman'])} | {_fmt(a['precision'])} | {_fmt(a['recall'])} | {_fmt(a['f1'])} | "
            f"{a['held_out']:,} ({a['held_out_positive']:,}) |",
            "",
            f"Use it: `fasttext_classifier` with `labels: {{{j['positive_label']}: {j['rubric']['name']}}}` and "
            f"`min_scores: {{{j['rubric']['name']}: 0.5}}`.",
            "",
        ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _prf(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float | int]:
    tp = int(np.sum(truth & predicted))
    n_pred, support = int(np.sum(predicted)), int(np.sum(truth))
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties averaged); None when either side is constant."""
    from scipy.stats import spearmanr

    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return float(spearmanr(a, b).statistic)
