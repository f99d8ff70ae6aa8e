"""Instruction backtranslation: yield and cost with the packaged SmolLM2-135M-Instruct.

Real documents (``benchmarks/judge_corpus.py``: Python's documentation and the
Debian Reference, one to a few paragraphs each, half from each) go through the
method as ``assay synth --method backtranslate`` runs it, with the packaged
recipe's settings: segment selection (30-300 words, lang_id en, c4_fineweb),
self-augmentation (two few-shot seed pairs, 64 tokens), self-curation (the
paper's rubric, 96 tokens, keep >= 4). Reported per 100 documents: segments,
instructions written, pairs that passed the instruction filters and went to
curation ("generated"), pairs kept; the curation scores; calls and tokens per
kept pair (every call the method paid for, from its ``calls.jsonl``);
documents per minute and CPU-seconds per document.

The model runs in process (transformers, 2 threads: the default of ``assay
synth``), or with ``--backend llamacpp`` behind llama.cpp's server (started
here unless ``--base-url``; its process's CPU is counted too).

The work folder resumes like ``assay synth``: a rerun with the same ``--work``
pays only for the calls it has not made. The timing is reported only for a run
that made all its calls in one go.

    python benchmarks/backtranslate.py --work /tmp/bt-bench            # 40 documents, ~15 min on 2 busy cores
    python benchmarks/backtranslate.py --docs 6                        # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # after the repo: benchmarks/synth.py is not the synth package

from judge_corpus import write_sources  # noqa: E402
from judge_distill import LlamaServer, Meter, http_backend  # noqa: E402

from pipelines.backtranslate_input import prepare_segments  # noqa: E402
from synth.backtranslate import Backtranslate  # noqa: E402
from synth.config import SynthConfig  # noqa: E402
from synth.pool import read_jsonl  # noqa: E402

# Rejections before curation (the instruction itself) and at curation.
INSTRUCTION_FILTERS = ("too_short", "too_long", "refusal", "duplicate", "copies_segment", "copies_example")


def combine(paths: dict[str, str], folder: Path, per_source: int) -> str:
    out = folder / "documents.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for path in paths.values():
            with open(path, encoding="utf-8") as src:
                for line in list(src)[:per_source]:
                    f.write(line)
    return str(out)


def paid_calls(work: Path) -> tuple[int, int]:
    """Calls and tokens (prompt + completion) in the method's call cache: everything it paid for."""
    calls = tokens = 0
    for entry in read_jsonl(work / "calls.jsonl"):
        calls += 1
        tokens += int(entry.get("prompt_tokens") or 0) + int(entry.get("completion_tokens") or 0)
    return calls, tokens


def run(documents: str, n_docs: int, backend: dict, work: Path, server=None, llm=None) -> dict:
    recipe = Path(__file__).resolve().parents[1] / "pipelines" / "recipes" / "backtranslate.yaml"
    import yaml

    packaged = yaml.safe_load(recipe.read_text())["synth"]["backtranslate"]
    cfg = SynthConfig(
        method="backtranslate", backend=backend, target=10**6, max_rounds=10**4,
        backtranslate={**packaged, "documents": documents, "max_documents": n_docs},
    )  # fmt: skip
    seg = prepare_segments(cfg.backtranslate, work)
    with Meter(server) as m:
        result = Backtranslate(cfg, work, llm=llm).run()
    rejected = read_jsonl(work / "rejected.jsonl")
    reasons = Counter(r["reason"] for r in rejected)
    kept = read_jsonl(work / "records.jsonl")
    n_kept = len(kept)
    written = seg["segments"] - reasons["no_answer"]
    generated = written - sum(reasons[k] for k in INSTRUCTION_FILTERS)
    scores = Counter(int(r["score"]) for r in rejected if r.get("score") is not None)
    scores.update(int(r["curation_score"]) for r in kept)
    calls, tokens = paid_calls(work)
    per100 = 100 / seg["documents"]
    in_one_go = result.calls_cached == 0
    out = {
        "documents": seg["documents"],
        "segments": seg["segments"],
        "segments_dropped": seg["dropped"],
        "per_100_documents": {
            "segments": round(seg["segments"] * per100, 1),
            "instructions_written": round(written * per100, 1),
            "pairs_generated": round(generated * per100, 1),
            "pairs_kept": round(n_kept * per100, 1),
        },
        "rejected": dict(reasons.most_common()),
        "curation_scores": {str(k): scores[k] for k in sorted(scores)},
        "curation_unparsed": reasons["unparsed_score"],
        "calls": calls,
        "tokens": tokens,
        "calls_per_kept_pair": round(calls / n_kept, 1) if n_kept else None,
        "tokens_per_kept_pair": round(tokens / n_kept) if n_kept else None,
        "timed": in_one_go,
    }
    if in_one_go:
        out |= {
            "wall_s": round(m.wall, 1),
            "cpu_s": round(m.total_cpu, 1),
            "documents_per_minute_wall": round(seg["documents"] / m.wall * 60, 2),
            "cpu_s_per_document": round(m.total_cpu / seg["documents"], 1),
        }
    out["kept_examples"] = [
        {"score": r["curation_score"], "instruction": r["instruction"], "answer": r["output"][:160]} for r in kept[:5]
    ]
    out["rejected_examples"] = [{k: r.get(k) for k in ("reason", "instruction", "score")} for r in rejected[:8]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=40, help="Documents backtranslated (half python-doc, half debian-reference).")
    ap.add_argument("--backend", choices=("local", "llamacpp"), default="local", help="In process, or llama.cpp's server.")
    ap.add_argument("--base-url", default=None, help="With --backend llamacpp: a server serving smollm2 (default: start one).")
    ap.add_argument("--port", type=int, default=18422)
    ap.add_argument("--work", default=None, help="Work folder (default: temporary). A rerun resumes from its caches.")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bt-bench-"))
    os.environ.setdefault("ASSAY_CACHE", str(work / "assay-cache"))
    half = (args.docs + 1) // 2
    paths = write_sources(work / "corpus", {"python-doc": half, "debian-reference": half})
    documents = combine(paths, work / "corpus", half)
    if args.backend == "llamacpp":
        server = None if args.base_url else LlamaServer(args.port).__enter__()
        try:
            base = args.base_url or server.base_url
            results = run(documents, args.docs, http_backend(base), work / "llamacpp", server)
        finally:
            if server:
                server.__exit__(None, None, None)
    else:
        import torch

        from synth.backends import LocalBackend, Request, SamplingParams
        from synth.runner import Runner

        torch.set_num_threads(2)
        llm = LocalBackend()
        Runner(llm).run([Request.chat("Hi.", SamplingParams(max_tokens=1))])  # load the model outside the timing
        results = run(documents, args.docs, {"kind": "local"}, work / "local", llm=llm)
    results["backend"] = args.backend
    print(json.dumps(results, indent=1), flush=True)
    (work / f"results-{args.backend}.json").write_text(json.dumps(results, indent=1))
    print(f"results: {work / f'results-{args.backend}.json'}")


if __name__ == "__main__":
    main()
