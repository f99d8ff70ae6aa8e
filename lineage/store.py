"""The lineage ledger as DuckDB sees it: the output folder's layout, selectors of records, and the ``ledger`` view.

An output folder holds, besides the shards and the dataset ``manifest.json``::

    ledger/run=<run_id>/part-*.parquet   one row per input record per run (LEDGER_SCHEMA)
    ledger/placement/erasure=*.parquet   placement patches written by erasures
    ledger/tombstones/erasure=*.parquet  what each erasure removed (ids and hashes, no text)

A ledger row's ``shard``/``shard_row``/``token_start`` say where the record
landed when its run wrote the shards. An erasure rewrites shards, so it writes
a placement patch for every record it moved (new shard name, row and token
offset) or removed (``erased``); the :class:`Ledger` view ``ledger`` applies the
latest patch of each ``(run_id, id)``, so every query sees where a record is
*now*. A placement is ``current`` when its shard is listed in the dataset
manifest as written by that record's run (the shards folder holds the latest
run's shards only; older runs' placements are history).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from operators.core.io import exists, filesystem, is_local, is_url, join
from operators.core.subject import subject_hash

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


#: Characters of a record id (``operators.core.schema.record_id``); a shorter one given to a query is a prefix.
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
    if is_url(source):
        return source
    return "file://" + os.path.abspath(os.path.expanduser(source))


def parquet_files(folder: str, suffix: str = ".parquet") -> list[str]:
    fs, p = filesystem(folder)
    if not fs.exists(p):
        return []
    return sorted(f for f in fs.find(p) if f.endswith(suffix) and ".tmp-" not in f)


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def is_glob(pattern: str) -> bool:
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
        self.run_files = [f for f in parquet_files(self.ledger_dir) if "/run=" in f.replace(os.sep, "/")]
        if not self.run_files:
            raise LedgerNotFoundError(
                f"no ledger under {self.ledger_dir}; run a recipe first (`assay run RECIPE` or `assay demo`) "
                "or point --out at the run's output folder"
            )
        self._view("ledger_raw", self.run_files, filename=True)
        self.placement_files = parquet_files(join(self.ledger_dir, PLACEMENT_DIR))
        self.tombstone_files = parquet_files(join(self.ledger_dir, TOMBSTONE_DIR))
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
            if is_glob(pattern):
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
