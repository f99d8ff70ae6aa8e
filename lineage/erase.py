"""Erasure: remove records from the training shards and rejects, and record that it was done.

``plan()`` (:mod:`lineage.erasure_plan`) is the dry run: it resolves the
selectors on the ledger, widens the set by policy (duplicate clusters,
synthetic descendants) and looks where each record is *now*.

``execute()`` then, for each affected shard:

1. writes the shard without the erased rows under a new name
   (``<stem>.e<erasure>.arrow``) with ``token_start`` recomputed, and its
   manifest; verifies checksum, row count and that no erased id is left;
2. writes a placement patch (new shard, row, token offset of every survivor
   moved; ``erased`` for every erased record) and the tombstone (who, when, why,
   which ids and hashes; never text) into the ledger;
3. swaps the dataset ``manifest.json`` to the new shards (atomic rename);
4. only then removes the old shard files; then rewrites the rejects files
   that held erased records;
5. removes the erased records' data from the output's derived stores (the
   incremental dedup index, synthesis caches: :mod:`operators.core.derived`).

A plan's promotions (``--no-near-duplicates`` on a dedup survivor,
:mod:`lineage.promotion`) put the chosen member in the survivor's row of the
rewritten shard (step 1), patch its placement with reason
``promoted:<erasure id>`` and name it in the survivor's tombstone
(``replaced_by``, so the dedup index points at it) (step 2), and take it out
of its rejects file (step 4).

The tombstone is a standing order: every later run of the output drops a
re-read erased record and handles an erased subject's values
(:mod:`lineage.standing`, ``pipelines/run/erasures.py``).

Before all that, the copies outside the shards (exports listed in
``exports/index.json``, report samples: :mod:`lineage.copies`) are rewritten
without the records; an export that cannot be read back stops the erasure
before anything changed.

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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lineage import copies as copies_
from lineage.erasure_plan import ErasureError, ErasurePlan, Target, dataset_manifest, plan
from lineage.promotion import promoted_rows
from lineage.standing import read_tombstones, standing_orders
from lineage.store import (
    PLACEMENT_DIR,
    PLACEMENT_SCHEMA,
    TOMBSTONE_DIR,
    TOMBSTONE_SCHEMA,
    Ledger,
    Selectors,
)
from operators.core.derived import stores
from operators.core.io import (
    atomic_open,
    filesystem,
    is_local,
    join,
    read_parquet,
    remove,
    write_parquet_atomic,
)
from operators.core.lock import OutputLock
from operators.exports import INDEX as EXPORTS_INDEX
from operators.formats.shards import MANIFEST_SUFFIX, read_manifest, read_shard, verify_shard, write_shard

__all__ = ["ErasureError", "ErasurePlan", "Target", "execute", "forget", "plan", "read_tombstones", "sweep_derived"]

# Fields write_shard computes itself: not copied from the old shard's manifest.
_COMPUTED = {"format", "format_version", "shard", "rows", "tokens", "sha256", "bytes"}
_ERASED_SUFFIX = re.compile(r"\.e[0-9a-f]{8}$")


def _new_name(name: str, short: str) -> str:
    stem = _ERASED_SUFFIX.sub("", name.removesuffix(".arrow"))
    return f"{stem}.e{short}.arrow"


def _without(table: pa.Table, ids: list[str], promoted: dict[str, pa.Table] | None = None) -> pa.Table:
    """``table`` without ``ids``; an erased survivor with a promoted member (survivor id -> row) gets it in its row."""
    promoted = promoted or {}
    pieces, start = [], 0
    erased = set(ids)
    for i, rid in enumerate(table.column("id").to_pylist()):
        if rid in erased:
            pieces.append(table.slice(start, i - start))
            if rid in promoted:
                pieces.append(promoted[rid].select(table.column_names).cast(table.schema))
            start = i + 1
    pieces.append(table.slice(start))
    kept = pa.concat_tables(pieces).combine_chunks()
    # Re-offset the token stream: survivors keep their tokens, their starts close the gaps.
    lengths = kept.column("num_tokens").to_numpy().astype(np.int64)
    starts = pa.array(np.concatenate([[0], np.cumsum(lengths)[:-1]]) if kept.num_rows else [], pa.int64())
    index = kept.schema.get_field_index("token_start")
    return kept.set_column(index, kept.schema.field("token_start"), starts)


def _write_json_atomic(path: str, data: dict[str, Any]) -> None:
    with atomic_open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)


def default_actor() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or getpass.getuser()


def sweep_derived(output: str) -> dict[str, dict[str, int]]:
    """Remove what every erasure of ``output`` forbids from its derived stores; entries removed per store and file.

    Idempotent, and run by every erasure (a no-op request too): an erasure
    interrupted after its tombstone finishes here.
    """
    orders = standing_orders(output)
    if not orders:
        return {}
    manifest, erased = dataset_manifest(output), orders.erased()
    return {store.name: removed for store in stores() if (removed := store.remove(output, manifest, erased))}


def _rewrite_copies(p: ErasurePlan, erasure_id: str) -> dict[str, Any]:
    """Exports and reports first: each is checked on its own files, so a crash later is redone by a rerun."""
    if p.copies.blocked:
        raise ErasureError(
            "nothing was erased: these exports hold records of this output but cannot be read back to check "
            "and rewrite them: " + "; ".join(p.copies.blocked) + ". Export them again (or delete them and their "
            f"entry in {join(p.output, EXPORTS_INDEX)}), then run the same forget again"
        )
    return copies_.rewrite(p.copies, erasure_id)


def execute(p: ErasurePlan, actor: str | None = None, reason: str = "") -> dict[str, Any]:
    """Carry out a plan. Returns what was done (``noop`` True when there was nothing to do)."""
    if not reason.strip():
        raise ValueError("an erasure needs a reason (--reason), recorded in the tombstone")
    actor = actor or default_actor()
    if p.noop:
        with OutputLock(p.output).held("(derived data sweep)", kind="erasure"):
            derived = sweep_derived(p.output)
        return {
            "noop": True,
            "erasure_id": None,
            "message": f"nothing to do: {len(p.already_erased)} record(s) already erased"
            if p.targets
            else "nothing to do: the selectors matched no record",
            "already_erased": [t.id for t in p.already_erased],
            "derived": derived,
        }
    output = p.output
    now = dt.datetime.now(dt.UTC)
    short = uuid.uuid4().hex[:8]
    erasure_id = f"{now:%Y%m%dT%H%M%SZ}-{short}"
    with OutputLock(output).held(erasure_id, kind="erasure"):
        copied = _rewrite_copies(p, erasure_id)
        if not p.to_erase and not p.tombstone_only:  # a rerun after a crash left only copies to rewrite
            return {"noop": False, "erasure_id": erasure_id, "at": now.isoformat(), "actor": actor, "reason": reason,
                    "records": 0, "rows_removed_from_shards": 0, "tokens_removed": 0, "shards": {}, "rejects": {},
                    **copied, "tombstone": None, "derived": sweep_derived(output)}
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
        promoted_by_shard = {}
        for pr in p.promotions:
            promoted_by_shard.setdefault(pr.shard, []).append(pr)
        added_rows = 0
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
                promoted = promoted_rows(promoted_by_shard.get(name, []), old_path)
                table = _without(old, ids, promoted)
                removed = old.filter(pc.is_in(old.column("id"), value_set=pa.array(ids, pa.string())))
                removed_rows += removed.num_rows
                removed_tokens += int(pc.sum(removed.column("num_tokens")).as_py() or 0)
                added_rows += len(promoted)
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
                new_ids = set(read_shard(new_path).column("id").to_pylist())
                left = new_ids & set(erase_ids)
                absent = {pr.record for pr in promoted_by_shard.get(name, [])} - new_ids
                if problems or left or absent:
                    raise ErasureError(
                        f"rewritten shard {new_path} failed verification: {problems or sorted(left) or sorted(absent)}"
                    )
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
                promoted_ids = {pr.record for pr in promoted_by_shard.get(name, [])}
                placement["reason"] += [f"promoted:{erasure_id}" if i in promoted_ids else None
                                        for i in table.column("id").to_pylist()]
        except BaseException:
            for path in written:  # unreferenced: the manifest still lists the old shards
                with contextlib.suppress(Exception):
                    remove(path)
                    remove(path + MANIFEST_SUFFIX)
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
                ("shard_row", None), ("token_start", None), ("token_count", None), ("erased", True), ("reason", None),
            ):
                placement[col].append(value)
        ledger_dir = join(output, "ledger")
        write_parquet_atomic(
            pa.table(placement, schema=PLACEMENT_SCHEMA), join(ledger_dir, PLACEMENT_DIR, f"erasure={erasure_id}.parquet")
        )
        erasing = set(erase_ids)
        targets = [t for t in p.targets if t.id in erasing]
        replaced_by = {pr.survivor: pr.record for pr in p.promotions}
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
            "policy": [p.subject_policy] * len(targets),
            "derived_keys": [t.derived_keys for t in targets],
            "replaced_by": [replaced_by.get(t.id) for t in targets],
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
        counts["kept"] = counts.get("kept", 0) - removed_rows + added_rows
        counts["tokens"] = sum(s["tokens"] for s in shards)
        counts["erased"] = counts.get("erased", 0) + removed_rows
        if added_rows:
            counts["dropped"] = counts.get("dropped", 0) - added_rows
            counts["promoted"] = counts.get("promoted", 0) + added_rows
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
                "promoted": replaced_by,
                "ledger": f"ledger/{TOMBSTONE_DIR}/erasure={erasure_id}.parquet",
            }
        )
        _write_json_atomic(manifest_path, manifest)

        # 4. the old shards go only now; then the rejects
        for name in renamed:
            remove(join(output, "shards", name))
            remove(join(output, "shards", name + MANIFEST_SUFFIX))
        rejects_rewritten = {}
        cleanup = {path: list(ids) for path, ids in p.rejects.items()}
        for pr in p.promotions:  # a promoted record is kept now: it leaves the rejects
            cleanup.setdefault(pr.rejects, []).append(pr.record)
        for path, ids in sorted(cleanup.items()):
            table = read_parquet(path)
            keep = table.filter(pc.invert(pc.is_in(table.column("id"), value_set=pa.array(ids, pa.string()))))
            if keep.num_rows:
                write_parquet_atomic(keep, path)
            else:
                remove(path)
            rejects_rewritten[os.path.relpath(path, output) if is_local(path) else path] = table.num_rows - keep.num_rows

        # 5. derived data (dedup index, synthesis caches...): the tombstone now names what they must lose
        derived = sweep_derived(output)

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
        "promoted": replaced_by,
        "rejects": rejects_rewritten,
        **copied,
        "tombstone": join(ledger_dir, TOMBSTONE_DIR, f"erasure={erasure_id}.parquet"),
        "derived": derived,
    }


def forget(output: str, selectors: Selectors, *, actor: str | None = None, reason: str, near_duplicates: bool = True,
           descendants: bool = True, subject_policy: str = "drop") -> dict[str, Any]:
    """Plan and execute in one call."""
    return execute(plan(output, selectors, near_duplicates, descendants, subject_policy), actor=actor, reason=reason)

