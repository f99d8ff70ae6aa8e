"""Throughput and memory of the demo recipe, per stage.

Generates a synthetic corpus (default 100,000 documents), runs the packaged
demo recipe on it with Ray, and prints for each stage: wall seconds,
documents/s, MB/s (of input text), the peak RSS of the largest single process
(what a worker needs) and the peak RSS of all processes together.

    python benchmarks/pipeline_throughput.py --docs 100000
    python benchmarks/pipeline_throughput.py --docs 20000 --local   # without Ray
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil


class MemorySampler:
    """Samples the RSS of this process and all its descendants (Ray's raylet and workers)."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.stage = "setup"
        self.peaks: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            rss = []
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    rss.append(proc.memory_info().rss)
            single, total = self.peaks.get(self.stage, (0, 0))
            self.peaks[self.stage] = (max(single, max(rss, default=0)), max(total, sum(rss)))
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def progress(self, desc: str, done: int, total: int, records: int | None = None) -> None:
        # Stage names as the pipeline times them ("exact_dedup: hash" is part of "exact_dedup").
        self.stage = desc.split(":")[0] if not desc.startswith("merge") else desc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the generated corpus")
    parser.add_argument("--local", action="store_true", help="run in-process instead of on Ray")
    parser.add_argument("--concurrency", type=int, default=None, help="workers per stage (default: all CPUs)")
    parser.add_argument("--rows-per-part", type=int, default=10_000, help="records per staged part")
    parser.add_argument("--work", default=None, help="folder for the corpus and output (default: a temp folder)")
    args = parser.parse_args()

    from operators.execution.executor import make_executor
    from operators.sample_corpus import write_jsonl
    from pipelines.recipe import load

    work = Path(args.work or tempfile.mkdtemp(prefix="assay-bench-"))
    corpus = work / f"corpus-{args.docs}.jsonl.gz"
    if not corpus.exists():
        t0 = time.monotonic()
        write_jsonl(corpus, args.docs, seed=1)
        print(f"generated {args.docs:,} documents in {time.monotonic() - t0:.1f}s -> {corpus}")
    import json

    with gzip.open(corpus, "rt") as f:
        text_bytes = sum(len(json.loads(line)["text"].encode()) for line in f)
    loaded = load(
        "demo",
        overrides={
            "sources": [{"path": str(corpus)}],
            "output": str(work / "out"),
            "rows_per_part": args.rows_per_part,
        },
    )
    pipeline = loaded.pipeline()
    with MemorySampler() as sampler:
        executor = make_executor(local=args.local, concurrency=args.concurrency, progress=sampler.progress)
        result = pipeline.run(executor)

    mb = text_bytes / 1e6
    print(f"\nassay demo recipe on {result.read:,} documents ({mb:.1f} MB of text), "
          f"{os.cpu_count()} CPUs, {'in-process' if args.local else 'Ray'}")
    print(f"kept {result.kept:,}  dropped {result.dropped:,}  quarantined {result.quarantined:,}  "
          f"tokens {result.tokens:,}  shards {len(result.shards)}")
    header = f"{'stage':<28}{'seconds':>9}{'docs/s':>11}{'MB/s':>9}{'peak RSS 1 proc':>17}{'peak RSS all':>14}"
    print(header)
    print("-" * len(header))
    for stage, seconds in result.stage_seconds.items():
        single, total = sampler.peaks.get(stage.split(":")[0], (0, 0))
        rate = result.read / seconds if seconds else float("inf")
        print(f"{stage:<28}{seconds:>9.1f}{rate:>11,.0f}{mb / seconds if seconds else 0:>9.2f}"
              f"{single / 2**20:>14,.0f} MB{total / 2**20:>11,.0f} MB")
    print(f"{'total (wall)':<28}{result.wall_seconds:>9.1f}{result.read / result.wall_seconds:>11,.0f}"
          f"{mb / result.wall_seconds:>9.2f}")


if __name__ == "__main__":
    main()
