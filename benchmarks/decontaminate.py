"""Decontamination benchmark: recall of planted evaluation passages, false positives on clean text, docs/s per core.

Real text from Debian packages (installed by this script when missing):

* the **evaluation set**: ``--items`` prose paragraphs of the Python documentation (``python3-doc``),
  each split into a "question" (its first sentence) and an "answer" (the rest), written as JSONL;
* **host documents**: 200-800 words of the Linux kernel documentation (``linux-doc``) each, a
  different source, so any match in them is a false positive.

Planted documents: a host document with one evaluation item inserted at a random sentence
boundary, in one of these forms:

* ``exact``: question + answer as written;
* ``edited``: lightly edited -- case changed, punctuation dropped or changed, one word in 25
  replaced by another word (at least one per item);
* ``lines``: split across lines -- a line break every 5-9 words, indentation, a word hyphenated
  across a line break every other line (``docu-\\nmentation``);
* ``answer``: the answer alone (the part a model would be trained to produce);
* ``heavy`` (reported, no target): one word in 6 replaced.

Clean documents are host documents with nothing planted, plus ``--same-source`` Python
documentation paragraphs that are *not* evaluation items (same source and style as the
evaluation set, with its recurring phrases: the hard case for false positives). The Python docs
repeat sentences across pages, so some of those paragraphs truly share 13 words with an item:
an independent check (plain word n-gram strings in a Python set, no hashing) moves them to a
"true overlap" row, reported with its own match rate.

Printed: recall per kind, false-positive rate on each clean set, documents/s per CPU-second
(one process, one core), and the index build time.

Usage::

    python benchmarks/decontaminate.py                  # 1,000 items, 5,000 + 500 clean and 2,000 planted documents
    python benchmarks/decontaminate.py --items 300 --clean 1000
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.semdedup import apt_install, python_doc_files  # noqa: E402

CACHE = Path(os.environ.get("ASSAY_CACHE", Path.home() / ".cache" / "assay"))
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
KINDS = ("exact", "edited", "lines", "answer", "heavy")


def python_doc_paragraphs() -> list[str]:
    paragraphs = [p for f in python_doc_files() for p in f if len(_SENT.split(p)) >= 2]
    return list(dict.fromkeys(paragraphs))


def reference_grams(text: str, n: int = 13) -> set[str]:
    """Word n-grams under the same normalisation, written plainly (strings in a set, no hashing): the
    independent check of what truly overlaps."""
    import unicodedata

    text = re.sub(r"-[ \t]*\n\s*", "", text.lower())
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c)[0] in "LNZ" or c in "\n\t ")
    words = re.sub(r"\d+", "0", text).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def kernel_documents(count: int, rng: random.Random) -> list[str]:
    pattern = "/usr/share/doc/linux-doc/html/_sources/**/*.rst.txt"
    apt_install("linux-doc", pattern)
    files = sorted(glob.glob(pattern, recursive=True))
    rng.shuffle(files)
    docs = []
    for path in files:
        words = Path(path).read_text(errors="replace").split(" ")
        i = 0
        while i < len(words) - 200 and len(docs) < count:
            size = rng.randint(200, 800)
            docs.append(" ".join(words[i : i + size]))
            i += size
        if len(docs) >= count:
            break
    return docs


def edit_words(text: str, every: int, vocab: list[str], rng: random.Random) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), k=max(1, len(words) // every)):
        words[i] = rng.choice(vocab)
    return " ".join(words)


def light_edit(text: str, vocab: list[str], rng: random.Random) -> str:
    text = text.lower() if rng.random() < 0.5 else text.upper()
    text = re.sub(r"[,;:]", lambda m: rng.choice(["", " -", ","]), text)
    return edit_words(text, 25, vocab, rng)


def across_lines(text: str, rng: random.Random) -> str:
    words, lines, i = text.split(" "), [], 0
    while i < len(words):
        n = rng.randint(5, 9)
        lines.append("    " * rng.randint(0, 1) + " ".join(words[i : i + n]))
        i += n
    for k in range(0, len(lines) - 1, 2):  # hyphenate the last word of every other line across the break
        head, _, last = lines[k].rpartition(" ")
        if len(last) > 6 and last.isalpha():
            lines[k] = f"{head} {last[:3]}-"
            lines[k + 1] = last[3:] + " " + lines[k + 1].lstrip()
    return "\n".join(lines)


def plant(host: str, passage: str, rng: random.Random) -> str:
    sentences = _SENT.split(host)
    at = rng.randrange(len(sentences) + 1)
    return " ".join([*sentences[:at], passage, *sentences[at:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000, help="evaluation items")
    parser.add_argument("--clean", type=int, default=5000, help="clean kernel-doc documents")
    parser.add_argument("--same-source", type=int, default=500, help="clean Python-doc paragraphs (not items)")
    parser.add_argument("--planted", type=int, default=400, help="planted documents per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=CACHE / "bench-decontaminate")
    args = parser.parse_args()


    from filters.decontaminate import Decontaminate
    from operators.core.schema import records_table

    rng = random.Random(args.seed)
    paragraphs = python_doc_paragraphs()
    rng.shuffle(paragraphs)
    items = paragraphs[: args.items]
    same_source = paragraphs[args.items : args.items + args.same_source]
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    evals = args.work / "pydoc_eval.jsonl"
    with open(evals, "w") as f:
        for p in items:
            first, *rest = _SENT.split(p)
            f.write(json.dumps({"question": first, "answer": " ".join(rest)}) + "\n")
    # Python-doc paragraphs repeat each other across pages ("What's New" boilerplate, shared
    # explanations): a non-item paragraph that truly shares 13 words with an item is contamination, not clean.
    item_grams = set().union(*(reference_grams(p) for p in items))
    overlapping = [p for p in same_source if reference_grams(p) & item_grams]
    same_source = [p for p in same_source if p not in overlapping]
    hosts = kernel_documents(args.clean + args.planted * len(KINDS), rng)
    clean, hosts = hosts[: args.clean], hosts[args.clean :]
    vocab = sorted({w for h in clean[:200] for w in h.split() if w.isalpha() and len(w) > 3})
    planted: dict[str, list[str]] = {}
    for k, kind in enumerate(KINDS):
        docs = []
        for j in range(args.planted):
            item = rng.choice(items)
            first, *rest = _SENT.split(item)
            passage = {"exact": lambda: item, "edited": lambda: light_edit(item, vocab, rng),  # noqa: B023
                       "lines": lambda: across_lines(item, rng), "answer": lambda: " ".join(rest),  # noqa: B023
                       "heavy": lambda: edit_words(item, 6, vocab, rng)}[kind]()  # noqa: B023
            docs.append(plant(hosts[k * args.planted + j], passage, rng))
        planted[kind] = docs

    op = Decontaminate(eval_sets=[{"name": "pydoc", "path": str(evals), "fields": ["question", "answer"]}])
    os.environ["ASSAY_CACHE"] = str(args.work / "cache")  # a fresh index: its build is timed
    t0, c0 = time.monotonic(), time.process_time()
    op.setup()
    op._ready = True
    build_wall, build_cpu = time.monotonic() - t0, time.process_time() - c0

    def dropped(texts: list[str]) -> tuple[int, float, int]:
        table = records_table(texts, "bench")
        c = time.process_time()
        out = op(table)
        return sum(not k for k in out.column("keep").to_pylist()), time.process_time() - c, sum(len(t) for t in texts)

    print(f"evaluation set: {len(items):,} Python-doc paragraphs ({op._loaded_index.size:,} distinct 13-grams), "
          f"index built in {build_wall:.1f}s ({build_cpu:.1f} CPU-s); exact hash index (Bloom filter above "
          f"{op.config.bloom_above:,} n-grams)")
    print(f"{'documents':<28}{'docs':>7}{'matched':>9}{'rate':>9}{'docs/CPU-s':>12}{'MB/CPU-s':>10}")
    total_docs = total_cpu = 0.0
    rows = [(f"planted: {kind}", planted[kind]) for kind in KINDS]
    rows += [("clean: kernel docs", clean), ("clean: Python docs", same_source),
             ("true overlap: Python docs", overlapping)]
    results = {}
    for label, texts in rows:
        if not texts:
            continue
        hits, cpu, size = dropped(texts)
        total_docs += len(texts)
        total_cpu += cpu
        results[label] = hits / len(texts)
        print(f"{label:<28}{len(texts):>7,}{hits:>9,}{hits / len(texts):>9.4f}{len(texts) / cpu:>12,.0f}{size / cpu / 1e6:>10.2f}")
    print(f"overall: {total_docs / total_cpu:,.0f} documents per CPU-second (one process, one core)")
    ok = all(results[f"planted: {k}"] >= 0.99 for k in ("exact", "edited", "lines"))
    fp = max(results["clean: kernel docs"], results["clean: Python docs"])
    print(f"targets: planted exact/edited/lines recall >= 0.99: {'met' if ok else 'NOT met'}; "
          f"clean false positives <= 0.1%: {'met' if fp <= 0.001 else 'NOT met'} ({fp:.4%})")
    (args.work / "summary.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
