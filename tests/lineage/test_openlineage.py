"""OpenLineage events of a real (tiny) run: shape per the spec, the dataset graph, files and HTTP."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jsonschema
import pytest

from lineage import openlineage as ol
from operators.execution.executor import LocalExecutor
from pipelines.recipe import load
from pipelines.run import RunStateError
from tests.operators.test_pipeline import recipe

# The OpenLineage 2-0-2 RunEvent, as its JSON Schema requires it: BaseEvent (eventTime, producer,
# schemaURL), RunEvent (run with a uuid runId, job with namespace and name, eventType from the
# enum), datasets with namespace and name, and every facet with _producer and _schemaURL.
FACET = {"type": "object", "required": ["_producer", "_schemaURL"],
         "properties": {"_producer": {"type": "string", "format": "uri"},
                        "_schemaURL": {"type": "string", "format": "uri"}}}
FACETS = {"type": "object", "additionalProperties": FACET}
DATASET = {"type": "object", "required": ["namespace", "name"],
           "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": FACETS,
                          "inputFacets": FACETS, "outputFacets": FACETS}}
RUN_EVENT = {
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {"type": "object", "required": ["runId"],
                "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": FACETS}},
        "job": {"type": "object", "required": ["namespace", "name"],
                "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": FACETS}},
        "inputs": {"type": "array", "items": DATASET},
        "outputs": {"type": "array", "items": DATASET},
    },
}


def check_event(event: dict) -> None:
    jsonschema.validate(event, RUN_EVENT)
    # Formats jsonschema only checks with optional packages: check them here.
    uuid.UUID(event["run"]["runId"])
    assert dt.datetime.fromisoformat(event["eventTime"]).tzinfo is not None
    for uri in (event["producer"], event["schemaURL"]):
        assert uri.startswith("https://")
    assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-2/OpenLineage.json")


def run_tiny(tmp_path):
    pipeline = load(recipe(tmp_path)).pipeline()
    return pipeline, pipeline.run(LocalExecutor())


def test_a_run_writes_start_and_complete_per_phase(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_OPENLINEAGE", raising=False)
    monkeypatch.delenv(ol.URL_ENV, raising=False)
    pipeline, result = run_tiny(tmp_path)
    files = sorted((tmp_path / "out" / "openlineage" / result.run_id).glob("*.json"))
    events = [json.loads(f.read_text()) for f in files]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        (f"test.{phase}", t) for phase in ol.PHASES for t in ("START", "COMPLETE")
    ]
    for e in events:
        check_event(e)
        assert e["job"]["namespace"] == "assay"
        assert e["run"]["facets"]["assay"]["run_id"] == result.run_id
        assert e["run"]["facets"]["parent"]["run"]["runId"] == ol.run_uuid(result.run_id)
    by_phase = {e["job"]["name"].split(".")[1]: e for e in events if e["eventType"] == "COMPLETE"}
    starts = {e["job"]["name"]: e["run"]["runId"] for e in events if e["eventType"] == "START"}
    assert all(starts[e["job"]["name"]] == e["run"]["runId"] for e in by_phase.values())
    assert len(set(starts.values())) == len(ol.PHASES)  # one run per phase
    # The datasets chain: source -> read -> decide -> deduplicate -> shards, ledger and rejects.
    source = by_phase["read"]["inputs"][0]
    assert source == {"namespace": "file", "name": str(tmp_path / "in.jsonl")}
    for a, b in zip(ol.PHASES, ol.PHASES[1:-1], strict=False):
        assert [d["name"] for d in by_phase[a]["outputs"]] == [d["name"] for d in by_phase[b]["inputs"]]
    assert [d["name"] for d in by_phase["write_ledger"]["inputs"]] == [d["name"] for d in by_phase["deduplicate"]["outputs"]]
    shards = by_phase["write_shards"]["outputs"][0]
    assert shards["name"] == str(tmp_path / "out" / "shards")
    assert shards["outputFacets"]["outputStatistics"]["rowCount"] == result.kept
    ledger, rejects = by_phase["write_ledger"]["outputs"]
    assert ledger["outputFacets"]["outputStatistics"]["rowCount"] == result.read
    assert rejects["outputFacets"]["outputStatistics"]["rowCount"] == result.dropped + result.quarantined
    assert by_phase["write_ledger"]["run"]["facets"]["assay"]["counts"]["rows"] == result.read


def test_a_failing_phase_emits_fail_and_still_raises(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_OPENLINEAGE", raising=False)
    monkeypatch.delenv(ol.URL_ENV, raising=False)
    pipeline = load(recipe(tmp_path)).pipeline()
    state = pipeline.start("20990101T000000Z-failing")
    with pytest.raises(RunStateError):
        pipeline.decide(LocalExecutor(), state)  # out of order: read has not run
    events = [json.loads(f.read_text()) for f in sorted((tmp_path / "out" / "openlineage").rglob("*.json"))]
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    check_event(events[1])
    assert "phase 'decide' follows" in events[1]["run"]["facets"]["errorMessage"]["message"]


def test_events_post_to_an_openlineage_endpoint(tmp_path, monkeypatch):
    received: list[tuple[str, dict, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body), self.headers.get("Authorization")))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.delenv("ASSAY_OPENLINEAGE", raising=False)
        monkeypatch.setenv(ol.URL_ENV, f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv(ol.API_KEY_ENV, "k3y")
        monkeypatch.setenv(ol.NAMESPACE_ENV, "team-data")
        _, result = run_tiny(tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 2 * len(ol.PHASES)
    assert {path for path, _, _ in received} == {"/api/v1/lineage"}
    assert {auth for _, _, auth in received} == {"Bearer k3y"}
    for _, event, _ in received:
        check_event(event)
        assert event["job"]["namespace"] == "team-data"
    assert not (tmp_path / "out" / "openlineage").exists()  # posted, not written


def test_an_unreachable_endpoint_falls_back_to_files(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_OPENLINEAGE", raising=False)
    monkeypatch.setenv(ol.URL_ENV, "http://127.0.0.1:9/lineage")  # discard port: nothing listens
    emitter = ol.Emitter.from_env(str(tmp_path))
    assert emitter.endpoint() == "http://127.0.0.1:9/lineage"
    event = ol.run_event("START", "j", ol.run_uuid("r"), [ol.dataset("s3://bucket/key/x.jsonl")], [])
    check_event(event)
    assert event["inputs"][0] == {"namespace": "s3://bucket", "name": "/key/x.jsonl"}
    where = emitter.emit(event, "r", "read")
    assert json.loads(Path(where).read_text()) == event


def test_emission_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_OPENLINEAGE", "off")
    _, result = run_tiny(tmp_path)
    assert result.balanced and not (tmp_path / "out" / "openlineage").exists()
