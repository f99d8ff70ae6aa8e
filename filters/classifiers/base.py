"""Text classifiers as filters: score documents with a model, decide from thresholds.

``fasttext_classifier`` loads any fastText model from a local path (a model
trained with ``assay train-classifier``, Dolma's Jigsaw toxicity and NSFW
models, DCLM's quality classifier, ...) and maps the model's labels to score
columns (:mod:`filters.classifiers.fasttext`). ``toxicity``
(:mod:`filters.classifiers.toxicity`) is the same machinery with a packaged
English model as its default; :mod:`filters.classifiers.train` trains fastText
models (``assay train-classifier``).

What they share (:class:`ClassifierFilter`):

* **Granularity.** A document is scored whole (newlines become spaces, as
  fastText reads one line at a time), or split into lines or sentences whose
  scores are aggregated by ``mean``, ``max`` or ``length_weighted`` (a mean
  weighted by characters), so one abusive comment in a long page can count.
* **Languages.** A classifier declares the languages it was trained on. Where
  the record table has a ``lang`` column (``lang_id``), documents in other
  languages are not scored: their scores are null and the
  ``<classifier>_not_scored`` column says why (``lang=fr``), which the ledger
  records as the decision ``not_scored`` with the reason ``not_scored:lang=fr``.
* **Score, then decide.** Scores are columns; ``max_scores`` / ``min_scores``
  are thresholds read only by ``decide``, so ``redecide`` retunes a threshold
  from the stored scores without loading or running the model. Drop reasons
  name the classifier and the threshold: ``toxicity:score>0.8``,
  ``fasttext_classifier:dclm:quality<0.1``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.core.base import Filter, OperatorConfig

Granularity = Literal["document", "line", "sentence"]
Aggregation = Literal["mean", "max", "length_weighted"]

# A sentence ends at terminal punctuation (closing quotes or brackets allowed) followed by whitespace.
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n+")
_LABEL_PREFIX = "__label__"


def card_path(model_path: str | os.PathLike) -> Path:
    """Where ``assay train-classifier`` writes the model card of ``model_path``."""
    return Path(model_path).with_suffix(".card.json")


def read_card(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """The model card beside ``model_path``, or None when there is none."""
    path = card_path(model_path)
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def fasttext_line(text: str, lowercase: bool = False) -> str:
    """Text as fastText reads it, in training and in scoring alike: one line, optionally lowercased."""
    text = " ".join(text.split())
    return text.lower() if lowercase else text


def segments(texts: Sequence[str], granularity: Granularity, max_chars: int) -> tuple[list[str], np.ndarray]:
    """Split documents into the units a model scores.

    Returns the segments and, for each, the row it came from. Every document has
    at least one segment (an empty text is scored as the empty string), so every
    scored row gets a score.
    """
    out: list[str] = []
    rows: list[int] = []
    for i, text in enumerate(texts):
        text = (text or "")[:max_chars]
        if granularity == "document":
            parts = [text]
        else:
            pieces = text.split("\n") if granularity == "line" else _SENTENCE_SPLIT.split(text)
            parts = [p for p in pieces if p.strip()] or [text]
        out.extend(parts)
        rows.extend([i] * len(parts))
    return out, np.asarray(rows, dtype=np.int64)


def aggregate(scores: np.ndarray, rows: np.ndarray, lengths: np.ndarray, n_rows: int, how: Aggregation) -> np.ndarray:
    """Per-row aggregate of per-segment ``scores`` (segments x columns)."""
    n_cols = scores.shape[1]
    out = np.zeros((n_rows, n_cols), np.float64)
    if how == "max":
        out[:] = -np.inf
        np.maximum.at(out, rows, scores)
        return out
    weights = np.ones(len(rows)) if how == "mean" else np.maximum(lengths, 1).astype(np.float64)
    total = np.bincount(rows, weights, minlength=n_rows)
    for j in range(n_cols):
        out[:, j] = np.bincount(rows, weights * scores[:, j], minlength=n_rows)
    return out / np.maximum(total, 1e-12)[:, None]


class Scorer(Protocol):
    """A loaded model: one probability per score column for each text."""

    def predict(self, texts: list[str]) -> np.ndarray:
        """``len(texts) x len(columns)`` probabilities in [0, 1]."""
        ...


class FastTextScorer:
    """A fastText supervised model, its labels mapped to score columns.

    Args:
        path: a ``.bin`` or ``.ftz`` model.
        labels: model label (with or without ``__label__``) -> index of its score column.
        lowercase: lowercase text before predicting (as the model was trained).
    """

    def __init__(self, path: str, labels: dict[str, int], lowercase: bool = False):
        import fasttext

        if not os.path.exists(path):
            raise FileNotFoundError(f"fastText model {path} does not exist; check model_path in the recipe")
        self.model = fasttext.load_model(path)
        known = [lab.removeprefix(_LABEL_PREFIX) for lab in self.model.get_labels()]
        missing = sorted(set(labels) - set(known))
        if missing:
            raise ValueError(
                f"{path} has no label(s) {missing}; its labels are {known}: fix the 'labels' mapping in the recipe"
            )
        self.index = {_LABEL_PREFIX + lab: j for lab, j in labels.items()}
        self.n_columns = max(labels.values()) + 1
        self.lowercase = lowercase

    def predict(self, texts: list[str]) -> np.ndarray:
        lines = [fasttext_line(t, self.lowercase) for t in texts]
        labels, probs = self.model.predict(lines, k=-1, threshold=0.0)
        out = np.zeros((len(texts), self.n_columns), np.float32)
        index = self.index
        for i, (labs, ps) in enumerate(zip(labels, probs, strict=True)):
            for lab, p in zip(labs, ps, strict=True):
                j = index.get(lab)
                if j is not None:
                    out[i, j] = p
        # fastText's softmax can exceed 1 by a rounding error.
        return np.clip(out, 0.0, 1.0)


class ClassifierConfig(OperatorConfig):
    """Settings every classifier filter has."""

    granularity: Granularity = Field(
        "document", description="Score the whole document, or each line / sentence and aggregate."
    )
    aggregation: Aggregation = Field(
        "mean", description="How line/sentence scores make the document's: mean, max, or length_weighted (by characters)."
    )
    languages: list[str] | None = Field(
        None,
        description="Languages the classifier was trained on (ISO 639 codes, as lang_id writes them); documents in "
        "others are not scored. Null: the model card's languages, else every language.",
    )
    max_chars: int = Field(100_000, gt=0, description="Characters of each document given to the model.")
    batch_size: int = Field(4096, gt=0, description="Segments per call into the model.")


class ClassifierFilter(Filter):
    """Base of classifier filters: segmentation, aggregation, language skip, thresholds.

    Subclasses give the score columns (``score_columns``), a ``classifier``
    name for drop reasons and the ledger, ``_load()`` (the model, called once
    per worker by ``setup``), and ``thresholds()``.
    """

    def __init__(self, config: OperatorConfig | dict[str, Any] | None = None, **params: Any):
        super().__init__(config, **params)
        cols = self.score_columns()
        # Columns depend on the config (the label mapping), so they are per instance.
        self.columns = {**{c: pa.float32() for c in cols}, self.skip_column: pa.string()}
        self.score_column = cols[0]

    @property
    @abstractmethod
    def classifier(self) -> str:
        """The classifier's name, used in drop reasons and the skip column."""

    @abstractmethod
    def score_columns(self) -> list[str]:
        """The score columns, in the order ``_load().predict`` returns them."""

    @abstractmethod
    def _load(self) -> Scorer:
        """Load the model."""

    @abstractmethod
    def thresholds(self) -> list[tuple[str, str, float]]:
        """``(column, '>' or '<', value)``: drop when ``column`` compares so with ``value``."""

    def reason(self, column: str, op: str, value: float) -> str:
        return f"{self.classifier}:{column}{op}{value:g}"

    @property
    def skip_column(self) -> str:
        return f"{self.classifier}_not_scored"

    def model_languages(self) -> list[str] | None:
        """The languages the model declares beyond the config (its model card); None: any."""
        return None

    def languages(self) -> set[str] | None:
        langs = self.config.languages if self.config.languages is not None else self.model_languages()
        return set(langs) if langs else None

    def model_identity(self) -> str | None:
        """What identifies the model's weights beyond the config (a package version, a file hash)."""
        return None

    @property
    def fingerprint(self) -> str:
        # The same config with other weights scores differently: the weights are part of the fingerprint.
        identity = self.model_identity()
        base = self.config.fingerprint()
        return base if identity is None else hashlib.sha256(f"{base}:{identity}".encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        # The ledger reads skip_column to record not_scored decisions.
        return {
            **super().describe(),
            "skip_column": self.skip_column,
            "classifier": self.classifier,
            "model": self.model_identity(),
        }

    def setup(self) -> None:
        self._model = self._load()

    def score(self, table: pa.Table) -> dict[str, pa.Array]:
        cfg = self.config
        n = table.num_rows
        texts = table.column("text").to_pylist()
        skipped: list[str | None] = [None] * n
        allowed = self.languages()
        if allowed is not None and "lang" in table.column_names:
            for i, lang in enumerate(table.column("lang").to_pylist()):
                if lang is not None and lang not in allowed:
                    skipped[i] = f"lang={lang}"
        todo = [i for i in range(n) if skipped[i] is None]
        cols = self.score_columns()
        values = np.full((n, len(cols)), np.nan, np.float32)
        if todo:
            segs, rows = segments([texts[i] for i in todo], cfg.granularity, cfg.max_chars)
            per_seg = np.concatenate(
                [self._model.predict(segs[s : s + cfg.batch_size]) for s in range(0, len(segs), cfg.batch_size)]
            )
            lengths = np.fromiter((len(s) for s in segs), np.int64, len(segs))
            values[todo] = aggregate(per_seg, rows, lengths, len(todo), cfg.aggregation)
        scored = ~np.isnan(values[:, 0])
        out = {c: pa.array(np.ascontiguousarray(values[:, j]), pa.float32(), mask=~scored) for j, c in enumerate(cols)}
        out[self.skip_column] = pa.array(skipped, pa.string())
        return out

    def decide(self, table: pa.Table) -> list[str | None]:
        out: list[str | None] = [None] * table.num_rows
        for column, op, value in self.thresholds():
            scores = table.column(column).to_numpy(zero_copy_only=False).astype(np.float64)  # null -> nan
            fails = scores > value if op == ">" else scores < value
            reason = self.reason(column, op, value)
            for i in np.flatnonzero(fails):
                if out[i] is None:
                    out[i] = reason
        return out
