"""``assay export``: the current shards of an output folder in a training framework's format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

# operators.* is imported when a command runs, not when the CLI loads (pyarrow, numpy, fsspec).


def read_manifest(output: str) -> dict[str, Any]:
    from operators.exports import ExportError
    from operators.io import exists, filesystem, join

    path = join(output, "manifest.json")
    if not exists(path):
        raise ExportError(f"no {path}: run a recipe into {output} first (`assay run RECIPE` or `assay demo`)")
    fs, p = filesystem(path)
    with fs.open(p, "r") as f:
        return json.load(f)


def shard_batches(output: str, manifest: dict[str, Any]) -> Iterator:
    """The manifest's shards, in its order, as tables of ``id``, ``source``, ``text``, ``input_ids``."""
    import pyarrow as pa

    from operators.exports import ExportError
    from operators.io import join
    from operators.shards import read_shard

    for entry in manifest.get("shards", []):
        table = read_shard(join(output, "shards", entry["shard"]))
        if "image" in table.column_names:
            raise ExportError(
                f"shard {entry['shard']} holds image-text pairs; exports are for text datasets "
                "(read image-text shards with pyarrow or `datasets`)"
            )
        yield from (pa.Table.from_batches([b]) for b in table.select(["id", "source", "text", "input_ids"]).to_batches())


def export(output: str, fmt: str, dest: str) -> dict[str, Any]:
    """Write the current dataset of ``output`` as ``fmt`` at ``dest`` and list it in ``exports/index.json``."""
    from operators.exports import register, write_export

    manifest = read_manifest(output)
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


@click.command("export")
@click.argument("output", type=click.Path(file_okay=False, exists=True))
@click.argument("dest", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["megatron", "mds", "jsonl", "parquet"]), required=True,
              help="megatron: DEST.bin + DEST.idx (Megatron-LM / Megatron-Core indexed dataset); mds: a folder of "
                   "MosaicML streaming shards; jsonl / parquet: one file of id, source, text.")
def export_command(output: str, dest: str, fmt: str) -> None:
    """Write OUTPUT's current shards (the latest run, after erasures) to DEST in a training framework's format.

    \b
      assay export out/demo --format megatron out/export/demo_text_document
      assay export out/demo --format mds out/export/demo-mds
      assay export out/demo --format jsonl out/export/demo.jsonl

    Documents keep their boundaries and token ids (EOS included); Megatron and MDS
    token dtype is uint16 when the vocabulary fits, else int32. Beside each export
    a sidecar (DEST.assay.json; DEST/assay.json for mds) records the run id, the
    tokenizer and the shards it came from; Megatron's DEST.ids.parquet maps each
    document index to its record id. OUTPUT/exports/index.json lists every
    export, so `assay lineage forget` rewrites them without the erased records.
    """
    from operators.exports import ExportError, sidecar_path
    from pipelines.cli import _fail, console

    try:
        sidecar = export(output, fmt, dest)
    except ExportError as e:
        _fail(str(e))
    tokenizer = sidecar["tokenizer"]
    console.print(
        f"[green]exported[/] {sidecar['documents']:,} documents"
        + (f", {sidecar['tokens']:,} tokens ({sidecar['dtype']})" if "tokens" in sidecar else "")
        + f" of run {sidecar['run_id']} as {fmt}; tokenizer {tokenizer['name']} (vocab {tokenizer['vocab_size']:,})"
    )
    for name in sidecar["files"]:
        console.print(f"  {Path(sidecar['path']).parent / name if fmt != 'mds' else Path(sidecar['path']) / name}")
    console.print(f"  sidecar: {sidecar_path(fmt, sidecar['path'])}\n  listed in: {sidecar['index']}")
