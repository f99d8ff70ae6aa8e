"""Sources: where records come from (:class:`SourceSpec`), their files (:func:`expand`) and formats."""

from __future__ import annotations

import glob as _glob
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import fsspec

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

    @property
    def image_text(self) -> bool:
        """Whether the records are image-text pairs: a WebDataset source, or Parquet with an image column."""
        if self.image_field:
            return True
        if self.format is not None:
            return self.format == "webdataset"
        try:
            return infer_format(self.path)[0] == "webdataset"
        except SourceError:  # a folder or a glob without a suffix: the files decide when read
            return False


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


