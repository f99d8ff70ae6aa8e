"""Builds ledger rows from a part's final table."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lineage.schema import LEDGER_SCHEMA, PASSTHROUGH
from operators.core.reasons import Reason
from operators.core.schema import statuses, text_hash

#: The decision (and reason prefix) of a stage that kept a record without scoring it.
NOT_SCORED = "not_scored"


def _column(table: pa.Table, name: str, default=None) -> list:
    if name in table.column_names:
        return table.column(name).to_pylist()
    return [default] * table.num_rows


def ledger_rows(
    table: pa.Table,
    run_id: str,
    stages: list[dict[str, Any]],
    placement: dict[str, tuple[str, int, int, int]],
) -> pa.Table:
    """One ledger row per row of ``table``.

    Args:
        table: the part after every stage (all rows, kept or not).
        run_id: the run writing the ledger.
        stages: ``Operator.describe()`` of each stage, in order.
        placement: for kept records, ``id -> (shard, row, token_start, token_count)``.
    """
    n = table.num_rows
    ids = table.column("id").to_pylist()
    status = statuses(table)
    quarantined = table.column("quarantined").to_pylist()
    dropped_at = table.column("dropped_at").to_pylist()
    reasons = table.column("drop_reason").to_pylist()
    texts = table.column("text").to_pylist()
    scores = {s["score_column"]: _column(table, s["score_column"]) for s in stages if s.get("score_column")}
    # Why a stage left a record unscored (e.g. a classifier for another language: "lang=fr").
    skips = {s["skip_column"]: _column(table, s["skip_column"]) for s in stages if s.get("skip_column")}

    output_hash, ops = [], []
    shard, shard_row, token_start, token_count = [], [], [], []
    for i in range(n):
        record_ops = []
        for s in stages:
            idx = s["stage_index"]
            if quarantined[i] or (dropped_at[i] is not None and dropped_at[i] < idx):
                decision, reason = "skipped", None
            elif dropped_at[i] == idx:
                decision, reason = "drop", reasons[i]
            elif s.get("skip_column") and skips[s["skip_column"]][i] is not None:
                decision, reason = NOT_SCORED, Reason(NOT_SCORED, skips[s["skip_column"]][i]).format()
            else:
                decision, reason = "keep", None
            score = scores[s["score_column"]][i] if s.get("score_column") else None
            record_ops.append(
                {
                    "stage": idx,
                    "name": s["name"],
                    "version": s["version"],
                    "fingerprint": s["fingerprint"],
                    "score": float(score) if isinstance(score, (int, float)) else None,
                    "decision": decision,
                    "reason": reason,
                }
            )
        ops.append(record_ops)
        place = placement.get(ids[i])
        if place is not None:
            output_hash.append(text_hash(texts[i]))
            shard.append(place[0])
            shard_row.append(place[1])
            token_start.append(place[2])
            token_count.append(place[3])
        else:
            output_hash.append(None)
            shard.append(None)
            shard_row.append(None)
            token_start.append(None)
            token_count.append(None)

    columns = {
        "run_id": [run_id] * n,
        "id": ids,
        "source": table.column("source").to_pylist(),
        "locator": table.column("locator").to_pylist(),
        "status": status,
        "reason": reasons,
        "raw_hash": table.column("raw_hash").to_pylist(),
        "content_hash": table.column("content_hash").to_pylist(),
        "output_hash": output_hash,
        "lang": _column(table, "lang"),
        "lang_score": _column(table, "lang_score"),
        "ops": ops,
        "dup_cluster": _column(table, "dup_cluster"),
        "dup_survivor": _column(table, "dup_survivor"),
        "shard": shard,
        "shard_row": shard_row,
        "token_start": token_start,
        "token_count": token_count,
        **{name: _column(table, name) for name in PASSTHROUGH},
    }
    return pa.table(columns, schema=LEDGER_SCHEMA)
