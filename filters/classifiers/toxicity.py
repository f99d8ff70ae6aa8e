"""Toxicity that works out of the box, offline, with no file from the user.

The default model is the one the ``alt-profanity-check`` wheel carries: a
linear SVM (calibrated to probabilities) over TF-IDF word and character
features, trained by its authors on ~200k human-labelled comments (the
Davidson et al. hate-speech/offensive tweets and the Jigsaw Wikipedia toxic
comments). We searched PyPI for a better packaged model or for labelled toxic
data to train a fastText model from: the transformer models (``detoxify``)
fetch their weights from a hub at run time, the Keras ones (``tox-block``,
``toxic-comment-classifier``) need TensorFlow, word lists (``better-profanity``)
miss insults without swear words, and no package carries labelled toxic data.

Measured on a labelled set it was not trained on (OLID, the SemEval-2019
OffensEval tweets, 860 test tweets; ``benchmarks/classifier.py``): at score
> 0.5, precision 0.887, recall 0.425, F1 0.575, accuracy 0.824; at the default
0.8, precision 0.910, recall 0.338, F1 0.492. A fastText model trained on
OLID's own training split scores F1 0.504 there. It finds profane and abusive
language reliably and misses offence phrased politely. The model is
English-only, so ``languages`` defaults to ``[en]``.

Set ``model_path`` to use a fastText model instead (Dolma's Jigsaw
hate-speech model, or one trained with ``assay train-classifier``); ``label``
names the model's toxic label.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os

import numpy as np
from pydantic import Field

from filters.classifiers.base import (
    Aggregation,
    ClassifierConfig,
    ClassifierFilter,
    FastTextScorer,
    Granularity,
    Scorer,
    read_card,
)


def packaged_model_dir() -> str:
    """Folder of the model files inside the installed ``alt-profanity-check`` package.

    Found without importing the package, whose ``__init__`` loads the model at import.
    """
    spec = importlib.util.find_spec("profanity_check")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default toxicity model ships in the 'alt-profanity-check' package, which is not installed; "
            "run `pip install alt-profanity-check==1.9.1`, or set toxicity's model_path to a fastText model"
        )
    path = os.path.join(spec.submodule_search_locations[0], "data")
    for name in ("model.joblib", "vectorizer.joblib"):
        if not os.path.exists(os.path.join(path, name)):
            raise FileNotFoundError(f"{name} is missing from {path}; reinstall alt-profanity-check")
    return path


class PackagedToxicityScorer:
    """alt-profanity-check's TF-IDF + calibrated linear SVM: P(offensive) per text."""

    def __init__(self) -> None:
        import joblib  # scikit-learn objects; pinned with the package (its pickles need that sklearn)

        path = packaged_model_dir()
        self.vectorizer = joblib.load(os.path.join(path, "vectorizer.joblib"))
        self.model = joblib.load(os.path.join(path, "model.joblib"))

    def predict(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), np.float32)
        probs = self.model.predict_proba(self.vectorizer.transform(texts))[:, 1]
        return probs.astype(np.float32)[:, None]


class ToxicityConfig(ClassifierConfig):
    max_score: float | None = Field(
        0.8, ge=0, le=1, description="Drop when the toxicity score is above this; null scores without dropping."
    )
    model_path: str | None = Field(
        None, description="A fastText toxicity model (.bin/.ftz); null: the packaged alt-profanity-check model."
    )
    label: str = Field("toxic", description="The fastText model's toxic label (with a model_path only).")
    lowercase: bool | None = Field(
        None, description="Lowercase before a fastText model predicts; null: as its model card says (else no)."
    )
    # Abuse usually sits in a few lines of an otherwise clean page: score lines, keep the worst.
    granularity: Granularity = Field(
        "line", description="Score the whole document, or each line / sentence and aggregate."
    )
    aggregation: Aggregation = Field(
        "max", description="How line/sentence scores make the document's: mean, max, or length_weighted (by characters)."
    )
    languages: list[str] | None = Field(
        ["en"],
        description="Languages the model handles; documents in others are not scored (the packaged model is English).",
    )


class Toxicity(ClassifierFilter):
    """Scores toxicity (``toxicity`` column, 0-1) with a packaged English model, or any fastText model.

    Drop reason: ``score><max_score>``, recorded as ``toxicity:score>0.8``.
    """

    name = "toxicity"
    version = "1"
    Config = ToxicityConfig

    @property
    def classifier(self) -> str:
        return "toxicity"

    def score_columns(self) -> list[str]:
        return ["toxicity"]

    def reason(self, column: str, op: str, value: float) -> str:
        return f"score{op}{value:g}"

    def model_identity(self) -> str | None:
        if self.config.model_path is None:
            return f"alt-profanity-check {importlib.metadata.version('alt-profanity-check')}"
        card = read_card(self.config.model_path)
        return f"sha256:{card['model_sha256']}" if card and card.get("model_sha256") else None

    def _load(self) -> Scorer:
        cfg = self.config
        if cfg.model_path is None:
            return PackagedToxicityScorer()
        lowercase = cfg.lowercase
        if lowercase is None:
            card = read_card(cfg.model_path)
            lowercase = bool(card and card.get("preprocessing", {}).get("lowercase"))
        return FastTextScorer(cfg.model_path, {cfg.label.removeprefix("__label__"): 0}, lowercase)

    def thresholds(self) -> list[tuple[str, str, float]]:
        return [] if self.config.max_score is None else [("toxicity", ">", self.config.max_score)]
