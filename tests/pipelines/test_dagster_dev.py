"""`dagster dev -w workspace.yaml` serves the code location: its GraphQL lists the assets, its UI draws them."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
LOCATION = "pipelines.definitions"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ASSAY_STORAGE": str(home / "workspace")}
    dagster = Path(sys.executable).with_name("dagster")
    log = open(home / "dagster-dev.log", "w")  # noqa: SIM115 - closed below, after the server stops
    proc = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } } }")
                if data.get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dagster dev did not serve the code location:\n{(home / 'dagster-dev.log').read_text()[-3000:]}")
            time.sleep(1)
        yield {"port": port, "home": home}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the code-location process it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_graphql_lists_every_phase_asset(dagster_dev):
    data = _graphql(dagster_dev["port"], "{ assetNodes { assetKey { path } } }")
    keys = {node["assetKey"]["path"][0] for node in data["data"]["assetNodes"]}
    assert {"demo_raw_documents", "demo_decided_documents", "demo_deduplicated_documents", "demo_training_shards",
            "demo_lineage_ledger", "demo_landed_batch"} <= keys


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium for the screenshot (apt-get install chromium)")
def test_asset_graph_screenshot(dagster_dev, tmp_path):
    png = tmp_path / "asset-graph.png"
    url = f"http://127.0.0.1:{dagster_dev['port']}/locations/{LOCATION}/asset-groups/demo"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=20000", f"--screenshot={png}", "--window-size=1600,1000", url],
        check=True, timeout=120, capture_output=True,
    )
    assert png.exists() and png.stat().st_size > 10_000  # a drawn graph, not a blank page
