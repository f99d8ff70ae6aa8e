"""Two `assay run` on one output: the second stops at once naming the first; after a SIGKILL, a new run takes over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from operators.core.lock import LOCK_FILE
from tests.reliability.conftest import ASSAY, assay, done_count, write_recipe


@pytest.mark.slow
def test_a_second_run_fails_fast_and_a_killed_runs_lock_is_taken_over(corpus_dir, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, out)
    first = subprocess.Popen([ASSAY, "run", str(recipe), "--local"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while done_count(out, "read") < 1:  # the first run is under way, holding the lock
            assert first.poll() is None and time.monotonic() < deadline, "the first run ended before its read phase"
            time.sleep(0.01)
        holder = json.loads((out / LOCK_FILE).read_text())
        assert holder["pid"] == first.pid

        t0 = time.monotonic()
        second = assay("run", str(recipe), "--local")
        assert second.returncode == 2 and time.monotonic() - t0 < 60
        said = " ".join((second.stdout + second.stderr).split())
        assert f"is being written by run {holder['run_id']} (pid {first.pid} on host" in said, said
        assert first.poll() is None  # the first run goes on
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()

    third = assay("run", str(recipe), "--local")
    assert third.returncode == 0, third.stderr + third.stdout
    assert "stale lock" in third.stderr + third.stdout
    assert not (out / LOCK_FILE).exists()  # a finished run gives it back
