"""Audit queries over the lineage ledger: a record's story, a shard's content, who is where, reports.

The queries run with DuckDB over the ledger's Parquet files in place, through
the :class:`~lineage.store.Ledger` view (which applies erasures' placement
patches, so every query sees where a record is *now*).

Nothing here reads or prints record text or personal values: ``find --subject``
hashes the value with :func:`operators.core.subject.subject_hash` and matches the
salted hashes that PII scrubbing stored.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np

from lineage.store import Ledger, LedgerNotFoundError, Selectors, is_glob
from operators.core.io import exists, join

__all__ = ["Ledger", "LedgerNotFoundError", "Selectors", "find", "laplace_noise", "report", "shard", "trace"]


# ---------------------------------------------------------------- queries


def _ts(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def trace(output: str, record_id: str, member_limit: int = 50, ledger: Ledger | None = None) -> dict[str, Any]:
    """A record's whole story, in every run that read it.

    Returns a dict with ``id``, ``found``, ``runs`` (one entry per run: source,
    locator, status, every operator's version/fingerprint/score/decision/reason,
    dedup cluster with survivor and other members, PII types and counts,
    placement with token span, parents, children, generator) and ``tombstones``.
    """
    db = ledger or Ledger(output)
    record_id = db.full_ids([record_id])[0]
    rows = db.rows(
        """
        SELECT run_id, id, source, locator, status, reason, raw_hash, content_hash, output_hash, lang, lang_score,
               ops, dup_cluster, dup_survivor, shard, shard_row, token_start, token_count, pii, parents, generator,
               erased, placed_by, current, written_shard
        FROM ledger WHERE id = ? ORDER BY run_id
        """,
        [record_id],
    )
    runs = []
    for r in rows:
        dedup = None
        if r["dup_cluster"] is not None:
            members = db.rows(
                # dup_survivor too: an earlier stage's copies of this record (its dup_cluster is the last stage's)
                "SELECT id, status FROM ledger WHERE run_id = ? AND (dup_cluster = ? OR dup_survivor = ?) AND id <> ?"
                " ORDER BY id",
                [r["run_id"], r["dup_cluster"], record_id, record_id],
            )
            dedup = {
                "cluster": r["dup_cluster"],
                "survivor": r["dup_survivor"],
                "is_survivor": r["dup_survivor"] == record_id,
                "size": len(members) + 1,
                "members": members[:member_limit],
            }
        pii = r["pii"] or []
        children = db.rows(
            "SELECT DISTINCT id FROM ledger WHERE run_id = ? AND list_contains(coalesce(parents, []), ?) ORDER BY id",
            [r["run_id"], record_id],
        )
        placement = None
        if r["shard"] is not None:
            placement = {
                "shard": r["shard"],
                "row": r["shard_row"],
                "token_start": r["token_start"],
                "token_count": r["token_count"],
                "token_end": r["token_start"] + r["token_count"],
                "current": bool(r["current"]),
                "rewritten_by": r["placed_by"],
                "written_as": r["written_shard"],
            }
        runs.append(
            {
                "run_id": r["run_id"],
                "source": r["source"],
                "locator": r["locator"],
                "status": "erased" if r["erased"] else r["status"],
                "status_at_run": r["status"],
                "reason": r["reason"],
                "hashes": {"raw": r["raw_hash"], "content": r["content_hash"], "output": r["output_hash"]},
                "lang": r["lang"],
                "lang_score": r["lang_score"],
                "ops": r["ops"] or [],
                "dedup": dedup,
                "pii": {"count": len(pii), "types": dict(Counter(p["type"] for p in pii))},
                "placement": placement,
                "erased": bool(r["erased"]),
                "erased_by": r["placed_by"] if r["erased"] else None,
                "parents": r["parents"] or [],
                "children": [c["id"] for c in children],
                "generator": r["generator"],
            }
        )
    tombstones = db.rows(
        "SELECT erasure_id, erased_at, actor, reason, cause, via FROM tombstones WHERE id = ? ORDER BY erased_at", [record_id]
    )
    for t in tombstones:
        t["erased_at"] = _ts(t["erased_at"])
    return {"id": record_id, "found": bool(runs), "runs": runs, "tombstones": tombstones}


def _resolve_shard(db: Ledger, name: str) -> str:
    """A shard's current name from a path, a file name, or the name it had before an erasure rewrote it."""
    name = os.path.basename(name.rstrip("/")).removesuffix(".manifest.json")
    known = {s["shard"] for s in db.manifest.get("shards", [])}
    if name not in known and f"{name}.arrow" in known:
        name += ".arrow"  # as the lineage tables print it
    if name in known:
        return name
    # Follow the rename chain: erasures record the shard each record was written to.
    renamed = db.rows(
        "SELECT DISTINCT shard FROM ledger WHERE written_shard = ? AND shard IS NOT NULL AND current", [name]
    )
    if len(renamed) == 1:
        return renamed[0]["shard"]
    return name


def shard(output: str, name: str, ledger: Ledger | None = None) -> dict[str, Any]:
    """What went into a shard: its records by source, and the stage decisions of the parts that fed it.

    Args:
        output: the output folder.
        name: the shard's file name (or path, or the name it had before an erasure rewrote it).
    """
    from operators.formats.shards import verify_shard

    db = ledger or Ledger(output)
    resolved = _resolve_shard(db, name)
    entry = next((s for s in db.manifest.get("shards", []) if s["shard"] == resolved), None)
    run_id = entry.get("run_id") if entry else None
    if run_id is None:  # not a current shard: the latest run that wrote a shard of that name
        run_id = db.scalar("SELECT max(run_id) FROM ledger WHERE shard = ?", [resolved])
    if run_id is None:
        known = ", ".join(s["shard"] for s in db.manifest.get("shards", [])[:5])
        raise KeyError(f"no ledger row places a record in shard {name!r}; current shards: {known or 'none'}")
    by_source = db.rows(
        """
        SELECT source, count(*) AS records, sum(token_count)::BIGINT AS tokens
        FROM ledger WHERE run_id = ? AND shard = ? GROUP BY source ORDER BY records DESC, source
        """,
        [run_id, resolved],
    )
    parts = [
        r["filename"]
        for r in db.rows(
            "SELECT DISTINCT filename FROM ledger WHERE run_id = ? AND (shard = ? OR written_shard = ?) ORDER BY 1",
            [run_id, resolved, resolved],
        )
    ]
    stages, fed, reasons_by_source = [], {}, []
    if parts:
        in_parts = "filename IN (SELECT unnest(?::VARCHAR[])) AND run_id = ?"
        stages = db.rows(
            f"""
            SELECT op.stage AS stage, op.name AS name, op.version AS version, op.fingerprint AS fingerprint,
                   count(*) FILTER (WHERE op.decision = 'keep') AS keep,
                   count(*) FILTER (WHERE op.decision = 'drop') AS drop,
                   count(*) FILTER (WHERE op.decision = 'skipped') AS skipped,
                   count(*) FILTER (WHERE op.decision = 'not_scored') AS not_scored,
                   avg(op.score) AS mean_score
            FROM (SELECT unnest(ops) AS op FROM ledger WHERE {in_parts})
            GROUP BY ALL ORDER BY stage
            """,
            [parts, run_id],
        )
        drop_reasons = db.rows(
            f"""
            SELECT op.name AS name, op.reason AS reason, count(*) AS n
            FROM (SELECT unnest(ops) AS op FROM ledger WHERE {in_parts})
            WHERE op.decision = 'drop' GROUP BY ALL ORDER BY n DESC
            """,
            [parts, run_id],
        )
        for s in stages:
            s["reasons"] = {d["reason"]: d["n"] for d in drop_reasons if d["name"] == s["name"]}
        fed = db.rows(
            f"""
            SELECT count(*) AS read,
                   count(*) FILTER (WHERE status = 'kept' AND NOT erased) AS kept,
                   count(*) FILTER (WHERE status = 'dropped' AND NOT erased) AS dropped,
                   count(*) FILTER (WHERE status = 'quarantined' AND NOT erased) AS quarantined,
                   count(*) FILTER (WHERE erased) AS erased
            FROM ledger WHERE {in_parts}
            """,
            [parts, run_id],
        )[0]
        reasons_by_source = db.rows(
            f"""
            SELECT source, status, count(*) AS n FROM ledger WHERE {in_parts} GROUP BY ALL ORDER BY source, status
            """,
            [parts, run_id],
        )
    path = join(db.output, "shards", resolved)
    problems = verify_shard(path) if entry and exists(path) else [f"{path}: not in the current dataset"]
    erasures = [e for e in db.manifest.get("erasures", []) if resolved in e.get("shards", {}).values()]
    return {
        "shard": resolved,
        "asked": name,
        "path": path,
        "run_id": run_id,
        "current": entry is not None,
        "manifest": {k: entry[k] for k in ("rows", "tokens", "sha256", "bytes") if k in entry} if entry else None,
        "verified": not problems,
        "problems": problems,
        "records": sum(r["records"] for r in by_source),
        "tokens": sum(r["tokens"] or 0 for r in by_source),
        "by_source": by_source,
        "parts": [os.path.basename(p) for p in parts],
        "fed_by": fed,
        "fed_by_source": reasons_by_source,
        "stages": stages,
        "erasures": erasures,
    }


def find(output: str, selectors: Selectors, limit: int | None = 1000, ledger: Ledger | None = None) -> dict[str, Any]:
    """Every ledger row (record x run) the selectors match, and the shards holding them now.

    ``limit`` caps the records listed (``None``: all); counts are always complete.
    """
    if selectors.empty():
        raise ValueError("nothing to find: give --record, --source, --subject or --subject-hash")
    db = ledger or Ledger(output)
    selectors = db.resolved(selectors)
    cond, params = db.where(selectors)
    matched_by = []
    if selectors.records:
        matched_by.append("CASE WHEN id IN (SELECT unnest(?::VARCHAR[])) THEN 'record' END")
    for pattern in selectors.sources:
        matched_by.append(f"CASE WHEN source {'GLOB' if is_glob(pattern) else '='} ? THEN 'source' END")
    if selectors.subject_hashes:
        matched_by.append(
            "CASE WHEN list_has_any(list_transform(pii, lambda x: x.hash), ?::VARCHAR[]) "
            "THEN 'subject' END"
        )
    match_expr = "list_distinct(list_filter([" + ", ".join(matched_by) + "], lambda x: x IS NOT NULL))"
    db.con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE found AS
        SELECT run_id, id, source, locator, status, reason, shard, shard_row, token_start, token_count, erased,
               current, dup_cluster, {match_expr} AS matched_by,
               list_transform(list_filter(coalesce(pii, []), lambda x: list_contains(?::VARCHAR[], x.hash)), lambda x: x.type)
                   AS subject_types
        FROM ledger WHERE {cond}
        """,
        [*params, selectors.subject_hashes or [], *params],
    )
    total = db.scalar("SELECT count(*) FROM found")
    records = db.rows(
        f"SELECT * FROM found ORDER BY run_id DESC, id {'LIMIT ' + str(int(limit)) if limit else ''}"
    )
    shards = db.rows(
        """
        SELECT shard, run_id, current, count(*) AS records, sum(token_count)::BIGINT AS tokens
        FROM found WHERE shard IS NOT NULL GROUP BY ALL ORDER BY current DESC, run_id DESC, shard
        """
    )
    summary = db.rows(
        """
        SELECT count(DISTINCT id) AS records, count(DISTINCT run_id) AS runs,
               count(*) FILTER (WHERE current) AS in_current_shards,
               count(*) FILTER (WHERE erased) AS erased,
               count(*) FILTER (WHERE status = 'kept') AS kept,
               count(*) FILTER (WHERE status = 'dropped') AS dropped,
               count(*) FILTER (WHERE status = 'quarantined') AS quarantined
        FROM found
        """
    )[0]
    return {
        "selectors": selectors.to_dict(),
        "rows": total,
        "summary": summary,
        "records": records,
        "truncated": bool(limit) and total > limit,
        "shards": shards,
    }


# ---------------------------------------------------------------- report


def laplace_noise(shape: int | tuple[int, ...], epsilon: float, sensitivity: float = 1.0,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Laplace mechanism noise: scale ``b = sensitivity / epsilon`` (variance ``2 b^2``).

    Adding it to counts of sensitivity ``sensitivity`` (one person changes a
    count by at most that) makes their release ``epsilon``-differentially private.
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if sensitivity <= 0:
        raise ValueError(f"sensitivity must be > 0, got {sensitivity}")
    rng = rng if rng is not None else np.random.default_rng()
    return rng.laplace(0.0, sensitivity / epsilon, size=shape)


def _noisy(table: list[dict[str, Any]], columns: list[str], epsilon: float, sensitivity: float,
           rng: np.random.Generator) -> None:
    """Replace each count with a noisy one, rounded and clamped at 0 (post-processing keeps the guarantee)."""
    if not table:
        return
    noise = laplace_noise((len(table), len(columns)), epsilon, sensitivity, rng)
    for row, draws in zip(table, noise, strict=True):
        for col, n in zip(columns, draws, strict=True):
            row[col] = max(0, int(round((row[col] or 0) + n)))


def report(output: str, runs: list[str] | None = None, epsilon: float | None = None, sensitivity: float = 1.0,
           seed: int | None = None, ledger: Ledger | None = None) -> dict[str, Any]:
    """Drops by stage and reason, fates by source, and fates over runs.

    Fates are exclusive: ``read = kept + dropped + quarantined + erased`` (an
    erased record counts as erased whatever its fate in its run).

    With ``epsilon``, every count is released through the Laplace mechanism
    with scale ``sensitivity / epsilon``. Each table is a histogram in which a
    record sits in one cell per run, so each table costs ``epsilon`` per run
    it covers; the report states the total by sequential composition.
    """
    db = ledger or Ledger(output)
    cond = "run_id IN (SELECT unnest(?::VARCHAR[]))" if runs else "true"
    params = [runs] if runs else []
    by_stage = db.rows(
        f"""
        SELECT op.stage AS stage, op.name AS name,
               -- 'op:reason' only: a reason's detail (fuzzy_dedup names each survivor) is per record
               array_to_string(list_slice(string_split(coalesce(op.reason, ''), ':'), 1, 2), ':') AS reason,
               count(*) AS records
        FROM (SELECT unnest(ops) AS op FROM ledger WHERE {cond}) WHERE op.decision = 'drop'
        GROUP BY ALL ORDER BY stage, records DESC, reason
        """,
        params,
    )
    quarantine = db.rows(
        f"""
        SELECT 'quarantine' AS name, coalesce(reason, '') AS reason, count(*) AS records
        FROM ledger WHERE {cond} AND status = 'quarantined' GROUP BY ALL ORDER BY records DESC, reason
        """,
        params,
    )
    fates = """
        count(*) AS read,
        count(*) FILTER (WHERE status = 'kept' AND NOT erased) AS kept,
        count(*) FILTER (WHERE status = 'dropped' AND NOT erased) AS dropped,
        count(*) FILTER (WHERE status = 'quarantined' AND NOT erased) AS quarantined,
        count(*) FILTER (WHERE erased) AS erased
    """
    by_source = db.rows(f"SELECT source, {fates} FROM ledger WHERE {cond} GROUP BY source ORDER BY read DESC, source", params)
    over_runs = db.rows(f"SELECT run_id, {fates} FROM ledger WHERE {cond} GROUP BY run_id ORDER BY run_id", params)
    n_runs = len(over_runs)
    result: dict[str, Any] = {
        "runs": [r["run_id"] for r in over_runs],
        "drops_by_stage": by_stage,
        "quarantine": quarantine,
        "by_source": by_source,
        "over_runs": over_runs,
        "erasures": db.scalar("SELECT count(DISTINCT erasure_id) FROM tombstones"),
        "dp": None,
    }
    if epsilon is not None:
        rng = np.random.default_rng(seed)
        count_cols = ["read", "kept", "dropped", "quarantined", "erased"]
        _noisy(by_stage, ["records"], epsilon, sensitivity, rng)
        _noisy(quarantine, ["records"], epsilon, sensitivity, rng)
        _noisy(by_source, count_cols, epsilon, sensitivity, rng)
        _noisy(over_runs, count_cols, epsilon, sensitivity, rng)
        result["erasures"] = None  # not released under DP
        # Tables: drops (stage+quarantine cells are disjoint: one histogram), sources, runs. In the
        # fates tables a record adds to one row's read and one fate column: two cells.
        result["dp"] = {
            "mechanism": "laplace",
            "epsilon_per_count": epsilon,
            "sensitivity": sensitivity,
            "scale": sensitivity / epsilon,
            "seed": seed,
            "total_epsilon": epsilon * (1 + 2 + 2) * max(1, n_runs),
            "note": "counts are rounded and clamped at 0 after noise; total_epsilon bounds the privacy loss "
            "of this whole report for one record read in every run covered (sequential composition)",
        }
    return result
