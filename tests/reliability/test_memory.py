"""Peak memory stays flat as the corpus grows: 10x the data runs under the same memory (stream, don't collect)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from operators.sample_corpus import write_jsonl

RUN = """
import json, resource, sys
from operators.execution.executor import LocalExecutor
from pipelines.recipe import load
recipe = json.loads(sys.argv[1])
result = load(recipe).pipeline().run(LocalExecutor())
print(json.dumps({"read": result.read, "balanced": result.balanced,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _peak(tmp_path, docs: int) -> dict:
    corpus = tmp_path / f"corpus-{docs}.jsonl.gz"
    write_jsonl(corpus, docs, seed=7)
    recipe = {
        "name": "memory",
        "sources": [{"path": str(corpus)}],
        "stages": [{"op": "normalize"}, {"op": "lang_id"}, {"op": "gopher_quality"}, {"op": "exact_dedup"}],
        "output": str(tmp_path / f"out-{docs}"),
        "rows_per_part": 300,
    }
    done = subprocess.run([sys.executable, "-c", RUN, json.dumps(recipe)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "input_mb": corpus.stat().st_size / 2**20}


@pytest.mark.slow
def test_ten_times_the_data_runs_in_the_same_memory(tmp_path):
    small = _peak(tmp_path, 600)
    large = _peak(tmp_path, 6_000)
    assert small["balanced"] and large["balanced"] and large["read"] == 10 * small["read"]
    # The 10x run holds at most one part (300 records) more than the 1x run; collecting the corpus
    # would add tens of MB (6,000 documents of ~2 kB each, several copies in Python and Arrow).
    print(f"peak RSS: {small['peak_mb']:.0f} MB for {small['read']} docs, {large['peak_mb']:.0f} MB for {large['read']}")
    assert large["peak_mb"] - small["peak_mb"] < 15, (small, large)


@pytest.mark.slow
def test_worker_memory_ceiling_is_enforced_and_the_run_resumes_without_it(corpus_dir, tmp_path):
    from tests.reliability.conftest import assay, write_recipe

    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, tmp_path / "out")
    over = assay("run", str(recipe), "--local", env={**os.environ, "ASSAY_WORKER_MEMORY_MB": "50"})
    assert over.returncode != 0 and "Traceback" not in over.stderr
    assert "over the ceiling of 50 MB" in over.stderr and "rows_per_part" in over.stderr
    fine = assay("run", str(recipe), "--local", env={k: v for k, v in os.environ.items() if k != "ASSAY_WORKER_MEMORY_MB"})
    assert fine.returncode == 0 and "resuming run" in fine.stderr
