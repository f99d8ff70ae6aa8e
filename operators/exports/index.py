"""The output folder's list of the exports made from it (``exports/index.json``): erasure reads it to find them."""

from __future__ import annotations

import json
from typing import Any

from operators.core.io import atomic_open, exists, filesystem, join

INDEX = "exports/index.json"


def read_index(output: str) -> list[dict[str, Any]]:
    """The exports made from ``output`` (``exports/index.json``), oldest first; empty when none."""
    path = join(output, INDEX)
    if not exists(path):
        return []
    fs, p = filesystem(path)
    with fs.open(p, "r") as f:
        return json.load(f).get("exports", [])


def register(output: str, sidecar: dict[str, Any]) -> str:
    """Add (or replace: same path) an export in ``output``'s index; returns the index's path."""
    entry = {
        "format": sidecar["export_format"],
        "path": sidecar["path"],
        "run_id": sidecar.get("run_id"),
        "shards": [s["shard"] for s in sidecar.get("shards", [])],
        "documents": sidecar.get("documents"),
        "exported_at": sidecar.get("exported_at"),
    }
    entries = [e for e in read_index(output) if e["path"] != entry["path"]] + [entry]
    path = join(output, INDEX)
    with atomic_open(path, "w") as f:
        json.dump({"format": "assay-exports", "exports": entries}, f, indent=2, sort_keys=True)
    return path
