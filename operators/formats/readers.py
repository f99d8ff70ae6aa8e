"""Readers: source files -> batches of records in the base schema.

A reader never raises on bad content. A malformed line or record (bad JSON,
invalid UTF-8, a missing or non-string text field, a truncated compressed
stream, an unreadable Parquet file) becomes a *quarantined* record that names
the file, the line or row, and the reason, so that every input is accounted for.

Image-text pairs come from WebDataset tar shards (``key.jpg`` + ``key.txt`` or
``key.json``) or from Parquet with an image column (bytes, a Hugging Face
``{bytes, path}`` struct, or a path relative to the Parquet file). They follow
:data:`~operators.core.schema.IMAGE_TEXT_SCHEMA`: the caption is the record's
``text``, the encoded image its ``image``. Whether an image decodes is not the
reader's business (the ``image_hygiene`` stage decides, with a reason); a pair
without an image or a caption is quarantined here.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import os
import tarfile
import zlib
from collections.abc import Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from operators.core.io import is_absolute
from operators.formats.batches import _Batcher, _decompress, _PairBatcher
from operators.formats.sources import (
    DEFAULT_MAX_DOC_BYTES,
    IMAGE_EXTENSIONS,
    TAR_SUFFIXES,
    Format,
    SourceError,
    SourceSpec,
    expand,
    infer_format,
)

__all__ = [
    "DEFAULT_MAX_DOC_BYTES", "IMAGE_EXTENSIONS", "TAR_SUFFIXES", "Format", "SourceError", "SourceSpec", "expand",
    "infer_format", "read_file",
]

#: The UTF-8 byte-order mark Windows tools write at the start of a text file.
UTF8_BOM = b"\xef\xbb\xbf"


def read_file(path: str, spec: SourceSpec, batch_rows: int = 10_000) -> Iterator[pa.Table]:
    """Yield base-schema tables of at most ``batch_rows`` records from one file."""
    if spec.format:
        fmt, compression = spec.format, None
        with contextlib.suppress(SourceError):
            compression = infer_format(path)[1]
    else:
        fmt, compression = infer_format(path)
    if fmt == "webdataset":
        reader = _read_webdataset
    elif fmt == "parquet":
        reader = _read_image_parquet if spec.image_field else _read_parquet
    else:
        reader = _read_jsonl
    yield from reader(path, spec, compression, batch_rows)


def _bounded_lines(f, max_bytes: int, chunk: int = 1 << 20) -> Iterator[bytes | int]:
    """The lines of a binary stream; a line longer than ``max_bytes`` comes as its length (an int), unread.

    The oversized line is skipped in ``chunk``-sized reads, so memory stays
    bounded by ``max_bytes`` whatever the input (a 1 GB line of zeros inflated
    from a tiny gzip file included).
    """
    while True:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        if len(line) <= max_bytes or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while True:
            rest = f.readline(chunk)
            size += len(rest)
            if not rest or rest.endswith(b"\n"):
                break
        yield size


def _read_jsonl(path: str, spec: SourceSpec, compression: str | None, batch_rows: int) -> Iterator[pa.Table]:
    batcher = _Batcher(path, spec.text_field, spec.max_doc_bytes)
    line_no = 0
    try:
        with fsspec.open(path, "rb", **spec.storage_options) as raw_file, _decompress(raw_file, compression) as f:
            for line_no, raw in enumerate(_bounded_lines(f, spec.max_doc_bytes), start=1):  # noqa: B007
                locator = f"line:{line_no}"
                if isinstance(raw, int):
                    batcher.quarantine(locator, f"too_large: {raw} bytes, over max_doc_bytes={spec.max_doc_bytes}")
                    if len(batcher) >= batch_rows:
                        yield batcher.flush()
                    continue
                if line_no == 1 and raw.startswith(UTF8_BOM):
                    raw = raw[len(UTF8_BOM):]  # a BOM opens the file; anywhere else it is data
                if not raw.strip():
                    continue  # blank lines are not records
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    batcher.quarantine(locator, f"invalid_utf8: byte {e.start}")
                else:
                    try:
                        obj = json.loads(line)
                    except (json.JSONDecodeError, RecursionError) as e:
                        batcher.quarantine(locator, f"bad_json: {str(e)[:120]}")
                    else:
                        batcher.add_object(locator, obj)
                if len(batcher) >= batch_rows:
                    yield batcher.flush()
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as e:
        # A truncated or corrupt compressed stream: everything before it was
        # read; the rest of the file is one quarantined record naming where.
        batcher.quarantine(f"line:{line_no + 1}+", f"unreadable_rest_of_file: {type(e).__name__}: {str(e)[:120]}")
    if len(batcher):
        yield batcher.flush()


def _read_parquet(path: str, spec: SourceSpec, compression: str | None, batch_rows: int) -> Iterator[pa.Table]:
    batcher = _Batcher(path, spec.text_field, spec.max_doc_bytes)
    row = 0
    try:
        with fsspec.open(path, "rb", **spec.storage_options) as f:
            pf = pq.ParquetFile(f)
            for batch in pf.iter_batches(batch_size=batch_rows):
                for obj in batch.to_pylist():
                    batcher.add_object(f"row:{row}", obj)
                    row += 1
                yield batcher.flush()
    except (OSError, pa.ArrowException, ValueError) as e:
        batcher.quarantine(f"row:{row}+", f"unreadable_parquet: {type(e).__name__}: {str(e)[:120]}")
    if len(batcher):
        yield batcher.flush()


# ---------------------------------------------------------------- image-text pairs


def _split_key(member: str) -> tuple[str, str]:
    """WebDataset's rule: the key is the path up to the first dot of the file name."""
    folder, _, name = member.rpartition("/")
    stem, _, ext = name.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _read_webdataset(path: str, spec: SourceSpec, compression: str | None, batch_rows: int) -> Iterator[pa.Table]:
    batcher = _PairBatcher(path, spec.text_field, spec.max_doc_bytes)
    count = 0

    def emit(key: str, files: dict[str, bytes]) -> None:
        locator = f"key:{key}"
        image_ext = next((e for e in IMAGE_EXTENSIONS if e in files), None)
        meta: dict[str, Any] = {}
        caption: Any = None
        if "json" in files:
            try:
                obj = json.loads(files["json"].decode("utf-8-sig"))  # -sig: a leading BOM is not JSON
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
                batcher.quarantine(locator, f"bad_json: {str(e)[:120]}")
                return
            if isinstance(obj, dict):
                caption = obj.get(spec.text_field)
                meta = {k: v for k, v in obj.items() if k != spec.text_field}
        if "txt" in files:
            try:
                caption = files["txt"].decode("utf-8-sig").strip()
            except UnicodeDecodeError as e:
                batcher.quarantine(locator, f"invalid_utf8: byte {e.start} of {key}.txt")
                return
        if image_ext:
            meta["image_ext"] = image_ext
        batcher.add_pair(locator, caption, files.get(image_ext) if image_ext else None, meta)

    key: str | None = None
    files: dict[str, bytes] = {}
    try:
        with fsspec.open(path, "rb", **spec.storage_options) as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                member_key, ext = _split_key(member.name)
                if os.path.basename(member_key).startswith((".", "_")) or not ext:
                    continue  # tar metadata (``__key__`` files, ``.DS_Store``)
                if member_key != key:
                    if key is not None:
                        emit(key, files)
                        count += 1
                    key, files = member_key, {}
                handle = tar.extractfile(member)
                files[ext] = handle.read() if handle is not None else b""
                if len(batcher) >= batch_rows:
                    yield batcher.flush()
            if compression is None and path.lower().endswith(".tar"):
                # A tar cut at a member boundary reads as a shorter, valid tar:
                # only the missing end-of-archive blocks tell (and then the last
                # key may have lost files, so it is part of the unreadable rest).
                raw.seek(tar.offset)
                if len(raw.read(tarfile.BLOCKSIZE)) < tarfile.BLOCKSIZE:
                    raise tarfile.ReadError("no end-of-archive marker: the shard is truncated")
            if key is not None:
                emit(key, files)
                key = None
    except (OSError, EOFError, tarfile.TarError, ValueError) as e:
        # A truncated or corrupt tar: the pairs before the damage were read;
        # the rest of the shard is one quarantined record naming where.
        where = f"key:{key}+" if key is not None else f"member:{count}+"
        batcher.quarantine(where, f"unreadable_rest_of_file: {type(e).__name__}: {str(e)[:120]}")
    if len(batcher):
        yield batcher.flush()


def _image_value(value: Any, base: str, storage_options: dict[str, Any]) -> tuple[bytes | None, str | None]:
    """``(image bytes, problem)`` from a Parquet image cell (bytes, {bytes, path} or a path)."""
    if isinstance(value, dict):  # Hugging Face ``Image`` feature
        if value.get("bytes") is not None:
            return value["bytes"], None
        value = value.get("path")
    if value is None:
        return None, None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    if not isinstance(value, str):
        return None, f"wrong_type: image is {type(value).__name__}, expected bytes or a path"
    target = value if is_absolute(value) else f"{base.rstrip('/')}/{value}"
    try:
        with fsspec.open(target, "rb", **storage_options) as f:
            return f.read(), None
    except (OSError, ValueError) as e:
        return None, f"unreadable_image_path: {value}: {type(e).__name__}"


def _read_image_parquet(path: str, spec: SourceSpec, compression: str | None, batch_rows: int) -> Iterator[pa.Table]:
    batcher = _PairBatcher(path, spec.text_field, spec.max_doc_bytes)
    base = path.rsplit("/", 1)[0] if "/" in path else "."
    row = 0
    try:
        with fsspec.open(path, "rb", **spec.storage_options) as f:
            pf = pq.ParquetFile(f)
            if spec.image_field not in pf.schema_arrow.names:
                raise SourceError(f"no image column {spec.image_field!r} (columns: {', '.join(pf.schema_arrow.names)})")
            for batch in pf.iter_batches(batch_size=batch_rows):
                for obj in batch.to_pylist():
                    locator = f"row:{row}"
                    row += 1
                    image, problem = _image_value(obj.get(spec.image_field), base, spec.storage_options)
                    if problem:
                        batcher.quarantine(locator, problem)
                        continue
                    meta = {k: v for k, v in obj.items() if k not in (spec.text_field, spec.image_field)}
                    if isinstance(obj.get(spec.image_field), str):
                        meta["image_path"] = obj[spec.image_field]
                    batcher.add_pair(locator, obj.get(spec.text_field), image, meta or None)
                yield batcher.flush()
    except (OSError, pa.ArrowException, ValueError) as e:
        batcher.quarantine(f"row:{row}+", f"unreadable_parquet: {type(e).__name__}: {str(e)[:120]}")
    if len(batcher):
        yield batcher.flush()
