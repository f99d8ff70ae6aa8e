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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lineage.erasure_plan import ErasureError, ErasurePlan, Target, plan
from lineage.store import (
    PLACEMENT_DIR,
    PLACEMENT_SCHEMA,
    TOMBSTONE_DIR,
    TOMBSTONE_SCHEMA,
    Ledger,
    Selectors,
    parquet_files,
)
from operators.core.io import (
    atomic_open,
    filesystem,
    is_local,
    join,
    local_path,
    read_parquet,
    remove,
    write_parquet_atomic,
)
from operators.formats.shards import MANIFEST_SUFFIX, read_manifest, read_shard, verify_shard, write_shard

__all__ = ["ErasureError", "ErasurePlan", "Target", "execute", "forget", "plan", "read_tombstones"]

# Fields write_shard computes itself: not copied from the old shard's manifest.
_COMPUTED = {"format", "format_version", "shard", "rows", "tokens", "sha256", "bytes"}
_ERASED_SUFFIX = re.compile(r"\.e[0-9a-f]{8}$")


@contextlib.contextmanager
def _lock(output: str) -> Iterator[None]:
    """One erasure at a time per output folder (local folders; remote stores rely on the operator)."""
    if not is_local(output):
        yield
        return
    path = os.path.join(local_path(output), "ledger", ".erasure.lock")
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
            remove(join(output, "shards", name))
            remove(join(output, "shards", name + MANIFEST_SUFFIX))
        rejects_rewritten = {}
        for path, ids in sorted(p.rejects.items()):
            table = read_parquet(path)
            keep = table.filter(pc.invert(pc.is_in(table.column("id"), value_set=pa.array(ids, pa.string()))))
            if keep.num_rows:
                write_parquet_atomic(keep, path)
            else:
                remove(path)
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
    files = parquet_files(folder)
    return pa.concat_tables([pq.read_table(f, filesystem=fs) for f in files]) if files else TOMBSTONE_SCHEMA.empty_table()
