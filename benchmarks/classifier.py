"""Classifier filters: accuracy of the default toxicity scorer, and scoring speed.

Accuracy is measured on OLID (the SemEval-2019 OffensEval tweets, via
TweetEval; ``benchmarks/data/olid/``), which the packaged toxicity model was
not trained on (it was trained on the Davidson et al. tweets and the Jigsaw
Wikipedia comments). OLID's "offensive" covers profanity, insults, threats and
targeted offence phrased without swear words. For comparison, the same run
trains a fastText model on OLID's own training split with ``assay
train-classifier``'s code and scores the same test tweets: the in-domain peer.

Speed is documents/s and MB/s of ``Filter.process`` (score + decide) on the
generated sample corpus, one process, model load excluded (reported apart),
per wall second and per CPU second (the wall clock counts whatever else the
machine runs).

    python benchmarks/classifier.py                 # 5,000 documents
    python benchmarks/classifier.py --docs 20000
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filters.classifiers.fasttext import FastTextClassifier  # noqa: E402
from filters.classifiers.toxicity import Toxicity  # noqa: E402
from filters.classifiers.train import Params, read_labelled, train  # noqa: E402
from operators.core.schema import records_table  # noqa: E402

OLID = ROOT / "benchmarks" / "data" / "olid"


def table(texts: list[str], lang: list[str] | None = None) -> pa.Table:
    t = records_table(texts, "bench")
    return t.append_column("lang", pa.array(lang, pa.string())) if lang is not None else t


def prf(scores: list[float], truth: list[bool], threshold: float) -> dict[str, float]:
    pred = [s > threshold for s in scores]
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    precision = tp / max(sum(pred), 1)
    recall = tp / max(sum(truth), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum(p == t for p, t in zip(pred, truth, strict=True)) / len(truth)
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy}


def accuracy(ft_model: Path) -> None:
    with gzip.open(OLID / "test.jsonl.gz", "rt", encoding="utf-8") as f:
        test = [json.loads(line) for line in f]
    texts = [r["text"] for r in test]
    truth = [r["label"] == "offensive" for r in test]
    print(f"\nAccuracy on OLID test ({len(test)} tweets, {sum(truth)} offensive); positive class: offensive")
    print(f"{'scorer':<58} {'thr':>4} {'P':>6} {'R':>6} {'F1':>6} {'acc':>6}")
    packaged = Toxicity(max_score=None)(table(texts, ["en"] * len(texts))).column("toxicity").to_pylist()
    peer = FastTextClassifier(model_path=str(ft_model), labels={"offensive": "offensive"})(table(texts))
    peer_scores = peer.column("offensive").to_pylist()
    rows = [
        ("toxicity default (alt-profanity-check; not trained on OLID)", packaged, 0.5),
        ("toxicity default (alt-profanity-check; not trained on OLID)", packaged, 0.8),
        ("fastText trained on OLID train by train-classifier (peer)", peer_scores, 0.5),
    ]
    for name, scores, thr in rows:
        m = prf(scores, truth, thr)
        print(f"{name:<58} {thr:>4} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} {m['accuracy']:>6.3f}")


def speed(ft_model: Path, n_docs: int) -> None:
    from operators.sample_corpus import generate

    texts = [d["text"] for d in generate(n_docs, seed=0)]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    data = table(texts)  # no lang column: every document is scored
    print(f"\nScoring speed on {n_docs:,} sample documents ({mb:.1f} MB), one process")
    # CPU time as well as wall time: on a shared machine the wall clock also counts other processes.
    print(f"{'operator':<60} {'load s':>7} {'docs/s':>8} {'MB/s':>6} {'docs/cpu-s':>11} {'MB/cpu-s':>9}")
    cases = [
        ("toxicity (packaged; line, max) [default]", Toxicity()),
        ("toxicity (packaged; document)", Toxicity(granularity="document", aggregation="mean")),
        ("fasttext_classifier (OLID model; document)",
         FastTextClassifier(model_path=str(ft_model), labels={"offensive": "offensive"})),
        ("fasttext_classifier (OLID model; line, max)",
         FastTextClassifier(model_path=str(ft_model), labels={"offensive": "offensive"}, granularity="line",
                            aggregation="max")),
        ("fasttext_classifier (OLID model; sentence, length_weighted)",
         FastTextClassifier(model_path=str(ft_model), labels={"offensive": "offensive"}, granularity="sentence",
                            aggregation="length_weighted")),
    ]
    for name, op in cases:
        t0 = time.perf_counter()
        op.setup()
        op._ready = True
        load = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        op(data)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{name:<60} {load:>7.2f} {n_docs / elapsed:>8,.0f} {mb / elapsed:>6.2f} "
              f"{n_docs / cpu:>11,.0f} {mb / cpu:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=5000, help="sample documents for the speed test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        examples, files = read_labelled([str(OLID / "train.jsonl.gz")])
        t0 = time.perf_counter()
        result = train(examples, files, Path(tmp) / "olid.bin", params=Params(), test_fraction=0.1)
        held = result.card["metrics"]["labels"]["offensive"]
        print(f"trained the fastText peer on {result.card['data']['train_examples']:,} OLID tweets in "
              f"{time.perf_counter() - t0:.1f} s; its own held-out split: P {held['precision']:.3f} "
              f"R {held['recall']:.3f} F1 {held['f1']:.3f}")
        accuracy(result.model_path)
        speed(result.model_path, args.docs)


if __name__ == "__main__":
    main()
