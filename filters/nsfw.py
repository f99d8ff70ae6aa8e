"""NSFW images out: NudeNet's detector, scores per label, a threshold or a keep-fraction like ``clip_score``.

The model is the YOLOv8 detector the ``nudenet`` wheel carries
(``nudenet/320n.onnx``), run by ONNX Runtime directly: each image prepared as nudenet's own
``NudeDetector`` prepares it (padded to a square, shrunk to 320 pixels), and
every label scored by its most confident box. ``nsfw_score`` is the highest score among the labels the config calls
unsafe (by default the five ``*_EXPOSED`` body parts); ``nsfw_labels`` names
the unsafe labels at or above ``label_score``, most confident first.

Decided like ``clip_score``, one or the other:

* ``threshold``: drop a pair whose ``nsfw_score`` is at least this. A stream
  filter (:class:`NsfwThreshold`), scoring each batch in the stream segment's
  workers, which load the detector once;
* ``keep_fraction``: keep the least unsafe fraction of the whole run. An exact
  global rank, so a global stage (:class:`NsfwTopFraction`) of three steps:
  ``score`` here, ``rank`` and ``decide`` from :mod:`operators.core.rank`
  (the same as ``clip_score``'s).

Drop reasons name the labels: ``unsafe:FEMALE_BREAST_EXPOSED,BUTTOCKS_EXPOSED``
(``unsafe`` alone when no label reached ``label_score``); ``undecodable_image``.
"""

from __future__ import annotations

import io
import os
from importlib import resources
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from operators.core.base import Filter, Operator, OperatorConfig, Resources, Role
from operators.core.global_stage import GlobalOperator, Plan, StageContext
from operators.core.io import join, read_parquet
from operators.core.rank import ThresholdOrFraction, TopFraction
from operators.core.schema import kept_mask

#: The detector's classes in the order of its outputs (nudenet 3.4.2's 320n.onnx).
LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)
UNSAFE = ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")
INPUT_SIDE = 320

COLUMNS = {"nsfw_score": pa.float32(), "nsfw_labels": pa.string()}
_SCORES_SCHEMA = pa.schema([("id", pa.string()), *COLUMNS.items()])


class NsfwConfig(OperatorConfig):
    threshold: float | None = Field(None, gt=0, le=1, description="Drop pairs whose nsfw_score is at least this (one of threshold, keep_fraction).")
    keep_fraction: float | None = Field(
        None, gt=0, le=1, description="Keep this least-unsafe fraction of the whole run's scored pairs (one of threshold, keep_fraction)."
    )
    labels: list[str] = Field(default_factory=lambda: list(UNSAFE), description=f"The unsafe labels; known: {', '.join(LABELS)}.")
    label_score: float = Field(0.5, ge=0, le=1, description="A label is named in nsfw_labels (and the drop reason) from this score.")
    model: str | None = Field(None, description="Another detector of the same outputs (.onnx); default: the one in the nudenet wheel.")
    batch_size: int = Field(16, ge=1, description="Images per model call.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="auto: ONNX Runtime's CUDA provider when installed (onnxruntime-gpu) and the worker sees a GPU, else "
        "the CPU; cuda: each worker asks for a GPU.",
    )
    threads: int = Field(1, ge=1, description="ONNX Runtime threads per worker.")

    @field_validator("labels")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; known: {', '.join(LABELS)}")
        if not value:
            raise ValueError("name at least one unsafe label")
        return value

    @model_validator(mode="after")
    def _one_decision(self) -> NsfwConfig:
        if (self.threshold is None) == (self.keep_fraction is None):
            raise ValueError("set exactly one of threshold (absolute) or keep_fraction (least-unsafe share of the whole run)")
        return self


def packaged_model() -> str:
    """The path of ``320n.onnx`` inside the installed nudenet wheel."""
    return str(resources.files("nudenet") / "320n.onnx")


class NudeNet:
    """The detector in an ONNX Runtime session: per image, each label's highest box score."""

    def __init__(self, path: str | None = None, device: str = "auto", threads: int = 1):
        import onnxruntime as ort

        path = os.path.expanduser(path) if path else packaged_model()
        if not os.path.isfile(path):
            raise FileNotFoundError(f"nsfw: model {path} does not exist; install nudenet==3.4.2 or give model: <path>.onnx")
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            raise RuntimeError("nsfw: device cuda asked for, but ONNX Runtime has no CUDA provider (onnxruntime-gpu)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(path, options, providers=providers)
        self._input = self._session.get_inputs()[0].name

    @staticmethod
    def prepare(data: bytes | None) -> np.ndarray | None:
        """The detector's input for one encoded image (3 x 320 x 320 in [0, 1]), or None if it does not decode."""
        import cv2
        from PIL import Image

        if not data:
            return None
        try:
            with Image.open(io.BytesIO(data)) as image:
                rgb = np.asarray(image.convert("RGB"))
        except Exception:  # noqa: BLE001 - one bad image must not stop the batch
            return None
        # Exactly what nudenet's own NudeDetector feeds the model for a decoded file: padded right and bottom
        # to a square, shrunk bilinearly, channels in OpenCV's BGR order (so its scores are nudenet's scores).
        side = max(rgb.shape[:2])
        square = np.zeros((side, side, 3), np.uint8)
        square[: rgb.shape[0], : rgb.shape[1]] = rgb[:, :, ::-1]
        small = cv2.resize(square, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_LINEAR)
        return small.transpose(2, 0, 1).astype(np.float32) / 255.0

    def label_scores(self, images: list[bytes | None], batch_size: int) -> list[dict[str, float] | None]:
        out: list[dict[str, float] | None] = []
        for start in range(0, len(images), batch_size):
            inputs = [self.prepare(b) for b in images[start : start + batch_size]]
            good = [i for i, x in enumerate(inputs) if x is not None]
            scores: list[dict[str, float] | None] = [None] * len(inputs)
            if good:
                raw = self._session.run(None, {self._input: np.stack([inputs[i] for i in good])})[0]
                best = raw[:, 4:, :].max(axis=2)  # (batch, labels): each label's most confident box
                for i, row in zip(good, best, strict=True):
                    scores[i] = {label: float(v) for label, v in zip(LABELS, row, strict=True)}
            out.extend(scores)
        return out


def summarise(scores: dict[str, float] | None, labels: list[str], label_score: float) -> tuple[float | None, str | None]:
    """``(nsfw_score, nsfw_labels)`` of one image's label scores."""
    if scores is None:
        return None, None
    unsafe = sorted(((scores[k], k) for k in labels), reverse=True)
    named = [k for s, k in unsafe if s >= label_score]
    return unsafe[0][0], ",".join(named) or None


def score(model: NudeNet, images: list[bytes | None], config: NsfwConfig) -> dict[str, list]:
    """``nsfw_score`` and ``nsfw_labels`` of each image (None for one that does not decode)."""
    found = model.label_scores(images, config.batch_size)
    pairs = [summarise(s, config.labels, config.label_score) for s in found]
    return {"nsfw_score": [p[0] for p in pairs], "nsfw_labels": [p[1] for p in pairs]}


class _ScoreWorker:
    """Scores the kept pairs of a part (the detector loaded once per process) and writes them for the rank."""

    def __init__(self, config: dict[str, Any], rank: TopFraction, work_dir: str):
        self.config = NsfwConfig(**config)
        self.rank = rank
        self.work_dir = work_dir
        self._model: NudeNet | None = None

    def __call__(self, item: dict) -> dict:
        c = self.config
        table = read_parquet(item["part"], columns=["id", "image", "keep"])
        table = table.filter(kept_mask(table))
        if not table.num_rows:
            return {"scores": None}
        if self._model is None:
            self._model = NudeNet(c.model, c.device, c.threads)
        found = score(self._model, table.column("image").to_pylist(), c)
        scores = pa.table({"id": table.column("id"), **{k: pa.array(found[k], t) for k, t in COLUMNS.items()}},
                          schema=_SCORES_SCHEMA)
        return self.rank.scored(scores, join(self.work_dir, "scores", f"{item['name']}.parquet"))


class Nsfw(ThresholdOrFraction, Operator):
    """Drops unsafe images by NudeNet's label scores: a threshold, or keeps the least unsafe fraction of the run.

    Annotations: ``nsfw_score`` (float32), ``nsfw_labels`` (the unsafe labels
    at or above ``label_score``). Drop reasons: ``unsafe:<labels>``,
    ``undecodable_image``. ``Nsfw(...)`` builds an :class:`NsfwThreshold` (a
    stream filter) or an :class:`NsfwTopFraction` (a global stage), as the
    configuration asks.
    """

    name = "nsfw"
    version = "1"
    Config = NsfwConfig
    role = Role.FILTER
    kind = "stream (threshold) or global (keep_fraction)"
    score_column = "nsfw_score"
    extra = "images"
    extra_modules = ("onnxruntime", "nudenet", "cv2")

    @property
    def resources(self) -> Resources:
        """Each worker loads the detector once; it asks for a GPU only with device cuda (a small model: the CPU
        keeps up)."""
        return Resources(gpus=1 if self.config.device == "cuda" else 0, model=True)


class NsfwThreshold(Nsfw, Filter):
    """``nsfw`` with a ``threshold``: a stream filter dropping pairs whose ``nsfw_score`` is at least it."""

    kind = "stream"
    columns = COLUMNS

    def setup(self) -> None:
        c = self.config
        self._model = NudeNet(c.model, c.device, c.threads)

    def score(self, table: pa.Table) -> dict[str, list]:
        return score(self._model, table.column("image").to_pylist(), self.config)

    def decide(self, table: pa.Table) -> list[str | None]:
        threshold = self.config.threshold
        return [
            "undecodable_image" if s is None else None if s < threshold else f"unsafe:{named}" if named else "unsafe"
            for s, named in zip(table.column("nsfw_score").to_pylist(), table.column("nsfw_labels").to_pylist(),
                                strict=True)
        ]


class NsfwTopFraction(Nsfw, GlobalOperator):
    """``nsfw`` with a ``keep_fraction``: a global stage keeping the run's least unsafe pairs (steps score, rank,
    decide)."""

    kind = "global"

    def plan(self, ctx: StageContext) -> Plan:
        # Scores lie in [0, 1]; the lowest are kept, and a pair ranked out is dropped naming its labels.
        rank = TopFraction("nsfw_score", self.config.keep_fraction, lowest=True, low=0.0, high=1.0,
                           reason="unsafe", label_column="nsfw_labels")
        return (yield from rank.plan(ctx, _ScoreWorker, {"config": self.config.model_dump()}, self.resources))


Nsfw.by_threshold, Nsfw.by_fraction = NsfwThreshold, NsfwTopFraction
