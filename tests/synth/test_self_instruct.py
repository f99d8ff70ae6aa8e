"""Self-Instruct and Evol-Instruct over the loopback server: filters, provenance, resume."""

from __future__ import annotations

import json

import pytest

from synth.config import SynthConfig
from synth.evol_instruct import EvolInstruct, no_gain, parse_evolved, response_reject_reason
from synth.loopback import LoopbackServer
from synth.pool import SeedError, descendants, load_seeds, read_jsonl, split_tasks
from synth.runner import CallCache
from synth.self_instruct import SelfInstruct, filter_instances, instruction_prompt, parse_instances
from tests.synth.conftest import check_run_invariants


def _config(server, **kw) -> SynthConfig:
    return SynthConfig(backend={"kind": "http", "http": {"base_url": server.base_url, "model": "loopback"}}, **kw)


def test_default_seeds_load():
    seeds = load_seeds()
    assert 25 <= len(seeds) <= 40
    assert any(s.is_classification for s in seeds) and any(not s.is_classification for s in seeds)
    assert all(s.instances and s.instances[0]["output"] for s in seeds)


def test_bad_seed_file_names_the_line(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text('{"instruction": "Say hi."}\n{"instructions": "typo"}\n')
    with pytest.raises(SeedError, match=r"seeds.jsonl:2: .*instruction"):
        load_seeds(path)


def test_prompt_has_numbered_tasks_and_open_slot():
    seeds = load_seeds()[:8]
    prompt = instruction_prompt(seeds)
    assert prompt.startswith("Come up with a series of tasks:")
    assert f"Task 8: {seeds[7].instruction}" in prompt and prompt.endswith("Task 9:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Write a limerick about cats.\nTask 10: Name three rivers in Asia.\nTask 11:", ["Write a limerick about cats.", "Name three rivers in Asia."]),
        ("1. Give a synonym for happy.\n2. Explain gravity briefly.", ["Give a synonym for happy.", "Explain gravity briefly."]),
        ("**Task 9:** Plan a picnic menu.\n\nExample: sandwiches", ["Plan a picnic menu."]),
        ("", []),
    ],
)
def test_split_tasks_handles_the_layouts_small_models_produce(text, expected):
    assert split_tasks(text) == expected


def test_parse_instances_input_first_and_output_first():
    assert parse_instances("Example 1\nInput: 2+2\nOutput: 4\nExample 2\nInput: 3+3\nOutput: 6", False) == [
        {"input": "2+2", "output": "4"},
        {"input": "3+3", "output": "6"},
    ]
    assert parse_instances("Paris is the capital.", False) == [{"input": "", "output": "Paris is the capital."}]
    assert parse_instances("Class label: spam\nInput: Win money now\nClass label: not spam\nInput: Lunch at 1?", True) == [
        {"input": "Win money now", "output": "spam"},
        {"input": "Lunch at 1?", "output": "not spam"},
    ]


def test_instance_filters_remove_each_bad_kind():
    kept, reasons = filter_instances(
        [
            {"input": "a", "output": ""},
            {"input": "same", "output": "Same"},
            {"input": "x", "output": "1"},
            {"input": "x", "output": "2"},
            {"input": "q", "output": "ok"},
            {"input": "q", "output": "ok"},
            {"input": "", "output": "word " * 50},
        ],
        max_words=20,
    )
    assert kept == [{"input": "q", "output": "ok"}]
    assert sorted(reasons) == sorted(
        ["empty_output", "output_equals_input", "conflicting_outputs", "conflicting_outputs", "duplicate_instance", "instance_too_long"]
    )


def test_instruction_filters(tmp_path):
    with LoopbackServer() as server:
        si = SelfInstruct(_config(server), tmp_path)
        index, seen = si.rouge_index(), set()
        reason = si.instruction_reject_reason
        assert reason("Hi there", index, seen) == "too_short"
        assert reason("Draw a picture of a cat sitting on a mat.", index, seen) == "blacklist"
        assert reason("Go to the kitchen and fetch a glass.", index, seen) == "blacklist"
        assert reason("Write a program that sorts numbers.", index, seen) == "program"
        assert reason("- list three fruits that are red", index, seen) == "punctuation_start"
        assert reason("Rewrite the sentence in the passive voice please.", index, seen) == "rouge"
        assert reason("Name three capital cities in South America.", index, seen) is None
        seen.add("name three capital cities in south america.")
        assert reason("Name three capital cities in South America.", index, seen) == "duplicate"


def test_self_instruct_rounds_hold_the_invariants(tmp_path):
    with LoopbackServer() as server:
        result = SelfInstruct(_config(server, target=12, max_rounds=3, self_instruct={"requests_per_round": 4}), tmp_path).run()
    assert result.stop_reason == "target"
    assert result.tasks >= 12
    pool = check_run_invariants(tmp_path)
    rounds = result.rounds
    assert all(r["candidates"] == r["accepted"] + sum(r["rejected"].values()) for r in rounds)
    # round 2 prompts hold machine tasks from round 1 as parents
    assert any(p.startswith("si-") for t in pool if t.round == 2 for p in t.parents)
    rejected = read_jsonl(tmp_path / "rejected.jsonl")
    assert len(rejected) == sum(sum(r["rejected"].values()) for r in rounds)


def test_interrupted_run_resumes_without_repeating_calls(tmp_path):
    cfg = dict(target=100, max_rounds=2, self_instruct={"requests_per_round": 4})
    with LoopbackServer() as clean_server:
        SelfInstruct(_config(clean_server, **cfg), tmp_path / "clean").run()
    total_calls = clean_server.requests

    class Interrupt(Exception):
        pass

    def stop_midway(kind, info):
        if kind == "call" and info["label"].startswith("round 2: instances") and info["done"] == 2:
            raise Interrupt

    with LoopbackServer() as server:
        with pytest.raises(Interrupt):
            SelfInstruct(_config(server, **cfg), tmp_path / "run", on_progress=stop_midway).run()
        interrupted_calls = server.requests
        # The guarantee: every call the server answered is recorded, the ones still in flight when the
        # run stopped included (they end before the error goes on), so none is paid for twice.
        recorded = len(CallCache(tmp_path / "run" / "calls.jsonl"))
        resumed = SelfInstruct(_config(server, **cfg), tmp_path / "run").run()
    assert 0 < interrupted_calls < total_calls
    assert recorded == interrupted_calls
    assert server.requests == total_calls  # every call made exactly once over both runs
    assert resumed.calls_made == total_calls - interrupted_calls and resumed.calls_cached > 0
    assert (tmp_path / "run" / "records.jsonl").read_text() == (tmp_path / "clean" / "records.jsonl").read_text()


def test_budget_stops_the_run(tmp_path):
    with LoopbackServer() as server:
        result = SelfInstruct(_config(server, target=1000, budget_tokens=4000), tmp_path).run()
    assert result.stop_reason == "budget"
    assert result.tokens_used <= 4000
    assert result.rounds[-1].get("partial") is True
    check_run_invariants(tmp_path)


def test_resume_refuses_other_seeds(tmp_path):
    seeds = tmp_path / "s.jsonl"
    seeds.write_text(json.dumps({"instruction": "Name a fruit that is yellow."}) + "\n")
    with LoopbackServer() as server:
        SelfInstruct(_config(server, max_rounds=1, self_instruct={"requests_per_round": 1}), tmp_path / "w").run()
        with pytest.raises(ValueError, match="other seed tasks"):
            SelfInstruct(_config(server, seeds=str(seeds)), tmp_path / "w")


def test_descendants_of_a_seed(tmp_path):
    with LoopbackServer() as server:
        SelfInstruct(_config(server, target=16, max_rounds=3, self_instruct={"requests_per_round": 4}), tmp_path).run()
    pool = read_jsonl(tmp_path / "pool.jsonl")
    seed = pool[0]["parents"][0]
    found = descendants(pool, [seed])
    direct = {t["id"] for t in pool if seed in t["parents"]}
    assert direct <= found
    # a task whose prompt held a descendant (but not the seed) is found too
    indirect = {t["id"] for t in pool if set(t["parents"]) & direct and seed not in t["parents"]}
    assert indirect <= found


def test_evol_instruct_elimination_and_lineage(tmp_path):
    with LoopbackServer() as server:
        result = EvolInstruct(_config(server, method="evol_instruct", target=10, max_rounds=4), tmp_path).run()
    assert result.tasks >= 10
    pool = check_run_invariants(tmp_path)
    ops = {json.loads(t.generator["params"])["operation"] for t in pool}
    assert ops <= {"constraints", "deepen", "concretize", "reasoning", "breadth"} and len(ops) > 1
    ids = {t.id for t in pool}
    # evolutions of evolutions carry the whole chain back to a seed
    chained = [t for t in pool if t.parents[0] in ids]
    assert chained and all(t.parents[-1].startswith("seed-") for t in chained)


def test_evol_elimination_rules():
    assert no_gain("Name a fruit.", "name a FRUIT")
    assert not no_gain("Name a fruit.", "Name a tropical fruit and its origin.")
    assert parse_evolved("#Rewritten Prompt#: Explain X step by step.") == "Explain X step by step."
    assert response_reject_reason("Sorry, I cannot help with that.") == "response_sorry"
    assert response_reject_reason("It is the, and.") == "response_trivial"
    assert response_reject_reason("") == "empty_response"
    assert response_reject_reason("Lisbon is the capital of Portugal.") is None
