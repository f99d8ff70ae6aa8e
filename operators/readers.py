"""Readers: source files -> batches of records in the base schema.

A reader never raises on bad content. A malformed line or record (bad JSON,
invalid UTF-8, a missing or non-string text field, a truncated compressed
stream, an unreadable Parquet file) becomes a *quarantined* record that names
the file, the line or row, and the reason, so that every input is accounted for.

Image-text pairs come from WebDataset tar shards (``key.jpg`` + ``key.txt`` or
``key.json``) or from Parquet with an image column (bytes, a Hugging Face
``{bytes, path}`` struct, or a path relative to the Parquet file). They follow
:data:`~operators.schema.IMAGE_TEXT_SCHEMA`: the caption is the record's
``text``, the encoded image its ``image``. Whether an image decodes is not the
reader's business (the ``image_hygiene`` stage decides, with a reason); a pair
without an image or a caption is quarantined here.
"""

from __future__ import annotations

import bz2
import contextlib
import glob as _glob
import gzip
import io
import json
import lzma
import os
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from operators.schema import BASE_SCHEMA, IMAGE_TEXT_SCHEMA, bytes_hash, content_hash, record_id, text_hash

Format = Literal["jsonl", "parquet", "webdataset"]

_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")

#: The largest document a reader accepts, in bytes of its JSON line (or of its
#: text, for Parquet). Larger ones are quarantined as ``too_large`` without ever
#: being held in memory whole, so one runaway line (or a compression bomb made
#: of one) cannot take a worker down. Set per source with ``max_doc_bytes``.
DEFAULT_MAX_DOC_BYTES = 8 * 1024 * 1024
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
#: File extensions WebDataset shards use for images (the part after the key).
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff")
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".xz": "xz"}
#: The UTF-8 byte-order mark Windows tools write at the start of a text file.
UTF8_BOM = b"\xef\xbb\xbf"


class SourceError(ValueError):
    """A source cannot be read at all (no files, unknown format)."""


@dataclass(frozen=True)
class SourceSpec:
    """Where records come from and how to read them.

    Attributes:
        path: a local path, glob, or fsspec URL (``s3://bucket/prefix/*.jsonl.zst``).
        format: ``jsonl``, ``parquet`` or ``webdataset``; inferred from the file name when None.
        text_field: the field holding the document text (the caption of an
            image-text pair; in a WebDataset shard, the field of ``key.json``
            read when there is no ``key.txt``).
        name: a short label for summaries; defaults to the path.
        max_doc_bytes: documents larger than this are quarantined (``too_large``).
        image_field: the Parquet column holding the image (bytes, a
            ``{bytes, path}`` struct, or a path); set, the source is image-text.
            WebDataset sources are always image-text.
    """

    path: str
    format: Format | None = None
    text_field: str = "text"
    name: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    image_field: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.path


def infer_format(path: str) -> tuple[Format, str | None]:
    """``(format, compression)`` from a file name."""
    name = path.lower()
    compression = None
    for suffix, codec in _COMPRESSIONS.items():
        if name.endswith(suffix):
            compression, name = codec, name[: -len(suffix)]
            break
    if path.lower().endswith(TAR_SUFFIXES):
        return "webdataset", None  # tarfile reads gzip-compressed shards itself
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet", compression
    if name.endswith(_JSONL_SUFFIXES):
        return "jsonl", compression
    raise SourceError(f"{path}: cannot tell the format from the name; set 'format: jsonl', 'format: parquet' or 'format: webdataset'")


#: Attempts at listing a remote source before giving up (network blips, throttling).
LIST_ATTEMPTS = 3


def expand(spec: SourceSpec) -> list[str]:
    """The files a source names, sorted, as full URIs (``file://`` for local).

    Raises:
        SourceError: no files, a missing fsspec backend, or a source still
            unreachable after :data:`LIST_ATTEMPTS` tries with backoff.
    """
    try:
        fs, root = fsspec.core.url_to_fs(spec.path, **spec.storage_options)
    except ImportError as e:
        raise SourceError(f"source {spec.path!r}: {e} (install the fsspec backend for this URL scheme)") from e
    for attempt in range(1, LIST_ATTEMPTS + 1):
        try:
            return _list(fs, root, spec)
        except SourceError:
            raise
        except (OSError, TimeoutError) as e:  # connection refused, DNS, timeouts: fsspec backends raise OSErrors
            if attempt == LIST_ATTEMPTS:
                raise SourceError(
                    f"source {spec.path!r} is unreachable after {LIST_ATTEMPTS} attempts: {type(e).__name__}: {e}; "
                    "check the URL, the network and the credentials"
                ) from e
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def _list(fs, root: str, spec: SourceSpec) -> list[str]:
    if _glob.has_magic(spec.path):
        files = sorted(fs.glob(root))
    elif fs.isdir(root):
        files = sorted(p for p in fs.find(root) if not os.path.basename(p).startswith((".", "_")))
    else:
        files = [root] if fs.exists(root) else []
    files = [f for f in files if fs.isfile(f)]
    if not files:
        raise SourceError(f"source {spec.path!r} matched no files; check the path (relative paths are read from the recipe's folder)")
    return [fs.unstrip_protocol(f) for f in files]


class _Batcher:
    """Accumulates records column-wise and emits base-schema tables."""

    def __init__(self, source: str, text_field: str, max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES):
        self.source = source
        self.text_field = text_field
        self.max_doc_bytes = max_doc_bytes
        self._reset()

    def _reset(self) -> None:
        self.cols: dict[str, list] = {name: [] for name in BASE_SCHEMA.names}

    def __len__(self) -> int:
        return len(self.cols["id"])

    def add(self, locator: str, text: str, meta: dict[str, Any] | None) -> None:
        c = self.cols
        c["id"].append(record_id(self.source, locator))
        c["text"].append(text)
        c["source"].append(self.source)
        c["locator"].append(locator)
        c["raw_hash"].append(text_hash(text))
        c["content_hash"].append(content_hash(text))
        c["meta"].append(json.dumps(meta, ensure_ascii=False, default=str) if meta else None)
        c["keep"].append(True)
        c["drop_reason"].append(None)
        c["dropped_at"].append(None)
        c["quarantined"].append(False)

    def quarantine(self, locator: str, reason: str) -> None:
        c = self.cols
        c["id"].append(record_id(self.source, locator))
        c["text"].append(None)
        c["source"].append(self.source)
        c["locator"].append(locator)
        for name in ("raw_hash", "content_hash", "meta", "dropped_at"):
            c[name].append(None)
        c["keep"].append(False)
        c["drop_reason"].append(f"quarantine:{reason}")
        c["quarantined"].append(True)

    def text_problem(self, text: Any, what: str = "text") -> str | None:
        """Why ``text`` cannot be a record's text (the quarantine reason), or None."""
        if not isinstance(text, str):
            return f"wrong_type: {self.text_field!r} is {type(text).__name__}, expected string"
        if _has_surrogates(text):
            return f"invalid_unicode: lone surrogate in {what}"
        if len(text) > self.max_doc_bytes // 4 and len(text.encode("utf-8")) > self.max_doc_bytes:
            return f"too_large: {what} over max_doc_bytes={self.max_doc_bytes}"
        return None

    def add_object(self, locator: str, obj: Any) -> None:
        """Validate one decoded record and add or quarantine it."""
        if not isinstance(obj, dict):
            self.quarantine(locator, f"not_an_object: got {type(obj).__name__}")
            return
        if self.text_field not in obj:
            self.quarantine(locator, f"missing_field: no {self.text_field!r}")
            return
        text = obj[self.text_field]
        problem = self.text_problem(text)
        if problem:
            self.quarantine(locator, problem)
            return
        meta = {k: v for k, v in obj.items() if k != self.text_field}
        self.add(locator, text, meta)

    def flush(self) -> pa.Table:
        table = pa.table(self.cols, schema=BASE_SCHEMA)
        self._reset()
        return table


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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


class TruncatedStreamError(EOFError):
    """A compressed stream ended before its end-of-frame marker."""


class _CheckedZstdReader(io.RawIOBase):
    """A zstd stream (one or more frames) that raises on truncation instead of ending quietly."""

    def __init__(self, raw, chunk: int = 1 << 18):
        self._raw = raw
        self._chunk = chunk
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._pending = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            data = self._raw.read(self._chunk)
            if not data:
                if self._in_frame:
                    raise TruncatedStreamError("zstd stream ends inside a frame (truncated file)")
                return 0
            while data:
                self._in_frame = True
                self._pending += self._dobj.decompress(data)
                data = b""
                if self._dobj.eof:
                    self._in_frame = False
                    data = self._dobj.unused_data
                    self._dobj = self._dctx.decompressobj()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _decompress(raw, compression: str | None):
    if compression is None:
        return contextlib.nullcontext(raw)
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "zstd":
        return io.BufferedReader(_CheckedZstdReader(raw), buffer_size=1 << 20)
    if compression == "bz2":
        return bz2.BZ2File(raw)
    return lzma.LZMAFile(raw)


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


class _PairBatcher(_Batcher):
    """Accumulates image-text pairs (:data:`IMAGE_TEXT_SCHEMA`)."""

    def _reset(self) -> None:
        self.cols = {name: [] for name in IMAGE_TEXT_SCHEMA.names}

    def add_pair(self, locator: str, caption: Any, image: bytes | None, meta: dict[str, Any] | None) -> None:
        if image is None:
            self.quarantine(locator, "missing_image: no image for this record")
            return
        if caption is None:
            self.quarantine(locator, f"missing_caption: no {self.text_field!r}")
            return
        problem = self.text_problem(caption, "caption")
        if problem:
            self.quarantine(locator, problem)
            return
        self.add(locator, caption, meta)
        self.cols["image"].append(image)
        self.cols["image_hash"].append(bytes_hash(image))

    def quarantine(self, locator: str, reason: str) -> None:
        super().quarantine(locator, reason)
        self.cols["image"].append(None)
        self.cols["image_hash"].append(None)

    def flush(self) -> pa.Table:
        table = pa.table(self.cols, schema=IMAGE_TEXT_SCHEMA)
        self._reset()
        return table


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
    target = value if "://" in value or os.path.isabs(value) else f"{base.rstrip('/')}/{value}"
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
