"""Synthesis: requests/s of the HTTP backend by concurrency, and Self-Instruct acceptance per round.

1. Requests/s at concurrency 1, 8 and 32 against a loopback OpenAI-compatible
   server with a fixed latency per request (default 50 ms), next to the ideal
   (concurrency / latency) and a peer: a plain sequential ``httpx.Client`` loop,
   the way a script without a runner calls an endpoint.
2. Acceptance rate per round of a Self-Instruct run (ROUGE-L, length, keyword,
   duplicate and instance filters) against the same server, whose answers are
   synthetic task lists drawn from a small vocabulary: the pool fills, new
   candidates collide with it more often, and the acceptance rate falls round
   by round, as in the paper's bootstrap.
3. With ``--smollm2-rounds N``: the same with the real SmolLM2-135M-Instruct in process.

    python benchmarks/synth.py
    python benchmarks/synth.py --latency 0.1 --requests 512 --rounds 12 --smollm2-rounds 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth.backends import HTTPBackend, Request, SamplingParams  # noqa: E402
from synth.config import SynthConfig  # noqa: E402
from synth.loopback import LoopbackServer  # noqa: E402
from synth.runner import Runner  # noqa: E402
from synth.self_instruct import SelfInstruct  # noqa: E402


def _requests(n: int) -> list[Request]:
    return [Request.chat(f"Answer briefly, question {i}.", SamplingParams(max_tokens=32)) for i in range(n)]


class ServerProcess:
    """The loopback server in a process of its own, so client and server do not share a GIL."""

    def __init__(self, latency: float):
        self.latency = latency

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "synth.loopback", "--latency", str(self.latency)],
            stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).resolve().parents[1]),
        )  # fmt: skip
        self.base_url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def throughput(latency: float, n: int, concurrencies: list[int]) -> None:
    import httpx

    print(f"\n== requests/s against a loopback server with {latency * 1000:.0f} ms latency ({n} requests each) ==")
    print(f"{'client':<34}{'concurrency':>12}{'req/s':>10}{'ideal':>10}{'efficiency':>12}")
    with ServerProcess(latency) as server:
        count = max(8, n // 8)
        with httpx.Client(timeout=30) as client:
            start = time.perf_counter()
            for r in _requests(count):
                resp = client.post(
                    f"{server.base_url}/chat/completions",
                    json={"model": "loopback", "messages": r.message_dicts(), "max_tokens": 32},
                )
                resp.raise_for_status()
            rate = count / (time.perf_counter() - start)
        print(f"{'peer: sequential httpx.Client':<34}{1:>12}{rate:>10.1f}{1 / latency:>10.1f}{rate * latency:>12.0%}")
    for c in concurrencies:
        with ServerProcess(latency) as server:
            backend = HTTPBackend({"base_url": server.base_url, "model": "loopback", "concurrency": c})
            reqs = _requests(n if c > 1 else max(8, n // 8))
            runner = Runner(backend)
            start = time.perf_counter()
            out = runner.run(reqs)
            elapsed = time.perf_counter() - start
            assert all(out), "a request failed"
            rate = len(reqs) / elapsed
            ideal = c / latency
            print(f"{'assay Runner (httpx async)':<34}{c:>12}{rate:>10.1f}{ideal:>10.1f}{rate / ideal:>12.0%}")


def acceptance(rounds: int, requests_per_round: int, llm=None, label: str = "loopback", max_tokens: int = 256) -> None:
    print(f"\n== Self-Instruct acceptance per round ({label}, {requests_per_round} prompts/round) ==")
    with tempfile.TemporaryDirectory() as work, LoopbackServer() as server:
        cfg = SynthConfig(
            target=10**6,
            max_rounds=rounds,
            backend={"kind": "http", "http": {"base_url": server.base_url, "model": "loopback", "concurrency": 8}},
            self_instruct={
                "requests_per_round": requests_per_round,
                "instruction_sampling": {"max_tokens": max_tokens, "temperature": 0.7},
                "instance_sampling": {"max_tokens": max_tokens, "temperature": 0.0},
                "classify_sampling": {"max_tokens": 2, "temperature": 0.0},
            },
        )
        start = time.perf_counter()
        result = SelfInstruct(cfg, work, llm=llm).run()
        elapsed = time.perf_counter() - start
    print(f"{'round':>5}{'candidates':>12}{'accepted':>10}{'rate':>8}{'pool':>7}  rejected by")
    pool = 0
    for r in result.rounds:
        pool += r["accepted"]
        why = ", ".join(f"{k} {v}" for k, v in sorted(r["rejected"].items(), key=lambda kv: -kv[1]))
        print(f"{r['round']:>5}{r['candidates']:>12}{r['accepted']:>10}{r['acceptance_rate']:>8.0%}{pool:>7}  {why}")
    total_c = sum(r["candidates"] for r in result.rounds)
    print(f"total: {result.tasks} tasks from {total_c} candidates in {elapsed:.1f} s; {result.calls_made} calls, {result.tokens_used:,} tokens")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=0.05, help="Seconds per request at the loopback server.")
    ap.add_argument("--requests", type=int, default=256, help="Requests per concurrency level (an eighth of them at concurrency 1).")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--rounds", type=int, default=8, help="Self-Instruct rounds against the loopback server.")
    ap.add_argument("--per-round", type=int, default=8, help="Instruction prompts per round.")
    ap.add_argument("--smollm2-rounds", type=int, default=0, help="Also run this many rounds with the real SmolLM2 (slow).")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}")
    throughput(args.latency, args.requests, args.concurrency)
    if args.rounds:
        acceptance(args.rounds, args.per_round)
    if args.smollm2_rounds:
        from synth.backends import LocalBackend

        acceptance(args.smollm2_rounds, 2, llm=LocalBackend(), label="SmolLM2-135M-Instruct in process", max_tokens=48)


if __name__ == "__main__":
    main()
