"""Do assay's heuristic filters decide as DataTrove 0.10's do? Agreement per filter and rule, and speed per core.

Both run on the same real documents, one filter at a time, each in a fresh process
(so neither reuses work another filter did), and every document's keep/drop and reason
is compared:

* DataTrove 0.10.0 (``datatrove`` + ``spacy`` + ``regex``) in its own virtual environment,
  ``~/.cache/assay/bench-venvs/datatrove-0.10`` (installed by this script, never the project's);
  its filters' ``filter(Document)`` in a loop.
* assay's operators on Arrow batches of ``--batch`` documents, ``compat: datatrove`` (the
  default) and, for the old figures, ``compat: whitespace``.

Pairs compared (DataTrove's defaults unless said):

=====================  ==========================================================
gopher_quality         GopherQualityFilter()
gopher_repetition      GopherRepetitionFilter()
c4                     C4QualityFilter()  (decision; kept text compared too)
c4 (FineWeb's)         C4QualityFilter(filter_no_terminal_punct=False)
fineweb                FineWebQualityFilter()
FineWeb chain          GopherRepetition -> GopherQuality -> C4(FineWeb's) -> FineWeb,
                       C4 rewriting the text the last filter sees (the FineWeb recipe)
c4 -> fineweb          C4(FineWeb's) -> FineWeb; the old figure is assay's c4_fineweb
=====================  ==========================================================

The text (``--split``, benchmarks/heuristics_corpus.py): ``tuning`` (English prose and code of
linux-doc and python3-doc, what the implementation was checked against while it was written),
``held-out`` (Debian Reference in six languages, man pages in five, the sample corpus; two fixes
came from it), ``all`` (both), and ``fresh`` (Python packages' long descriptions and man pages in
eight other languages, measured once, blind).

Printed per filter: documents kept by each, decision agreement, drops per rule by each,
and a few disagreeing documents with the values that decided on each side; then
documents/s per core (CPU seconds of the filtering loop, same run) of both.

    python benchmarks/heuristics_agreement.py --split tuning --limit 3000
    python benchmarks/heuristics_agreement.py --split all
    python benchmarks/heuristics_agreement.py --split held-out --filters gopher_quality c4
    python benchmarks/heuristics_agreement.py --split fresh
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.heuristics_corpus import SPLITS, documents, ensure_packages  # noqa: E402

CACHE = Path(os.environ.get("ASSAY_CACHE", Path.home() / ".cache" / "assay"))
VENV = CACHE / "bench-venvs" / "datatrove-0.10"
FILTERS = ["words", "gopher_quality", "gopher_repetition", "c4", "c4_fineweb_setting", "fineweb", "c4_fineweb", "chain"]
# The stages of the chained comparisons (a drop's stage names its filter).
STAGES = {
    "c4_fineweb": ["c4", "fineweb"],
    "chain": ["gopher_repetition", "gopher_quality", "c4", "fineweb"],
}
TITLES = {
    "words": ("the word split (compat datatrove)", "split_into_words()"),
    "gopher_quality": ("gopher_quality", "GopherQualityFilter()"),
    "gopher_repetition": ("gopher_repetition", "GopherRepetitionFilter()"),
    "c4": ("c4", "C4QualityFilter()"),
    "c4_fineweb_setting": ("c4 filter_no_terminal_punct: false", "C4QualityFilter(filter_no_terminal_punct=False)"),
    "fineweb": ("fineweb", "FineWebQualityFilter()"),
    "c4_fineweb": (
        "c4 (FineWeb's) -> fineweb",
        "C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter()",
    ),
    "chain": ("FineWeb chain: gopher_repetition -> gopher_quality -> c4 -> fineweb", "the same 4 filters"),
}
# DataTrove's reasons under assay's names.
REASONS = {
    "gopher_short_doc": "word_count", "gopher_long_doc": "word_count",
    "gopher_below_avg_threshold": "mean_word_length", "gopher_above_avg_threshold": "mean_word_length",
    "gopher_too_many_hashes": "symbol_ratio", "gopher_too_many_ellipsis": "symbol_ratio",
    "gopher_too_many_bullets": "bullet_lines", "gopher_too_many_end_ellipsis": "ellipsis_lines",
    "gopher_below_alpha_threshold": "alpha_words", "gopher_enough_stop_words": "stop_words",
    **{f"top_{n}_gram": f"top_{n}gram" for n in (2, 3, 4)},
    **{f"duplicated_{n}_n_grams": f"dup_{n}gram" for n in range(5, 11)},
}  # fmt: skip


# The old c4_fineweb's FineWeb rules under FineWebQualityFilter's reasons.
OLD_FINEWEB = {
    "line_punct": "line_punct_ratio",
    "short_lines": "short_line_ratio",
    "dup_line_chars": "char_dup_ratio",
    "newline_ratio": "list_ratio",
}


# ---------------------------------------------------------------- DataTrove, in its own venv

DATATROVE_CHILD = r'''
import json, sys, time, hashlib
import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                        GopherRepetitionFilter)
from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS
from datatrove.pipeline.filters.gopher_repetition_filter import (find_all_duplicate, find_duplicates,
                                                                 find_top_duplicate, get_n_grams)
from datatrove.utils.text import PUNCTUATION_SET, split_into_sentences, split_into_words

spec, docs_path, out_path, language, explain_ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
kw = {"language": language}
make = {
    "words": lambda: [],
    "gopher_quality": lambda: [GopherQualityFilter(**kw)],
    "gopher_repetition": lambda: [GopherRepetitionFilter(**kw)],
    "c4": lambda: [C4QualityFilter(**kw)],
    "c4_fineweb_setting": lambda: [C4QualityFilter(filter_no_terminal_punct=False, **kw)],
    "fineweb": lambda: [FineWebQualityFilter(**kw)],
    "c4_fineweb": lambda: [C4QualityFilter(filter_no_terminal_punct=False, **kw), FineWebQualityFilter(**kw)],
    "chain": lambda: [GopherRepetitionFilter(**kw), GopherQualityFilter(**kw),
                      C4QualityFilter(filter_no_terminal_punct=False, **kw), FineWebQualityFilter(**kw)],
}[spec]
docs = [json.loads(line) for line in open(docs_path)]


def explain(doc):
    """The values DataTrove's filter decided on (its own helpers, its definitions)."""
    text = doc.text
    if spec == "words":
        return {"words": split_into_words(text, language), "text": text}
    if spec == "gopher_quality":
        words = split_into_words(text, language)
        real = [w for w in words if any(c not in PUNCTUATION_SET for c in w)]
        lines = text.splitlines()
        n = max(len(words), 1)
        return {"tokens": len(words), "words": len(real), "mean_len": float(np.mean([len(w) for w in real])) if real else None,
                "hash": text.count("#") / n, "ellipsis": (text.count("...") + text.count("\u2026")) / n,
                "bullets": sum(s.lstrip().startswith(("\u2022", "-")) for s in lines) / max(len(lines), 1),
                "end_ellipsis": sum(s.rstrip().endswith(("...", "\u2026")) for s in lines) / max(len(lines), 1),
                "alpha": sum(any(c.isalpha() for c in w) for w in words) / n,
                "stop_words": len(set(STOP_WORDS) & set(words))}
    if spec == "gopher_repetition":
        import re
        paras = re.split(r"\n{2,}", text.strip()); lines = re.split("\n+", text)
        out = {"para": find_duplicates(paras)[0] / len(paras), "para_char": find_duplicates(paras)[1] / len(text),
               "line": find_duplicates(lines)[0] / len(lines), "line_char": find_duplicates(lines)[1] / len(text)}
        words = split_into_words(text, language)
        for n in (2, 3, 4):
            grams = get_n_grams(words, n)
            out[f"top_{n}"] = find_top_duplicate(grams) / len(text) if grams else 0
        for n in range(5, 11):
            out[f"dup_{n}"] = find_all_duplicate(words, n) / len(text)
        return out
    if spec in ("c4", "c4_fineweb_setting"):
        f = make()[0]
        sentences, kept = 0, 0
        for line in text.splitlines():
            line = line.strip()
            if line and len(line.split()) >= 3:
                sentences += len(split_into_sentences(line, language))
        return {"sentences_in_3_word_lines": sentences}
    if spec == "fineweb":
        lines = [l for l in text.split("\n") if l.strip()]
        f = make()[0]
        out = {"lines": len(lines)}
        if lines:
            out["line_punct"] = sum(l.endswith(f.stop_chars) for l in lines) / len(lines)
            out["short"] = sum(len(l) <= 30 for l in lines) / len(lines)
            out["char_dup"] = find_duplicates(lines)[1] / len(text.replace("\n", ""))
            out["list"] = text.count("\n") / len(split_into_words(text, language))
        return out
    return {}


filters = make()
results = []
if explain_ids:
    wanted = set(explain_ids)
    for d in docs:
        if d["id"] in wanted:
            results.append({"id": d["id"], "explain": explain(Document(text=d["text"], id=d["id"]))})
    json.dump({"results": results}, open(out_path, "w"))
    sys.exit(0)
if spec == "words":
    split_into_words("Warm up the tokenizer, once.", language)
    start = time.process_time()
    for d in docs:
        words = split_into_words(d["text"], language)
        results.append({"id": d["id"], "keep": True, "words_sha": hashlib.sha256(json.dumps(words).encode()).hexdigest()})
    json.dump({"cpu": time.process_time() - start, "results": results}, open(out_path, "w"))
    sys.exit(0)
for f in filters:  # load the tokenizer (spaCy) before the clock starts, as assay's setup() does
    f.filter(Document(text="Warm up the tokenizer, once.", id="warm-up"))
start = time.process_time()
for d in docs:
    doc = Document(text=d["text"], id=d["id"])
    keep, reason, stage = True, None, None
    for i, f in enumerate(filters):
        r = f.filter(doc)
        if r is not True:
            keep, reason, stage = False, (r[1] if isinstance(r, tuple) else "dropped"), i
            break
    row = {"id": d["id"], "keep": keep, "reason": reason, "stage": stage}
    if keep and spec in ("c4", "c4_fineweb_setting", "c4_fineweb", "chain"):
        row["text_sha"] = hashlib.sha256(doc.text.encode()).hexdigest()
    results.append(row)
cpu = time.process_time() - start
json.dump({"cpu": cpu, "results": results}, open(out_path, "w"))
'''


def datatrove_python() -> Path | None:
    python = VENV / "bin" / "python"
    check = "import datatrove.pipeline.filters, spacy, regex; from importlib.metadata import version; assert version('datatrove') == '0.10.0'"
    if python.exists() and subprocess.run([python, "-c", check], capture_output=True).returncode == 0:
        return python
    import spacy

    print(f"installing datatrove 0.10.0 into {VENV} (separate from the project's venv) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    # The project's spaCy version, so both sides tokenize with the same rules.
    pins = ["datatrove==0.10.0", "regex", f"spacy=={spacy.__version__}"]
    proc = subprocess.run([python, "-m", "pip", "install", "-q", *pins], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"datatrove could not be installed:\n{proc.stderr[-1500:]}", file=sys.stderr)
        return None
    return python


def run_datatrove(python: Path, spec: str, docs_path: Path, language: str, explain: list[str] | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        (Path(tmp) / "child.py").write_text(DATATROVE_CHILD)
        proc = subprocess.run(
            [python, Path(tmp) / "child.py", spec, docs_path, out, language, *(explain or [])],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"DataTrove ({spec}) failed:\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


# ---------------------------------------------------------------- assay, in a fresh process per filter


def assay_stages(spec: str, compat: str, language: str) -> list[tuple[str, dict]]:
    kw = {"compat": compat, "language": language}
    return {
        "gopher_quality": [("gopher_quality", kw)],
        "gopher_repetition": [("gopher_repetition", kw)],
        "c4": [("c4", kw)],
        "c4_fineweb_setting": [("c4", {**kw, "filter_no_terminal_punct": False})],
        "fineweb": [("fineweb", kw)],
        "c4_fineweb": [("c4", {**kw, "filter_no_terminal_punct": False}), ("fineweb", kw)],
        "chain": [
            ("gopher_repetition", kw),
            ("gopher_quality", kw),
            ("c4", {**kw, "filter_no_terminal_punct": False}),
            ("fineweb", kw),
        ],
        "c4_fineweb_old": [("c4_fineweb", {})],
    }[spec]


def assay_child(argv: list[str]) -> None:
    import hashlib
    import time

    import pyarrow as pa

    sys.path.insert(0, str(ROOT))
    from operators.core import registry
    from operators.core.schema import records_table

    spec, docs_path, out_path, compat, language, batch = argv[0], argv[1], argv[2], argv[3], argv[4], int(argv[5])
    docs = [json.loads(line) for line in Path(docs_path).read_text().splitlines()]
    if spec == "words":
        words_child(docs, out_path, language, batch)
        return
    ops = [registry.get(name)(**params) for name, params in assay_stages(spec, compat, language)]
    for i, op in enumerate(ops):
        op.stage_index = i
    tables = []
    for start in range(0, len(docs), batch):
        chunk = docs[start : start + batch]
        table = records_table([d["text"] for d in chunk], "bench")
        tables.append(table.set_column(0, "id", pa.array([d["id"] for d in chunk], pa.string())))
    warm_up = records_table(["Warm up the tokenizer, once."], "bench")
    for op in ops:  # setup() loads the tokenizer before the clock starts, as DataTrove's first document does
        op(warm_up)
    results, scores = [], {}
    cpu = 0.0
    for table in tables:
        t0 = time.process_time()
        for op in ops:
            table = op(table)
        cpu += time.process_time() - t0
        for i, row in enumerate(table.select(["id", "keep", "drop_reason", "dropped_at"]).to_pylist()):
            keep = row["keep"]
            result = {"id": row["id"], "keep": keep, "reason": None, "stage": row["dropped_at"]}
            if not keep:
                result["reason"] = row["drop_reason"].split(":", 1)[1]
            elif spec in ("c4", "c4_fineweb_setting", "c4_fineweb", "chain"):
                result["text_sha"] = hashlib.sha256(table.column("text")[i].as_py().encode()).hexdigest()
            results.append(result)
        for op in ops:
            for name in getattr(op, "columns", {}):
                for rid, value in zip(table.column("id").to_pylist(), table.column(name).to_pylist(), strict=True):
                    scores.setdefault(rid, {})[name] = value
    Path(out_path).write_text(json.dumps({"cpu": cpu, "results": results, "scores": scores}))


def words_child(docs: list[dict], out_path: str, language: str, batch: int) -> None:
    """Each document's words from assay's DataTrove split (a hash, to compare byte for byte)."""
    import hashlib
    import time

    from filters.quality import words as split_words
    from operators.core.schema import records_table

    split_words.split(records_table(["Warm up the tokenizer, once."], "bench"), "datatrove", language)
    results, cpu = [], 0.0
    for start in range(0, len(docs), batch):
        chunk = docs[start : start + batch]
        table = records_table([d["text"] for d in chunk], "bench")
        t0 = time.process_time()
        words = split_words.split(table, "datatrove", language)
        lists = words.vocab.take(words.ids).to_pylist()
        cpu += time.process_time() - t0
        for d, lo, hi in zip(chunk, words.items.offsets[:-1], words.items.offsets[1:], strict=True):
            digest = hashlib.sha256(json.dumps(lists[lo:hi]).encode()).hexdigest()
            results.append({"id": d["id"], "keep": True, "words_sha": digest})
    Path(out_path).write_text(json.dumps({"cpu": cpu, "results": results, "scores": {}}))


def run_assay(spec: str, docs_path: Path, compat: str, language: str, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, __file__, "--child", spec, str(docs_path), str(out), compat, language, str(batch)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"assay ({spec}, {compat}) failed:\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


# ---------------------------------------------------------------- comparison


def _rule(row: dict, spec: str) -> str:
    if row["keep"]:
        return "kept"
    reason = REASONS.get(row["reason"], row["reason"])
    if spec in STAGES:
        if spec == "c4_fineweb" and row["stage"] == 0 and reason in OLD_FINEWEB:
            return f"fineweb:{OLD_FINEWEB[reason]}"  # the old c4_fineweb is one stage; these rules are FineWeb's
        return f"{STAGES[spec][row['stage']]}:{reason}"
    return reason


def compare(spec: str, dt: dict, ours: dict) -> dict:
    theirs = {r["id"]: r for r in dt["results"]}
    n = len(ours["results"])
    agree = sum(r["keep"] == theirs[r["id"]]["keep"] for r in ours["results"])
    same_rule = sum(_rule(r, spec) == _rule(theirs[r["id"]], spec) for r in ours["results"])
    texts = [
        r["text_sha"] == theirs[r["id"]]["text_sha"]
        for r in ours["results"]
        if "text_sha" in r and theirs[r["id"]]["keep"]
    ]
    words_same = sum(r.get("words_sha") == theirs[r["id"]].get("words_sha") for r in ours["results"])
    return {
        "words_same": words_same if "words_sha" in ours["results"][0] else None,
        "docs": n,
        "kept_assay": sum(r["keep"] for r in ours["results"]),
        "kept_datatrove": sum(r["keep"] for r in dt["results"]),
        "agree": agree / n,
        "same_rule": same_rule / n,
        "text_same": (sum(texts), len(texts)) if texts else None,
        "rules_assay": Counter(_rule(r, spec) for r in ours["results"]),
        "rules_datatrove": Counter(_rule(r, spec) for r in dt["results"]),
        # Documents decided differently (for the word split: split differently).
        "disagree": [
            r["id"]
            for r in ours["results"]
            if r["keep"] != theirs[r["id"]]["keep"] or r.get("words_sha") != theirs[r["id"]].get("words_sha")
        ],
        "rule_disagree": [
            r["id"]
            for r in ours["results"]
            if r["keep"] == theirs[r["id"]]["keep"] and _rule(r, spec) != _rule(theirs[r["id"]], spec)
        ],
        "cpu_assay": ours["cpu"],
        "cpu_datatrove": dt.get("cpu"),
        "theirs": theirs,
        "ours": {r["id"]: r for r in ours["results"]},
    }


def report(
    spec: str, title: tuple[str, str], cmp: dict, old: dict | None, explained: dict, scores: dict, language: str
) -> None:
    print(f"\n=== {title[0]}  vs  DataTrove {title[1]}")
    if cmp["words_same"] is not None:
        print(f"documents whose words are identical, token for token: {cmp['words_same']}/{cmp['docs']}")
        for rid, diff in words_differ(explained, language).items():
            print(f"  differs: {rid}: {diff}")
        _speed(cmp)
        return
    line = f"docs {cmp['docs']}: kept by assay {cmp['kept_assay']}, by DataTrove {cmp['kept_datatrove']}; "
    line += f"decisions agree {100 * cmp['agree']:.2f}% (same rule {100 * cmp['same_rule']:.2f}%)"
    if old:
        line += f"; compat whitespace (old): kept {old['kept_assay']}, agree {100 * old['agree']:.2f}%"
    print(line)
    if cmp["text_same"]:
        same, total = cmp["text_same"]
        print(f"kept text identical to DataTrove's rewrite: {same}/{total}")
    rules = set(cmp["rules_assay"]) | set(cmp["rules_datatrove"]) | set(old["rules_assay"] if old else ())
    rules = sorted(rules, key=lambda r: (r == "kept", r))
    print(f"  {'rule':34s} {'assay':>7s} {'DataTrove':>9s}" + (f" {'old':>7s}" if old else ""))
    for rule in rules:
        extra = f" {old['rules_assay'].get(rule, 0):7d}" if old else ""
        print(f"  {rule:34s} {cmp['rules_assay'].get(rule, 0):7d} {cmp['rules_datatrove'].get(rule, 0):9d}{extra}")
    for rid in (cmp["disagree"] + cmp["rule_disagree"])[:6]:
        ours, theirs = cmp["ours"][rid], cmp["theirs"][rid]
        print(f"  differs: {rid}: assay {_rule(ours, spec)}, DataTrove {_rule(theirs, spec)}")
        print(f"      assay:     {json.dumps(scores.get(rid, {}), default=str)[:400]}")
        print(f"      DataTrove: {json.dumps(explained.get(rid, {}), default=str)[:400]}")
    _speed(cmp)


def words_differ(explained: dict, language: str) -> dict[str, str]:
    """Where assay's words of each document first differ from DataTrove's (``explained``: DataTrove's words)."""
    from filters.quality import words as split_words
    from operators.core.schema import records_table

    out = {}
    for rid, got in explained.items():
        table = records_table([got["text"]], "bench")
        words = split_words.split(table, "datatrove", language)
        ours, theirs = words.vocab.take(words.ids).to_pylist(), got["words"]
        at = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
        )
        out[rid] = (
            f"word {at} of {len(ours)} / {len(theirs)}: assay {ours[at : at + 4]}, DataTrove {theirs[at : at + 4]}"
        )
    return out


def _speed(cmp: dict) -> None:
    if cmp["cpu_datatrove"]:
        ours_rate, theirs_rate = cmp["docs"] / cmp["cpu_assay"], cmp["docs"] / cmp["cpu_datatrove"]
        print(
            f"speed per core: assay {ours_rate:,.0f} docs/s ({cmp['cpu_assay']:.1f} CPU-s), DataTrove "
            f"{theirs_rate:,.0f} docs/s ({cmp['cpu_datatrove']:.1f} CPU-s): {ours_rate / theirs_rate:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=SPLITS, default="all", help="the text (benchmarks/heuristics_corpus.py)")
    parser.add_argument("--limit", type=int, help="at most this many documents (a seeded sample)")
    parser.add_argument("--sample-docs", type=int, default=1500, help="documents of the synthetic sample corpus")
    parser.add_argument("--filters", nargs="+", choices=FILTERS, default=FILTERS)
    parser.add_argument("--only", nargs="+", metavar="SOURCE", help="only documents of these sources, e.g. manpages-fr")
    parser.add_argument(
        "--language", default="en", help="the tokenizer language of both sides (DataTrove's default: en)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="assay's batch size (documents)")
    parser.add_argument("--no-old", action="store_true", help="skip compat: whitespace (the old figures)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="write the per-document results here (JSON)")
    args = parser.parse_args()

    ensure_packages()
    python = datatrove_python()
    if python is None:
        sys.exit("DataTrove is needed for this benchmark")
    docs = documents(args.split, None if args.only else args.limit, args.sample_docs, args.seed)
    if args.only:
        docs = [d for d in docs if d["id"].split(":", 1)[0] in args.only]
        docs = random.Random(args.seed).sample(docs, min(len(docs), args.limit or len(docs)))
    size = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"{len(docs)} documents ({size:.1f} MB) from the {args.split} split; language {args.language}")
    saved = {}
    with tempfile.TemporaryDirectory() as tmp:
        docs_path = Path(tmp) / "docs.jsonl"
        docs_path.write_text("".join(json.dumps(d) + "\n" for d in docs))
        for spec in args.filters:
            dt = run_datatrove(python, spec, docs_path, args.language)
            ours = run_assay(spec, docs_path, "datatrove", args.language, args.batch)
            cmp = compare(spec, dt, ours)
            old = None
            old_spec = {"gopher_quality": spec, "gopher_repetition": spec, "c4_fineweb": "c4_fineweb_old"}.get(spec)
            if old_spec and not args.no_old and spec != "words":
                old = compare(spec, dt, run_assay(old_spec, docs_path, "whitespace", args.language, args.batch))
            differing = (cmp["disagree"] + cmp["rule_disagree"])[:6]
            explained = {}
            if differing and spec not in STAGES:
                got = run_datatrove(python, spec, docs_path, args.language, differing)
                explained = {r["id"]: r["explain"] for r in got["results"]}
            report(spec, TITLES[spec], cmp, old, explained, ours["scores"], args.language)
            saved[spec] = {"datatrove": dt["results"], "assay": ours["results"]}
    if args.save:
        args.save.write_text(json.dumps(saved))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        assay_child(sys.argv[2:])
    else:
        main()
