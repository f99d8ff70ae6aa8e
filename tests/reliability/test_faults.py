"""Faults on purpose: a Ray worker killed mid-stage, a full disk, an unwritable output, an unreachable source."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest

from operators.formats.shards import verify_shard
from tests.reliability.conftest import ASSAY, assay, done_count, snapshot, write_recipe


def _ray_map_workers(pid: int) -> list[psutil.Process]:
    workers = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if " ".join(child.cmdline()).startswith("ray::MapWorker"):
                workers.append(child)
    return workers


@pytest.mark.slow
def test_a_ray_worker_killed_mid_stage_is_retried(reference, corpus_dir, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, out)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own local Ray
    proc = subprocess.Popen(
        [ASSAY, "run", str(recipe), "--concurrency", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env,
    )
    killed = None
    try:
        deadline = time.monotonic() + 480
        while proc.poll() is None and time.monotonic() < deadline:
            if killed is None and done_count(out, "stage-00") >= 2:
                workers = _ray_map_workers(proc.pid)
                if workers:
                    killed = workers[0].pid
                    workers[0].kill()  # SIGKILL, mid-stage: the stage still has parts to do
            time.sleep(0.01)
        output, _ = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
    assert killed is not None, "no Ray map worker was found to kill"
    assert proc.returncode == 0, output[-3000:]
    assert snapshot(out) == reference


@contextlib.contextmanager
def _small_filesystem(path: Path, size: str):
    """A real tmpfs of ``size`` at ``path`` (needs root); skips the test where it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip() or 'not root'}): no real full disk")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
def test_full_disk_fails_clearly_leaves_nothing_half_written_and_resumes(reference, corpus_dir, tmp_path):
    mount = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    with _small_filesystem(mount, "1200k"):
        out = mount / "out"
        recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, out)
        failed = assay("run", str(recipe), "--local")
        assert failed.returncode != 0
        assert "No space left on device" in failed.stderr and "resumes where it stopped" in failed.stderr
        assert "Traceback" not in failed.stderr
        # Whatever was written is either complete and verifiable or absent: no shard without a valid manifest,
        # no temporary file left behind, no summary claiming success.
        for shard in (out / "shards").glob("*.arrow") if (out / "shards").exists() else []:
            assert verify_shard(str(shard)) == [], shard
        assert not list(out.rglob("*.tmp-*"))
        assert not (out / "summary.json").exists()
        # Space is freed (the filesystem grows); the same command finishes the run.
        subprocess.run(["mount", "-o", "remount,size=256m", str(mount)], check=True)
        resumed = assay("run", str(recipe), "--local")
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming run" in resumed.stderr
        assert snapshot(out) == reference


def test_unwritable_output_fails_with_a_next_step(corpus_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    recipe = write_recipe(tmp_path / "recipe.yaml", corpus_dir, blocker / "out")
    result = assay("run", str(recipe), "--local")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "a-file" in result.stderr


def test_unreachable_source_fails_clearly(tmp_path):
    recipe = write_recipe(tmp_path / "recipe.yaml", "http://127.0.0.1:9/nothing-listens-here.jsonl", tmp_path / "out")
    start = time.monotonic()
    result = assay("run", str(recipe), "--local", timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "nothing-listens-here" in result.stderr
    assert time.monotonic() - start < 120
