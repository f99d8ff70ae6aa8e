"""Audit queries over the lineage ledger, with DuckDB over its Parquet files in place.

An output folder holds, besides the shards and the dataset ``manifest.json``::

    ledger/run=<run_id>/part-*.parquet   one row per input record per run (LEDGER_SCHEMA)
    ledger/placement/erasure=*.parquet   placement patches written by erasures
    ledger/tombstones/erasure=*.parquet  what each erasure removed (ids and hashes, no text)

A ledger row's ``shard``/``shard_row``/``token_start`` say where the record
landed when its run wrote the shards. An erasure rewrites shards, so it writes
a placement patch for every record it moved (new shard name, row and token
offset) or removed (``erased``); the :class:`Ledger` view ``ledger`` applies the
latest patch of each ``(run_id, id)``, so every query here sees where a record
is *now*. A placement is ``current`` when its shard is listed in the dataset
manifest as written by that record's run (the shards folder holds the latest
run's shards only; older runs' placements are history).

Nothing here reads or prints record text or personal values: ``find --subject``
hashes the value with :func:`lineage.subject.subject_hash` and matches the
salted hashes that PII scrubbing stored.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from lineage.subject import subject_hash
from operators.io import exists, filesystem, is_local, join

PLACEMENT_DIR = "placement"
TOMBSTONE_DIR = "tombstones"

PLACEMENT_SCHEMA = pa.schema(
    [
        pa.field("erasure_id", pa.string(), nullable=False),
        pa.field("patched_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("shard", pa.string()),  # null when the record was erased
        pa.field("shard_row", pa.int64()),
        pa.field("token_start", pa.int64()),
        pa.field("token_count", pa.int32()),
        pa.field("erased", pa.bool_(), nullable=False),
    ]
)

TOMBSTONE_SCHEMA = pa.schema(
    [
        pa.field("erasure_id", pa.string(), nullable=False),
        pa.field("erased_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("actor", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        # The request's selectors as JSON: record ids, source globs, subject *hashes*.
        pa.field("selectors", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        # selected | near_duplicate | descendant: why this record was erased.
        pa.field("cause", pa.string(), nullable=False),
        pa.field("via", pa.string()),  # the record it was reached from (cluster member, parent)
        pa.field("runs", pa.list_(pa.string())),
        pa.field("content_hashes", pa.list_(pa.string())),
        pa.field("subject_hashes", pa.list_(pa.string())),
        pa.field("removed_from", pa.list_(pa.string())),  # shard and rejects files rewritten
    ]
)


#: Characters of a record id (``operators.schema.record_id``); a shorter one given to a query is a prefix.
RECORD_ID_CHARS = 20


class LedgerNotFoundError(FileNotFoundError):
    """The output folder has no ledger to query."""


@dataclass
class Selectors:
    """What an audit or erasure request is about. Subjects are hashed on arrival."""

    records: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    subject_hashes: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        records: list[str] | tuple[str, ...] = (),
        sources: list[str] | tuple[str, ...] = (),
        subjects: list[str] | tuple[str, ...] = (),
        subject_hashes: list[str] | tuple[str, ...] = (),
    ) -> Selectors:
        return cls(
            records=list(records),
            sources=[_as_uri(s) for s in sources],
            subject_hashes=sorted({*(subject_hash(s) for s in subjects), *(h.lower() for h in subject_hashes)}),
        )

    def empty(self) -> bool:
        return not (self.records or self.sources or self.subject_hashes)

    def to_dict(self) -> dict[str, list[str]]:
        return {"records": self.records, "sources": self.sources, "subject_hashes": self.subject_hashes}


def _as_uri(source: str) -> str:
    """Sources are recorded as URIs: a local path (or glob) becomes ``file://`` + its absolute form."""
    if "://" in source:
        return source
    return "file://" + os.path.abspath(os.path.expanduser(source))


def _files(folder: str, suffix: str = ".parquet") -> list[str]:
    fs, p = filesystem(folder)
    if not fs.exists(p):
        return []
    return sorted(f for f in fs.find(p) if f.endswith(suffix) and ".tmp-" not in f)


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


class Ledger:
    """A DuckDB connection with views over one output folder's ledger.

    Views: ``ledger_raw`` (the run files as written, plus ``filename``),
    ``ledger`` (placements patched by erasures, plus ``erased``, ``placed_by``
    and ``current``), ``placement``, ``tombstones`` and ``shards_now`` (the
    dataset manifest's shards).
    """

    def __init__(self, output: str, threads: int | None = None):
        self.output = str(output).rstrip("/")
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if not is_local(self.output):  # fsspec URLs: let DuckDB read through fsspec
            fs, _ = filesystem(self.output)
            self.con.register_filesystem(fs)
        self.ledger_dir = join(self.output, "ledger")
        self.run_files = [f for f in _files(self.ledger_dir) if "/run=" in f.replace(os.sep, "/")]
        if not self.run_files:
            raise LedgerNotFoundError(
                f"no ledger under {self.ledger_dir}; run a recipe first (`assay run RECIPE` or `assay demo`) "
                "or point --out at the run's output folder"
            )
        self._view("ledger_raw", self.run_files, filename=True)
        self.placement_files = _files(join(self.ledger_dir, PLACEMENT_DIR))
        self.tombstone_files = _files(join(self.ledger_dir, TOMBSTONE_DIR))
        self._view("placement", self.placement_files, schema=PLACEMENT_SCHEMA)
        self._view("tombstones", self.tombstone_files, schema=TOMBSTONE_SCHEMA)
        self.manifest = self._read_manifest()
        shards = self.manifest.get("shards", [])
        self.con.register(
            "shards_now_arrow",
            pa.table(
                {
                    "shard": pa.array([s["shard"] for s in shards], pa.string()),
                    "shard_run": pa.array([s.get("run_id") for s in shards], pa.string()),
                    "rows": pa.array([s.get("rows") for s in shards], pa.int64()),
                    "tokens": pa.array([s.get("tokens") for s in shards], pa.int64()),
                }
            ),
        )
        self.con.execute("CREATE VIEW shards_now AS SELECT * FROM shards_now_arrow")
        if self.placement_files:
            self.con.execute(
                """
                CREATE VIEW placement_latest AS
                SELECT * FROM placement
                QUALIFY row_number() OVER (PARTITION BY run_id, id ORDER BY patched_at DESC, erasure_id DESC) = 1
                """
            )
            patched = """
                SELECT l.* EXCLUDE (shard, shard_row, token_start, token_count),
                       CASE WHEN p.id IS NULL THEN l.shard ELSE p.shard END AS shard,
                       CASE WHEN p.id IS NULL THEN l.shard_row ELSE p.shard_row END AS shard_row,
                       CASE WHEN p.id IS NULL THEN l.token_start ELSE p.token_start END AS token_start,
                       CASE WHEN p.id IS NULL THEN l.token_count ELSE p.token_count END AS token_count,
                       coalesce(p.erased, false) AS erased,
                       p.erasure_id AS placed_by,
                       l.shard AS written_shard
                FROM ledger_raw l LEFT JOIN placement_latest p ON l.run_id = p.run_id AND l.id = p.id
            """
        else:
            patched = """
                SELECT l.*, false AS erased, NULL::VARCHAR AS placed_by, l.shard AS written_shard FROM ledger_raw l
            """
        self.con.execute(
            f"""
            CREATE VIEW ledger AS
            SELECT x.*, (s.shard IS NOT NULL) AS current
            FROM ({patched}) x LEFT JOIN shards_now s ON x.shard = s.shard AND x.run_id = s.shard_run
            """
        )

    # ------------------------------------------------------------ plumbing

    def _view(self, name: str, files: list[str], schema: pa.Schema | None = None, filename: bool = False) -> None:
        if files:
            self.con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_list(files)}, "
                f"union_by_name=true, hive_partitioning=false{', filename=true' if filename else ''})"
            )
        else:
            self.con.register(f"{name}_empty", schema.empty_table())
            self.con.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}_empty")

    def _read_manifest(self) -> dict[str, Any]:
        path = join(self.output, "manifest.json")
        if not exists(path):
            return {}
        fs, p = filesystem(path)
        with fs.open(p, "r") as f:
            return json.load(f)

    def rows(self, query: str, params: list | None = None) -> list[dict[str, Any]]:
        cursor = self.con.execute(query, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, query: str, params: list | None = None) -> Any:
        return self.con.execute(query, params or []).fetchone()[0]

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------ selection

    def full_ids(self, ids: list[str]) -> list[str]:
        """Record ids, each given whole or as a prefix that only one record's id starts with (tables print prefixes).

        An id no record has is returned as given (a query then finds nothing).

        Raises:
            ValueError: a prefix several records' ids start with.
        """
        out = []
        for given in ids:
            if len(given) >= RECORD_ID_CHARS or self.scalar("SELECT count(*) FROM ledger_raw WHERE id = ?", [given]):
                out.append(given)
                continue
            matches = [r["id"] for r in self.rows(
                "SELECT DISTINCT id FROM ledger_raw WHERE starts_with(id, ?) ORDER BY id LIMIT 4", [given])]
            if len(matches) > 1:
                raise ValueError(f"record id {given!r} is the start of several ids ({', '.join(matches[:3])}"
                                 f"{', ...' if len(matches) > 3 else ''}); give more of it")
            out.append(matches[0] if matches else given)
        return out

    def resolved(self, selectors: Selectors) -> Selectors:
        """``selectors`` with record id prefixes made whole (see :meth:`full_ids`)."""
        if not selectors.records:
            return selectors
        return Selectors(self.full_ids(selectors.records), selectors.sources, selectors.subject_hashes)

    def where(self, selectors: Selectors, alias: str = "") -> tuple[str, list]:
        """A SQL condition (and its parameters) matching ledger rows selected by ``selectors``."""
        a = f"{alias}." if alias else ""
        clauses, params = [], []
        if selectors.records:
            clauses.append(f"{a}id IN (SELECT unnest(?::VARCHAR[]))")
            params.append(selectors.records)
        for pattern in selectors.sources:
            if _is_glob(pattern):
                clauses.append(f"{a}source GLOB ?")
            else:
                clauses.append(f"{a}source = ?")
            params.append(pattern)
        if selectors.subject_hashes:
            clauses.append(
                f"list_has_any(list_transform({a}pii, lambda x: x.hash), ?::VARCHAR[])"
            )
            params.append(selectors.subject_hashes)
        return "(" + " OR ".join(clauses or ["false"]) + ")", params


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
    from operators.shards import verify_shard

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
        matched_by.append(f"CASE WHEN source {'GLOB' if _is_glob(pattern) else '='} ? THEN 'source' END")
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
