"""Erasures as standing orders: what every later run of an output must not bring back.

An erasure's tombstone (``ledger/tombstones/erasure=*.parquet``) names the
records it removed (their ids and content hashes) and, when the request named
people (``--subject``), their salted subject hashes and the policy for new
records that hold their values (``drop`` or ``scrub``). :func:`standing_orders`
reads them all into one :class:`StandingOrders`; the run engine applies it
before any stage (records) and hands the subjects to the stage that finds
personal data (``pii``); ``assay lineage verify`` checks that nothing named in
it is anywhere in the output.

The subjects of an erasure are those its request selected, not every value
found in the records it removed: erasing a document does not erase every
person it mentions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from lineage.store import TOMBSTONE_DIR, TOMBSTONE_SCHEMA, parquet_files
from operators.core.base import ErasedSubject
from operators.core.derived import Erased
from operators.core.io import filesystem, join

#: What happens to a new record holding an erased subject's value.
POLICIES = ("drop", "scrub")


def read_tombstones(output: str) -> pa.Table:
    """Every tombstone row of the output folder (empty table when no erasure ran), in the current schema."""
    folder = join(output, "ledger", TOMBSTONE_DIR)
    fs, _ = filesystem(folder)
    tables = []
    for f in parquet_files(folder):
        table = pq.read_table(f, filesystem=fs)
        # Tombstones written before a column existed get it empty (null policy reads as "drop").
        columns = [
            table.column(name) if name in table.column_names else pa.nulls(table.num_rows, TOMBSTONE_SCHEMA.field(name).type)
            for name in TOMBSTONE_SCHEMA.names
        ]
        tables.append(pa.table(columns, schema=TOMBSTONE_SCHEMA))
    return pa.concat_tables(tables) if tables else TOMBSTONE_SCHEMA.empty_table()


@dataclass
class StandingOrders:
    """What the output's erasures forbid, each mapped to the erasure that forbade it (the earliest).

    Attributes:
        records: record id -> erasure id.
        contents: content hash -> erasure id.
        subjects: salted subject hash -> :class:`~operators.core.base.ErasedSubject` (erasure id, policy).
        keys: derived-store keys (``<store>:<key>``) -> erasure id.
        replacements: an erased dedup survivor's id -> the cluster member promoted in its place.
        erasures: the erasure ids, in order.
    """

    records: dict[str, str] = field(default_factory=dict)
    contents: dict[str, str] = field(default_factory=dict)
    subjects: dict[str, ErasedSubject] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    replacements: dict[str, str] = field(default_factory=dict)
    erasures: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.erasures)

    def erased(self) -> Erased:
        """Everything the orders name, as the derived stores take it."""
        return Erased(
            ids=frozenset(self.records), content_hashes=frozenset(self.contents),
            subject_hashes=frozenset(self.subjects), keys=frozenset(self.keys), replacements=dict(self.replacements),
        )

    def key(self) -> str:
        """A fingerprint of the orders: a run resumes only under the orders it started with."""
        return hashlib.sha256("\n".join(self.erasures).encode()).hexdigest()[:16] if self.erasures else ""


def standing_orders(output: str, *others: str) -> StandingOrders:
    """The standing orders of ``output`` (and of ``others``, folders whose erasures bind it too), from their tombstones."""
    table = pa.concat_tables([read_tombstones(o) for o in dict.fromkeys([output, *others])])
    orders = StandingOrders()
    rows = sorted(table.to_pylist(), key=lambda r: (r["erased_at"], r["erasure_id"]))
    for r in rows:
        eid = r["erasure_id"]
        if eid not in orders.erasures:
            orders.erasures.append(eid)
        if r["id"]:
            orders.records.setdefault(r["id"], eid)
        for h in r["content_hashes"] or []:
            orders.contents.setdefault(h, eid)
        if r["replaced_by"]:
            orders.replacements.setdefault(r["id"], r["replaced_by"])
        for k in r["derived_keys"] or []:
            orders.keys.setdefault(k, eid)
        policy = r["policy"] or "drop"
        for h in json.loads(r["selectors"] or "{}").get("subject_hashes", []):
            orders.subjects.setdefault(h, ErasedSubject(eid, policy))
    return orders
