"""CLIP image-caption agreement: ``clip_score`` and a keep decision over the whole run.

The score is the cosine similarity of an open_clip model's image and caption
embeddings. The model is an architecture (a built-in open_clip name such as
``ViT-B-32``, or the path of an open_clip model-config JSON file) plus a local
checkpoint file: nothing is fetched from a hub. Images go through the model's
own preprocessing transforms.

Two ways to decide, one or the other (DataComp's "CLIP score" baselines):

* ``threshold``: keep a pair when its score is at least this;
* ``keep_fraction``: keep the top fraction of the scored pairs of the *whole
  run*. The cutoff is an exact global rank, not a per-batch quantile: every
  part reports a histogram of its scores; the bin holding the cutoff is read
  again to rank the few pairs inside it (ties broken by id, so the same run
  keeps the same pairs whatever the parallelism); then each part is decided.
  No process holds every score.

So it is a global stage: scoring runs in an actor pool (one model per actor,
``num_gpus`` per actor and half precision when there is a GPU, CPU otherwise),
and writes a patch per part with ``clip_score`` and the drop reasons
``below_threshold``, ``below_top_fraction`` or ``undecodable_image``.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from operators.base import GlobalOperator, OperatorConfig
from operators.io import join, makedirs, read_parquet, write_parquet_atomic
from operators.registry import register
from operators.schema import kept_mask

#: Equal-width bins of the cosine similarity over [-1, 1] for the global rank.
HIST_BINS = 4096

_PATCH_SCHEMA = pa.schema([("id", pa.string()), ("clip_score", pa.float32()), ("drop_reason", pa.string())])
_SCORES_SCHEMA = pa.schema([("id", pa.string()), ("clip_score", pa.float32())])


class ClipScoreConfig(OperatorConfig):
    model: str = Field(
        "ViT-B-32",
        description="open_clip architecture: a built-in name (`open_clip.list_models()`) or the path of a "
        "model-config JSON file ({embed_dim, vision_cfg, text_cfg}).",
    )
    checkpoint: str | None = Field(
        None, description="Local checkpoint file of that architecture (.pt/.bin/.safetensors); no hub download."
    )
    random_init: bool = Field(
        False, description="Run without a checkpoint (random weights): for speed measurements only, scores mean nothing."
    )
    threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="Keep pairs whose clip_score is at least this (one of threshold, keep_fraction)."
    )
    keep_fraction: float | None = Field(
        None, gt=0.0, le=1.0, description="Keep this top fraction of the whole run's scored pairs (one of threshold, keep_fraction)."
    )
    batch_size: int = Field(64, ge=1, description="Pairs per model call.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: a GPU when the workers have one (half precision there), else the CPU."
    )
    num_gpus: float = Field(1.0, gt=0, le=8, description="GPUs per scoring actor when running on GPUs.")
    threads: int = Field(0, ge=0, description="torch CPU threads per worker; 0 leaves torch's default.")

    @model_validator(mode="after")
    def _one_decision_and_weights(self) -> ClipScoreConfig:
        if (self.threshold is None) == (self.keep_fraction is None):
            raise ValueError("set exactly one of threshold (absolute) or keep_fraction (top share of the whole run)")
        if self.checkpoint is None and not self.random_init:
            raise ValueError(
                "set checkpoint to a local open_clip checkpoint file (weights are never downloaded); "
                "random_init: true runs untrained weights, for benchmarks only"
            )
        if self.model.startswith(("hf-hub:", "local-dir:")):
            raise ValueError("give the architecture name or config JSON in model and the weights file in checkpoint")
        return self


def _expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


def _resolve_model(model: str) -> str:
    """The open_clip model name of ``model``, registering a config JSON file under its stem."""
    import open_clip

    if model.endswith(".json"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"clip_score: model config {path} does not exist; give a built-in name or a JSON path")
        open_clip.add_model_config(path)
        return path.stem
    if model not in open_clip.list_models():
        raise ValueError(f"clip_score: unknown architecture {model!r}; built-in names: open_clip.list_models()")
    return model


class ClipModel:
    """An open_clip model, its preprocessing and tokenizer, loaded once per process.

    Attributes:
        device: ``cuda`` or ``cpu``.
        dtype: ``torch.float16`` on the GPU, ``torch.float32`` on the CPU.
    """

    def __init__(self, config: ClipScoreConfig):
        checkpoint = _expand(config.checkpoint) if config.checkpoint else None
        if checkpoint and not os.path.isfile(checkpoint):
            raise FileNotFoundError(
                f"clip_score: checkpoint {checkpoint} does not exist; give the path of a local open_clip checkpoint "
                "(recipes may write it as ${VARIABLE}/file.pt, read from the environment)"
            )
        import open_clip
        import torch

        if config.threads:
            torch.set_num_threads(config.threads)
        cuda = torch.cuda.is_available() if config.device == "auto" else config.device == "cuda"
        if cuda and not torch.cuda.is_available():
            raise RuntimeError("clip_score: device cuda asked for, but torch sees no GPU; use device: auto or cpu")
        self.device = "cuda" if cuda else "cpu"
        self.dtype = torch.float16 if cuda else torch.float32
        name = _resolve_model(_expand(config.model))
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            name,
            pretrained=checkpoint,
            precision="fp16" if cuda else "fp32",
            device=self.device,
            pretrained_text=False,
        )
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)
        self._torch = torch
        from PIL import Image

        self._image = Image

    def decode(self, data: bytes | None):
        """The preprocessed image tensor, or None when the bytes do not decode."""
        if not data:
            return None
        try:
            with self._image.open(io.BytesIO(data)) as image:
                return self.preprocess(image.convert("RGB"))
        except Exception:  # noqa: BLE001 - one bad image must not stop the batch
            return None

    def similarity(self, pixels, captions: list[str]) -> list[float]:
        """Cosine similarity of each preprocessed image to its caption."""
        torch = self._torch
        with torch.inference_mode():
            images = torch.stack(pixels).to(self.device, self.dtype)
            tokens = self.tokenizer(captions).to(self.device)
            image_emb = self.model.encode_image(images, normalize=True)
            text_emb = self.model.encode_text(tokens, normalize=True)
            return (image_emb * text_emb).sum(dim=-1).float().cpu().tolist()

    def score(self, images: list[bytes | None], captions: list[str], batch_size: int) -> list[float | None]:
        """``clip_score`` of every pair; None where the image does not decode."""
        out: list[float | None] = []
        for start in range(0, len(images), batch_size):
            pixels = [self.decode(b) for b in images[start : start + batch_size]]
            good = [i for i, p in enumerate(pixels) if p is not None]
            scores: list[float | None] = [None] * len(pixels)
            if good:
                sims = self.similarity([pixels[i] for i in good], [captions[start + i] or "" for i in good])
                for i, s in zip(good, sims, strict=True):
                    scores[i] = s
            out.extend(scores)
        return out


def _bin(score: float) -> int:
    return min(HIST_BINS - 1, max(0, int((score + 1.0) / 2.0 * HIST_BINS)))


class _ScoreWorker:
    """Scores the kept pairs of a part (one model per process); decides directly in threshold mode."""

    def __init__(self, config: dict[str, Any], work_dir: str):
        self.config = ClipScoreConfig(**config)
        self.work_dir = work_dir
        self._model: ClipModel | None = None

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["part"], columns=["id", "text", "image", "keep"])
        table = table.filter(kept_mask(table))
        if not table.num_rows:
            return {"patch": None, "scores": None, "histogram": None, "scored": 0}
        if self._model is None:
            self._model = ClipModel(self.config)
        scores = self._model.score(
            table.column("image").to_pylist(), table.column("text").to_pylist(), self.config.batch_size
        )
        ids = table.column("id")
        values = pa.array(scores, pa.float32())
        undecodable = pc.if_else(pc.is_null(values), "undecodable_image", pa.scalar(None, pa.string()))
        name = item["name"]
        if self.config.threshold is not None:
            below = pc.fill_null(pc.less(values, pa.scalar(self.config.threshold, pa.float32())), False)
            reasons = pc.if_else(below, "below_threshold", undecodable)
            path = join(self.work_dir, "patch", f"{name}.parquet")
            write_parquet_atomic(pa.table([ids, values, reasons], schema=_PATCH_SCHEMA), path)
            return {"patch": path, "scores": None, "histogram": None, "scored": int(pc.count(values).as_py())}
        path = join(self.work_dir, "scores", f"{name}.parquet")
        write_parquet_atomic(pa.table([ids, values], schema=_SCORES_SCHEMA), path)
        histogram = [0] * HIST_BINS
        for s in values.to_numpy(zero_copy_only=False):
            if not math.isnan(s):
                histogram[_bin(float(s))] += 1
        return {"patch": None, "scores": path, "histogram": histogram, "scored": int(pc.count(values).as_py())}


class _CandidatesWorker:
    """The pairs of a part whose score falls in the cutoff bin: ``[[score, id], ...]``.

    ``column`` and ``sign`` let another scorer rank its own column (``nsfw`` keeps the lowest: sign -1).
    """

    def __init__(self, cutoff_bin: int, column: str = "clip_score", sign: float = 1.0):
        self.cutoff_bin = cutoff_bin
        self.column = column
        self.sign = sign

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["scores"])
        return {
            "candidates": [
                [s, rid]
                for rid, s in zip(table.column("id").to_pylist(), table.column(self.column).to_pylist(), strict=True)
                if s is not None and _bin(self.sign * s) == self.cutoff_bin
            ]
        }


class _DecideWorker:
    """Writes a part's patch: above the cutoff bin kept, below dropped, inside it as ranked.

    ``column``, ``sign``, ``reason`` and ``label_column`` (its value appended to the reason) let another scorer
    decide its own column the same way.
    """

    def __init__(self, work_dir: str, cutoff_bin: int, column: str = "clip_score", sign: float = 1.0,
                 reason: str = "below_top_fraction", label_column: str | None = None):
        self.work_dir = work_dir
        self.cutoff_bin = cutoff_bin
        self.column = column
        self.sign = sign
        self.reason = reason
        self.label_column = label_column

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["scores"])
        keep_in_bin = set(item["keep"])
        labels = table.column(self.label_column).to_pylist() if self.label_column else [None] * table.num_rows
        reasons = []
        for rid, s, label in zip(
            table.column("id").to_pylist(), table.column(self.column).to_pylist(), labels, strict=True
        ):
            if s is None:
                reasons.append("undecodable_image")
                continue
            b = _bin(self.sign * s)
            kept = b > self.cutoff_bin or (b == self.cutoff_bin and rid in keep_in_bin)
            reasons.append(None if kept else f"{self.reason}:{label}" if label else self.reason)
        patch = table.append_column("drop_reason", pa.array(reasons, pa.string()))
        path = join(self.work_dir, "patch", f"{item['name']}.parquet")
        write_parquet_atomic(patch, path)
        return {"patch": path}


def cutoff(histogram: list[int], keep: int) -> tuple[int, int]:
    """``(bin, how many of that bin to keep)`` so that exactly ``keep`` top scores are kept."""
    above = 0
    for b in range(HIST_BINS - 1, -1, -1):
        if above + histogram[b] >= keep:
            return b, keep - above
        above += histogram[b]
    return 0, histogram[0]


@register
class ClipScore(GlobalOperator):
    """Scores image-caption agreement with open_clip and keeps by threshold or by top fraction of the run.

    Annotation: ``clip_score`` (cosine similarity, float32). Drop reasons:
    ``below_threshold``, ``below_top_fraction``, ``undecodable_image``.
    """

    name = "clip_score"
    version = "1"
    Config = ClipScoreConfig
    score_column = "clip_score"

    def gpus_per_worker(self, executor) -> float:
        """``num_gpus`` for each scoring actor: 0 on CPU-only executors."""
        if self.config.device == "cpu":
            return 0
        try:
            gpus = executor.gpus
        except ImportError:
            gpus = 0
        return self.config.num_gpus if gpus else 0

    def run_global(self, parts, work_dir, executor):
        makedirs(work_dir)
        names = {p: os.path.basename(p).removesuffix(".parquet") for p in parts}
        scored = executor.map(
            _ScoreWorker,
            [{"part": p, "name": names[p]} for p in parts],
            {"config": self.config.model_dump(), "work_dir": work_dir},
            desc=f"{self.name}: score",
            stateful=True,
            num_gpus=self.gpus_per_worker(executor),
        )
        if self.config.threshold is not None:
            return {p: [r["patch"]] for p, r in zip(parts, scored, strict=True) if r["patch"]}
        with_scores = [(p, r) for p, r in zip(parts, scored, strict=True) if r["scores"]]
        histogram = [sum(col) for col in zip(*(r["histogram"] for _, r in with_scores), strict=True)]
        total = sum(histogram)
        if not total:
            items = [{"scores": r["scores"], "name": names[p], "keep": []} for p, r in with_scores]
            bin_, take = HIST_BINS, 0
        else:
            keep = max(1, round(self.config.keep_fraction * total))
            bin_, take = cutoff(histogram, keep)
            found = executor.map(
                _CandidatesWorker,
                [{"scores": r["scores"]} for _, r in with_scores],
                {"cutoff_bin": bin_},
                desc=f"{self.name}: rank",
                stateful=False,
            )
            ranked = sorted(((s, rid) for f in found for s, rid in f["candidates"]), key=lambda c: (-c[0], c[1]))
            chosen = {rid for _, rid in ranked[:take]}
            items = []
            for (p, r), f in zip(with_scores, found, strict=True):
                items.append(
                    {"scores": r["scores"], "name": names[p], "keep": [rid for _, rid in f["candidates"] if rid in chosen]}
                )
        decided = executor.map(
            _DecideWorker, items, {"work_dir": work_dir, "cutoff_bin": bin_}, desc=f"{self.name}: decide", stateful=False
        )
        return {p: [d["patch"]] for (p, _), d in zip(with_scores, decided, strict=True)}
