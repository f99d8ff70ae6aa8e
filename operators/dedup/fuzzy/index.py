"""The incremental fuzzy-dedup index as a derived store: erased records leave it.

The index (:class:`~operators.dedup.fuzzy.operator.FuzzyDedup`, ``incremental:
true``) keeps, per record an earlier run signed, its band hashes, MinHash
signature and id (``bands/p*/run-*.parquet``), and for each record it dropped,
the survivor it was dropped for (``dropped/p*/run-*.parquet``: node key ->
survivor id). Left alone after an erasure, it would keep data derived from the
erased text and drop tomorrow's near-copies as duplicates of a record that no
longer exists. Removing a record takes its band rows out and its dropped entry;
entries that named an erased survivor name the record promoted in its place
(``forget --no-near-duplicates``), or go when there is none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.core.derived import DerivedStore, Erased, Found, manifest_stages
from operators.core.io import (
    exists,
    filesystem,
    is_absolute,
    is_local,
    join,
    read_parquet,
    remove,
    write_parquet_atomic,
)

_NAME = "fuzzy_dedup"


def _files(index: str, kind: str) -> list[str]:
    fs, folder = filesystem(join(index, kind))
    if not fs.exists(folder):
        return []
    found = sorted(p for p in fs.find(folder) if p.endswith(".parquet") and ".tmp-" not in p)
    return found if is_local(index) else [fs.unstrip_protocol(p) for p in found]  # find drops a URL's scheme


class FuzzyIndexStore(DerivedStore):
    """fuzzy_dedup's incremental index (``<output>/_index/fuzzy_dedup`` or the stage's ``index_path``)."""

    name = "fuzzy_dedup_index"
    description = "MinHash signatures and ids of earlier runs' records (fuzzy_dedup incremental index)"

    def locations(self, output: str, manifest: dict[str, Any]) -> list[str]:
        paths = [join("_index", _NAME)]
        paths += [s["config"]["index_path"] for s in manifest_stages(manifest, _NAME) if s["config"].get("index_path")]
        found = []
        for path in dict.fromkeys(paths):
            index = path if is_absolute(path) else join(output, path)
            if exists(join(index, "meta.json")):
                found.append(index)
        return found

    def find(self, output: str, manifest: dict[str, Any], erased: Erased) -> list[Found]:
        found = []
        ids = pa.array(sorted(erased.ids), pa.string())
        for index in self.locations(output, manifest):
            for path in _files(index, "bands"):
                hits = read_parquet(path, columns=["id"]).column("id")
                found += [Found(path, "id", i) for i in sorted(set(hits.filter(pc.is_in(hits, value_set=ids)).to_pylist()))]
            for path in _files(index, "dropped"):
                survivors = read_parquet(path, columns=["survivor"]).column("survivor")
                named = survivors.filter(pc.is_in(survivors, value_set=ids)).to_pylist()
                found += [Found(path, "id", i) for i in sorted(set(named))]
        return found

    def remove(self, output: str, manifest: dict[str, Any], erased: Erased) -> dict[str, int]:
        removed: dict[str, int] = {}
        gone = pa.array(sorted(erased.ids), pa.string())
        promoted = pa.array(sorted(set(erased.replacements.values())), pa.string())
        for index in self.locations(output, manifest):
            erased_keys, promoted_keys = [], []
            for path in _files(index, "bands"):
                table = read_parquet(path)
                hit = pc.is_in(table.column("id"), value_set=gone)
                erased_keys.append(table.filter(hit).column("key").to_numpy())
                promoted_keys.append(table.filter(pc.is_in(table.column("id"), value_set=promoted)).column("key").to_numpy())
                n = pc.sum(hit).as_py() or 0
                if n:
                    _rewrite(table.filter(pc.invert(hit)), path)
                    removed[path] = n
            # A dropped entry goes with its record, and with a promoted record (now a survivor itself).
            drop_keys = pa.array(np.unique(np.concatenate([*erased_keys, *promoted_keys, np.zeros(0, np.int64)])), pa.int64())
            for path in _files(index, "dropped"):
                table = read_parquet(path)
                survivors = table.column("survivor").to_pylist()
                renamed = [erased.replacements.get(s, s) for s in survivors]
                keep = pc.and_(
                    pc.invert(pc.is_in(table.column("key"), value_set=drop_keys)),
                    pc.invert(pc.is_in(pa.array(renamed, pa.string()), value_set=gone)),
                )
                new = table.set_column(table.schema.get_field_index("survivor"), "survivor", pa.array(renamed, pa.string()))
                new = new.filter(keep)
                if new.num_rows != table.num_rows or renamed != survivors:
                    _rewrite(new, path)
                    removed[path] = table.num_rows - new.num_rows + sum(a != b for a, b in zip(renamed, survivors, strict=True))
        return removed


def _rewrite(table: pa.Table, path: str) -> None:
    if table.num_rows:
        write_parquet_atomic(table, path)
    else:
        remove(path)
