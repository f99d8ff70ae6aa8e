"""NSFW images out: NudeNet's detector, scores per label, a threshold or a keep-fraction like ``clip_score``.

The model is the YOLOv8 detector the ``nudenet`` wheel carries
(``nudenet/320n.onnx``), run by ONNX Runtime directly: each image prepared as nudenet's own
``NudeDetector`` prepares it (padded to a square, shrunk to 320 pixels), and
every label scored by its most confident box. ``nsfw_score`` is the highest score among the labels the config calls
unsafe (by default the five ``*_EXPOSED`` body parts); ``nsfw_labels`` names
the unsafe labels at or above ``label_score``, most confident first.

Decided like ``clip_score``, one or the other:

* ``threshold``: drop a pair whose ``nsfw_score`` is at least this;
* ``keep_fraction``: keep the least unsafe fraction of the whole run (an exact
  global rank, with clip_score's histogram, candidates and decide steps).

Drop reasons name the labels: ``unsafe:FEMALE_BREAST_EXPOSED,BUTTOCKS_EXPOSED``
(``unsafe`` alone when no label reached ``label_score``); ``undecodable_image``.
"""

from __future__ import annotations

import io
import math
import os
from importlib import resources
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from filters.clip import HIST_BINS, _bin, _CandidatesWorker, _DecideWorker, cutoff
from operators.base import GlobalOperator, OperatorConfig
from operators.io import join, makedirs, read_parquet, write_parquet_atomic
from operators.registry import register
from operators.schema import kept_mask

#: The detector's classes in the order of its outputs (nudenet 3.4.2's 320n.onnx).
LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)
UNSAFE = ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED", "ANUS_EXPOSED")
INPUT_SIDE = 320

_SCORES_SCHEMA = pa.schema([("id", pa.string()), ("nsfw_score", pa.float32()), ("nsfw_labels", pa.string())])
_PATCH_SCHEMA = _SCORES_SCHEMA.append(pa.field("drop_reason", pa.string()))


class NsfwConfig(OperatorConfig):
    threshold: float | None = Field(None, gt=0, le=1, description="Drop pairs whose nsfw_score is at least this (one of threshold, keep_fraction).")
    keep_fraction: float | None = Field(
        None, gt=0, le=1, description="Keep this least-unsafe fraction of the whole run's scored pairs (one of threshold, keep_fraction)."
    )
    labels: list[str] = Field(default_factory=lambda: list(UNSAFE), description=f"The unsafe labels; known: {', '.join(LABELS)}.")
    label_score: float = Field(0.5, ge=0, le=1, description="A label is named in nsfw_labels (and the drop reason) from this score.")
    model: str | None = Field(None, description="Another detector of the same outputs (.onnx); default: the one in the nudenet wheel.")
    batch_size: int = Field(16, ge=1, description="Images per model call.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: ONNX Runtime's CUDA provider when installed, else the CPU.")
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


class _ScoreWorker:
    """Scores the kept pairs of a part; decides directly in threshold mode."""

    def __init__(self, config: dict[str, Any], work_dir: str):
        self.config = NsfwConfig(**config)
        self.work_dir = work_dir
        self._model: NudeNet | None = None

    def __call__(self, item: dict) -> dict:
        c = self.config
        table = read_parquet(item["part"], columns=["id", "image", "keep"])
        table = table.filter(kept_mask(table))
        if not table.num_rows:
            return {"patch": None, "scores": None, "histogram": None}
        if self._model is None:
            self._model = NudeNet(c.model, c.device, c.threads)
        found = self._model.label_scores(table.column("image").to_pylist(), c.batch_size)
        pairs = [summarise(s, c.labels, c.label_score) for s in found]
        scores = pa.array([p[0] for p in pairs], pa.float32())
        named = pa.array([p[1] for p in pairs], pa.string())
        ids = table.column("id")
        if c.threshold is not None:
            reasons = [
                "undecodable_image" if s is None else (f"unsafe:{n}" if n else "unsafe") if s >= c.threshold else None
                for s, n in pairs
            ]
            path = join(self.work_dir, "patch", f"{item['name']}.parquet")
            write_parquet_atomic(pa.table([ids, scores, named, pa.array(reasons, pa.string())], schema=_PATCH_SCHEMA), path)
            return {"patch": path, "scores": None, "histogram": None}
        path = join(self.work_dir, "scores", f"{item['name']}.parquet")
        write_parquet_atomic(pa.table([ids, scores, named], schema=_SCORES_SCHEMA), path)
        histogram = [0] * HIST_BINS
        for s in scores.to_numpy(zero_copy_only=False):
            if not math.isnan(s):
                histogram[_bin(-float(s))] += 1  # ranked by safety: the least unsafe come first
        return {"patch": None, "scores": path, "histogram": histogram}


@register
class Nsfw(GlobalOperator):
    """Drops unsafe images by NudeNet's label scores: a threshold, or keeps the least unsafe fraction of the run.

    Annotations: ``nsfw_score`` (float32), ``nsfw_labels`` (the unsafe labels
    at or above ``label_score``). Drop reasons: ``unsafe:<labels>``,
    ``undecodable_image``.
    """

    name = "nsfw"
    version = "1"
    Config = NsfwConfig
    score_column = "nsfw_score"
    extra = "images"
    extra_modules = ("onnxruntime", "nudenet")

    def run_global(self, parts, work_dir, executor):
        makedirs(work_dir)
        names = {p: os.path.basename(p).removesuffix(".parquet") for p in parts}
        scored = executor.map(
            _ScoreWorker,
            [{"part": p, "name": names[p]} for p in parts],
            {"config": self.config.model_dump(), "work_dir": work_dir},
            desc=f"{self.name}: score",
            stateful=True,
        )
        if self.config.threshold is not None:
            return {p: [r["patch"]] for p, r in zip(parts, scored, strict=True) if r["patch"]}
        with_scores = [(p, r) for p, r in zip(parts, scored, strict=True) if r["scores"]]
        if not with_scores:
            return {}
        histogram = [sum(col) for col in zip(*(r["histogram"] for _, r in with_scores), strict=True)]
        total = sum(histogram)
        keep = max(1, round(self.config.keep_fraction * total)) if total else 0
        bin_, take = cutoff(histogram, keep) if total else (HIST_BINS, 0)
        found = executor.map(
            _CandidatesWorker, [{"scores": r["scores"]} for _, r in with_scores],
            {"cutoff_bin": bin_, "column": "nsfw_score", "sign": -1.0}, desc=f"{self.name}: rank", stateful=False,
        )
        # Inside the cutoff bin the lowest scores are kept; ties broken by id, whatever the parallelism.
        ranked = sorted(((s, rid) for f in found for s, rid in f["candidates"]))
        chosen = {rid for _, rid in ranked[:take]}
        items = [
            {"scores": r["scores"], "name": names[p], "keep": [rid for _, rid in f["candidates"] if rid in chosen]}
            for (p, r), f in zip(with_scores, found, strict=True)
        ]
        decided = executor.map(
            _DecideWorker, items,
            {"work_dir": work_dir, "cutoff_bin": bin_, "column": "nsfw_score", "sign": -1.0, "reason": "unsafe",
             "label_column": "nsfw_labels"},
            desc=f"{self.name}: decide", stateful=False,
        )
        return {p: [d["patch"]] for (p, _), d in zip(with_scores, decided, strict=True)}

