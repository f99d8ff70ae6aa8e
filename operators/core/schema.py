"""The record schema every batch follows, and the hashes that identify records.

A batch is a ``pyarrow.Table``. Readers produce the base columns below; operators
append annotation columns (``lang``, ``lang_score``, ...) and update the decision
columns. Nothing ever removes a row before the run's final stage, so that
``read = kept + dropped + quarantined`` can be checked at the end.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc

# Base columns, in order. ``meta`` is the JSON text of every input field that is
# not the text or id, passed through untouched.
BASE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("locator", pa.string(), nullable=False),
        pa.field("raw_hash", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("meta", pa.string()),
        # Decision columns. ``dropped_at`` is the index of the stage that dropped
        # the record (null while kept); the ledger derives each stage's decision
        # from it. Quarantined records never enter any stage.
        pa.field("keep", pa.bool_(), nullable=False),
        pa.field("drop_reason", pa.string()),
        pa.field("dropped_at", pa.int16()),
        pa.field("quarantined", pa.bool_(), nullable=False),
    ]
)
BASE_COLUMNS = tuple(BASE_SCHEMA.names)

# Image-text pairs: the base record with the caption as ``text`` (so every text
# operator governs captions unchanged), plus the encoded image as read and the
# hash of its bytes (exact image dedup, lineage). Images stay encoded (JPEG,
# PNG, ...) from reader to shard: decoding is the hygiene and CLIP stages' job.
IMAGE_TEXT_SCHEMA = BASE_SCHEMA.append(pa.field("image", pa.binary())).append(pa.field("image_hash", pa.string()))

# One personal-data finding: its type, its span in the text as read, and a salted
# hash of the value (HMAC with the secret salt), never the value itself.
PII_STRUCT = pa.struct(
    [
        pa.field("type", pa.string()),
        pa.field("start", pa.int32()),
        pa.field("end", pa.int32()),
        pa.field("hash", pa.string()),
    ]
)

# How a synthetic record was made: model, backend, prompt template version, sampling.
GENERATOR_STRUCT = pa.struct(
    [
        pa.field("model", pa.string()),
        pa.field("backend", pa.string()),
        pa.field("method", pa.string()),  # self_instruct | evol_instruct | ...
        pa.field("template_version", pa.string()),
        pa.field("params", pa.string()),  # sampling parameters as canonical JSON
    ]
)

# What image_privacy found in an image and did about it, one entry per kind: ``face``, ``text:PERSON``,
# ``text:number``, ``text`` (not personal), or a kind of metadata (``gps``, ``serial``, ``xmp``, ...).
# Counts and kinds only: the ledger never holds pixels or the text read from them.
IMAGE_REGION_STRUCT = pa.struct(
    [pa.field("kind", pa.string()), pa.field("count", pa.int32()), pa.field("action", pa.string())]
)


class Status(StrEnum):
    """A record's fate in a run, as the ledger, the rejects and every count name it."""

    KEPT = "kept"
    DROPPED = "dropped"
    QUARANTINED = "quarantined"


def statuses(table: pa.Table) -> list[Status]:
    """The status of every row: quarantined first (it never entered a stage), then kept or dropped."""
    quarantined = table.column("quarantined").to_pylist()
    keep = table.column("keep").to_pylist()
    return [
        Status.QUARANTINED if q else (Status.KEPT if k else Status.DROPPED)
        for q, k in zip(quarantined, keep, strict=True)
    ]


# A run of punctuation at once (one replacement, not one per character): the spaces collapse anyway.
_PUNCT_RE = re.compile(r"[^\w\s]+", re.UNICODE)


def record_id(source: str, locator: str) -> str:
    """Stable id of a record: a hash of where it came from, not of what it says.

    Two identical documents at two places have two ids (exact dedup decides
    between them); the same place read twice has the same id in every run.
    """
    digest = hashlib.blake2b(f"{source}\x00{locator}".encode(), digest_size=10)
    return digest.hexdigest()


def text_hash(text: str) -> str:
    """Hash of a text exactly as it is (used for before/after hashes in lineage)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def bytes_hash(data: bytes) -> str:
    """Hash of raw bytes (an image file as read): equal for byte-identical files."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def is_image_text(table_or_schema) -> bool:
    """Whether records carry an image (image-text pairs) besides their text."""
    schema = table_or_schema.schema if isinstance(table_or_schema, pa.Table) else table_or_schema
    return "image" in schema.names


def dedup_normal_form(text: str) -> str:
    """The form two texts must share to count as exact duplicates.

    Case, punctuation and whitespace differences do not make a new document
    (the same rule DataTrove's and Dolma's exact dedup use).
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    # str.split() splits on exactly what \s matches (both ask Py_UNICODE_ISSPACE), three times faster.
    return " ".join(_PUNCT_RE.sub(" ", text).split())


def content_hash(text: str) -> str:
    """Hash of the dedup normal form: equal for exact duplicates."""
    return text_hash(dedup_normal_form(text))


def kept_mask(table: pa.Table) -> pa.ChunkedArray:
    """Boolean mask of the rows still kept (never null)."""
    return pc.fill_null(table.column("keep"), False)


def set_column(table: pa.Table, name: str, values) -> pa.Table:
    """Replace column ``name`` if present, else append it."""
    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.array(values)
    index = table.schema.get_field_index(name)
    if index >= 0:
        return table.set_column(index, name, values)
    return table.append_column(name, values)


def scatter(mask, values, length: int, type_: pa.DataType | None = None) -> pa.Array:
    """Place ``values`` at the positions where ``mask`` is true; null elsewhere.

    Scorers compute on the kept rows only; this puts their results back in
    row order so the batch keeps every row.
    """
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values, type_)
    elif type_ is not None and values.type != type_:
        values = values.cast(type_)
    if len(mask) != length:
        raise ValueError(f"scatter: mask has {len(mask)} rows, table has {length}")
    return pc.replace_with_mask(pa.nulls(length, values.type), mask, values)


def empty_table(schema: pa.Schema = BASE_SCHEMA) -> pa.Table:
    return schema.empty_table()


def records_table(
    texts: list[str],
    source: str = "test",
    *,
    images: list[bytes | None] | None = None,
    start: int = 0,
) -> pa.Table:
    """Kept records with these texts (captions, with ``images``), as a reader would hand them over.

    For tests, benchmarks and notebooks that feed operators directly. Ids and
    locators count from ``start``; hashes are computed like the readers do.
    """
    n = len(texts)
    columns = {
        "id": [record_id(source, str(start + i)) for i in range(n)],
        "text": texts,
        "source": [source] * n,
        "locator": [str(start + i) for i in range(n)],
        "raw_hash": [text_hash(t) for t in texts],
        "content_hash": [content_hash(t) for t in texts],
        "meta": [None] * n,
        "keep": [True] * n,
        "drop_reason": [None] * n,
        "dropped_at": pa.nulls(n, pa.int16()),
        "quarantined": [False] * n,
    }
    if images is None:
        return pa.table(columns, schema=BASE_SCHEMA)
    columns["image"] = images
    columns["image_hash"] = [bytes_hash(b) if b is not None else None for b in images]
    return pa.table(columns, schema=IMAGE_TEXT_SCHEMA)
