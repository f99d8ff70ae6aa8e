"""Training shards: Arrow IPC stream files with a manifest beside each.

A shard holds one row per kept document: ``id``, ``source``, ``text``,
``input_ids`` (``list<int32>``, EOS included), ``num_tokens`` and
``token_start`` (the document's offset in the shard's token stream). The
``input_ids`` values of a record batch are one contiguous int32 buffer, so a
loader reads the token stream of a memory-mapped shard without a copy.

The stream format is what Hugging Face ``datasets`` memory-maps
(``Dataset.from_file``); pyarrow reads it with ``pa.ipc.open_stream`` and
DuckDB queries the resulting table in place.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from operators.core.io import atomic_open, exists, filesystem, is_local, local_path, sha256_file

SHARD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("num_tokens", pa.int32(), nullable=False),
        pa.field("token_start", pa.int64(), nullable=False),
    ]
)
# Image-text shards: the caption's tokens as in a text shard, plus the encoded
# image (as read: JPEG stays JPEG) and what the image stages learnt about it.
# Arrow rather than WebDataset tar: the same manifest, checksum, ledger
# placement and memory-mapped random access as text shards, and one file
# readable by pyarrow, DuckDB and `datasets` (whose Image feature decodes these
# bytes); a training loader decodes only the rows it samples.
IMAGE_TEXT_SHARD_SCHEMA = pa.schema(
    [
        *SHARD_SCHEMA,
        pa.field("image", pa.binary(), nullable=False),
        pa.field("image_hash", pa.string()),
        pa.field("image_width", pa.int32()),
        pa.field("image_height", pa.int32()),
        pa.field("clip_score", pa.float32()),
    ]
)
MANIFEST_SUFFIX = ".manifest.json"
FORMAT_VERSION = 1


def build_shard_table(ids: list[str], sources: list[str], texts: list[str], tokens: list[list[int]]) -> pa.Table:
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(tokens) else np.zeros(0, np.int64)
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "source": pa.array(sources, pa.string()),
            "text": pa.array(texts, pa.string()),
            "input_ids": pa.array(tokens, pa.list_(pa.int32())),
            "num_tokens": pa.array(lengths.astype(np.int32)),
            "token_start": pa.array(starts.astype(np.int64)),
        },
        schema=SHARD_SCHEMA,
    )


def build_image_text_shard_table(kept: pa.Table, tokens: list[list[int]]) -> pa.Table:
    """An image-text shard from the kept pairs of a part and their caption tokens."""
    text = build_shard_table(
        kept.column("id").to_pylist(), kept.column("source").to_pylist(), kept.column("text").to_pylist(), tokens
    )
    columns = {name: text.column(name) for name in SHARD_SCHEMA.names}
    for field in IMAGE_TEXT_SHARD_SCHEMA:
        if field.name in columns:
            continue
        if field.name in kept.column_names:
            columns[field.name] = kept.column(field.name).cast(field.type)
        else:  # a recipe without that stage
            columns[field.name] = pa.nulls(kept.num_rows, field.type)
    return pa.table(columns, schema=IMAGE_TEXT_SHARD_SCHEMA)


def write_shard(table: pa.Table, path: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``table`` to ``path`` atomically, then its manifest; return the manifest.

    The manifest is written last, so a shard with a manifest is complete and
    its checksum can be verified against the file.
    """
    with atomic_open(path) as f, pa.ipc.new_stream(f, table.schema) as writer:
        writer.write_table(table, max_chunksize=8192)
    entry = {
        "format": "assay-shard",
        "format_version": FORMAT_VERSION,
        "shard": path.rsplit("/", 1)[-1],
        "rows": table.num_rows,
        "tokens": int(pa.compute.sum(table.column("num_tokens")).as_py() or 0),
        "sha256": sha256_file(path),
        "bytes": _size(path),
        **manifest,
    }
    with atomic_open(path + MANIFEST_SUFFIX, "w") as f:
        json.dump(entry, f, indent=2, sort_keys=True)
    return entry


def read_shard(path: str) -> pa.Table:
    """Read a shard memory-mapped (local files) or streamed (fsspec URLs)."""
    if is_local(path):
        return pa.ipc.open_stream(pa.memory_map(local_path(path), "r")).read_all()
    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        return pa.ipc.open_stream(f).read_all()


def read_manifest(path: str) -> dict[str, Any]:
    fs, p = filesystem(path + MANIFEST_SUFFIX)
    with fs.open(p, "r") as f:
        return json.load(f)


def verify_shard(path: str) -> list[str]:
    """Problems with a shard (missing manifest, checksum or count mismatch); empty if none."""
    if not exists(path + MANIFEST_SUFFIX):
        return [f"{path}: no manifest (incomplete write?)"]
    manifest = read_manifest(path)
    problems = []
    if sha256_file(path) != manifest["sha256"]:
        problems.append(f"{path}: sha256 does not match its manifest")
    table = read_shard(path)
    if table.num_rows != manifest["rows"]:
        problems.append(f"{path}: {table.num_rows} rows, manifest says {manifest['rows']}")
    return problems


def _size(path: str) -> int:
    fs, p = filesystem(path)
    return fs.size(p)
