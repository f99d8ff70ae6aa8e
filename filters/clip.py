"""CLIP image-caption agreement: ``clip_score`` and a keep decision over the whole run.

The score is the cosine similarity of an open_clip model's image and caption
embeddings. The model is an architecture (a built-in open_clip name such as
``ViT-B-32``, or the path of an open_clip model-config JSON file) plus a local
checkpoint file: nothing is fetched from a hub. Images go through the model's
own preprocessing transforms.

Two ways to decide, one or the other (DataComp's "CLIP score" baselines):

* ``threshold``: keep a pair when its score is at least this. A stream filter
  (:class:`ClipThreshold`): it scores each batch as it passes, in the stream
  segment's workers, which hold the model and ``num_gpus`` GPUs when the
  cluster has them.
* ``keep_fraction``: keep the top fraction of the scored pairs of the *whole
  run*. The cutoff is an exact global rank, not a per-batch quantile, so this
  is a global stage (:class:`ClipTopFraction`) of three steps: ``score``
  writes every part's scores and a histogram of them; ``rank`` reads again the
  bin holding the cutoff to rank the few pairs inside it (ties broken by id, so
  the same run keeps the same pairs whatever the parallelism); ``decide``
  writes each part's patch. No process holds every score.

Either way the model runs in workers that load it once (an actor pool on Ray),
on a GPU in half precision when there is one, else on the CPU. The stage adds
``clip_score`` and the drop reasons ``below_threshold``, ``below_top_fraction``
or ``undecodable_image``. Recipes name both ``clip_score``; the configuration
picks the class.
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

from operators.core.base import Filter, Operator, OperatorConfig, Resources, Role
from operators.core.global_stage import GlobalOperator, Plan, StageContext, Step
from operators.core.io import join, makedirs, read_parquet, write_parquet_atomic
from operators.core.schema import kept_mask

#: Equal-width bins of the cosine similarity over [-1, 1] for the global rank.
HIST_BINS = 4096

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
    """Scores the kept pairs of a part (one model per process): their scores and a histogram of them."""

    def __init__(self, config: dict[str, Any], work_dir: str):
        self.config = ClipScoreConfig(**config)
        self.work_dir = work_dir
        self._model: ClipModel | None = None

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["part"], columns=["id", "text", "image", "keep"])
        table = table.filter(kept_mask(table))
        if not table.num_rows:
            return {"scores": None, "histogram": None, "scored": 0}
        if self._model is None:
            self._model = ClipModel(self.config)
        scores = self._model.score(
            table.column("image").to_pylist(), table.column("text").to_pylist(), self.config.batch_size
        )
        values = pa.array(scores, pa.float32())
        path = join(self.work_dir, "scores", f"{item['name']}.parquet")
        write_parquet_atomic(pa.table([table.column("id"), values], schema=_SCORES_SCHEMA), path)
        histogram = [0] * HIST_BINS
        for s in values.to_numpy(zero_copy_only=False):
            if not math.isnan(s):
                histogram[_bin(float(s))] += 1
        return {"scores": path, "histogram": histogram, "scored": int(pc.count(values).as_py())}


class _CandidatesWorker:
    """The pairs of a part whose score falls in the cutoff bin: ``[[score, id], ...]``."""

    def __init__(self, cutoff_bin: int):
        self.cutoff_bin = cutoff_bin

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["scores"])
        return {
            "candidates": [
                [s, rid]
                for rid, s in zip(table.column("id").to_pylist(), table.column("clip_score").to_pylist(), strict=True)
                if s is not None and _bin(s) == self.cutoff_bin
            ]
        }


class _DecideWorker:
    """Writes a part's patch: above the cutoff bin kept, below dropped, inside it as ranked."""

    def __init__(self, work_dir: str, cutoff_bin: int):
        self.work_dir = work_dir
        self.cutoff_bin = cutoff_bin

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["scores"])
        keep_in_bin = set(item["keep"])
        reasons = []
        for rid, s in zip(table.column("id").to_pylist(), table.column("clip_score").to_pylist(), strict=True):
            if s is None:
                reasons.append("undecodable_image")
                continue
            b = _bin(s)
            kept = b > self.cutoff_bin or (b == self.cutoff_bin and rid in keep_in_bin)
            reasons.append(None if kept else "below_top_fraction")
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


class ClipScore(Operator):
    """Scores image-caption agreement with open_clip and keeps by threshold or by top fraction of the run.

    Annotation: ``clip_score`` (cosine similarity, float32). Drop reasons:
    ``below_threshold``, ``below_top_fraction``, ``undecodable_image``.
    ``ClipScore(...)`` builds a :class:`ClipThreshold` (a stream filter) or a
    :class:`ClipTopFraction` (a global stage), as the configuration asks.
    """

    name = "clip_score"
    version = "1"
    Config = ClipScoreConfig
    role = Role.FILTER
    kind = "stream (threshold) or global (keep_fraction)"
    score_column = "clip_score"

    def __new__(cls, config: ClipScoreConfig | dict[str, Any] | None = None, **params: Any):
        if cls is ClipScore:
            if isinstance(config, ClipScoreConfig):
                config = config.model_copy(update=params)
            else:
                config = ClipScoreConfig(**{**(config or {}), **params})
            cls = ClipThreshold if config.threshold is not None else ClipTopFraction
        return super().__new__(cls)

    @property
    def resources(self) -> Resources:
        """Each worker loads the model; on GPUs when the cluster has them (``num_gpus`` each) unless device is cpu."""
        return Resources(gpus=0 if self.config.device == "cpu" else self.config.num_gpus, model=True)

    def gpus_per_worker(self, executor) -> float:
        """``num_gpus`` for each scoring worker: 0 on CPU-only executors."""
        return self.resources.gpus_on(executor)


class ClipThreshold(ClipScore, Filter):
    """``clip_score`` with a ``threshold``: a stream filter that scores each batch and keeps pairs at or above it."""

    kind = "stream"
    columns = {"clip_score": pa.float32()}

    def setup(self) -> None:
        self._model = ClipModel(self.config)

    def score(self, table: pa.Table) -> dict[str, list]:
        images, captions = table.column("image").to_pylist(), table.column("text").to_pylist()
        return {"clip_score": self._model.score(images, captions, self.config.batch_size)}

    def decide(self, table: pa.Table) -> list[str | None]:
        threshold = self.config.threshold
        return [
            "undecodable_image" if s is None else ("below_threshold" if s < threshold else None)
            for s in table.column("clip_score").to_pylist()
        ]


class ClipTopFraction(ClipScore, GlobalOperator):
    """``clip_score`` with a ``keep_fraction``: a global stage keeping the run's top scores (steps score, rank, decide)."""

    kind = "global"

    def plan(self, ctx: StageContext) -> Plan:
        makedirs(ctx.work_dir)
        names = {p: os.path.basename(p).removesuffix(".parquet") for p in ctx.parts}
        scored = yield Step(
            "score",
            _ScoreWorker,
            [{"part": p, "name": names[p]} for p in ctx.parts],
            {"config": self.config.model_dump(), "work_dir": ctx.work_dir},
            resources=self.resources,
        )
        with_scores = [(p, r) for p, r in zip(ctx.parts, scored, strict=True) if r["scores"]]
        histogram = [sum(col) for col in zip(*(r["histogram"] for _, r in with_scores), strict=True)]
        total = sum(histogram)
        if not total:
            items = [{"scores": r["scores"], "name": names[p], "keep": []} for p, r in with_scores]
            bin_ = HIST_BINS
        else:
            keep = max(1, round(self.config.keep_fraction * total))
            bin_, take = cutoff(histogram, keep)
            found = yield Step("rank", _CandidatesWorker, [{"scores": r["scores"]} for _, r in with_scores], {"cutoff_bin": bin_})
            ranked = sorted(((s, rid) for f in found for s, rid in f["candidates"]), key=lambda c: (-c[0], c[1]))
            chosen = {rid for _, rid in ranked[:take]}
            items = [
                {"scores": r["scores"], "name": names[p], "keep": [rid for _, rid in f["candidates"] if rid in chosen]}
                for (p, r), f in zip(with_scores, found, strict=True)
            ]
        decided = yield Step("decide", _DecideWorker, items, {"work_dir": ctx.work_dir, "cutoff_bin": bin_})
        return {p: [d["patch"]] for (p, _), d in zip(with_scores, decided, strict=True)}
