"""Fuzzy dedup at scale: peak memory and throughput of ``fuzzy_dedup`` at a million documents.

``benchmarks/dedup.py`` measures accuracy against datasketch and DataTrove on real
prose; this script answers the other question a user asks before pointing assay at
a crawl: how much memory does it need at 1M documents, and does that grow with the
corpus? The documents are synthetic (words drawn from a Zipf distribution over the
Python documentation's vocabulary, ~1 KB each; no two originals are near-duplicates),
and a share of them are copies of an earlier document with one to three words
substituted (Jaccard on word 5-grams about 0.8-0.95), so recall can be checked too.

The run is fuzzy dedup's global stage over Parquet parts, exactly as a recipe stage
runs it, on Ray with ``--workers`` CPUs (or in-process), in a subprocess whose peak
memory (RSS of the whole process tree, Ray's raylet and workers included) is sampled.
With ``--datasketch N`` the same is measured for datasketch's in-memory ``MinHashLSH``
on the first N documents, whose memory grows with the corpus.

Usage::

    python benchmarks/dedup_scale.py --docs 1000000          # ~1 GB of text; ~15 min on 2 cores
    python benchmarks/dedup_scale.py --docs 100000 --datasketch 100000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dedup import CACHE, NGRAM, NUM_PERM, THRESHOLD, measure, source_files  # noqa: E402

from operators.core.schema import record_id  # noqa: E402

WORDS_PER_DOC = 150


def vocabulary(limit: int = 30_000) -> list[str]:
    """Distinct lower-case words of the Python docs, most frequent first."""
    counts: dict[str, int] = {}
    for path in source_files()[:400]:
        with open(path, encoding="utf-8", errors="replace") as f:
            for w in re.findall(r"[a-z]{2,}", f.read().lower()):
                counts[w] = counts.get(w, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))[:limit]


def generate(n_docs: int, rows_per_part: int, dup_rate: float, seed: int, out: Path) -> dict:
    """Parquet parts of ``n_docs`` documents; ``truth.npy`` maps each copy's index to its original's."""
    from operators.core.io import write_parquet_atomic
    from operators.core.schema import records_table

    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(), dtype=object)
    p = 1.0 / (np.arange(len(vocab)) + 2.7)
    p /= p.sum()
    words = np.empty((n_docs, WORDS_PER_DOC), dtype=np.int32)  # every document's words (600 MB at 1M docs)
    truth = np.full(n_docs, -1, dtype=np.int64)
    parts, size = [], 0
    for start in range(0, n_docs, rows_per_part):
        n = min(rows_per_part, n_docs - start)
        block = rng.choice(len(vocab), size=(n, WORDS_PER_DOC), p=p).astype(np.int32)
        if start:  # copies of earlier documents, 1-3 words substituted
            copies = np.flatnonzero(rng.random(n) < dup_rate)
            originals = rng.integers(0, start, len(copies))
            block[copies] = words[originals]
            for k in range(1, 4):
                sel = copies[rng.integers(1, 4, len(copies)) >= k]
                block[sel, rng.integers(0, WORDS_PER_DOC, len(sel))] = rng.integers(0, len(vocab), len(sel))
            truth[start + copies] = originals
        words[start : start + n] = block
        texts = [" ".join(vocab[row]) for row in block]
        size += sum(map(len, texts))
        path = str(out / "parts" / f"part-{len(parts):05d}.parquet")
        write_parquet_atomic(records_table(texts, "scale", start=start), path)
        parts.append(path)
        print(f"  generated {start + n:,}/{n_docs:,} documents", file=sys.stderr, flush=True)
    np.save(out / "truth.npy", truth)
    return {"docs": n_docs, "mb": size / 1e6, "parts": parts, "copies": int((truth >= 0).sum())}


def run_assay(data: Path, out: Path, workers: int, ray_mode: bool) -> dict:
    from operators.core.global_stage import StageContext
    from operators.core.io import read_parquet, remove
    from operators.dedup.fuzzy import FuzzyDedup
    from operators.execution.executor import LocalExecutor, RayExecutor
    from pipelines.run.stages import run_global_stage

    parts = sorted(str(p) for p in (data / "parts").glob("part-*.parquet"))
    t0 = time.monotonic()
    if ray_mode:
        import ray

        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
        executor = RayExecutor(concurrency=workers)
    else:
        executor = LocalExecutor()
    setup = time.monotonic() - t0
    op = FuzzyDedup(num_perm=NUM_PERM, threshold=THRESHOLD, ngram=NGRAM)
    t0 = time.monotonic()
    work = str(out / "_work" / "stage-00-fuzzy_dedup")
    remove(work)  # a fresh stage: its steps' checkpoints would answer a second run without work
    patches = run_global_stage(op, StageContext(parts, work, output=str(out)), executor)
    seconds = time.monotonic() - t0
    cluster = {}
    for paths in patches.values():
        for path in paths:
            t = read_parquet(path, columns=["id", "dup_cluster"])
            cluster.update(zip(t.column("id").to_pylist(), t.column("dup_cluster").to_pylist(), strict=True))
    return {"seconds": seconds, "setup_seconds": setup, "cluster": cluster, "stats": op.stats,
            "bands": op.config.banding()}


def run_datasketch(data: Path, n: int) -> dict:
    import pyarrow.parquet as pq
    import xxhash
    from datasketch import MinHash, MinHashLSH
    from dedup import UnionFind, word_shingles

    from operators.dedup.fuzzy import FuzzyDedupConfig

    t0 = time.monotonic()
    lsh = MinHashLSH(num_perm=NUM_PERM, params=FuzzyDedupConfig(threshold=THRESHOLD, num_perm=NUM_PERM).banding())
    clusters = UnionFind()
    done = 0
    for path in sorted((data / "parts").glob("part-*.parquet")):
        texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()[: n - done]
        sigs = MinHash.bulk([[s.encode() for s in word_shingles(t)] for t in texts], num_perm=NUM_PERM,
                            hashfunc=xxhash.xxh32_intdigest)
        for i, m in enumerate(sigs, start=done):
            clusters.add(i)
            for other in lsh.query(m):
                clusters.union(i, other)
            lsh.insert(i, m)
        done += len(texts)
        if done >= n:
            break
    seconds = time.monotonic() - t0
    roots = {i: clusters.find(i) for i in clusters.parent}
    sizes: dict[int, int] = {}
    for r in roots.values():
        sizes[r] = sizes.get(r, 0) + 1
    return {"seconds": seconds, "cluster": {i: r for i, r in roots.items() if sizes[r] > 1}, "docs": done}


def recall(cluster: dict, truth: np.ndarray, limit: int | None = None) -> tuple[float, int]:
    """Share of planted copies in their original's cluster; clusters holding unrelated originals."""
    copies = np.flatnonzero(truth[:limit] >= 0)
    found = sum(1 for c in copies if c in cluster and cluster[c] == cluster.get(int(truth[c])))
    roots = np.arange(len(truth[:limit]))
    for c in copies:  # follow copy -> original chains to the root original
        roots[c] = roots[truth[c]]
    per_cluster: dict = {}
    for i, c in cluster.items():
        per_cluster.setdefault(c, set()).add(int(roots[i]))
    return (found / len(copies) if len(copies) else 1.0), sum(len(r) > 1 for r in per_cluster.values())


def child(argv: list[str]) -> None:
    system, data, out, arg = argv[0], Path(argv[1]), Path(argv[2]), int(argv[3])
    out.mkdir(parents=True, exist_ok=True)
    if system == "datasketch":
        result = run_datasketch(data, arg)
    else:
        result = run_assay(data, out, arg, ray_mode=system == "assay-ray")
    (out / "result.json").write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--rows-per-part", type=int, default=50_000, help="documents per Parquet part (a recipe's rows_per_part)")
    parser.add_argument("--dup-rate", type=float, default=0.1, help="share of documents that are edited copies")
    parser.add_argument("--workers", type=int, default=2, help="Ray CPUs")
    parser.add_argument("--local", action="store_true", help="run in-process instead of on Ray")
    parser.add_argument("--datasketch", type=int, default=0, metavar="N",
                        help="also measure datasketch's in-memory MinHashLSH on the first N documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=CACHE / "bench-dedup-scale")
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    data = args.work / "data"
    t0 = time.monotonic()
    info = generate(args.docs, args.rows_per_part, args.dup_rate, args.seed, data)
    truth = np.load(data / "truth.npy")
    print(f"data: {info['docs']:,} documents ({info['copies']:,} edited copies), {info['mb']:,.0f} MB in "
          f"{len(info['parts'])} parts, generated in {time.monotonic() - t0:.0f}s; cores: {os.cpu_count()}")
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    system = "assay-local" if args.local else "assay-ray"
    runs = [(system, args.workers, args.docs)]
    if args.datasketch:
        runs.append(("datasketch", args.datasketch, min(args.datasketch, args.docs)))
    print(f"\n{'system':<12}{'docs':>11}{'docs/s':>9}{'MB/s':>7}{'peak MB':>9}{'MB/1k docs':>11}{'recall':>8}"
          f"{'merged':>8}{'seconds':>9}")
    for name, arg, n in runs:
        out = args.work / name
        print(f"running {name} on {n:,} documents ...", file=sys.stderr, flush=True)
        r = measure([*me, name, str(data), str(out), str(arg)], out / "result.json")
        if name == "datasketch":
            cluster = {int(k): v for k, v in r["cluster"].items()}
        else:  # record ids -> document numbers (here, not in the measured process)
            index = {record_id("scale", str(i)): i for i in range(n)}
            cluster = {index[k]: v for k, v in r["cluster"].items()}
        rec, merged = recall(cluster, truth, n)
        mb = info["mb"] * n / info["docs"]
        print(f"{name:<12}{n:>11,}{n / r['seconds']:>9,.0f}{mb / r['seconds']:>7.2f}{r['peak_mb']:>9,.0f}"
              f"{r['peak_mb'] / n * 1000:>11.2f}{rec:>8.3f}{merged:>8}{r['seconds']:>9.0f}")
        if name.startswith("assay"):
            print(f"  bands x rows {r['bands']}; {r['stats']}; Ray start {r['setup_seconds']:.1f}s (not counted)")
    print("merged: predicted clusters that join two unrelated originals (false merges)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
