"""Tokens/s of the training feed next to a plain NumPy memmap reader of the same tokens.

Writes a synthetic token corpus twice: as assay shards (Arrow IPC streams
with manifests, as the pipeline writes them) and as a Megatron-style flat
``.bin`` of int32 tokens with a ``.idx`` of document offsets. Both readers
then produce the same batches: ``batch_size`` random, non-overlapping windows
of ``seq_len + 1`` tokens as int64 ``input_ids``/``labels`` tensors, from a
warm page cache, in this process (no workers: the reading itself is
measured). Rounds alternate between the readers and the median round counts.

    python benchmarks/loader.py                          # 64M tokens, seq_len 2048, batch 16
    python benchmarks/loader.py --tokens 16000000 --rounds 3

The target: the loader reaches at least 80% of the memmap baseline.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from operators.core.io import cache_dir  # noqa: E402
from operators.formats.shards import SHARD_SCHEMA, write_shard  # noqa: E402
from pipelines.training import PackedDataset, ResumableLoader  # noqa: E402

VOCAB = 49152
TOKENIZER = {
    "name": "synthetic",
    "sha256": "0" * 64,
    "vocab_size": VOCAB,
    "eos_token": "<eos>",
    "eos_id": 2,
    "path": "",
}


def make_corpus(folder: Path, tokens: int, shards: int, seed: int = 0) -> tuple[Path, Path]:
    """The same documents as shards and as a flat .bin + .idx (written once, then reused)."""
    shard_dir, flat = folder / "shards", folder / "flat.bin"
    if (folder / "done").exists():
        return shard_dir, flat
    shard_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_shard = tokens // shards
    doc_offsets = [0]
    with open(flat, "wb") as bin_file:
        for s in range(shards):
            lengths = np.clip(rng.lognormal(6.0, 1.0, per_shard // 300 + 10).astype(np.int64), 8, 32768)
            lengths = lengths[: np.searchsorted(np.cumsum(lengths), per_shard) + 1]
            values = rng.integers(3, VOCAB, int(lengths.sum()), dtype=np.int32)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            values[offsets[1:] - 1] = TOKENIZER["eos_id"]  # each document ends in EOS
            n = len(lengths)
            table = pa.table(
                {
                    "id": pa.array([f"{s}-{i}" for i in range(n)]),
                    "source": pa.array(["synthetic"] * n),
                    "text": pa.array([""] * n),
                    "input_ids": pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values)),
                    "num_tokens": pa.array(lengths.astype(np.int32)),
                    "token_start": pa.array(offsets[:-1]),
                },
                schema=SHARD_SCHEMA,
            )
            write_shard(table, str(shard_dir / f"shard-{s:05d}.arrow"), {"tokenizer": TOKENIZER})
            bin_file.write(values.tobytes())
            doc_offsets.extend((doc_offsets[-1] + offsets[1:]).tolist())
    np.save(folder / "flat.idx.npy", np.asarray(doc_offsets, dtype=np.int64))
    (folder / "done").write_text("ok")
    return shard_dir, flat


class MemmapReader:
    """Megatron-style: a flat token file memory-mapped with NumPy, random windows of seq_len + 1."""

    def __init__(self, path: Path, seq_len: int, batch_size: int, seed: int = 0):
        self.tokens = np.memmap(path, dtype=np.int32, mode="r")
        self.window, self.batch_size = seq_len + 1, batch_size
        self.order = np.random.default_rng(seed).permutation(len(self.tokens) // self.window)
        self.next = 0  # batches served

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        batch = self.batch(self.next)
        self.next += 1
        return batch

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        first = (i * self.batch_size) % (len(self.order) - self.batch_size + 1)
        ids = self.order[first : first + self.batch_size]
        out = np.empty((self.batch_size, self.window), dtype=np.int64)
        for r, w in enumerate(ids.tolist()):
            out[r] = self.tokens[w * self.window : (w + 1) * self.window]
        t = torch.from_numpy(out)
        return {"input_ids": t[:, :-1], "labels": t[:, 1:]}


class MemmapDataset(torch.utils.data.IterableDataset):
    """The baseline behind a DataLoader with workers: each worker takes every K-th batch."""

    def __init__(self, path: Path, seq_len: int, batch_size: int):
        self.args = (path, seq_len, batch_size)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        workers, me = (info.num_workers, info.id) if info else (1, 0)
        reader = MemmapReader(*self.args)
        for i in itertools.count(me, workers):
            yield reader.batch(i)


def endless(make):
    while True:
        yield from make()


def rate(batches, seconds: float, tokens_per_batch: int) -> tuple[float, float]:
    """Tokens per wall second and per CPU second (of this process) of pulling batches for ``seconds``.

    On a shared machine the wall figure moves with the neighbours' load; the
    CPU figure counts the work this process did, which is what the readers
    differ in when they run in this process.
    """
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        next(batches)
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n * tokens_per_batch / elapsed, n * tokens_per_batch / max(time.process_time() - c0, 1e-9)


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=64_000_000, help="tokens in the synthetic corpus")
    p.add_argument("--shards", type=int, default=16, help="shards to split it into")
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per reader (median reported)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers for the second comparison")
    p.add_argument("--seconds", type=float, default=2.0, help="length of one round")
    p.add_argument("--work", default=None, help="where the corpus is written (default: $ASSAY_CACHE/bench-loader)")
    args = p.parse_args()

    folder = Path(args.work or cache_dir() / "bench-loader") / f"t{args.tokens}-s{args.shards}"
    t0 = time.perf_counter()
    shard_dir, flat = make_corpus(folder, args.tokens, args.shards)
    print(
        f"corpus: {args.tokens:,} tokens in {args.shards} shards + {flat.name} ({time.perf_counter() - t0:.1f}s) at {folder}"
    )
    for path in [*shard_dir.glob("*.arrow"), flat]:
        warm(path)

    tokens_per_batch = args.batch_size * (args.seq_len + 1)

    def loader(**kw):
        ds = PackedDataset(
            shard_dir, args.seq_len, args.batch_size, seed=0, expect_tokenizer={"vocab_size": VOCAB}, **kw
        )
        return endless(lambda: iter(ds))

    readers = {
        "memmap baseline": endless(lambda: MemmapReader(flat, args.seq_len, args.batch_size)),
        "assay loader": loader(),
        "assay loader +boundaries": loader(boundaries=True),
    }
    results: dict[str, list[float]] = {name: [] for name in readers}
    for batches in readers.values():
        next(batches)  # open maps, build the first permutations
    for _ in range(args.rounds):
        for name, batches in readers.items():
            results[name].append(rate(batches, args.seconds, tokens_per_batch))

    # As a training job uses them: behind a DataLoader with workers (batches cross a process boundary).
    pin = torch.cuda.is_available()
    opts = {"num_workers": args.workers, "pin_memory": pin, "persistent_workers": True, "prefetch_factor": 4}
    ds = PackedDataset(shard_dir, args.seq_len, args.batch_size, seed=0)
    dl = ResumableLoader(ds, **opts)
    base_dl = torch.utils.data.DataLoader(MemmapDataset(flat, args.seq_len, args.batch_size), batch_size=None, **opts)
    in_workers = {
        f"memmap baseline, {args.workers} workers": endless(lambda: iter(base_dl)),
        f"assay loader, {args.workers} workers": endless(lambda: iter(dl)),
    }
    worker_results: dict[str, list[float]] = {name: [] for name in in_workers}
    for batches in in_workers.values():
        next(batches)
    for _ in range(max(1, args.rounds // 2)):
        for name, batches in in_workers.items():
            worker_results[name].append(rate(batches, args.seconds, tokens_per_batch))

    print(
        f"seq_len {args.seq_len}, batch {args.batch_size}, {args.rounds} rounds of {args.seconds:.0f}s, {os.cpu_count()} CPUs"
    )
    print("in this process (median of rounds; per CPU-second is robust to other load on the machine):")
    print(
        f"  {'reader':28s} {'Mtok/CPU-s':>11s} {'vs base':>8s} {'Mtok/s wall':>12s} {'min':>7s} {'max':>7s} {'vs base':>8s}"
    )
    cpu_base = statistics.median(r[1] for r in results["memmap baseline"])
    wall_base = statistics.median(r[0] for r in results["memmap baseline"])
    for name, rates in results.items():
        wall, cpu = [r[0] for r in rates], [r[1] for r in rates]
        print(
            f"  {name:28s} {statistics.median(cpu) / 1e6:11.1f} {statistics.median(cpu) / cpu_base:8.0%} "
            f"{statistics.median(wall) / 1e6:12.1f} {min(wall) / 1e6:7.1f} {max(wall) / 1e6:7.1f} "
            f"{statistics.median(wall) / wall_base:8.0%}"
        )
    print(f"behind a DataLoader with {args.workers} workers (wall clock, median of rounds):")
    worker_base = statistics.median(r[0] for r in worker_results[f"memmap baseline, {args.workers} workers"])
    for name, rates in worker_results.items():
        wall = statistics.median(r[0] for r in rates)
        print(f"  {name:28s} {wall / 1e6:12.1f} Mtok/s {wall / worker_base:8.0%}")
    cpu_ratio = statistics.median(r[1] for r in results["assay loader"]) / cpu_base
    wall_ratio = statistics.median(r[0] for r in results["assay loader"]) / wall_base
    verdict = "met" if min(cpu_ratio, wall_ratio) >= 0.8 else "NOT met"
    print(
        f"target: assay loader >= 80% of the memmap baseline: {verdict} (per CPU-second {cpu_ratio:.0%}, wall {wall_ratio:.0%})"
    )


if __name__ == "__main__":
    main()
