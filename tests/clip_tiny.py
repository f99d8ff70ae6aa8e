"""A tiny open_clip model trained here, on pictures of coloured shapes and their captions.

No CLIP weights can be downloaded in tests or offline installs, so the test
suite (and anyone trying the image-text path without a checkpoint) builds one:
a small ViT and text transformer in open_clip's own model classes, trained
contrastively for a few hundred CPU steps on generated images ("a red circle",
"a blue square", ...). It is saved as an architecture JSON plus a checkpoint
and loaded back through ``clip_score``'s ordinary ``model`` + ``checkpoint``
path.
"""

from __future__ import annotations

import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 210, 20),
    "purple": (140, 40, 170),
    "orange": (245, 130, 20),
}
SHAPES = ("circle", "square", "triangle")

#: The architecture, in open_clip's model-config format.
TINY_MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
MODEL_NAME = "assay-tiny-clip"


def caption(shape: str, colour: str) -> str:
    return f"a {colour} {shape}"


def draw(shape: str, colour: str, rng: random.Random, size: int = 64):
    """A PIL image of one coloured shape at a random place and size on a light background."""
    from PIL import Image, ImageDraw

    grey = rng.randint(215, 255)
    image = Image.new("RGB", (size, size), (grey, grey, grey))
    pen = ImageDraw.Draw(image)
    side = rng.randint(size // 2, size - 8)
    x0, y0 = rng.randint(0, size - side), rng.randint(0, size - side)
    box = (x0, y0, x0 + side, y0 + side)
    fill = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in COLOURS[colour])
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    else:
        pen.polygon([(x0 + side // 2, y0), (x0, y0 + side), (x0 + side, y0 + side)], fill=fill)
    return image


def encode(image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def sample_pairs(n: int, seed: int = 0) -> list[tuple[bytes, str, tuple[str, str]]]:
    """``n`` matched ``(png bytes, caption, (shape, colour))`` pairs."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
        out.append((encode(draw(shape, colour, rng)), caption(shape, colour), (shape, colour)))
    return out


def swapped_caption(label: tuple[str, str], rng: random.Random) -> str:
    """A caption for a different shape and a different colour than ``label``."""
    shape = rng.choice([s for s in SHAPES if s != label[0]])
    colour = rng.choice([c for c in COLOURS if c != label[1]])
    return caption(shape, colour)


@dataclass(frozen=True)
class TinyClip:
    """Where a trained tiny model lies: pass these as ``clip_score``'s model and checkpoint."""

    model: str
    checkpoint: str
    seconds: float
    final_loss: float


def train_tiny_clip(out_dir: str | Path, steps: int = 300, seed: int = 0, threads: int = 1) -> TinyClip:
    """Train the tiny model on generated shapes and save it under ``out_dir``.

    Writes ``assay-tiny-clip.json`` (open_clip model config) and
    ``assay-tiny-clip.pt`` (state dict). Tens of seconds on one CPU core.
    One thread: on a shared machine more threads made each step many times slower.
    """
    import open_clip
    import torch
    import torch.nn.functional as F

    t0 = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / f"{MODEL_NAME}.json"
    config_path.write_text(json.dumps(TINY_MODEL_CFG, indent=2))
    open_clip.add_model_config(config_path)

    torch.manual_seed(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME)
        tokenizer = open_clip.get_tokenizer(MODEL_NAME)
        rng = random.Random(seed)
        # Every caption once: each step's batch then holds each class at most once,
        # so the contrastive loss never calls a true match a negative.
        classes = [(s, c) for s in SHAPES for c in COLOURS]
        tokens = tokenizer([caption(s, c) for s, c in classes])
        pool_per_class = 24
        side = TINY_MODEL_CFG["vision_cfg"]["image_size"]
        pool = torch.stack(
            [preprocess(draw(s, c, rng)) for s, c in classes for _ in range(pool_per_class)]
        ).view(len(classes), pool_per_class, 3, side, side)
        # The token table (49408 x 64, nearly all of the weights) stays random: the
        # captions use a dozen tokens, and random rows tell them apart well enough.
        model.token_embedding.weight.requires_grad_(False)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=2e-3, weight_decay=0.01)
        model.train()
        loss_value = float("nan")
        for _ in range(steps):
            pick = torch.randint(0, pool_per_class, (len(classes),))
            images = pool[torch.arange(len(classes)), pick]
            image_emb = model.encode_image(images, normalize=True)
            text_emb = model.encode_text(tokens, normalize=True)
            logits = model.logit_scale.exp() * image_emb @ text_emb.T
            target = torch.arange(len(classes))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            loss_value = float(loss.detach())
        model.eval()
        checkpoint = out / f"{MODEL_NAME}.pt"
        torch.save(model.state_dict(), checkpoint)
    finally:
        torch.set_num_threads(previous_threads)
    return TinyClip(str(config_path), str(checkpoint), time.monotonic() - t0, loss_value)


def auc(positives: list[float], negatives: list[float]) -> float:
    """Area under the ROC curve: the chance a positive outscores a negative (ties count half)."""
    if not positives or not negatives:
        raise ValueError("auc needs at least one positive and one negative score")
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def write_webdataset(path: str | Path, records: list[tuple[str, dict[str, bytes]]]) -> str:
    """Write a WebDataset tar shard: ``records`` are ``(key, {extension: bytes})``."""
    import tarfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, files in records:
            for ext, data in files.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(path)


def sample_shards(folder: str | Path, shards: int = 2, pairs_per_shard: int = 40, seed: int = 0) -> list[str]:
    """Image-text WebDataset shards of coloured shapes: most captions match, a quarter are swapped,
    and a few images are broken (empty, truncated, not an image), duplicated or tiny."""
    rng = random.Random(seed)
    paths = []
    for s in range(shards):
        records = []
        for i, (png, text, label) in enumerate(sample_pairs(pairs_per_shard, seed=seed * 1000 + s)):
            key = f"{s:03d}{i:05d}"
            kind = i % 20
            if kind in (1, 5, 9, 13, 17):
                text = swapped_caption(label, rng)
            elif kind == 2:
                png = b""
            elif kind == 6:
                png = png[: len(png) // 2]
            elif kind == 10:
                png = b"GIF89a not really"
            elif kind == 14 and records:
                # An exact copy of this shard's first pair.
                png, text = records[0][1]["png"], records[0][1]["txt"].decode()
            records.append((key, {"png": png, "txt": text.encode()}))
        paths.append(write_webdataset(Path(folder) / f"pairs-{s:05d}.tar", records))
    return paths
