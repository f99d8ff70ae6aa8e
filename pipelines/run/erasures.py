"""The output's erasures, obeyed by every run: ``assay lineage forget`` is a standing order.

Before any stage, a run reads the output's tombstones (:mod:`lineage.standing`)
and

* drops every record it reads whose id or content hash an erasure removed
  (reason ``erased:<erasure id>``; its text, meta and image are removed on the
  spot, and it never reaches a shard or the rejects: the ledger row says what
  happened, with no text);
* hands the erased subjects (salted hashes and each order's policy) to the
  operators that find personal values (``honours_erased_subjects``: ``pii``),
  which drop or scrub a new record holding one of them. A recipe that must obey
  such orders and has no such stage is refused before it starts.

``assay run``, the Dagster assets (and so the daily schedule and the landing
sensor) all go through :class:`~pipelines.run.Pipeline`, which calls this
module: there is no way to run a recipe around it.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from lineage.standing import StandingOrders, standing_orders
from operators.core.base import Operator
from operators.core.reasons import Reason
from operators.core.schema import set_column

__all__ = ["ErasureOrderError", "StandingOrders", "check", "drop_erased", "orders", "bind"]

#: ``dropped_at`` of a record a standing order dropped: before the first stage.
BEFORE_ANY_STAGE = -1
# What a dropped erased record no longer carries (the rest says what it was, not what it said).
_CONTENT = ("text", "meta", "image")


class ErasureOrderError(ValueError):
    """The output's erasures cannot be obeyed by this recipe (erased subjects, but no stage that finds them)."""


def orders(output: str, *others: str) -> StandingOrders:
    """The standing orders of ``output`` and of ``others`` together (empty when nothing was ever erased there)."""
    return standing_orders(output, *others)


def check(standing: StandingOrders, stages: list[Operator], output: str) -> None:
    """Refuse a recipe that cannot obey the output's orders.

    Raises:
        ErasureOrderError: the output has erased subjects and no stage honours them.
    """
    if standing.subjects and not any(op.honours_erased_subjects for op in stages):
        raise ErasureOrderError(
            f"{output} has {len(standing.subjects)} erased person(s) (tombstones under {output}/ledger/tombstones): "
            "every run must find their personal data in new records and drop or scrub it, which needs a `pii` "
            "stage; add `- op: pii` to the recipe's stages (before the dedup stages), or write to another output"
        )


def bind(standing: StandingOrders, stages: list[Operator]) -> None:
    """Hand the erased subjects to the stages that find personal values."""
    for op in stages:
        if op.honours_erased_subjects:
            op.erased_subjects = dict(standing.subjects)


def drop_erased(table: pa.Table, records: dict[str, str], contents: dict[str, str]) -> pa.Table:
    """``table`` with the records an erasure removed dropped as ``erased:<erasure id>`` and emptied.

    Args:
        records: erased record id -> erasure id.
        contents: erased content hash -> erasure id.
    """
    if not table.num_rows or not (records or contents):
        return table
    ids, hashes = table.column("id"), table.column("content_hash")
    hit = pc.fill_null(
        pc.or_(pc.is_in(ids, value_set=pa.array(list(records), pa.string())),
               pc.is_in(hashes, value_set=pa.array(list(contents), pa.string()))),
        False,
    )
    if not pc.any(hit).as_py():
        return table
    reasons: list[str | None] = []
    for rid, h in zip(ids.to_pylist(), hashes.to_pylist(), strict=True):
        erasure = records.get(rid) or contents.get(h)
        reasons.append(Reason.erased(erasure).format() if erasure else None)
    reason = pa.array(reasons, pa.string())
    table = set_column(table, "keep", pc.if_else(hit, False, table.column("keep")))
    table = set_column(table, "quarantined", pc.if_else(hit, False, table.column("quarantined")))
    table = set_column(table, "drop_reason", pc.if_else(hit, reason, table.column("drop_reason")))
    table = set_column(
        table, "dropped_at", pc.if_else(hit, pa.scalar(BEFORE_ANY_STAGE, pa.int16()), table.column("dropped_at"))
    )
    for name in _CONTENT:
        if name in table.column_names:
            column = table.column(name)
            table = set_column(table, name, pc.if_else(hit, pa.scalar(None, column.type), column))
    return table


def is_erased(table: pa.Table) -> pa.ChunkedArray:
    """Rows dropped by a standing order (their reason is ``erased:<id>``): never written to the rejects."""
    prefix = Reason.ERASED + ":"
    return pc.fill_null(pc.starts_with(table.column("drop_reason"), prefix), False)
