"""Invariants every synthesis run must hold, whatever the model wrote."""

from __future__ import annotations

import json
from pathlib import Path

from synth.pool import RougeIndex, Task, load_seeds, read_jsonl


def check_run_invariants(work: Path, seeds_path=None, rouge_threshold: float = 0.7) -> list[Task]:
    """Assert the pool and records of a finished run; return the machine tasks."""
    seeds = load_seeds(seeds_path)
    pool = [Task.from_dict(d) for d in read_jsonl(work / "pool.jsonl")]
    known = {t.id for t in seeds} | {t.id for t in pool}
    index = RougeIndex()
    # No accepted instruction is within the ROUGE-L bound of any other instruction in the pool.
    texts = [t.instruction for t in seeds] + [t.instruction for t in pool]
    for i, t in enumerate(pool):
        me = len(seeds) + i
        for j, other in enumerate(texts):
            if j != me:
                score = index.score(other, t.instruction)
                assert score < rouge_threshold, (t.instruction, other, score)
    for t in pool:
        assert t.parents, t
        assert set(t.parents) <= known, t.parents
        assert t.generator and t.generator["model"] and t.generator["method"] and t.generator["template_version"]
        json.loads(t.generator["params"])
        assert t.instances and all(i["output"].strip() for i in t.instances)
    lines = (work / "records.jsonl").read_text().splitlines()
    assert len(lines) == sum(len(t.instances) for t in pool)
    for line in lines:
        r = json.loads(line)
        assert r["instruction"].strip() and r["output"].strip() and r["text"].strip()
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
        assert r["parents"][0] == r["task_id"] and set(r["parents"]) <= known
        assert r["generator"]["model"]
    return pool
