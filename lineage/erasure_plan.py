"""Erasure, the dry run: which records a request reaches, and where each of them is now.

:func:`plan` resolves the selectors on the ledger (record ids, source globs,
subject hashes), widens the set by policy (every member of an erased record's
duplicate cluster, every synthetic record derived from it, transitively), and
looks where each record is *now*: the current shards (read for their ids, not
trusted from the ledger alone) and the rejects files. :mod:`lineage.erase`
carries a plan out.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from lineage.store import (
    Ledger,
    Selectors,
)
from operators.core.io import (
    exists,
    filesystem,
    is_local,
    join,
    read_parquet,
)
from operators.formats.shards import read_shard

#: Rounds of widening by duplicate clusters and descendants before a plan gives up.
MAX_EXPANSION_ROUNDS = 32


class ErasureError(RuntimeError):
    """The erasure could not be completed safely; nothing referenced by the manifest was removed."""


@dataclass
class Target:
    """One record to erase and why."""

    id: str
    cause: str  # selected | near_duplicate | descendant
    via: str | None = None
    runs: list[str] = field(default_factory=list)
    content_hashes: list[str] = field(default_factory=list)
    subject_hashes: list[str] = field(default_factory=list)
    shards: list[str] = field(default_factory=list)  # current shards holding it
    rejects: list[str] = field(default_factory=list)  # rejects files holding it
    tombstoned: bool = False

    @property
    def present(self) -> bool:
        return bool(self.shards or self.rejects)


@dataclass
class ErasurePlan:
    """What ``execute`` would do. ``noop`` when everything selected is already erased."""

    output: str
    selectors: dict[str, list[str]]
    policy: dict[str, bool]
    targets: list[Target]
    shards: dict[str, list[str]]  # shard -> ids to remove
    rejects: dict[str, list[str]]  # rejects file -> ids to remove
    warnings: list[str] = field(default_factory=list)

    @property
    def to_erase(self) -> list[Target]:
        return [t for t in self.targets if t.present]

    @property
    def tombstone_only(self) -> list[Target]:
        return [t for t in self.targets if not t.present and not t.tombstoned]

    @property
    def already_erased(self) -> list[Target]:
        return [t for t in self.targets if not t.present and t.tombstoned]

    @property
    def noop(self) -> bool:
        return not self.to_erase and not self.tombstone_only

    def to_dict(self) -> dict[str, Any]:
        by_cause: dict[str, int] = {}
        for t in self.targets:
            by_cause[t.cause] = by_cause.get(t.cause, 0) + 1
        return {
            "output": self.output,
            "selectors": self.selectors,
            "policy": self.policy,
            "noop": self.noop,
            "records": len(self.targets),
            "by_cause": by_cause,
            "to_erase": len(self.to_erase),
            "tombstone_only": len(self.tombstone_only),
            "already_erased": len(self.already_erased),
            "shards": {s: len(ids) for s, ids in self.shards.items()},
            "rejects": {os.path.relpath(f, self.output) if is_local(f) else f: len(ids) for f, ids in self.rejects.items()},
            "targets": [
                {k: v for k, v in asdict(t).items() if k not in ("content_hashes", "subject_hashes")} for t in self.targets
            ],
            "warnings": self.warnings,
        }


def _rejects_file(output: str, run_id: str, ledger_file: str) -> str:
    return join(output, "rejects", f"run={run_id}", os.path.basename(ledger_file))


def _ids_in_ipc(path: str) -> set[str]:
    return set(read_shard(path).column("id").to_pylist())


def plan(output: str, selectors: Selectors, near_duplicates: bool = True, descendants: bool = True) -> ErasurePlan:
    """The dry run: which records, for what cause, in which shards and rejects files."""
    if selectors.empty():
        raise ValueError("nothing to forget: give --record, --source, --subject or --subject-hash")
    db = Ledger(output)
    try:
        selectors = db.resolved(selectors)
        cond, params = db.where(selectors)
        seeds = [r["id"] for r in db.rows(f"SELECT DISTINCT id FROM ledger WHERE {cond} ORDER BY id", params)]
        targets: dict[str, Target] = {i: Target(id=i, cause="selected") for i in seeds}
        frontier = list(seeds)
        for _ in range(MAX_EXPANSION_ROUNDS):
            if not frontier:
                break
            found: list[tuple[str, str, str]] = []
            if near_duplicates:
                # A ledger row keeps the last dedup stage's cluster: an exact-dedup survivor that fuzzy dedup
                # dropped later carries the fuzzy cluster, so its exact copies are reached through dup_survivor.
                found += [
                    (r["id"], "near_duplicate", r["via"])
                    for r in db.rows(
                        """
                        WITH t AS (SELECT run_id, id, dup_cluster, dup_survivor FROM ledger
                                   WHERE id IN (SELECT unnest(?::VARCHAR[])))
                        SELECT id, min(via) AS via FROM (
                            SELECT m.id, t.id AS via FROM t JOIN ledger m
                                ON t.run_id = m.run_id AND t.dup_cluster = m.dup_cluster
                            UNION ALL  -- duplicates that named t their survivor (in any dedup stage)
                            SELECT m.id, t.id FROM t JOIN ledger m ON t.run_id = m.run_id AND m.dup_survivor = t.id
                            UNION ALL  -- the record t was a duplicate of
                            SELECT m.id, t.id FROM t JOIN ledger m ON t.run_id = m.run_id AND m.id = t.dup_survivor
                        ) GROUP BY id ORDER BY id
                        """,
                        [frontier],
                    )
                ]
            if descendants:
                found += [
                    (r["id"], "descendant", r["via"])
                    for r in db.rows(
                        """
                        SELECT id, min(p) AS via FROM (SELECT id, unnest(parents) AS p FROM ledger
                                                       WHERE parents IS NOT NULL)
                        WHERE p IN (SELECT unnest(?::VARCHAR[])) GROUP BY id ORDER BY id
                        """,
                        [frontier],
                    )
                ]
            frontier = []
            for rid, cause, via in found:
                if rid not in targets:
                    targets[rid] = Target(id=rid, cause=cause, via=via)
                    frontier.append(rid)
        ids = list(targets)
        rows = db.rows(
            """
            SELECT l.run_id, l.id, l.status, l.shard, l.current, l.erased, l.written_shard, l.filename,
                   l.content_hash, list_transform(coalesce(l.pii, []), lambda x: x.hash) AS subject_hashes,
                   (w.shard IS NOT NULL) AS written_is_current
            FROM ledger l LEFT JOIN shards_now w ON l.written_shard = w.shard AND l.run_id = w.shard_run
            WHERE l.id IN (SELECT unnest(?::VARCHAR[]))
            """,
            [ids],
        )
        tombstoned = {
            r["id"] for r in db.rows("SELECT DISTINCT id FROM tombstones WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        }
        candidate_shards: set[str] = set()
        candidate_rejects: set[str] = set()
        for r in rows:
            t = targets[r["id"]]
            t.runs = sorted({*t.runs, r["run_id"]})
            if r["content_hash"]:
                t.content_hashes = sorted({*t.content_hashes, r["content_hash"]})
            t.subject_hashes = sorted({*t.subject_hashes, *(h for h in r["subject_hashes"] if h)})
            if r["current"] and r["shard"]:
                candidate_shards.add(r["shard"])
            if r["written_is_current"]:  # an interrupted erasure patched the ledger but not the manifest
                candidate_shards.add(r["written_shard"])
            if r["status"] != "kept":
                candidate_rejects.add(_rejects_file(output, r["run_id"], r["filename"]))
        for t in targets.values():
            t.tombstoned = t.id in tombstoned
        idset = set(ids)
        shards: dict[str, list[str]] = {}
        for name in sorted(candidate_shards):
            path = join(output, "shards", name)
            hits = sorted(_ids_in_ipc(path) & idset) if exists(path) else []
            if hits:
                shards[name] = hits
                for i in hits:
                    targets[i].shards.append(name)
        rejects: dict[str, list[str]] = {}
        for path in sorted(candidate_rejects):
            if not exists(path):
                continue
            hits = sorted(set(read_parquet(path, columns=["id"]).column("id").to_pylist()) & idset)
            if hits:
                rejects[path] = hits
                for i in hits:
                    targets[i].rejects.append(path)
        warnings = []
        work = join(output, "_work")
        if exists(work) and filesystem(work)[0].ls(filesystem(work)[1]):
            warnings.append(
                f"{work} holds staged parts of a run kept with --keep-work: they may hold the erased text; "
                "delete that folder"
            )
        if not seeds:
            warnings.append("the selectors matched no ledger row")
        return ErasurePlan(
            output=output,
            selectors=selectors.to_dict(),
            policy={"near_duplicates": near_duplicates, "descendants": descendants},
            targets=sorted(targets.values(), key=lambda t: (t.cause != "selected", t.id)),
            shards=shards,
            rejects=rejects,
            warnings=warnings,
        )
    finally:
        db.close()
