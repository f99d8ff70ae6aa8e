"""Megatron-Core's indexed dataset (``PREFIX.bin`` + ``PREFIX.idx``), written directly.

The layout is Megatron-Core's ``megatron/core/datasets/indexed_dataset.py``
(``_IndexWriter`` / ``_IndexReader``), which ``IndexedDataset(PREFIX)`` reads:

* ``.bin``: every document's token ids, concatenated, in the index's dtype;
* ``.idx``: ``b"MMIDIDX\\x00\\x00"``, version (u64 = 1), dtype code (u8),
  sequence count (u64), document-index count (u64), then the sequence lengths
  (int32), the sequences' byte offsets in ``.bin`` (int64) and the document
  indices (int64, ``[0, 1, ..., n]``: one sequence per document, so document
  boundaries are kept), all little-endian.

The dtype follows the vocabulary as Megatron's ``DType.optimal_dtype`` picks
it: ``uint16`` below 65,500 token ids, else ``int32``. Each document ends with
the tokenizer's EOS, as in the shards (Megatron's ``--append-eod``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.core.io import atomic_open, read_parquet, write_parquet_atomic
from operators.exports.base import BATCH_ROWS, ExportError

HEADER = b"MMIDIDX\x00\x00"
VERSION = 1
# Megatron-Core's DType enum: the code written in the index for each NumPy dtype.
DTYPE_CODES = {np.uint8: 1, np.int8: 2, np.int16: 3, np.int32: 4, np.int64: 5, np.float64: 6, np.float32: 7, np.uint16: 8}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}
#: Megatron-Core's cut-off for uint16 token ids.
UINT16_VOCAB_LIMIT = 65500


def dtype_for(vocab_size: int) -> type[np.integer]:
    return np.uint16 if vocab_size < UINT16_VOCAB_LIMIT else np.int32


def files(prefix: str) -> list[str]:
    return [p for p in (f"{prefix}.bin", f"{prefix}.idx", f"{prefix}.ids.parquet") if os.path.exists(p)]


def write(batches: Iterable[pa.Table], prefix: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the documents' ``input_ids``; their ids and sources go to ``PREFIX.ids.parquet``."""
    dtype = dtype_for(int(meta["tokenizer"]["vocab_size"]))
    limit = np.iinfo(dtype).max
    lengths: list[np.ndarray] = []
    ids: list[pa.Array] = []
    sources: list[pa.Array] = []
    with atomic_open(f"{prefix}.bin") as f:
        for batch in batches:
            if not batch.num_rows:
                continue
            tokens = batch.column("input_ids").combine_chunks()
            flat = pc.list_flatten(tokens).to_numpy()
            if flat.size and (flat.min() < 0 or flat.max() > limit):
                raise ExportError(f"{prefix}.bin: token id {int(flat.max())} does not fit {np.dtype(dtype).name}")
            f.write(flat.astype(dtype).tobytes())
            lengths.append(pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int32))
            ids.append(batch.column("id").combine_chunks())
            sources.append(batch.column("source").combine_chunks())
    sizes = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
    n = len(sizes)
    pointers = np.zeros(n, np.int64)
    if n:
        np.cumsum(sizes[:-1].astype(np.int64) * np.dtype(dtype).itemsize, out=pointers[1:])
    with atomic_open(f"{prefix}.idx") as f:
        f.write(HEADER)
        f.write(struct.pack("<Q", VERSION))
        f.write(struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", n))
        f.write(struct.pack("<Q", n + 1))
        f.write(sizes.astype("<i4").tobytes())
        f.write(pointers.astype("<i8").tobytes())
        f.write(np.arange(n + 1, dtype="<i8").tobytes())
    write_parquet_atomic(
        pa.table({"id": pa.concat_arrays(ids) if ids else pa.array([], pa.string()),
                  "source": pa.concat_arrays(sources) if sources else pa.array([], pa.string())}),
        f"{prefix}.ids.parquet",
    )
    return {"documents": n, "tokens": int(sizes.sum()), "dtype": np.dtype(dtype).name, "eos_appended": True}


def read_index(prefix: str) -> tuple[type[np.integer], np.ndarray, np.ndarray, np.ndarray]:
    """``(dtype, sequence lengths, byte offsets, document indices)`` of ``PREFIX.idx``."""
    path = f"{prefix}.idx"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ExportError(f"{path}: cannot read the index ({e.strerror})") from None
    if data[: len(HEADER)] != HEADER:
        raise ExportError(f"{path}: not a Megatron indexed dataset index (header {data[:9]!r})")
    offset = len(HEADER)
    version, code, n, n_docs = struct.unpack_from("<QBQQ", data, offset)
    if version != VERSION or code not in CODE_DTYPES:
        raise ExportError(f"{path}: unsupported version {version} or dtype code {code}")
    offset += struct.calcsize("<QBQQ")
    need = offset + 4 * n + 8 * n + 8 * n_docs
    if len(data) < need:
        raise ExportError(f"{path}: truncated ({len(data)} bytes, the header promises {need})")
    sizes = np.frombuffer(data, "<i4", n, offset)
    pointers = np.frombuffer(data, "<i8", n, offset + 4 * n)
    documents = np.frombuffer(data, "<i8", n_docs, offset + 12 * n)
    return CODE_DTYPES[code], sizes, pointers, documents


def read(prefix: str, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The documents back: ``id``, ``source`` and ``input_ids`` (int32), checked against the files' sizes."""
    dtype, sizes, pointers, documents = read_index(prefix)
    ids = read_parquet(f"{prefix}.ids.parquet")
    itemsize = np.dtype(dtype).itemsize
    expected = int(sizes.astype(np.int64).sum()) * itemsize
    bin_size = os.path.getsize(f"{prefix}.bin") if os.path.exists(f"{prefix}.bin") else -1
    if ids.num_rows != len(sizes) or bin_size != expected or len(documents) != len(sizes) + 1:
        raise ExportError(
            f"{prefix}: the export is inconsistent ({len(sizes)} sequences in .idx, {ids.num_rows} ids, "
            f"{bin_size} bytes in .bin for {expected} expected); export it again"
        )
    tokens = np.memmap(f"{prefix}.bin", dtype=dtype, mode="r") if expected else np.zeros(0, dtype)
    for start in range(0, len(sizes), BATCH_ROWS):
        stop = min(start + BATCH_ROWS, len(sizes))
        table = ids.slice(start, stop - start)
        if columns is None or "input_ids" in columns:
            first = int(pointers[start]) // itemsize
            last = int(pointers[stop - 1]) // itemsize + int(sizes[stop - 1])
            offsets = np.concatenate([[0], np.cumsum(sizes[start:stop], dtype=np.int64)]).astype(np.int32)
            values = pa.array(np.asarray(tokens[first:last]).astype(np.int32))
            table = table.append_column("input_ids", pa.ListArray.from_arrays(pa.array(offsets), values))
        yield table
