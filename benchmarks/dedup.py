"""Near-duplicate benchmark: assay's fuzzy_dedup vs datasketch's MinHashLSH vs DataTrove's MinHash pipeline.

The data is real English prose: the reStructuredText sources of the Python documentation
(Debian's ``python3-doc``, ``/usr/share/doc/python3.*/html/_sources``), cut into documents.
Originals that already resemble each other (Jaccard >= 0.5 on word 5-grams, found with an
LSH at 0.5 and checked exactly) are left out, so the only near-duplicates are the ones we
make: copies of an original with controlled edits -- words inserted, deleted, substituted,
a span of words moved (reordering) at a per-word rate drawn from ``--edit-rate``, and a
boilerplate footer added with probability 0.3. An original and its copies are one
ground-truth cluster.

Every system gets the same documents and the same MinHash settings (word 5-grams,
``num_perm`` 128, threshold 0.8 -> assay's default banding, 14 bands x 9 rows: datasketch's
optimum with false-positive/negative weights 0.1/0.9, since assay verifies candidates; or
``--bands B R``, e.g. ``--bands 9 13`` for the balanced optimum) and runs in its own
subprocess, whose peak memory (RSS of the process tree, sampled) is measured:

* ``assay``: fuzzy dedup's global stage (its steps run by ``pipelines.run.stages``) on Ray with ``--workers`` CPUs (and in-process, one core);
* ``datasketch``: ``MinHash.bulk`` (xxhash) + in-memory ``MinHashLSH`` + union-find, one core;
* ``datatrove``: its four MinHash stages with ``LocalPipelineExecutor`` (``--workers`` workers),
  installed by this script into ``~/.cache/assay/bench-venvs/datatrove`` (never the project venv).

Printed: documents/s, MB/s, peak memory, pair precision/recall/F1 and cluster-level scores.

Usage::

    python benchmarks/dedup.py --originals 3000            # ~10k documents, ~35 MB
    python benchmarks/dedup.py --originals 500 --skip-datatrove
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ASSAY_CACHE", Path.home() / ".cache" / "assay"))
VENVS = CACHE / "bench-venvs"
NUM_PERM, THRESHOLD, NGRAM = 128, 0.8, 5

FOOTERS = [
    "Copyright 2001-2024 Python Software Foundation. All rights reserved.",
    "This page is licensed under the Python Software Foundation License Version 2.",
    "Found a bug? Report it on the issue tracker. Last updated on Oct 07, 2025.",
    "Navigation: index modules next previous Python documentation home.",
    "Was this page helpful? Give feedback. Edit this page on GitHub.",
]


# ---------------------------------------------------------------- data


def source_files() -> list[str]:
    files = sorted(glob.glob("/usr/share/doc/python3*/html/_sources/**/*.txt", recursive=True))
    if files:
        return files
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("python3-doc is not installed; installing it (apt-get install -y python3-doc) ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "python3-doc"], check=False, capture_output=True)
        files = sorted(glob.glob("/usr/share/doc/python3*/html/_sources/**/*.txt", recursive=True))
    if not files:
        sys.exit(
            "benchmarks/dedup.py needs real prose: install Debian's python3-doc "
            "(sudo apt-get install python3-doc), which puts the Python docs' sources under "
            "/usr/share/doc/python3.*/html/_sources"
        )
    return files


_WORD = re.compile(r"\w+", re.UNICODE)


def word_shingles(text: str, n: int = NGRAM) -> set[str]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def originals(files: list[str], count: int, rng: random.Random) -> list[str]:
    """Documents of 150-900 words from the rst sources, none near another (exact Jaccard < 0.5)."""
    from datasketch import MinHash, MinHashLSH

    docs = []
    for path in files:
        words = Path(path).read_text(errors="replace").split(" ")
        i = 0
        while i < len(words) - 150:
            size = rng.randint(150, 900)
            docs.append(" ".join(words[i : i + size]))
            i += size
    rng.shuffle(docs)
    lsh = MinHashLSH(threshold=0.5, num_perm=64)
    kept, shingles = [], []
    for text in docs:
        sh = word_shingles(text)
        if len(sh) < 50:
            continue
        m = MinHash(64)
        m.update_batch(s.encode() for s in sh)
        if any(jaccard(sh, shingles[j]) >= 0.5 for j in lsh.query(m)):
            continue
        lsh.insert(len(kept), m)
        kept.append(text)
        shingles.append(sh)
        if len(kept) == count:
            break
    return kept


def edit(text: str, rate: float, vocab: list[str], rng: random.Random) -> str:
    """Insert, delete, substitute words and move one span, at ``rate`` edits per word; maybe a footer."""
    words = text.split(" ")
    for _ in range(max(1, round(rate * len(words)))):
        op = rng.random()
        i = rng.randrange(len(words))
        if op < 0.3:
            words.insert(i, rng.choice(vocab))
        elif op < 0.6 and len(words) > 10:
            del words[i]
        elif op < 0.9:
            words[i] = rng.choice(vocab)
        else:  # reorder: move a span of 3-12 words elsewhere
            n = rng.randint(3, 12)
            span, rest = words[i : i + n], words[:i] + words[i + n :]
            j = rng.randrange(len(rest) + 1)
            words = rest[:j] + span + rest[j:]
    out = " ".join(words)
    if rng.random() < 0.3:
        out += "\n\n" + "\n".join(rng.sample(FOOTERS, 2))
    return out


def build(n_originals: int, max_copies: int, rate: tuple[float, float], seed: int, out: Path) -> dict:
    rng = random.Random(seed)
    base = originals(source_files(), n_originals, rng)
    vocab = sorted({w for t in base[:200] for w in t.split() if w.isalpha()})
    docs, truth = [], {}
    for k, text in enumerate(base):
        family = [text] + [edit(text, rng.uniform(*rate), vocab, rng) for _ in range(rng.randint(0, max_copies))]
        for j, t in enumerate(family):
            doc_id = f"d{k:06d}-{j}"
            docs.append({"id": doc_id, "text": t})
            truth[doc_id] = k
    rng.shuffle(docs)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "docs.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    (out / "truth.json").write_text(json.dumps(truth))
    # The same documents as 4 files: DataTrove gives each task whole files.
    (out / "split").mkdir(exist_ok=True)
    for i in range(4):
        with open(out / "split" / f"part-{i}.jsonl", "w") as f:
            for d in docs[i::4]:
                f.write(json.dumps(d) + "\n")
    # How near the copies really are (exact Jaccard of word 5-grams to their original).
    by_family: dict[int, list[str]] = {}
    for d in docs:
        by_family.setdefault(truth[d["id"]], []).append(d["text"])
    sims = []
    for k, texts in by_family.items():
        orig = word_shingles(base[k])
        sims += [jaccard(orig, word_shingles(t)) for t in texts if t != base[k]]
    sims.sort()
    return {
        "docs": len(docs),
        "originals": len(base),
        "copies": len(sims),
        "mb": sum(len(d["text"].encode()) for d in docs) / 1e6,
        "jaccard_quartiles": [round(sims[int(q * (len(sims) - 1))], 3) for q in (0, 0.25, 0.5, 0.75, 1)] if sims else [],
        "below_threshold": sum(s < THRESHOLD for s in sims),
    }


# ---------------------------------------------------------------- scoring


def score(pred: dict[str, str], truth: dict[str, int]) -> dict:
    """Pair precision/recall/F1 over same-cluster pairs; cluster exact-match rates."""
    from collections import defaultdict

    def clusters(labels):
        groups = defaultdict(set)
        for doc, label in labels.items():
            groups[label].add(doc)
        return [frozenset(g) for g in groups.values() if len(g) > 1]

    def pairs(groups):
        return {(a, b) for g in groups for a in g for b in g if a < b}

    labels = {doc: pred.get(doc, f"single:{doc}") for doc in truth}
    true_c, pred_c = clusters(truth), clusters(labels)
    tp_pairs, pp = pairs(true_c), pairs(pred_c)
    tp = len(tp_pairs & pp)
    precision = tp / len(pp) if pp else 1.0
    recall = tp / len(tp_pairs) if tp_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = set(true_c) & set(pred_c)
    return {
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": f1,
        "clusters_true": len(true_c),
        "clusters_found": len(pred_c),
        "cluster_recall": len(exact) / len(true_c) if true_c else 1.0,
        "cluster_precision": len(exact) / len(pred_c) if pred_c else 1.0,
    }


# ---------------------------------------------------------------- systems (each in its own process)


def run_assay(data: Path, out: Path, workers: int, ray_mode: bool, bands: int, rows: int) -> dict:
    import pyarrow as pa
    import scipy.sparse.csgraph  # noqa: F401 - imported before the clock starts, as the baseline's datasketch is
    from datasketch import MinHash  # noqa: F401

    sys.path.insert(0, str(ROOT))
    from operators.core.global_stage import StageContext
    from operators.core.io import read_parquet, remove, write_parquet_atomic
    from operators.core.schema import BASE_SCHEMA
    from operators.dedup.fuzzy import FuzzyDedup
    from operators.execution.executor import LocalExecutor, RayExecutor
    from pipelines.run.stages import run_global_stage

    with open(data / "docs.jsonl") as f:
        docs = [json.loads(line) for line in f]
    n = len(docs)
    per_part = max(1, -(-n // (4 * workers)))
    parts = []
    for i in range(0, n, per_part):
        chunk = docs[i : i + per_part]
        m = len(chunk)
        table = pa.table(
            {
                "id": [d["id"] for d in chunk], "text": [d["text"] for d in chunk], "source": ["bench"] * m,
                "locator": [d["id"] for d in chunk], "raw_hash": [None] * m, "content_hash": [None] * m,
                "meta": [None] * m, "keep": [True] * m, "drop_reason": [None] * m,
                "dropped_at": pa.nulls(m, pa.int16()), "quarantined": [False] * m,
            },
            schema=BASE_SCHEMA,
        )
        path = str(out / "parts" / f"part-{len(parts):05d}.parquet")
        write_parquet_atomic(table, path)
        parts.append(path)
    stages: dict[str, list[float]] = {}

    def progress(desc, done, total, records=None):
        t = time.monotonic()
        stages.setdefault(desc.split(" (")[0].split(": ")[-1], [t, t])[1] = t

    t_init = time.monotonic()
    if ray_mode:
        import ray

        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
        executor = RayExecutor(concurrency=workers, progress=progress)
    else:
        executor = LocalExecutor(progress=progress)
    init = time.monotonic() - t_init
    op = FuzzyDedup(num_perm=NUM_PERM, threshold=THRESHOLD, ngram=NGRAM, num_partitions=4 * workers)
    if op.config.banding() != (bands, rows):  # --bands overrides assay's default
        op = FuzzyDedup(num_perm=NUM_PERM, threshold=THRESHOLD, ngram=NGRAM, num_partitions=4 * workers, bands=bands,
                        rows=rows)
    t0 = time.monotonic()
    work = str(out / "_work" / "r" / "stage-00-fuzzy_dedup")
    remove(work)  # a fresh stage: its steps' checkpoints would answer a second run without work
    patches = run_global_stage(op, StageContext(parts, work, output=str(out)), executor)
    seconds = time.monotonic() - t0
    pred = {}
    for paths in patches.values():
        for p in paths:
            t = read_parquet(p)
            pred.update(zip(t.column("id").to_pylist(), t.column("dup_cluster").to_pylist(), strict=True))
    breakdown = {k: round(v[1] - v[0], 2) for k, v in stages.items()}
    return {"seconds": seconds, "setup_seconds": init, "pred": pred, "stages": breakdown, "stats": op.stats}


class UnionFind:
    """Clusters of the pairs datasketch's LSH returns; each cluster is named by its smallest member."""

    def __init__(self):
        self.parent: dict = {}

    def add(self, x) -> None:
        self.parent.setdefault(x, x)

    def find(self, x):
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def run_datasketch(data: Path, bands: int, rows: int) -> dict:
    import xxhash
    from datasketch import MinHash, MinHashLSH

    with open(data / "docs.jsonl") as f:
        docs = [json.loads(line) for line in f]
    t0 = time.monotonic()
    sets = [[s.encode() for s in word_shingles(d["text"])] for d in docs]
    sigs = MinHash.bulk(sets, num_perm=NUM_PERM, hashfunc=xxhash.xxh32_intdigest)
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(bands, rows))
    for d, m in zip(docs, sigs, strict=True):
        lsh.insert(d["id"], m)
    clusters = UnionFind()
    for d in docs:
        clusters.add(d["id"])
    for d, m in zip(docs, sigs, strict=True):
        for other in lsh.query(m):
            clusters.union(d["id"], other)
    pred = {d["id"]: clusters.find(d["id"]) for d in docs}
    return {"seconds": time.monotonic() - t0, "pred": pred}


DATATROVE_RUNNER = r'''
import json, sys, time, os
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupSignature, MinhashDedupBuckets,
    MinhashDedupCluster, MinhashDedupFilter)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig
def main():
    data, out, workers, bands, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    cfg = MinhashConfig(n_grams=5, num_buckets=bands, hashes_per_bucket=rows, hash_config=HashConfig(precision=64))
    reader = lambda: JsonlReader(data, glob_pattern="*.jsonl", id_key="id")
    t0 = time.monotonic()
    s1 = LocalPipelineExecutor([reader(), MinhashDedupSignature(f"{out}/sigs", config=cfg)], tasks=workers, workers=workers,
                               logging_dir=f"{out}/logs/s1")
    s2 = LocalPipelineExecutor([MinhashDedupBuckets(f"{out}/sigs", f"{out}/buckets", config=cfg)], tasks=bands,
                               workers=workers, logging_dir=f"{out}/logs/s2", depends=s1)
    s3 = LocalPipelineExecutor([MinhashDedupCluster(f"{out}/buckets", f"{out}/remove", config=cfg, save_cluster_id=True)],
                               tasks=1, logging_dir=f"{out}/logs/s3", depends=s2)
    s4 = LocalPipelineExecutor([reader(), MinhashDedupFilter(f"{out}/remove", load_cluster_ids=True,
                                exclusion_writer=JsonlWriter(f"{out}/removed")), JsonlWriter(f"{out}/kept")],
                               tasks=workers, workers=workers, logging_dir=f"{out}/logs/s4", depends=s3)
    s4.run()
    seconds = time.monotonic() - t0
    pred = {}
    import glob, gzip
    for path in glob.glob(f"{out}/kept/*") + glob.glob(f"{out}/removed/*"):
        opener = gzip.open if path.endswith(".gz") else open
        for line in opener(path, "rt"):
            d = json.loads(line)
            c = d.get("metadata", {}).get("minhash_cluster_id", -1)
            if c != -1:
                pred[d["id"]] = f"c{c}"
    json.dump({"seconds": seconds, "pred": pred}, open(f"{out}/result.json", "w"))


if __name__ == "__main__":  # DataTrove's workers re-import this module (forkserver)
    main()
'''


#: What every DataTrove benchmark needs in its venv; a benchmark adds its own (``datatrove_python(extra=...)``).
DATATROVE_PACKAGES = ("datatrove", "orjson", "regex", "spacy", "tokenizers", "xxhash<4")
DATATROVE_IMPORTS = ("datatrove.pipeline.dedup", "spacy", "xxhash")


def datatrove_python(extra: tuple[str, ...] = (), extra_imports: tuple[str, ...] = ()) -> Path | None:
    """The Python of DataTrove's venv (``~/.cache/assay/bench-venvs/datatrove``), installed or completed first.

    Args:
        extra: more packages to install there (e.g. fastText for its language filter).
        extra_imports: modules that must import for the venv to count as ready.
    """
    venv = VENVS / "datatrove"
    python = venv / "bin" / "python"
    check = f"import {', '.join((*DATATROVE_IMPORTS, *extra_imports))}; xxhash.xxh64_intdigest('a')"
    if python.exists() and subprocess.run([python, "-c", check], capture_output=True).returncode == 0:
        return python
    print(f"installing datatrove into {venv} (separate from the project's venv) ...", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    proc = subprocess.run([python, "-m", "pip", "install", "-q", *DATATROVE_PACKAGES, *extra], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"datatrove could not be installed; skipping it:\n{proc.stderr[-1500:]}", file=sys.stderr)
        return None
    return python


# ---------------------------------------------------------------- measurement


def run_measured(cmd: list[str], **popen) -> dict:
    """Run ``cmd`` to its end; its wall seconds, the peak RSS and the CPU-seconds of its whole process tree.

    CPU-seconds are the larger of two lower bounds: the ``RUSAGE_CHILDREN`` this
    process gains (the child and every descendant reaped up the chain), and the
    sum over every process of the tree of its last sampled user+system time (Ray
    workers, which a killed raylet never reaps, count here).

    Returns:
        ``{"returncode", "stderr", "seconds", "peak_mb", "cpu_s"}``.
    """
    import resource

    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)
    peak = 0
    cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> last user+system seen
    stop = threading.Event()

    def sample():
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
            while not stop.is_set():
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error), p.oneshot():
                        total += p.memory_info().rss
                        times = p.cpu_times()
                        cpu[(p.pid, p.create_time())] = times.user + times.system
                peak = max(peak, total)
                time.sleep(0.05)
        except psutil.Error:
            pass

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    seconds = time.monotonic() - t0
    stop.set()
    thread.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"returncode": proc.returncode, "stderr": err, "seconds": seconds, "peak_mb": peak / 1e6,
            "cpu_s": max(reaped, sum(cpu.values()))}


def measure(cmd: list[str], result_file: Path, env: dict | None = None) -> dict:
    """Run ``cmd``; return the result it wrote to ``result_file`` with its peak memory and CPU-seconds."""
    run = run_measured(cmd, env=env)
    if run["returncode"] != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} failed:\n{run['stderr'][-3000:]}")
    result = json.loads(result_file.read_text())
    result["peak_mb"] = run["peak_mb"]
    result["cpu_s"] = result["cpu_seconds"] = run["cpu_s"]
    return result


def permutation_ceiling() -> float:
    """Multiply-add-min operations per second of one core on a (num_perm, shingles) block: the MinHash floor."""
    import numpy as np

    a = np.random.default_rng(0).integers(1, 2**32, NUM_PERM, dtype=np.uint64).astype(np.uint32)
    h = np.random.default_rng(1).integers(0, 2**32, 1 << 16, dtype=np.uint64).astype(np.uint32)
    seg = np.arange(0, 1 << 16, 700)
    t0 = time.perf_counter()
    for _ in range(10):
        block = np.multiply.outer(a, h)
        block += a[:, None]
        np.minimum.reduceat(block, seg, axis=1)
    return 10 * NUM_PERM * (1 << 16) / (time.perf_counter() - t0)


def child(argv: list[str]) -> None:
    system, data, out, workers, bands, rows = argv[0], Path(argv[1]), Path(argv[2]), int(argv[3]), int(argv[4]), int(argv[5])
    out.mkdir(parents=True, exist_ok=True)
    if system == "assay-ray":
        result = run_assay(data, out, workers, True, bands, rows)
    elif system == "assay-local":
        result = run_assay(data, out, workers, False, bands, rows)
    else:
        result = run_datasketch(data, bands, rows)
    (out / "result.json").write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--originals", type=int, default=3000, help="original documents (each gets 0..max-copies copies)")
    parser.add_argument("--max-copies", type=int, default=3)
    parser.add_argument("--edit-rate", type=float, nargs=2, default=(0.002, 0.008), metavar=("LO", "HI"),
                        help="per-word edit rate of a copy, drawn uniformly from [LO, HI]")
    parser.add_argument("--workers", type=int, default=2, help="CPUs for assay (Ray) and DataTrove")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--work", type=Path, default=CACHE / "bench-dedup")
    parser.add_argument("--bands", type=int, nargs=2, metavar=("B", "R"),
                        help="LSH bands and rows for every system (default: assay's default for the threshold)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from operators.dedup.fuzzy import FuzzyDedupConfig

    shutil.rmtree(args.work, ignore_errors=True)
    data = args.work / "data"
    t0 = time.monotonic()
    info = build(args.originals, args.max_copies, tuple(args.edit_rate), args.seed, data)
    bands, rows = args.bands or FuzzyDedupConfig(threshold=THRESHOLD, num_perm=NUM_PERM).banding()
    print(
        f"data: {info['docs']:,} documents ({info['originals']:,} originals + {info['copies']:,} edited copies), "
        f"{info['mb']:.1f} MB, built in {time.monotonic() - t0:.0f}s\n"
        f"copies' exact Jaccard to their original (min/q1/median/q3/max): {info['jaccard_quartiles']}; "
        f"{info['below_threshold']} below {THRESHOLD}\n"
        f"settings: word {NGRAM}-grams, num_perm {NUM_PERM}, threshold {THRESHOLD} -> {bands} bands x {rows} rows, "
        f"{args.workers} workers; cores on this machine: {os.cpu_count()}"
    )
    truth = {k: int(v) for k, v in json.loads((data / "truth.json").read_text()).items()}
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    results = {}
    for system in ("assay-ray", "assay-local", "datasketch"):
        out = args.work / system
        print(f"running {system} ...", file=sys.stderr)
        results[system] = measure([*me, system, str(data), str(out), str(args.workers), str(bands), str(rows)],
                                  out / "result.json")
    if not args.skip_datatrove:
        python = datatrove_python()
        if python:
            out = args.work / "datatrove"
            out.mkdir(parents=True, exist_ok=True)
            (out / "runner.py").write_text(DATATROVE_RUNNER)
            print("running datatrove ...", file=sys.stderr)
            try:
                results["datatrove"] = measure(
                    [str(python), str(out / "runner.py"), str(data / "split"), str(out), str(args.workers), str(bands),
                     str(rows)],
                    out / "result.json",
                )
            except RuntimeError as e:
                print(f"datatrove failed; reporting the others:\n{e}", file=sys.stderr)
    print(f"\n{'system':<14}{'docs/s':>10}{'MB/s':>8}{'peak MB':>9}{'P':>7}{'R':>7}{'F1':>7}{'clusterR':>9}{'clusterP':>9}{'seconds':>9}")
    for system, r in results.items():
        s = score(r["pred"], truth)
        r["score"] = s
        print(
            f"{system:<14}{info['docs'] / r['seconds']:>10,.0f}{info['mb'] / r['seconds']:>8.2f}{r['peak_mb']:>9,.0f}"
            f"{s['pair_precision']:>7.3f}{s['pair_recall']:>7.3f}{s['pair_f1']:>7.3f}"
            f"{s['cluster_recall']:>9.3f}{s['cluster_precision']:>9.3f}{r['seconds']:>9.1f}"
        )
    ray_ = results["assay-ray"]
    print(f"\nassay on Ray: stage seconds {ray_['stages']}; Ray start {ray_['setup_seconds']:.1f}s (not counted)")
    print(f"assay in-process: stage seconds {results['assay-local']['stages']}; {results['assay-local']['stats']}")
    if "datatrove" in results:
        print(f"assay (Ray, {args.workers} workers) / datatrove throughput: {results['datatrove']['seconds'] / ray_['seconds']:.2f}x")
    with open(data / "docs.jsonl") as f:
        shingles = sum(max(1, len(_WORD.findall(json.loads(line)["text"])) - NGRAM + 1) for line in f)
    ops = permutation_ceiling()
    per_byte = shingles * NUM_PERM / (info["mb"] * 1e6)
    print(
        f"physical limit: {shingles / info['docs']:.0f} shingles/doc, {per_byte:.1f} permuted hashes per input byte; "
        f"one core does {ops / 1e9:.2f} G multiply-add-min/s -> at most {ops / per_byte / 1e6:.1f} MB/s "
        f"({ops / (shingles / info['docs'] * NUM_PERM):,.0f} docs/s) per core for signatures"
    )
    print(
        f"memory: assay in-process peaked at {results['assay-local']['peak_mb']:,.0f} MB for {info['docs']:,} docs; "
        "each stage holds one part or one partition, so peak memory follows rows_per_part and partitions, not corpus size"
    )
    (args.work / "results.json").write_text(json.dumps({k: {**v, "pred": None} for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
