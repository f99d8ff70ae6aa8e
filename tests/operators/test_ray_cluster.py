"""The demo recipe on a real two-node Ray cluster started on loopback."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture
def two_node_cluster(tmp_path):
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    # Ray's socket paths must stay under 107 bytes: pytest's tmp_path is too deep.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    subprocess.run(
        [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common],
        env=env, check=True, capture_output=True, timeout=120,
    )
    try:
        subprocess.run(
            [RAY, "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True, capture_output=True, timeout=120
        )
        yield f"127.0.0.1:{port}", env
    finally:
        # Not `ray stop`: it kills every Ray process on the machine, the test session's own Ray included
        # (and with it the pytest process connected to it). Only this cluster's processes go.
        _kill_cluster([f"127.0.0.1:{port}", f"port={port}", temp])
        shutil.rmtree(temp, ignore_errors=True)


def _kill_cluster(marks: list[str]) -> None:
    import psutil

    for _ in range(3):
        victims = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if any(mark in cmdline for mark in marks) and proc.pid != os.getpid():
                victims.append(proc)
                with contextlib.suppress(psutil.Error):
                    victims.extend(proc.children(recursive=True))
        if not victims:
            return
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(victims, timeout=10)


def test_demo_on_two_nodes(two_node_cluster, tmp_path):
    address, env = two_node_cluster
    probe = (
        "import ray, json; ray.init(); "
        "print(json.dumps(len([n for n in ray.nodes() if n['Alive']])))"
    )
    nodes = subprocess.run([sys.executable, "-c", probe], env={**env, "RAY_ADDRESS": address},
                           capture_output=True, text=True, timeout=120)
    assert nodes.stdout.strip().splitlines()[-1] == "2", nodes.stderr[-2000:]

    out = tmp_path / "demo"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--out", str(out), "--docs", "400"],
        env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Ray at {address}" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["read"] == 400 == summary["kept"] + summary["dropped"] + summary["quarantined"]
    assert summary["shards"] and time.monotonic() - start < 600


def test_semantic_dedup_on_two_nodes_decides_as_in_process(two_node_cluster, tmp_path):
    pytest.importorskip("onnxruntime", reason="semantic_dedup needs the 'embeddings' extra (make test installs it)")
    from tests.operators.test_semantic_dedup import decisions

    address, env = two_node_cluster
    root = Path(__file__).resolve().parents[2]
    script = f"from tests.operators.test_semantic_dedup import decisions; print(decisions({str(tmp_path / 'ray')!r}))"
    proc = subprocess.run([sys.executable, "-c", script], env={**env, "RAY_ADDRESS": address}, cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    on_cluster = json.loads(proc.stdout.strip().splitlines()[-1])
    local = json.loads(decisions(str(tmp_path / "local")))
    assert on_cluster == local
    assert sum(1 for keep, *_ in local if not keep) == 4  # the four near-duplicates, decided on two nodes
