"""Erasure: remove records from the training shards and rejects, and record that it was done.

``plan()`` is the dry run: it resolves the selectors on the ledger (record ids,
source globs, subject hashes), widens the set by policy (every member of an
erased record's duplicate cluster, every synthetic record derived from it,
transitively), and looks where each record is *now*: the current shards (read
for their ids, not trusted from the ledger alone) and the rejects files.

``execute()`` then, for each affected shard:

1. writes the shard without the erased rows under a new name
   (``<stem>.e<erasure>.arrow``) with ``token_start`` recomputed, and its
   manifest; verifies checksum, row count and that no erased id is left;
2. writes a placement patch (new shard, row, token offset of every survivor
   moved; ``erased`` for every erased record) and the tombstone (who, when, why,
   which ids and hashes; never text) into the ledger;
3. swaps the dataset ``manifest.json`` to the new shards (atomic rename);
4. only then removes the old shard files; finally rewrites the rejects files
   that held erased records.

A crash before step 3 leaves the old dataset intact (plus an unreferenced new
file); a rerun of the same request redoes the work from the shards listed in
the manifest, because presence is checked on the files themselves. A request
whose records are all gone and tombstoned is a no-op.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lineage import copies as copies_
from lineage.audit import (
    PLACEMENT_DIR,
    PLACEMENT_SCHEMA,
    TOMBSTONE_DIR,
    TOMBSTONE_SCHEMA,
    Ledger,
    Selectors,
    _files,
)
from operators.io import atomic_open, exists, filesystem, is_local, join, read_parquet, write_parquet_atomic
from operators.shards import MANIFEST_SUFFIX, read_manifest, read_shard, verify_shard, write_shard

# Fields write_shard computes itself: not copied from the old shard's manifest.
_COMPUTED = {"format", "format_version", "shard", "rows", "tokens", "sha256", "bytes"}
_ERASED_SUFFIX = re.compile(r"\.e[0-9a-f]{8}$")
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
    copies: copies_.Copies = field(default_factory=copies_.Copies)  # exports and reports holding the records

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
        return not self.to_erase and not self.tombstone_only and not self.copies and not self.copies.blocked

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
            "copies": self.copies.to_dict(),
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
        copies = copies_.find(output, set(ids))
        warnings += copies.warnings
        return ErasurePlan(
            output=output,
            selectors=selectors.to_dict(),
            policy={"near_duplicates": near_duplicates, "descendants": descendants},
            targets=sorted(targets.values(), key=lambda t: (t.cause != "selected", t.id)),
            shards=shards,
            rejects=rejects,
            warnings=warnings,
            copies=copies,
        )
    finally:
        db.close()


@contextlib.contextmanager
def _lock(output: str) -> Iterator[None]:
    """One erasure at a time per output folder (local folders; remote stores rely on the operator)."""
    if not is_local(output):
        yield
        return
    path = os.path.join(output.removeprefix("file://"), "ledger", ".erasure.lock")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ErasureError(
            f"another erasure holds {path}; wait for it to finish (or delete the file if that process is gone)"
        ) from None
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _new_name(name: str, short: str) -> str:
    stem = _ERASED_SUFFIX.sub("", name.removesuffix(".arrow"))
    return f"{stem}.e{short}.arrow"


def _without(table: pa.Table, ids: list[str]) -> pa.Table:
    mask = pc.invert(pc.is_in(table.column("id"), value_set=pa.array(ids, pa.string())))
    kept = table.filter(mask)
    # Re-offset the token stream: survivors keep their tokens, their starts close the gaps.
    lengths = kept.column("num_tokens").to_numpy().astype(np.int64)
    starts = pa.array(np.concatenate([[0], np.cumsum(lengths)[:-1]]) if kept.num_rows else [], pa.int64())
    index = kept.schema.get_field_index("token_start")
    return kept.set_column(index, kept.schema.field("token_start"), starts)


def _write_json_atomic(path: str, data: dict[str, Any]) -> None:
    with atomic_open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)


def _remove(path: str) -> None:
    fs, p = filesystem(path)
    if fs.exists(p):
        fs.rm(p)


def default_actor() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or getpass.getuser()


def execute(p: ErasurePlan, actor: str | None = None, reason: str = "") -> dict[str, Any]:
    """Carry out a plan. Returns what was done (``noop`` True when there was nothing to do)."""
    if not reason.strip():
        raise ValueError("an erasure needs a reason (--reason), recorded in the tombstone")
    actor = actor or default_actor()
    if p.noop:
        return {
            "noop": True,
            "erasure_id": None,
            "message": f"nothing to do: {len(p.already_erased)} record(s) already erased"
            if p.targets
            else "nothing to do: the selectors matched no record",
            "already_erased": [t.id for t in p.already_erased],
        }
    output = p.output
    now = dt.datetime.now(dt.UTC)
    short = uuid.uuid4().hex[:8]
    erasure_id = f"{now:%Y%m%dT%H%M%SZ}-{short}"
    with _lock(output):
        if p.copies.blocked:
            raise ErasureError(
                "nothing was erased: these exports hold records of this output but cannot be read back to check "
                "and rewrite them: " + "; ".join(p.copies.blocked) + ". Export them again (or delete them and their "
                f"entry in {join(output, 'exports', 'index.json')}), then run the same forget again"
            )
        # Exports and reports first: each is checked on its own files, so a crash later is redone by a rerun.
        copied = copies_.rewrite(p.copies, erasure_id)
        if not p.to_erase and not p.tombstone_only:
            return {"noop": False, "erasure_id": erasure_id, "at": now.isoformat(), "actor": actor, "reason": reason,
                    "records": 0, "rows_removed_from_shards": 0, "tokens_removed": 0, "shards": {}, "rejects": {},
                    **copied, "tombstone": None}
        erase_ids = sorted({t.id for t in p.targets if t.present or not t.tombstoned})
        manifest_path = join(output, "manifest.json")
        fs, mp = filesystem(manifest_path)
        with fs.open(mp, "r") as f:
            manifest = json.load(f)
        listed = {s["shard"]: s for s in manifest.get("shards", [])}

        # 1. new shards, verified, not yet referenced
        renamed: dict[str, str | None] = {}
        new_entries: dict[str, dict[str, Any]] = {}
        placement: dict[str, list] = {name: [] for name in PLACEMENT_SCHEMA.names}
        removed_rows = removed_tokens = 0
        written: list[str] = []
        try:
            for name, ids in sorted(p.shards.items()):
                if name not in listed:
                    raise ErasureError(
                        f"shard {name} is no longer in {manifest_path} (another run or erasure changed the "
                        "dataset since the plan): plan again"
                    )
                old_path = join(output, "shards", name)
                old = read_shard(old_path)
                old_manifest = read_manifest(old_path)
                table = _without(old, ids)
                removed_rows += old.num_rows - table.num_rows
                removed_tokens += int(pc.sum(old.column("num_tokens")).as_py() or 0) - int(
                    pc.sum(table.column("num_tokens")).as_py() or 0
                )
                if table.num_rows == 0:
                    renamed[name] = None
                    continue
                new_name = _new_name(name, short)
                new_path = join(output, "shards", new_name)
                extra = {k: v for k, v in old_manifest.items() if k not in _COMPUTED}
                extra["erasures"] = [*old_manifest.get("erasures", []), erasure_id]
                extra["replaces"] = name
                extra.setdefault("written_as", name)
                written.append(new_path)
                entry = write_shard(table, new_path, extra)
                problems = verify_shard(new_path)
                left = set(read_shard(new_path).column("id").to_pylist()) & set(erase_ids)
                if problems or left:
                    raise ErasureError(f"rewritten shard {new_path} failed verification: {problems or sorted(left)}")
                renamed[name] = new_name
                new_entries[name] = entry
                run_id = old_manifest.get("run_id") or listed[name].get("run_id")
                n = table.num_rows
                placement["erasure_id"] += [erasure_id] * n
                placement["patched_at"] += [now] * n
                placement["run_id"] += [run_id] * n
                placement["id"] += table.column("id").to_pylist()
                placement["shard"] += [new_name] * n
                placement["shard_row"] += list(range(n))
                placement["token_start"] += table.column("token_start").to_pylist()
                placement["token_count"] += table.column("num_tokens").to_pylist()
                placement["erased"] += [False] * n
        except BaseException:
            for path in written:  # unreferenced: the manifest still lists the old shards
                with contextlib.suppress(Exception):
                    _remove(path)
                    _remove(path + MANIFEST_SUFFIX)
            raise

        # 2. the ledger: placement patch (survivors moved, erased records) and the tombstone
        db = Ledger(output)
        try:
            runs_of = db.rows(
                "SELECT DISTINCT run_id, id FROM ledger_raw WHERE id IN (SELECT unnest(?::VARCHAR[]))", [erase_ids]
            )
        finally:
            db.close()
        moved = set(zip(placement["run_id"], placement["id"], strict=True))
        for r in runs_of:
            if (r["run_id"], r["id"]) in moved:
                continue
            for col, value in (
                ("erasure_id", erasure_id), ("patched_at", now), ("run_id", r["run_id"]), ("id", r["id"]), ("shard", None),
                ("shard_row", None), ("token_start", None), ("token_count", None), ("erased", True),
            ):
                placement[col].append(value)
        ledger_dir = join(output, "ledger")
        write_parquet_atomic(
            pa.table(placement, schema=PLACEMENT_SCHEMA), join(ledger_dir, PLACEMENT_DIR, f"erasure={erasure_id}.parquet")
        )
        erasing = set(erase_ids)
        targets = [t for t in p.targets if t.id in erasing]
        selectors_json = json.dumps(p.selectors, sort_keys=True)
        tomb = {
            "erasure_id": [erasure_id] * len(targets),
            "erased_at": [now] * len(targets),
            "actor": [actor] * len(targets),
            "reason": [reason] * len(targets),
            "selectors": [selectors_json] * len(targets),
            "id": [t.id for t in targets],
            "cause": [t.cause for t in targets],
            "via": [t.via for t in targets],
            "runs": [t.runs for t in targets],
            "content_hashes": [t.content_hashes for t in targets],
            "subject_hashes": [t.subject_hashes for t in targets],
            "removed_from": [
                [*t.shards, *(os.path.relpath(f, output) if is_local(f) else f for f in t.rejects)] for t in targets
            ],
        }
        write_parquet_atomic(
            pa.table(tomb, schema=TOMBSTONE_SCHEMA), join(ledger_dir, TOMBSTONE_DIR, f"erasure={erasure_id}.parquet")
        )

        # 3. the dataset manifest now lists the new shards (atomic rename: readers see old or new)
        shards = []
        for s in manifest.get("shards", []):
            if s["shard"] in renamed:
                if renamed[s["shard"]] is not None:
                    shards.append(new_entries[s["shard"]])
            else:
                shards.append(s)
        manifest["shards"] = shards
        counts = manifest.setdefault("counts", {})
        counts["kept"] = counts.get("kept", 0) - removed_rows
        counts["tokens"] = sum(s["tokens"] for s in shards)
        counts["erased"] = counts.get("erased", 0) + removed_rows
        manifest.setdefault("erasures", []).append(
            {
                "erasure_id": erasure_id,
                "at": now.isoformat(),
                "actor": actor,
                "reason": reason,
                "records": len(targets),
                "rows_removed": removed_rows,
                "tokens_removed": removed_tokens,
                "shards": {old: new for old, new in renamed.items()},
                "ledger": f"ledger/{TOMBSTONE_DIR}/erasure={erasure_id}.parquet",
            }
        )
        _write_json_atomic(manifest_path, manifest)

        # 4. the old shards go only now; then the rejects
        for name in renamed:
            _remove(join(output, "shards", name))
            _remove(join(output, "shards", name + MANIFEST_SUFFIX))
        rejects_rewritten = {}
        for path, ids in sorted(p.rejects.items()):
            table = read_parquet(path)
            keep = table.filter(pc.invert(pc.is_in(table.column("id"), value_set=pa.array(ids, pa.string()))))
            if keep.num_rows:
                write_parquet_atomic(keep, path)
            else:
                _remove(path)
            rejects_rewritten[os.path.relpath(path, output) if is_local(path) else path] = table.num_rows - keep.num_rows

    return {
        "noop": False,
        "erasure_id": erasure_id,
        "at": now.isoformat(),
        "actor": actor,
        "reason": reason,
        "records": len(targets),
        "rows_removed_from_shards": removed_rows,
        "tokens_removed": removed_tokens,
        "shards": renamed,
        "rejects": rejects_rewritten,
        **copied,
        "tombstone": join(ledger_dir, TOMBSTONE_DIR, f"erasure={erasure_id}.parquet"),
    }


def forget(output: str, selectors: Selectors, *, actor: str | None = None, reason: str, near_duplicates: bool = True,
           descendants: bool = True) -> dict[str, Any]:
    """Plan and execute in one call."""
    return execute(plan(output, selectors, near_duplicates, descendants), actor=actor, reason=reason)


def read_tombstones(output: str) -> pa.Table:
    """Every tombstone row of the output folder (empty table when no erasure ran)."""
    folder = join(output, "ledger", TOMBSTONE_DIR)
    fs, _ = filesystem(folder)
    files = _files(folder)
    return pa.concat_tables([pq.read_table(f, filesystem=fs) for f in files]) if files else TOMBSTONE_SCHEMA.empty_table()
