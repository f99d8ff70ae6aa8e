"""LLM judge -> fastText: how good the packaged 135M judge is, how well a classifier learns it, and speed.

Real text (``benchmarks/judge_corpus.py``): documentation (python3-doc,
debian-reference, linux-doc) and text of little educational value (OLID
tweets, assay's sample web corpus). The judge is SmolLM2-135M-Instruct, the
packaged model, served by llama.cpp (``llama_cpp.server``, started here unless
``--base-url`` names a server); the in-process transformers backend (the
default of ``llm_judge``) is timed too.

1. **The FineWeb-Edu rubric as shipped** (``edu``) on ``--edu-docs`` documents
   per source: the share of answers that parse, scores per source, tokens per
   document.
2. **A rubric the small model can answer** (inline ``edu_yesno``: "does this
   text explain something a student could learn from?", 4 tokens) over the
   whole corpus through the real pipeline (an ``llm_judge`` stage), with its
   rank correlation with two crude proxies (1 for documentation sources, 0 for
   tweets and web filler; the length). Then ``train-classifier --from-judge``'s
   code twice: on the sources python-doc, olid-train and sample with a random
   25% of them held out (the *tuning* figure: the training settings were chosen
   on it), and on all of those with the sources debian-reference, linux-doc
   and olid-test held out (the *held-out* figure: other sources, never looked
   at while choosing the settings): agreement with the judge (Spearman, F1 of
   "yes").
3. **Self-agreement**: the judge at temperature 0.7, twice, on ``--self-docs``
   documents: exact agreement and Cohen's kappa between the two samples, and
   with the greedy judgment.
4. **Speed**, each judge timed on ``--speed-docs`` documents with an empty
   cache (a rerun repeats the calls): classifier documents per CPU-second
   (fastText predict, one thread) against judge documents per CPU-second
   (llama.cpp: server process + client; in process: this process, 2 threads),
   for the yes/no rubric and the shipped edu rubric, in the same run.

Every call of parts 1-3 is cached under ``--work``: a rerun with the same
``--work`` pays only for what it has not judged yet.

    python benchmarks/judge_distill.py --work /tmp/judge-bench     # ~25 min on a busy 2-core machine
    python benchmarks/judge_distill.py --per-source 10 --edu-docs 1 --self-docs 12 --speed-docs 6   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # after the repo: benchmarks/synth.py is not the synth package

from judge_corpus import DOCUMENTATION, write_sources  # noqa: E402

from filters.classifiers.train import Params, train  # noqa: E402
from filters.judge_labels import JudgeDistillation, read_judgments, spearman  # noqa: E402
from filters.llm_judge import LLMJudge  # noqa: E402
from operators.core.llm import ChatCall  # noqa: E402
from operators.execution.executor import LocalExecutor  # noqa: E402
from pipelines.recipe import load  # noqa: E402

TRAIN_SOURCES = ("python-doc", "olid-train", "sample")
HELDOUT_SOURCES = ("debian-reference", "linux-doc", "olid-test")

# The shipped edu rubric asks a 135M model for more than it can do (section 1 measures how much);
# a yes/no question it answers. A user's own rubric, inline, as a recipe would give it.
EDU_YESNO = {
    "name": "edu_yesno",
    "version": "bench-edu-yesno/1",
    "prompt": "Does the following text explain something a student could learn from (a topic, a concept, how to do "
    "something)? Chatter, insults, ads and filler do not.\n\nThe text: {text}\n\nAnswer yes or no.",
    "score_patterns": [r"(?i)^\W*(yes|no)\b", r"(?i)\b(yes|no)\b"],
    "values": {"yes": 1, "no": 0},
    "min": 0,
    "max": 1,
    "threshold": 1,
    "max_tokens": 4,
}


class LlamaServer:
    """llama.cpp's OpenAI-compatible server with the packaged SmolLM2 GGUF, on loopback, for this run."""

    def __init__(self, port: int):
        self.port = port

    def __enter__(self) -> LlamaServer:
        import httpx

        from synth.backends import smollm2_gguf

        folder, name = smollm2_gguf()
        self.log = tempfile.NamedTemporaryFile(prefix="llama-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", f"{folder}/{name}", "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "2", "--model_alias", "smollm2"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited: see {self.log.name}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"llama_cpp.server did not answer in 300 s: see {self.log.name}")
            time.sleep(0.5)

    def cpu_seconds(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Meter:
    """Wall seconds, this process's CPU-seconds and the server's, over a block."""

    def __init__(self, server=None):
        self.server = server

    def __enter__(self) -> Meter:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        self.s0 = self.server.cpu_seconds() if self.server else 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        self.server_cpu = (self.server.cpu_seconds() - self.s0) if self.server else 0.0

    @property
    def total_cpu(self) -> float:
        return self.cpu + self.server_cpu


def http_backend(base_url: str) -> dict:
    return {"kind": "http", "http": {"base_url": base_url, "model": "smollm2", "concurrency": 1, "timeout": 600}}


def read_docs(paths: dict[str, str], per_source: int | None = None) -> list[tuple[str, str]]:
    docs = []
    for source, path in paths.items():
        with open(path, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f]
        docs += [(source, t) for t in texts[:per_source]]
    return docs


def judge_direct(op: LLMJudge, texts: list[str], sample: int = 0) -> list[float | None]:
    calls = [ChatCall(c.messages, c.max_tokens, c.temperature, c.top_p, sample) for c in op.calls(texts)]
    return [None if r.text is None else op.rubric.parse(r.text) for r in op._client.complete(calls)]


def edu_as_shipped(backend: dict, docs: list[tuple[str, str]], work: Path) -> dict:
    """The shipped FineWeb-Edu rubric: parse rate, scores per source, tokens per document (timing: see speed)."""
    op = LLMJudge(rubric="edu", backend=backend, cache_dir=str(work / "cache-edu"), max_chars=1500)
    op.setup()
    replies = op._client.complete(op.calls([t for _, t in docs]))
    scores = [None if r.text is None else op.rubric.parse(r.text) for r in replies]
    parsed = [(s, src) for s, (src, _) in zip(scores, docs, strict=True) if s is not None]
    per_source = {src: [s for s, x in parsed if x == src] for src in dict.fromkeys(src for src, _ in docs)}
    return {
        "documents": len(docs),
        "parsed": len(parsed),
        "parse_rate": len(parsed) / len(docs),
        "mean_score_by_source": {k: (round(float(np.mean(v)), 2) if v else None) for k, v in per_source.items()},
        "spearman_vs_proxy": spearman(np.array([s for s, _ in parsed]), np.array([DOCUMENTATION[x] for _, x in parsed]))
        if len(parsed) > 2 else None,
        "prompt_tokens_per_doc": float(np.mean([r.prompt_tokens for r in replies])),
        "completion_tokens_per_doc": float(np.mean([r.completion_tokens for r in replies])),
        "answers": [r.text[:200] for r in replies[:3] if r.text],
    }


def judge_run(paths: dict[str, str], backend: dict, work: Path) -> tuple[str, dict]:
    """The yes/no rubric over every document through the pipeline (an llm_judge stage, no threshold)."""
    recipe = {
        "name": "judge-bench",
        "sources": [{"path": p, "name": s} for s, p in paths.items()],
        "stages": [{"op": "llm_judge", "params": {"rubric": EDU_YESNO, "backend": backend, "max_chars": 1500,
                                                  "cache_dir": str(work / "cache-yesno")}}],  # fmt: skip
        "tokenizer": "smollm2",
        "output": str(work / "judged"),
        "rows_per_part": 100_000,
    }
    result = load(recipe).pipeline().run(LocalExecutor(), resume=False)
    return recipe["output"], {"read": result.read, "kept": result.kept}


def distil(output: str, holdout: list[str] | None, work: Path, name: str) -> dict:
    run = read_judgments(output, "edu_yesno")
    hook = JudgeDistillation(run, "binary", 1, holdout_sources=holdout)
    examples = hook.examples()
    if holdout is None:  # the training sources only, with a random held-out share
        examples = [ex for ex in examples if any(ex.source.endswith(f"/{s}.jsonl") for s in TRAIN_SOURCES)]
    # Settings chosen on the random split of the training sources (seed 0's corpus), never on held-out sources:
    # a few hundred documents need more epochs and a higher rate than the defaults, which predict the prior.
    result = train(examples, [], work / f"{name}.bin", mode="judge", params=Params(epoch=100, lr=0.5, thread=1),
                   test_fraction=0.25, hook=hook, lowercase=True)  # fmt: skip
    # What the classifier must beat on the same held-out documents: the length alone, and always saying "yes".
    _, test = hook.split(examples, 0.25, 0)  # the split train() made (same fraction and seed)
    judge = np.array([ex.score for ex in test])
    share = float(np.mean(judge >= 1))
    baselines = {"spearman_of_length": spearman(np.array([len(ex.text.split()) for ex in test], dtype=float), judge),
                 "f1_of_always_yes": 2 * share / (1 + share)}  # fmt: skip
    return {"model": str(result.model_path), "train": result.card["data"]["train_examples"], **result.card["judge"]["agreement"],
            "baselines": baselines, "not_scored": run.not_scored, "score_counts": result.card["judge"]["score_counts"]}  # fmt: skip


def kappa(a: list[float], b: list[float]) -> float | None:
    """Cohen's kappa of two yes/no judgments: agreement beyond what their base rates give by chance."""
    x, y = np.array(a), np.array(b)
    observed = float(np.mean(x == y))
    chance = float(np.mean(x) * np.mean(y) + (1 - np.mean(x)) * (1 - np.mean(y)))
    return None if chance == 1 else (observed - chance) / (1 - chance)


def self_agreement(backend: dict, docs: list[tuple[str, str]], work: Path, greedy: dict[str, float]) -> dict:
    """The judge at temperature 0.7, twice (samples 0 and 1), against itself and its greedy answer."""
    op = LLMJudge(rubric=EDU_YESNO, backend=backend, cache_dir=str(work / "cache-self"), temperature=0.7, max_chars=1500)
    op.setup()
    texts = [t for _, t in docs]
    a, b = judge_direct(op, texts, 0), judge_direct(op, texts, 1)
    both = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    with_greedy = [(x, greedy[t]) for x, t in zip(a, texts, strict=True) if x is not None and greedy.get(t) is not None]
    return {
        "documents": len(texts),
        "both_parsed": len(both),
        "exact_agreement": float(np.mean([x == y for x, y in both])) if both else None,
        "kappa_sample0_vs_sample1": kappa(*zip(*both, strict=True)) if both else None,
        "spearman_sample0_vs_sample1": spearman(np.array([x for x, _ in both]), np.array([y for _, y in both])),
        "exact_agreement_sample0_vs_greedy": float(np.mean([x == y for x, y in with_greedy])) if with_greedy else None,
        "kappa_sample0_vs_greedy": kappa(*zip(*with_greedy, strict=True)) if with_greedy else None,
    }


def classifier_speed(model: str, texts: list[str], repeat: int) -> float:
    """fastText documents per CPU-second (one thread: predict is single-threaded)."""
    from filters.classifiers.base import FastTextScorer

    scorer = FastTextScorer(model, {"edu_yesno_ge1": 0}, lowercase=True)  # trained lowercased
    batch = texts * repeat
    c0 = time.process_time()
    scorer.predict(batch)
    return len(batch) / max(1e-9, time.process_time() - c0)


def judge_speed(rubric, backend: dict, texts: list[str], server=None) -> dict:
    """Judge documents per CPU-second with a fresh, empty cache: every call is paid (client + server CPU)."""
    with tempfile.TemporaryDirectory(prefix="judge-speed-") as cache:
        op = LLMJudge(rubric=rubric, backend=backend, cache_dir=cache, max_chars=1500)
        op.setup()
        judge_direct(op, ["Warm-up: load the model."])  # loading is not judging
        with Meter(server) as m:
            scores = judge_direct(op, texts)
        stats = op._client.stats()
    return {"documents": len(texts), "parsed": sum(s is not None for s in scores), "calls": stats["requests"] - 1,
            "wall_s_per_doc": m.wall / len(texts), "cpu_s_per_doc": m.total_cpu / len(texts),
            "docs_per_cpu_s": len(texts) / m.total_cpu}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-source", type=int, default=60, help="Documents per source (6 sources).")
    ap.add_argument("--edu-docs", type=int, default=2, help="Documents per source judged with the shipped edu rubric.")
    ap.add_argument("--self-docs", type=int, default=60, help="Documents judged twice at temperature 0.7.")
    ap.add_argument("--speed-docs", type=int, default=12, help="Documents judged uncached per backend for the timing "
                    "(the slow edu rubric: a third of them).")
    ap.add_argument("--base-url", default=None, help="An OpenAI-compatible server serving smollm2 (default: start llama.cpp).")
    ap.add_argument("--port", type=int, default=18421)
    ap.add_argument("--work", default=None, help="Work folder (default: a temporary one). Rerunning reuses its call caches "
                    "(the timing never does).")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="judge-bench-"))
    os.environ.setdefault("ASSAY_CACHE", str(work / "assay-cache"))
    counts = dict.fromkeys((*TRAIN_SOURCES, *HELDOUT_SOURCES), args.per_source)
    paths = write_sources(work / "corpus", counts, args.seed)
    results: dict = {"per_source": args.per_source, "work": str(work)}
    speed_texts = [t for _, t in read_docs(paths, max(1, args.speed_docs // len(paths)))]
    edu_texts = speed_texts[::3]

    server = None if args.base_url else LlamaServer(args.port).__enter__()
    try:
        base = args.base_url or server.base_url
        backend = http_backend(base)
        print(f"corpus: {sum(counts.values())} documents in {work}/corpus; judge: SmolLM2-135M-Instruct at {base}", flush=True)

        if args.edu_docs:
            results["edu_as_shipped"] = edu_as_shipped(backend, read_docs(paths, args.edu_docs), work)
            print("1. FineWeb-Edu rubric as shipped:", json.dumps(results["edu_as_shipped"], indent=1), flush=True)

        output, counts_ = judge_run(paths, backend, work)
        results["judge_run"] = counts_
        run = read_judgments(output, "edu_yesno")
        judged = {ex.text: ex.score for ex in run.examples}
        by_source: dict[str, list[float]] = {}
        for ex in run.examples:
            by_source.setdefault(Path(ex.source).stem, []).append(ex.score)
        scores = np.array([ex.score for ex in run.examples])
        results["yesno_rubric"] = {
            "judged": len(run.examples), "not_scored": run.not_scored,
            "mean_score_by_source": {k: round(float(np.mean(v)), 2) for k, v in sorted(by_source.items())},
            "spearman_vs_source_proxy": spearman(scores, np.array([DOCUMENTATION[Path(ex.source).stem] for ex in run.examples])),
            "spearman_vs_length": spearman(scores, np.array([len(ex.text.split()) for ex in run.examples])),
        }  # fmt: skip
        print("2. yes/no rubric through the pipeline:", json.dumps(results["yesno_rubric"], indent=1), flush=True)

        results["distil_random_split"] = distil(output, None, work, "edu-random")
        results["distil_heldout_sources"] = distil(output, [f"*/{s}.jsonl" for s in HELDOUT_SOURCES], work, "edu-sources")
        for key in ("distil_random_split", "distil_heldout_sources"):
            print(f"   {key}:", json.dumps(results[key], indent=1), flush=True)

        self_docs = read_docs(paths, max(1, args.self_docs // len(paths)))
        results["self_agreement"] = self_agreement(backend, self_docs, work, judged)
        print("3. self-agreement:", json.dumps(results["self_agreement"], indent=1), flush=True)

        if args.speed_docs:
            results["speed"] = {
                "llamacpp_yesno": judge_speed(EDU_YESNO, backend, speed_texts, server),
                "llamacpp_edu": judge_speed("edu", backend, edu_texts, server),
            }
    finally:
        if server:
            server.__exit__(None, None, None)
    if args.speed_docs:
        speed(results, paths, speed_texts, edu_texts)
    for name in ("edu-random", "edu-sources"):  # 60 MB each; the figures are in results.json
        for path in work.glob(f"{name}.*"):
            path.unlink()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"results: {work / 'results.json'}")


def speed(results: dict, paths: dict[str, str], speed_texts: list[str], edu_texts: list[str]) -> None:
    """Part 4, after the llama.cpp server has stopped: the in-process judge and the classifier."""
    import torch

    torch.set_num_threads(2)
    out = results["speed"]
    out["local_yesno"] = judge_speed(EDU_YESNO, {"kind": "local"}, speed_texts)
    out["local_edu"] = judge_speed("edu", {"kind": "local"}, edu_texts)
    clf = classifier_speed(results["distil_heldout_sources"]["model"], [t for _, t in read_docs(paths)], repeat=20)
    out["classifier_docs_per_cpu_s"] = clf
    for key in ("llamacpp_yesno", "llamacpp_edu", "local_yesno", "local_edu"):
        out[f"ratio_vs_{key}"] = clf / out[key]["docs_per_cpu_s"]
    print("4. speed:", json.dumps(out, indent=1), flush=True)


if __name__ == "__main__":
    main()
