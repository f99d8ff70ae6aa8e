"""``fasttext_classifier``: any local fastText model as a filter, its labels mapped to score columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from filters.classifiers.base import (
    _LABEL_PREFIX,
    ClassifierConfig,
    ClassifierFilter,
    FastTextScorer,
    Scorer,
    read_card,
)


class FastTextClassifierConfig(ClassifierConfig):
    model_path: str = Field(description="A fastText supervised model (.bin or .ftz) on local disk.")
    labels: dict[str, str] = Field(
        description="Model label -> score column, e.g. {toxic: toxicity} or {__label__hq: quality}.", min_length=1
    )
    name: str | None = Field(
        None, description="The classifier's name in drop reasons and the ledger; default: the model file's stem."
    )
    max_scores: dict[str, float] = Field(
        default_factory=dict, description="Score column -> drop when the score is above this, e.g. {toxicity: 0.8}."
    )
    min_scores: dict[str, float] = Field(
        default_factory=dict, description="Score column -> drop when the score is below this, e.g. {quality: 0.1}."
    )
    lowercase: bool | None = Field(
        None, description="Lowercase text before predicting; null: as the model card says (else no)."
    )

    @model_validator(mode="after")
    def _thresholds_name_columns(self) -> FastTextClassifierConfig:
        columns = set(self.labels.values())
        if len(columns) != len(self.labels):
            raise ValueError("labels maps two model labels to one score column")
        for field in ("max_scores", "min_scores"):
            unknown = sorted(set(getattr(self, field)) - columns)
            if unknown:
                raise ValueError(f"{field} names {unknown}, which are not score columns; the columns are {sorted(columns)}")
        return self


class FastTextClassifier(ClassifierFilter):
    """Scores documents with any local fastText model and drops by thresholds on its label probabilities.

    Drop reasons: ``<name>:<column>><max>`` and ``<name>:<column><<min>``.
    """

    name = "fasttext_classifier"
    version = "1"
    Config = FastTextClassifierConfig

    @property
    def classifier(self) -> str:
        return self.config.name or Path(self.config.model_path).stem

    def score_columns(self) -> list[str]:
        return list(self.config.labels.values())

    def _card(self) -> dict[str, Any] | None:
        if not hasattr(self, "_loaded_card"):
            self._loaded_card = read_card(self.config.model_path)
        return self._loaded_card

    def model_languages(self) -> list[str] | None:
        card = self._card()
        return card.get("languages") if card else None

    def model_identity(self) -> str | None:
        card = self._card()
        return f"sha256:{card['model_sha256']}" if card and card.get("model_sha256") else None

    def _load(self) -> Scorer:
        cfg = self.config
        lowercase = cfg.lowercase
        if lowercase is None:
            card = self._card()
            lowercase = bool(card and card.get("preprocessing", {}).get("lowercase"))
        labels = {lab.removeprefix(_LABEL_PREFIX): j for j, lab in enumerate(cfg.labels)}
        return FastTextScorer(cfg.model_path, labels, lowercase)

    def thresholds(self) -> list[tuple[str, str, float]]:
        cfg = self.config
        return [(c, ">", v) for c, v in cfg.max_scores.items()] + [(c, "<", v) for c, v in cfg.min_scores.items()]
