"""An export's files: writing one through its format's module, its sidecar, reading its ids back, and rewriting
it without some records (erasure).

Each format is a module (or object) with ``write(batches, dest, meta)``,
``read(dest, columns)`` over batches of documents (``pyarrow.Table`` with
``id``, ``source``, ``text`` and ``input_ids``, the shard schema's columns),
and ``files(dest)``. Beside every export a sidecar JSON (:func:`sidecar_path`)
records the run, the tokenizer identity, the shards it came from and the
erasures applied to it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from operators.core.io import atomic_open, is_local
from operators.exports.base import ExportError

SIDECAR_FORMAT = "assay-export"


def formats() -> dict[str, ModuleType]:
    """Format name -> its module (imported on use: the CLI loads fast)."""
    from operators.exports import mds, megatron, text

    return {"megatron": megatron, "mds": mds, "jsonl": text.JSONL, "parquet": text.PARQUET}


def format_module(name: str) -> Any:
    try:
        return formats()[name]
    except KeyError:
        raise ExportError(f"unknown export format {name!r}; known: {', '.join(formats())}") from None


def sidecar_path(fmt: str, dest: str) -> str:
    """The export's metadata file: inside an MDS folder, beside the files otherwise."""
    return os.path.join(dest, "assay.json") if fmt == "mds" else f"{dest}.assay.json"


def local_dest(dest: str) -> str:
    if not is_local(dest):
        raise ExportError(f"{dest}: exports are written to local paths (copy the files to object storage after)")
    return os.path.abspath(os.path.expanduser(str(dest).removeprefix("file://")))


def write_export(fmt: str, batches: Iterable[pa.Table], dest: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``batches`` as format ``fmt`` at ``dest``, then its sidecar (last: an export with a sidecar is whole).

    Args:
        meta: what the sidecar records besides the counts: ``run_id``, ``tokenizer`` (the manifest's),
            ``shards`` (name, sha256, rows, tokens of each source shard), ``dataset``, ``recipe_fingerprint``.
    """
    module = format_module(fmt)
    dest = local_dest(dest)
    counts = module.write(batches, dest, meta)
    sidecar = {
        "format": SIDECAR_FORMAT,
        "export_format": fmt,
        "path": dest,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        **meta,
        **counts,
        "files": [os.path.basename(f) for f in module.files(dest)],
    }
    with atomic_open(sidecar_path(fmt, dest), "w") as f:
        json.dump(sidecar, f, indent=2, sort_keys=True)
    return sidecar


def read_sidecar(fmt: str, dest: str) -> dict[str, Any]:
    path = sidecar_path(fmt, dest)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: the export's sidecar cannot be read ({e})") from None


def read_ids(fmt: str, dest: str) -> list[str]:
    """The record id of every document of the export, in order (read from the export itself)."""
    return [i for batch in format_module(fmt).read(dest, columns=["id"]) for i in batch.column("id").to_pylist()]


def rewrite_without(fmt: str, dest: str, ids: Iterable[str], erasure_id: str) -> dict[str, Any]:
    """Rewrite the export at ``dest`` without the documents of ``ids``, through the same writer.

    The new files are written under a temporary name and moved over the old
    ones; the sidecar (written last) records the erasure and the new counts.
    """
    module = format_module(fmt)
    sidecar = read_sidecar(fmt, dest)
    drop = pa.array(sorted(set(ids)), pa.string())
    tmp = f"{dest}.tmp-{uuid.uuid4().hex[:8]}"

    def kept() -> Iterator[pa.Table]:
        for batch in module.read(dest):
            yield batch.filter(pc.invert(pc.is_in(batch.column("id"), value_set=drop)))

    meta = {k: v for k, v in sidecar.items() if k not in ("format", "export_format", "path", "exported_at", "files")}
    try:
        counts = module.write(kept(), tmp, meta)
        new_files = module.files(tmp)
        old_files = module.files(dest)
        for path in new_files:
            os.replace(path, dest + path[len(tmp):])
        for path in set(old_files) - {dest + p[len(tmp):] for p in new_files}:
            os.remove(path)
    finally:  # what a failed attempt left under the temporary name
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            for path in module.files(tmp):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
    sidecar.update(counts)
    sidecar["erasures"] = [*sidecar.get("erasures", []), erasure_id]
    sidecar["files"] = [os.path.basename(f) for f in module.files(dest)]
    with atomic_open(sidecar_path(fmt, dest), "w") as f:
        json.dump(sidecar, f, indent=2, sort_keys=True)
    return sidecar
