"""``assay lineage verify``: proof that every erasure of an output still holds.

For every tombstone, the erased record ids, content hashes and subject hashes
must appear in none of:

* the shards (every ``shards/*.arrow`` file, listed in the manifest or not: read
  for their ids; the ledger rows currently placed in them for content and
  subject hashes, since a shard holds tokens and text, not hashes);
* the rejects files (``rejects/run=*/*.parquet``: ids, content hashes, the
  ``pii`` hashes);
* a work folder kept with ``--keep-work`` (``_work/**/*.parquet``, same columns);
* the derived stores (:mod:`operators.core.derived`: the incremental dedup
  index, synthesis caches, whatever a package registered).

A later run that obeyed the orders recorded an erased subject it scrubbed as
``erased:<erasure id>``, not as the hash, so a hash found anywhere is a copy
that escaped. :func:`verify` returns every finding; the command exits 1 when
there is one, and the ledger asset's ``erasures_hold`` check blocks on it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lineage.erasure_plan import dataset_manifest
from lineage.standing import StandingOrders, standing_orders
from lineage.store import Ledger, LedgerNotFoundError, parquet_files
from operators.core.derived import Found, stores
from operators.core.io import exists, filesystem, is_local, join, read_parquet
from operators.formats.shards import read_shard

__all__ = ["verify"]


def _files(folder: str, suffix: str) -> list[str]:
    found = parquet_files(folder, suffix)
    return found if is_local(folder) else [filesystem(folder)[0].unstrip_protocol(f) for f in found]


def _in_table(path: str, table: pa.Table, orders: StandingOrders) -> list[Found]:
    """Erased ids, content hashes and subject hashes in a record table's columns.

    Rows a standing order dropped (``erased:<id>``, emptied as they were read)
    are the run's bookkeeping, as in the ledger, not copies.
    """
    found: list[Found] = []
    if "drop_reason" in table.column_names:
        table = table.filter(pc.invert(pc.fill_null(pc.starts_with(table.column("drop_reason"), "erased:"), False)))
    for column, kind, values in (("id", "id", orders.records), ("content_hash", "content_hash", orders.contents)):
        if column in table.column_names and values:
            col = table.column(column)
            hits = col.filter(pc.fill_null(pc.is_in(col, value_set=pa.array(list(values), pa.string())), False))
            found += [Found(path, kind, v) for v in sorted(set(hits.to_pylist()))]
    if "pii" in table.column_names and orders.subjects:
        hashes = {e["hash"] for entries in table.column("pii").to_pylist() for e in entries or [] if e.get("hash")}
        found += [Found(path, "subject_hash", h) for h in sorted(hashes & set(orders.subjects))]
    return found


def _in_ledger(output: str, orders: StandingOrders) -> list[Found]:
    """Content and subject hashes of the records the ledger places in a current shard."""
    try:
        db = Ledger(output)
    except LedgerNotFoundError:
        return []
    try:
        rows = db.rows(
            """
            SELECT shard, id, content_hash, list_transform(coalesce(pii, []), lambda x: x.hash) AS hashes
            FROM ledger WHERE current AND NOT erased AND shard IS NOT NULL
              AND (content_hash IN (SELECT unnest(?::VARCHAR[]))
                   OR list_has_any(list_transform(coalesce(pii, []), lambda x: x.hash), ?::VARCHAR[]))
            """,
            [list(orders.contents), list(orders.subjects)],
        )
    finally:
        db.close()
    found = []
    for r in rows:
        where = join(output, "shards", r["shard"])
        if r["content_hash"] in orders.contents:
            found.append(Found(where, "content_hash", r["content_hash"]))
        found += [Found(where, "subject_hash", h) for h in sorted(set(r["hashes"]) & set(orders.subjects))]
    return found


def verify(output: str) -> dict[str, Any]:
    """Look for every erased id and hash of ``output``'s tombstones; ``passed`` when none is found."""
    orders = standing_orders(output)
    found: list[Found] = []
    looked: dict[str, int] = {"shards": 0, "rejects": 0, "work": 0}
    if orders:
        ids = pa.array(list(orders.records), pa.string())
        for path in _files(join(output, "shards"), ".arrow"):
            looked["shards"] += 1
            col = read_shard(path).column("id")
            hits = col.filter(pc.is_in(col, value_set=ids))
            found += [Found(path, "id", v) for v in sorted(set(hits.to_pylist()))]
        found += _in_ledger(output, orders)
        for kind, folder in (("rejects", join(output, "rejects")), ("work", join(output, "_work"))):
            for path in _files(folder, ".parquet") if exists(folder) else []:
                looked[kind] += 1
                found += _in_table(path, read_parquet(path), orders)
        manifest, erased = dataset_manifest(output), orders.erased()
        for store in stores():
            where = store.locations(output, manifest)
            looked[store.name] = len(where)
            if where:
                found += store.find(output, manifest, erased)
    return {
        "output": output,
        "passed": not found,
        "erasures": orders.erasures,
        "erased": {"records": len(orders.records), "content_hashes": len(orders.contents),
                   "subjects": len(orders.subjects), "derived_keys": len(orders.keys)},
        "looked_in": looked,
        "found": [asdict(f) for f in found],
    }
