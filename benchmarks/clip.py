"""CLIP scoring throughput: assay's ``clip_score`` stage vs a bare open_clip loop, same images, same run.

    PYTHONPATH=. python benchmarks/clip.py                 # ViT-B-32 on the CPU
    PYTHONPATH=. python benchmarks/clip.py --device cuda   # on a GPU (half precision)

No CLIP weights can be downloaded here, so the model is randomly initialised
(``random_init``; pass ``--checkpoint`` for real weights): speed does not depend
on the weights. The bare loop is what a user would write by hand: decode with
Pillow, the model's own preprocess, batch, encode image and text, cosine. assay
does the same plus everything a run needs around it: reading the staged
Parquet parts, writing the score patches, and (``keep_fraction``) the global
rank. Both load the model once; each side runs twice, interleaved, and the
better of its two runs counts. The target: assay's overhead under 10%.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from filters.clip import ClipScore
from operators.core.global_stage import GlobalOperator, StageContext
from operators.core.io import write_parquet_atomic
from operators.core.schema import records_table
from operators.execution.executor import LocalExecutor
from pipelines.run.stages import run_global_stage
from pipelines.run.workers import SegmentWorker
from tests.clip_tiny import COLOURS, SHAPES, caption, draw, encode


def make_images(n: int, size: int, seed: int = 0) -> tuple[list[bytes], list[str]]:
    """``n`` JPEG pictures of shapes at ``size`` pixels, and their captions."""
    rng = random.Random(seed)
    images, captions = [], []
    for _ in range(n):
        shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
        images.append(encode(draw(shape, colour, rng, size=size), "JPEG"))
        captions.append(f"a photo of {caption(shape, colour)} on a plain background")
    return images, captions


def stage_parts(images: list[bytes], captions: list[str], folder: Path, rows_per_part: int) -> list[str]:
    parts = []
    for start in range(0, len(images), rows_per_part):
        chunk = images[start : start + rows_per_part]
        n = len(chunk)
        table = records_table(captions[start : start + n], "bench", images=chunk, start=start)
        path = str(folder / f"part-{start:06d}.parquet")
        write_parquet_atomic(table, path)
        parts.append(path)
    return parts


def bare_loop(model_name: str, checkpoint: str | None, device: str, images, captions, batch_size: int) -> float:
    """Seconds for a hand-written open_clip scoring loop over the images (model load included)."""
    import io

    import open_clip
    import torch
    from PIL import Image

    t0 = time.perf_counter()
    cuda = device == "cuda"
    model, _, preprocess = open_clip.create_model_and_transforms(
        model_name, pretrained=checkpoint, precision="fp16" if cuda else "fp32", device=device
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    dtype = torch.float16 if cuda else torch.float32
    scores = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            pixels = torch.stack(
                [preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in images[start : start + batch_size]]
            ).to(device, dtype)
            tokens = tokenizer(captions[start : start + batch_size]).to(device)
            a = model.encode_image(pixels, normalize=True)
            t = model.encode_text(tokens, normalize=True)
            scores.extend((a * t).sum(-1).float().cpu().tolist())
    if cuda:
        torch.cuda.synchronize()
    assert len(scores) == len(images)
    return time.perf_counter() - t0


def assay_stage(op: ClipScore, parts: list[str], work: Path) -> float:
    """Seconds for assay's clip_score stage over the staged parts (model load included).

    Threshold mode is a stream filter: it runs as a stream segment does (read the part, score
    its batches, write it); top-fraction mode is a global stage whose steps the run engine runs.
    """
    t0 = time.perf_counter()
    if isinstance(op, GlobalOperator):
        patches = run_global_stage(op, StageContext(parts, str(work), output=str(work)), LocalExecutor())
        assert len(patches) == len(parts)
    else:
        worker = SegmentWorker([op], [], str(work), batch_rows=1_000)
        for part in parts:
            worker({"part": part})
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture (default ViT-B-32)")
    parser.add_argument("--checkpoint", default=None, help="local checkpoint; default: random weights")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to score (cuda: fp16)")
    parser.add_argument("--images", type=int, default=192, help="images to score per run (default 192)")
    parser.add_argument("--size", type=int, default=320, help="side of the generated JPEGs in pixels (default 320)")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per model call (default 32)")
    parser.add_argument("--rows-per-part", type=int, default=64, help="pairs per staged part (default 64)")
    parser.add_argument(
        "--mode", choices=["threshold", "fraction"], default="fraction",
        help="assay's decision: fraction adds the global rank passes (default)",
    )
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the warm-up model load")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per side; the best counts (default 2)")
    args = parser.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU on this machine; run with --device cpu")
    console = Console()
    images, captions = make_images(args.images, args.size)
    decision = {"threshold": 0.0} if args.mode == "threshold" else {"keep_fraction": 0.3}
    op = ClipScore(
        model=args.model,
        checkpoint=args.checkpoint,
        random_init=args.checkpoint is None,
        batch_size=args.batch_size,
        device=args.device,
        **decision,
    )
    bare_s, assay_s = [], []
    with tempfile.TemporaryDirectory(prefix="assay-clip-bench-") as tmp:
        parts = stage_parts(images, captions, Path(tmp), args.rows_per_part)
        if args.warmup:
            with console.status("warming up (first model load reads the weights from disk)"):
                bare_loop(args.model, args.checkpoint, args.device, images[: args.batch_size], captions, args.batch_size)
        for r in range(args.repeats):
            with console.status(f"run {r + 1}/{args.repeats}: bare open_clip loop"):
                bare_s.append(bare_loop(args.model, args.checkpoint, args.device, images, captions, args.batch_size))
            console.print(f"run {r + 1}: bare open_clip loop {bare_s[-1]:.2f}s ({args.images / bare_s[-1]:.1f} images/s)")
            with console.status(f"run {r + 1}/{args.repeats}: assay clip_score"):
                assay_s.append(assay_stage(op, parts, Path(tmp) / f"work-{r}"))
            console.print(f"run {r + 1}: assay clip_score    {assay_s[-1]:.2f}s ({args.images / assay_s[-1]:.1f} images/s)")
    bare, assay = min(bare_s), min(assay_s)
    overhead = assay / bare - 1
    table = Table(title=f"{args.model} CLIP scoring, {args.images} images of {args.size}px, {args.device}, batch {args.batch_size}")
    for col in ("", "seconds (best)", "all runs", "images/s"):
        table.add_column(col, justify="right")
    table.add_row("bare open_clip loop", f"{bare:.2f}", ", ".join(f"{s:.2f}" for s in bare_s), f"{args.images / bare:.1f}")
    table.add_row(f"assay clip_score ({args.mode})", f"{assay:.2f}", ", ".join(f"{s:.2f}" for s in assay_s), f"{args.images / assay:.1f}")
    console.print(table)
    verdict = "[green]within[/green]" if overhead < 0.10 else "[red]over[/red]"
    console.print(f"assay overhead: {overhead * 100:+.1f}% ({verdict} the 10% target); torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
