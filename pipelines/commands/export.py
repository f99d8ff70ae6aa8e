"""``assay export``: an output folder's current shards in a training framework's format."""

from __future__ import annotations

from pathlib import Path

import click

from pipelines.commands.common import console, fail

FORMATS = ["megatron", "mds", "jsonl", "parquet"]


@click.command("export")
@click.argument("output", type=click.Path(file_okay=False, exists=True))
@click.argument("dest", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="megatron: DEST.bin + DEST.idx (Megatron-LM / Megatron-Core indexed dataset); mds: a folder of "
                   "MosaicML streaming shards; jsonl / parquet: one file of id, source, text.")
def export(output: str, dest: str, fmt: str) -> None:
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
    # Imported when the command runs, not when the CLI loads (pyarrow, numpy, fsspec).
    from operators.exports import ExportError, sidecar_path
    from operators.exports import export as write

    try:
        sidecar = write(output, fmt, dest)
    except ExportError as e:
        fail(str(e))
    tokenizer = sidecar["tokenizer"]
    console.print(
        f"[green]exported[/] {sidecar['documents']:,} documents"
        + (f", {sidecar['tokens']:,} tokens ({sidecar['dtype']})" if "tokens" in sidecar else "")
        + f" of run {sidecar['run_id']} as {fmt}; tokenizer {tokenizer['name']} (vocab {tokenizer['vocab_size']:,})"
    )
    folder = Path(sidecar["path"]) if fmt == "mds" else Path(sidecar["path"]).parent
    for name in sidecar["files"]:
        console.print(f"  {folder / name}")
    console.print(f"  sidecar: {sidecar_path(fmt, sidecar['path'])}\n  listed in: {sidecar['index']}")
