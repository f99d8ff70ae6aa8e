"""`dagster dev -w workspace.yaml` serves the code location: its GraphQL lists the assets, its UI draws them."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, Chromium
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SAVE_AS = ROOT / "docs" / "asset-graph.png"  # refreshed with ASSAY_SAVE_SCREENSHOT=1


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
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ASSAY_STORAGE": str(home / "workspace")}
    dagster = Path(sys.executable).with_name("dagster")
    # A real run first, recorded in the same instance, so the graph shows materialized assets and passed checks.
    subprocess.run(
        [str(Path(sys.executable).with_name("assay")), "demo", "--local", "--dagster", "--docs", "300",
         "--out", str(home / "demo")],
        cwd=ROOT, env=env, check=True, timeout=300, capture_output=True,
    )
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
    # What the "Join the Dagster community" dialog's Skip button does; otherwise it covers the graph.
    assert _graphql(dagster_dev["port"], "mutation { setNuxSeen }")["data"]["setNuxSeen"] is True
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(f"http://127.0.0.1:{dagster_dev['port']}/locations/assay/asset-groups/demo/lineage")
        deadline = time.monotonic() + 60
        while "demo_training_shards" not in (text := browser.page_text()):
            assert time.monotonic() < deadline, f"the asset graph never drew the demo assets; the page said:\n{text}"
            time.sleep(0.5)
        assert "Empty graph" not in text
        time.sleep(2)  # let the graph settle its zoom-to-fit
        png = browser.screenshot()
    finally:
        browser.close()
    assert png.startswith(b"\x89PNG") and len(png) > 30_000  # a drawn graph, not a blank page
    if os.environ.get("ASSAY_SAVE_SCREENSHOT"):
        SAVE_AS.write_bytes(png)
