"""Dataset-level OpenLineage events for each phase of a run: a run listener.

Every phase of a run (:class:`operators.core.phases.Phase`: read, decide,
deduplicate, write_shards, write_ledger) is a job ``<recipe>.<phase>`` in the
namespace ``$ASSAY_OPENLINEAGE_NAMESPACE`` (default ``assay``); each phase run
emits a ``START`` event with its input datasets and a ``COMPLETE`` (or
``FAIL``) event with its outputs, so Marquez and other OpenLineage consumers
draw ``sources -> read -> decide -> deduplicate -> shards / ledger / rejects``.
Each event carries the standard ``parent`` run facet (the whole assay run) and
an ``assay`` run facet (assay run id, recipe fingerprint, the phase's counts).
The datasets are the ones the run engine names for each phase
(:class:`~operators.core.phases.PhaseEvent`); this module knows no folder layout.

Where they go:

- by default, JSON files under ``<output>/openlineage/<run_id>/``;
- to an OpenLineage HTTP endpoint when ``$ASSAY_OPENLINEAGE_URL`` is set
  (``http://marquez:5000`` posts to ``/api/v1/lineage``; a URL with a path is used
  as is; ``$ASSAY_OPENLINEAGE_API_KEY`` is sent as a bearer token). An event
  that cannot be posted is written to the files instead, with a warning;
- nowhere with ``ASSAY_OPENLINEAGE=off``.

Emission never fails a run: errors are logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlparse

from operators.core.io import atomic_open, is_local, join, local_path
from operators.core.phases import Dataset, Phase, PhaseEvent, RunListener

log = logging.getLogger(__name__)

URL_ENV = "ASSAY_OPENLINEAGE_URL"
API_KEY_ENV = "ASSAY_OPENLINEAGE_API_KEY"
NAMESPACE_ENV = "ASSAY_OPENLINEAGE_NAMESPACE"
SWITCH_ENV = "ASSAY_OPENLINEAGE"  # "off" disables emission

SPEC_VERSION = "2-0-2"
SCHEMA_URL = f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://pypi.org/project/assay/0.1.0"
PARENT_FACET_URL = "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet"
JOB_TYPE_FACET_URL = "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
ERROR_FACET_URL = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
STATS_FACET_URL = (
    "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json"
    "#/$defs/OutputStatisticsOutputDatasetFacet"
)
ASSAY_FACET_URL = f"{PRODUCER}#/facets/AssayRunFacet"

#: The phases that are OpenLineage jobs, in order.
PHASES = tuple(p.value for p in Phase.ran())
# uuid5 namespace for assay run ids: START and COMPLETE of one phase run share their runId.
_UUID_NS = uuid.UUID("6f1d3c52-8b8e-4f43-9d0c-0a55a7e1c001")


def dataset(path: str) -> dict[str, str]:
    """OpenLineage dataset naming: ``file`` + absolute path locally, ``scheme://authority`` + path remotely."""
    path = str(path)
    if is_local(path):
        return {"namespace": "file", "name": os.path.abspath(local_path(path))}
    u = urlparse(path)
    return {"namespace": f"{u.scheme}://{u.netloc}", "name": u.path or "/"}


def run_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NS, "/".join(parts)))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def run_event(
    event_type: str,
    job: str,
    run_id: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    run_facets: dict[str, Any] | None = None,
    namespace: str | None = None,
    event_time: str | None = None,
) -> dict[str, Any]:
    """One OpenLineage RunEvent (spec 2-0-2) as a JSON-ready dict."""
    return {
        "eventType": event_type,
        "eventTime": event_time or _now(),
        "run": {"runId": run_id, "facets": run_facets or {}},
        "job": {
            "namespace": namespace or os.environ.get(NAMESPACE_ENV, "assay"),
            "name": job,
            "facets": {
                "jobType": {
                    "_producer": PRODUCER,
                    "_schemaURL": JOB_TYPE_FACET_URL,
                    "processingType": "BATCH",
                    "integration": "ASSAY",
                    "jobType": "TASK",
                }
            },
        },
        "inputs": inputs,
        "outputs": outputs,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


class Emitter:
    """Sends events to ``$ASSAY_OPENLINEAGE_URL`` or writes them under ``<output>/openlineage``."""

    def __init__(self, output: str, url: str | None = None, api_key: str | None = None, timeout: float = 5.0):
        self.output = output
        self.url = url
        self.api_key = api_key
        self.timeout = timeout

    @classmethod
    def from_env(cls, output: str) -> Emitter | None:
        if os.environ.get(SWITCH_ENV, "").lower() in ("off", "0", "false", "no"):
            return None
        url = os.environ.get(URL_ENV) or None
        return cls(output, url=url, api_key=os.environ.get(API_KEY_ENV))

    def endpoint(self) -> str:
        u = urlparse(self.url or "")
        return self.url.rstrip("/") + "/api/v1/lineage" if u.path in ("", "/") else self.url

    def emit(self, event: dict[str, Any], assay_run_id: str, label: str) -> str:
        """Deliver ``event``; returns where it went (the URL or the file)."""
        if self.url:
            try:
                request = urllib.request.Request(
                    self.endpoint(),
                    data=json.dumps(event).encode(),
                    headers={
                        "Content-Type": "application/json",
                        **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
                    },
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return self.endpoint()
            except Exception as e:  # the run goes on; the event is kept on disk
                log.warning("OpenLineage: cannot post to %s (%s); writing the event to files instead", self.url, e)
        # Names sort in the order the events happened: phase number, then START before its end.
        phase_no = Phase(label).number if label in PHASES else 99
        step = {"START": 0, "RUNNING": 1}.get(event["eventType"], 2)
        name = f"{phase_no:02d}.{step}-{label}-{event['eventType']}.json"
        path = join(self.output, "openlineage", assay_run_id, name)
        with atomic_open(path, "w") as f:
            json.dump(event, f, indent=2)
        return path


def _dataset(d: Dataset, completed: bool) -> dict[str, Any]:
    out: dict[str, Any] = dataset(d.path)
    if completed and d.rows is not None:
        stats = {"rowCount": d.rows, **({"size": d.bytes} if d.bytes is not None else {})}
        out["outputFacets"] = {"outputStatistics": {"_producer": PRODUCER, "_schemaURL": STATS_FACET_URL, **stats}}
    return out


class OpenLineageListener(RunListener):
    """Emits a START and a COMPLETE or FAIL event per phase through an :class:`Emitter`."""

    def __init__(self, emitter: Emitter):
        self.emitter = emitter

    @classmethod
    def from_env(cls, output: str) -> OpenLineageListener | None:
        """The listener ``$ASSAY_OPENLINEAGE*`` asks for; None when switched off."""
        emitter = Emitter.from_env(output)
        return cls(emitter) if emitter is not None else None

    def phase_started(self, event: PhaseEvent) -> None:
        self._emit("START", event)

    def phase_completed(self, event: PhaseEvent) -> None:
        self._emit("COMPLETE", event)

    def phase_failed(self, event: PhaseEvent) -> None:
        error = {
            "errorMessage": {
                "_producer": PRODUCER,
                "_schemaURL": ERROR_FACET_URL,
                "message": str(event.error)[:2000] or type(event.error).__name__,
                "programmingLanguage": "python",
            }
        }
        self._emit("FAIL", event, error)

    def _emit(self, event_type: str, event: PhaseEvent, extra: dict[str, Any] | None = None) -> None:
        phase = event.phase.value
        facets = {
            "parent": {
                "_producer": PRODUCER,
                "_schemaURL": PARENT_FACET_URL,
                "run": {"runId": run_uuid(event.run_id)},
                "job": {"namespace": os.environ.get(NAMESPACE_ENV, "assay"), "name": event.pipeline},
            },
            "assay": {
                "_producer": PRODUCER,
                "_schemaURL": ASSAY_FACET_URL,
                "run_id": event.run_id,
                "phase": phase,
                "recipe_fingerprint": event.fingerprint,
                "counts": event.counts,
            },
            **(extra or {}),
        }
        completed = event_type == "COMPLETE"
        body = run_event(
            event_type,
            f"{event.pipeline}.{phase}",
            run_uuid(event.run_id, phase),
            [dataset(d.path) for d in event.inputs],
            [_dataset(d, completed) for d in event.outputs],
            facets,
        )
        try:
            self.emitter.emit(body, event.run_id, phase)
        except Exception as e:  # lineage metadata must never fail the data run
            log.warning("OpenLineage: could not emit %s of %s: %s", event_type, phase, e)
