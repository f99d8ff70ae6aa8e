"""The synthesis work folder as a derived store: an erased task's calls and pool entry go, the others stay."""

from __future__ import annotations

from pathlib import Path

from operators.core.derived import Erased
from synth.backends import Completion
from synth.pool import Task, read_jsonl, write_jsonl_atomic
from synth.runner import CallCache
from synth.store import CallCacheStore


def test_forget_removes_the_calls_a_task_fed_or_came_from_and_its_pool_entry(tmp_path):
    work = tmp_path / "out" / "synth"
    cache = CallCache(work / "calls.jsonl")
    cache.put("k-demo", Completion("1. Name three rivers", 10, 5), tasks=["si-gone", "seed-1"])  # its text in the prompt
    cache.put("k-made", Completion("Describe a storm", 10, 5), tasks=["seed-1"])
    cache.tag("k-made", ["si-gone"])  # the call whose completion produced the task
    cache.put("k-other", Completion("Sort these words", 10, 5), tasks=["seed-2"])
    cache.close()
    write_jsonl_atomic(work / "pool.jsonl", [Task("si-gone", "Describe a storm").to_dict(),
                                             Task("si-kept", "Sort these words").to_dict()])
    store, out = CallCacheStore(), str(tmp_path / "out")
    record = {"generator": {"model": "m"}, "parents": ["si-gone", "seed-1"]}
    assert store.keys(out, {}, [record]) == ["si-gone"]
    assert store.keys(out, {}, [{"generator": None, "parents": None}]) == []  # a record not made by synthesis
    erased = Erased(keys=frozenset({"synth_calls:si-gone"}))
    assert {f.path.rsplit("/", 1)[1] for f in store.find(out, {}, erased)} == {"calls.jsonl", "pool.jsonl"}

    removed = store.remove(out, {}, erased)
    assert removed == {str(work / "calls.jsonl"): 2, str(work / "pool.jsonl"): 1}
    assert {e["key"] for e in CallCache(work / "calls.jsonl").entries()} == {"k-other"}
    assert [t["id"] for t in read_jsonl(Path(work / "pool.jsonl"))] == ["si-kept"]
    assert store.find(out, {}, erased) == [] and store.remove(out, {}, erased) == {}  # idempotent
