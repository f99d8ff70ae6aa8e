"""Copies of records outside the shards that erasure must also reach: exports and report samples.

* Exports (``assay export``) are listed in ``OUTPUT/exports/index.json``. Whether
  one holds an erased record is read from the export itself (its ids), so a
  rerun after a crash still finds what is left; a holding export is rewritten
  without those records by its own format's writer
  (:func:`operators.exports.rewrite_without`). An export that cannot be read
  back blocks the erasure, which then changes nothing and names it.
* Reports (``assay report``) show a few dropped records' text; each report's
  snapshot (``reports/run=<id>.json``) lists their ids, and the sample rows of
  erased records are cut out of the page in place (between its
  ``<!--sample:ID-->`` markers).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from operators.core.io import atomic_open, exists, filesystem, join
from operators.exports import ExportError, read_ids, read_index, rewrite_without


@dataclass
class Copies:
    """Where the records to erase have copies outside the shards and rejects."""

    exports: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> {format, ids}
    reports: dict[str, list[str]] = field(default_factory=dict)  # report snapshot -> ids shown
    blocked: list[str] = field(default_factory=list)  # exports that cannot be checked: the erasure refuses
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.exports or self.reports)

    def to_dict(self) -> dict[str, Any]:
        return {"exports": {p: len(e["ids"]) for p, e in self.exports.items()},
                "reports": {p: len(ids) for p, ids in self.reports.items()}, "blocked": self.blocked}


def find(output: str, ids: set[str]) -> Copies:
    copies = Copies()
    for entry in read_index(output):
        path, fmt = entry["path"], entry["format"]
        if not os.path.exists(path) and not os.path.exists(f"{path}.idx"):
            copies.warnings.append(f"export {path} ({fmt}) listed in {join(output, 'exports/index.json')} is gone")
            continue
        try:
            hits = sorted(set(read_ids(fmt, path)) & ids)
        except (ExportError, OSError, ValueError, KeyError) as e:
            copies.blocked.append(f"{path} ({fmt}): {e}")
            continue
        if hits:
            copies.exports[path] = {"format": fmt, "ids": hits}
    folder = join(output, "reports")
    if exists(folder):
        fs, p = filesystem(folder)
        for snapshot in sorted(f for f in fs.ls(p, detail=False) if f.endswith(".json")):
            with fs.open(snapshot, "r") as f:
                shown = set(json.load(f).get("sample_ids") or [])
            if hits := sorted(shown & ids):
                copies.reports[snapshot] = hits
    return copies


def rewrite(copies: Copies, erasure_id: str) -> dict[str, Any]:
    """Rewrite every export and report that holds an erased record; returns what changed."""
    exports = {}
    for path, entry in copies.exports.items():
        before = len(read_ids(entry["format"], path))
        sidecar = rewrite_without(entry["format"], path, entry["ids"], erasure_id)
        exports[path] = before - sidecar["documents"]
    reports = {}
    for snapshot, ids in copies.reports.items():
        fs, p = filesystem(snapshot)
        with fs.open(p, "r") as f:
            data = json.load(f)
        page = snapshot.removesuffix(".json") + ".html"  # beside its snapshot, wherever the folder moved
        if exists(page):
            with fs.open(filesystem(page)[1], "r") as f:
                html = f.read()
            for rid in ids:
                marker = re.escape(rid)
                html = re.sub(
                    f"<!--sample:{marker}-->.*?<!--/sample:{marker}-->",
                    f'<tr><td colspan="3" class="empty">a record removed by erasure {erasure_id}</td></tr>',
                    html, flags=re.DOTALL,
                )
            with atomic_open(page, "w") as f:
                f.write(html)
        data["sample_ids"] = [i for i in data.get("sample_ids", []) if i not in set(ids)]
        with atomic_open(snapshot, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        reports[page] = len(ids)
    return {"exports": exports, "reports": reports}
