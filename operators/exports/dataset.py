"""An output folder's current dataset (its manifest's shards: the latest run, after erasures) as an export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from operators.core.io import exists, filesystem, join
from operators.exports.base import ExportError
from operators.exports.files import write_export
from operators.exports.index import register
from operators.formats.shards import read_shard

#: The shard columns an export reads.
COLUMNS = ["id", "source", "text", "input_ids"]


def read_dataset_manifest(output: str) -> dict[str, Any]:
    path = join(output, "manifest.json")
    if not exists(path):
        raise ExportError(f"no {path}: run a recipe into {output} first (`assay run RECIPE` or `assay demo`)")
    fs, p = filesystem(path)
    with fs.open(p, "r") as f:
        return json.load(f)


def shard_batches(output: str, manifest: dict[str, Any]) -> Iterator[pa.Table]:
    """The manifest's shards, in its order, as tables of ``id``, ``source``, ``text``, ``input_ids``."""
    for entry in manifest.get("shards", []):
        table = read_shard(join(output, "shards", entry["shard"]))
        if "image" in table.column_names:
            raise ExportError(
                f"shard {entry['shard']} holds image-text pairs; exports are for text datasets "
                "(read image-text shards with pyarrow or `datasets`)"
            )
        yield from (pa.Table.from_batches([b]) for b in table.select(COLUMNS).to_batches())


def export(output: str, fmt: str, dest: str) -> dict[str, Any]:
    """Write the current dataset of ``output`` as ``fmt`` at ``dest`` and list it in ``exports/index.json``.

    Returns the export's sidecar, plus ``index``: the path of the index that lists it.
    """
    manifest = read_dataset_manifest(output)
    meta = {
        "run_id": manifest.get("run_id"),
        "dataset": manifest.get("name"),
        "recipe_fingerprint": manifest.get("recipe_fingerprint"),
        "tokenizer": manifest["tokenizer"],
        "output": str(output),
        "shards": [{k: s.get(k) for k in ("shard", "sha256", "rows", "tokens")} for s in manifest.get("shards", [])],
    }
    sidecar = write_export(fmt, shard_batches(output, manifest), dest, meta)
    sidecar["index"] = register(output, sidecar)
    return sidecar
