"""Accounting: every record read ends kept, dropped or quarantined, counted by reason and source.

Workers report the fates of their part (:func:`fates`); a phase adds them up
(:func:`merge_fates`) and checks the balance ``read = kept + dropped +
quarantined`` (:func:`check_balance`); the run's summary counts reasons by
``<operator>:<code>`` and quarantines by code (:func:`reason_counts`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from operators.core.reasons import Reason
from operators.core.schema import Status
from pipelines.run.state import RunState

_TOTALS = ("rows", *(s.value for s in Status))


class AccountingError(RuntimeError):
    """read != kept + dropped + quarantined: a record was lost or invented."""


def fates(table: pa.Table, statuses: list[Status] | list[str]) -> dict[str, Any]:
    """Counts of ``statuses`` (one per row of ``table``), of the reasons of records not kept, and of sources."""
    counts = Counter(statuses)
    reasons = Counter(
        r for r, s in zip(table.column("drop_reason").to_pylist(), statuses, strict=True) if s != Status.KEPT
    )
    return {
        "rows": table.num_rows,
        **{s.value: counts.get(s, 0) for s in Status},
        "reasons": dict(reasons),
        "sources": dict(Counter(table.column("source").to_pylist())),
    }


def merge_fates(results: list[dict[str, Any]]) -> dict[str, Any]:
    totals: Counter = Counter()
    reasons: Counter = Counter()
    sources: Counter = Counter()
    for r in results:
        for key in _TOTALS:
            totals[key] += r[key]
        reasons.update(r["reasons"])
        sources.update(r["sources"])
    return {
        **{key: totals[key] for key in _TOTALS},
        "reasons": _most_first(reasons),
        "sources": dict(sources),
    }


def check_balance(state: RunState, totals: dict[str, Any], where: str) -> None:
    accounted = sum(totals[s.value] for s in Status)
    if totals["rows"] != state.read or state.read != accounted:
        raise AccountingError(
            f"run {state.run_id} ({where}): read {state.read} records but accounted for {totals['rows']} "
            f"(kept {totals['kept']} + dropped {totals['dropped']} + quarantined {totals['quarantined']}); "
            "this is a bug in assay: please report it with the recipe and the run folder"
        )


def reason_counts(reasons: dict[str | None, int]) -> tuple[dict[str, int], dict[str, int]]:
    """``(drops by <operator>:<code>, quarantines by code)``, most frequent first; details are not counted apart."""
    drops: Counter = Counter()
    quarantines: Counter = Counter()
    for text, count in reasons.items():
        reason = Reason.parse(text) if text else None
        if reason is not None and reason.quarantined:
            quarantines[reason.key] += count
        else:
            drops[reason.key if reason is not None else text] += count
    return _most_first(drops), _most_first(quarantines)


def _most_first(counts: Counter) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def tokens(shards: list[dict[str, Any]]) -> int:
    return sum(s["tokens"] for s in shards)
