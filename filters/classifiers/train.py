"""Train a fastText classifier and write its model card (``assay train-classifier``).

Two ways to give the data:

* labelled records (JSONL or Parquet, compressed or not) with a text field and a
  label field, any number of labels;
* two corpora, DCLM-style: documents like the ones to keep (``positive``)
  against documents like the rest (``negative``), each file's records taking
  its side's label.

A stratified, seeded share of the examples is held out; the model is trained on
the rest and its precision, recall and F1 per label on the held-out share are
reported and written to a model card beside the model (``<model>.card.json``
and ``<model>.card.md``): the data files with their SHA-256 and record counts,
the parameters, the metrics, the date, the fastText version. The scorer reads
the card's ``languages`` and ``preprocessing``, so a model is scored the way it
was trained.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from filters.classifiers.base import card_path, fasttext_line
from operators.core.io import atomic_open, sha256_file


class TrainingDataError(ValueError):
    """The training data cannot be used; the message says what to change."""


@dataclass
class Example:
    text: str
    label: str
    # More labels of the same example (multi-label training with loss "ova"), e.g. cumulative score buckets.
    extra_labels: tuple[str, ...] = ()


@dataclass
class DataFile:
    path: str
    sha256: str
    records: int
    label: str | None = None  # the corpus's label, for two-corpora training


@dataclass
class Params:
    """fastText's supervised-training parameters (its own names in the card)."""

    epoch: int = 10
    lr: float = 0.1
    wordNgrams: int = 2  # noqa: N815 - fastText's name
    dim: int = 64
    minCount: int = 1  # noqa: N815
    loss: str = "softmax"
    # Hash buckets for word n-grams: rows of the model's input matrix (fastText's default of
    # 2M makes a 500 MB model at dim 64; a quarter of a million keeps it near 60 MB).
    bucket: int = 250_000
    thread: int = 2
    seed: int = 0


class TrainingHook(Protocol):
    """Replaces the split and the evaluation, and adds a section to the card (see ``filters/judge_labels.py``)."""

    def split(self, examples: list[Example], test_fraction: float, seed: int) -> tuple[list[Example], list[Example]]: ...

    def evaluate(self, model: Any, test: list[Example], lowercase: bool) -> dict[str, Any]: ...

    def card(self, metrics: dict[str, Any]) -> dict[str, Any]: ...

    def card_markdown(self, card: dict[str, Any]) -> list[str]: ...


@dataclass
class TrainResult:
    model_path: Path
    card_json: Path
    card_md: Path
    card: dict[str, Any] = field(default_factory=dict)


def _records(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line or row number, record)`` of a JSONL (.gz/.zst/.bz2/.xz) or Parquet file."""
    import fsspec

    if path.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        for n, row in enumerate(pq.read_table(path).to_pylist(), 1):
            yield n, row
        return
    with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise TrainingDataError(f"{path}:{n}: not valid JSON ({e.msg}); fix or remove that line") from None
            if not isinstance(record, dict):
                raise TrainingDataError(f"{path}:{n}: a JSON object per line is expected")
            yield n, record


def _text(path: str, n: int, record: dict[str, Any], text_field: str) -> str:
    text = record.get(text_field)
    if not isinstance(text, str):
        fields = ", ".join(sorted(record)) or "none"
        raise TrainingDataError(
            f"{path}:{n}: no string field {text_field!r} (fields: {fields}); name the text field with --text-field"
        )
    return text


def _label_name(value: Any) -> str:
    # fastText labels are single tokens.
    return "_".join(str(value).split()).removeprefix("__label__")


def read_labelled(
    paths: list[str], text_field: str = "text", label_field: str = "label"
) -> tuple[list[Example], list[DataFile]]:
    """Examples from labelled files, and what the card records about each file."""
    examples: list[Example] = []
    files = []
    for path in paths:
        count = 0
        for n, record in _records(path):
            if record.get(label_field) is None:
                raise TrainingDataError(
                    f"{path}:{n}: no field {label_field!r}; name the label field with --label-field, "
                    "or give two corpora with --positive/--negative"
                )
            examples.append(Example(_text(path, n, record, text_field), _label_name(record[label_field])))
            count += 1
        files.append(DataFile(os.path.abspath(path), sha256_file(path), count))
    return examples, files


def read_corpora(
    positive: list[str], negative: list[str], text_field: str = "text",
    positive_label: str = "positive", negative_label: str = "negative",
) -> tuple[list[Example], list[DataFile]]:
    """Examples from two corpora: every record of a side takes that side's label."""
    examples: list[Example] = []
    files = []
    for paths, label in ((positive, _label_name(positive_label)), (negative, _label_name(negative_label))):
        for path in paths:
            count = 0
            for n, record in _records(path):
                examples.append(Example(_text(path, n, record, text_field), label))
                count += 1
            files.append(DataFile(os.path.abspath(path), sha256_file(path), count, label))
    return examples, files


def split(examples: list[Example], test_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A stratified, seeded train / held-out split (each label held out in the same share)."""
    by_label: dict[str, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        k = round(len(group) * test_fraction)
        if test_fraction > 0 and len(group) >= 2:
            k = min(max(k, 1), len(group) - 1)
        test.extend(group[:k])
        train.extend(group[k:])
    rng.shuffle(train)
    return train, test


def evaluate(predict: Callable[[list[str]], list[str]], test: list[Example]) -> dict[str, Any]:
    """Precision, recall, F1 and support per label; accuracy and macro F1."""
    predicted = predict([ex.text for ex in test])
    labels = sorted({ex.label for ex in test} | set(predicted))
    per_label = {}
    for label in labels:
        tp = sum(p == label and ex.label == label for p, ex in zip(predicted, test, strict=True))
        n_pred = sum(p == label for p in predicted)
        support = sum(ex.label == label for ex in test)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    correct = sum(p == ex.label for p, ex in zip(predicted, test, strict=True))
    with_support = [m["f1"] for m in per_label.values() if m["support"]]
    return {
        "held_out": len(test),
        "accuracy": correct / len(test) if test else None,
        "macro_f1": sum(with_support) / len(with_support) if with_support else None,
        "labels": per_label,
    }


def fasttext_version() -> str:
    for dist in ("fasttext-numpy2-wheel", "fasttext", "fasttext-wheel"):
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _train_supervised(fasttext, train_file: str, params: Params, status: Callable[[str], None]):
    """fastText's training, tried again when it reports "Encountered NaN".

    Seen here: the first training in a process can fail so on small data with
    settings that train cleanly on the next call (the failure follows the state
    of the heap, not the data), so the first retry keeps the settings. After
    that, NaN means divergence, and the rate is halved (fastText's authors'
    advice). The card records the rate that worked.
    """
    for attempt in range(5):
        try:
            return fasttext.train_supervised(input=train_file, verbose=0, **vars(params))
        except RuntimeError as e:
            if "NaN" not in str(e):
                raise
            if attempt == 4:
                raise TrainingDataError(
                    f"training diverged (fastText: {e}) down to lr {params.lr:g}; lower --lr or give more data"
                ) from None
            if attempt:
                params.lr /= 2
            status(f"fastText reported NaN; training again with lr {params.lr:g}")
    raise AssertionError("unreachable")


def _quantize(fasttext, model, train_file: str, params: Params, status: Callable[[str], None]):
    """Quantize for a ``.ftz``, retraining the quantized rows; the retraining can report "Encountered NaN" as the
    first training can (it then leaves the model half quantized), so the model is trained again and, after a
    second failure, quantized without retraining."""
    for retrain in (True, True, False):
        status("quantizing")
        # Keep the most useful rows of words and n-grams (fastText's -cutoff advice for .ftz: 100k);
        # small data has fewer useful rows than that, and quantizing unused buckets takes minutes.
        cutoff = max(256, min(100_000, 10 * len(model.words)))  # quantize() needs 256 rows at least
        try:
            model.quantize(input=train_file, retrain=retrain, qnorm=True, cutoff=cutoff)
            return model
        except RuntimeError as e:
            if "NaN" not in str(e) or not retrain:
                raise
            status("fastText reported NaN while quantizing; training again")
            model = _train_supervised(fasttext, train_file, params, status)
    raise AssertionError("unreachable")


def train(
    examples: list[Example],
    files: list[DataFile],
    output: str | os.PathLike,
    *,
    mode: str = "labelled",
    params: Params | None = None,
    test_fraction: float = 0.1,
    lowercase: bool = False,
    languages: list[str] | None = None,
    text_field: str = "text",
    label_field: str | None = "label",
    status: Callable[[str], None] = lambda message: None,
    hook: TrainingHook | None = None,
) -> TrainResult:
    """Train on ``examples`` less a held-out share, evaluate, save the model and its card.

    A ``.ftz`` output is quantized (smaller, slightly less accurate); any other
    suffix is saved as a full ``.bin`` model. A ``hook`` (training on an LLM
    judge's scores: ``filters/judge_labels.py``) replaces the split and the
    evaluation and adds its section to the card.
    """
    import fasttext

    params = params or Params()
    counts = Counter(ex.label for ex in examples)
    if len(counts) < 2:
        raise TrainingDataError(
            f"the data has {len(counts)} label(s) ({', '.join(counts) or 'none'}); a classifier needs at least two"
        )
    if not 0 <= test_fraction < 1:
        raise TrainingDataError(f"test fraction {test_fraction} must be in [0, 1)")
    train_set, test_set = (hook.split if hook else split)(examples, test_fraction, params.seed)

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="assay-train-") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            for ex in train_set:
                labels = " ".join(f"__label__{lab}" for lab in (ex.label, *ex.extra_labels))
                f.write(f"{labels} {fasttext_line(ex.text, lowercase)}\n")
        status(f"training on {len(train_set):,} examples ({len(test_set):,} held out)")
        model = _train_supervised(fasttext, train_file, params, status)
        if output.suffix == ".ftz":
            model = _quantize(fasttext, model, train_file, params, status)

    def predict(texts: list[str]) -> list[str]:
        labels, _ = model.predict([fasttext_line(t, lowercase) for t in texts], k=1)
        return [lab[0].removeprefix("__label__") if lab else "" for lab in labels]

    status(f"evaluating on {len(test_set):,} held-out examples")
    metrics = hook.evaluate(model, test_set, lowercase) if hook else evaluate(predict, test_set)
    tmp_model = output.with_name(f".{output.name}.tmp")
    model.save_model(str(tmp_model))
    os.replace(tmp_model, output)

    card = {
        "model": output.name,
        "model_sha256": sha256_file(str(output)),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fasttext": fasttext_version(),
        "task": "fastText supervised classifier",
        "labels": sorted(set(counts) | {lab for ex in examples for lab in ex.extra_labels}),
        "languages": languages or None,
        "preprocessing": {"newlines": "spaces (whitespace runs collapsed)", "lowercase": lowercase},
        "data": {
            "mode": mode,
            "text_field": text_field,
            "label_field": label_field if mode == "labelled" else None,
            "files": [vars(f) for f in files],
            "examples": dict(sorted(counts.items())),
            "train_examples": len(train_set),
            "held_out_examples": len(test_set),
            "test_fraction": test_fraction,
            "split_seed": params.seed,
        },
        "parameters": {**vars(params), "quantized": output.suffix == ".ftz"},
        "metrics": metrics,
    }
    if hook:
        card["judge"] = hook.card(metrics)
    card_json = card_path(output)
    card_md = card_json.with_suffix(".md")
    # Atomically, as the model: the scorer reads the card (lowercase, languages) beside the model.
    with atomic_open(str(card_json)) as f:
        f.write((json.dumps(card, indent=2) + "\n").encode())
    with atomic_open(str(card_md)) as f:
        f.write(render_card(card, hook.card_markdown(card) if hook else ()).encode())
    return TrainResult(output, card_json, card_md, card)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render_card(card: dict[str, Any], extra: Sequence[str] = ()) -> str:
    """The model card as Markdown (``extra``: lines a training hook adds at the end)."""
    data, metrics = card["data"], card["metrics"]
    lines = [
        f"# Model card: {card['model']}",
        "",
        f"- Task: {card['task']}, labels {', '.join(card['labels'])}",
        f"- Created: {card['created']} with {card['fasttext']}",
        f"- Model SHA-256: `{card['model_sha256']}`",
        f"- Languages: {', '.join(card['languages']) if card['languages'] else 'not declared (scored in every language)'}",
        f"- Preprocessing: newlines to spaces; lowercase: {card['preprocessing']['lowercase']}",
        "",
        "## Data",
        "",
        f"Mode: {data['mode']}; text field `{data['text_field']}`"
        + (f", label field `{data['label_field']}`" if data["label_field"] else ""),
        "",
        "| file | records | label | sha256 |",
        "| --- | ---: | --- | --- |",
        *[f"| {f['path']} | {f['records']:,} | {f['label'] or '(per record)'} | `{f['sha256']}` |" for f in data["files"]],
        "",
        f"Examples per label: {', '.join(f'{k} {v:,}' for k, v in data['examples'].items())}. "
        f"Trained on {data['train_examples']:,}; held out {data['held_out_examples']:,} "
        f"({data['test_fraction']:.0%}, stratified, seed {data['split_seed']}).",
        "",
        "## Parameters",
        "",
        *[f"- {k}: {v}" for k, v in card["parameters"].items()],
        "",
        "## Held-out metrics",
        "",
        f"Accuracy {_fmt(metrics['accuracy'])}, macro F1 {_fmt(metrics['macro_f1'])} on {metrics['held_out']:,} examples.",
        "",
        "| label | precision | recall | F1 | support |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {label} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | {m['support']:,} |"
            for label, m in metrics["labels"].items()
        ],
        "",
        *extra,
    ]
    return "\n".join(lines)
