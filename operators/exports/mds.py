"""MosaicML streaming (MDS) shards, written directly in the layout ``StreamingDataset`` reads.

A folder holds ``index.json`` and ``shard.NNNNN.mds`` files, as
``streaming.MDSWriter`` writes them (format version 2, uncompressed):

* a shard is ``uint32`` sample count, ``uint32`` offsets of the samples
  (count + 1, from the start of the file), the shard's config as JSON, then the
  samples; a sample is the ``uint32`` byte sizes of its variable-size columns,
  then each column's bytes, columns in name order;
* ``index.json`` lists each shard with its config, sample count and size.

Columns: ``id``, ``source``, ``text`` (``str``) and ``tokens``
(``ndarray:uint16`` or ``ndarray:int32`` by vocabulary, EOS included; the name
LLM Foundry's text datasets read). ``index.json`` also carries the run id and
tokenizer under ``"assay"``; ``StreamingDataset`` ignores keys it does not know.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from operators.core.io import atomic_open
from operators.exports.base import BATCH_ROWS, ExportError
from operators.exports.megatron import dtype_for

SIZE_LIMIT = 1 << 26  # MDSWriter's default shard size
INDEX = "index.json"
_SHAPE_DTYPES = ((1 << 8, np.uint8, 0), (1 << 16, np.uint16, 1), (1 << 32, np.uint32, 2))
_SHAPE_CODES = {0: np.uint8, 1: np.uint16, 2: np.uint32, 3: np.uint64}


def _config(encodings: dict[str, str]) -> dict[str, Any]:
    names = sorted(encodings)
    return {
        "version": 2,
        "format": "mds",
        "compression": None,
        "hashes": [],
        "size_limit": SIZE_LIMIT,
        "column_names": names,
        "column_encodings": [encodings[n] for n in names],
        "column_sizes": [None] * len(names),
    }


def _encode_tokens(tokens: np.ndarray) -> bytes:
    # streaming's NDArray with a fixed dtype and free shape: one byte (ndim << 2 | shape dtype), the shape, the values.
    n = len(tokens)
    shape_dtype, code = next((dt, c) for limit, dt, c in _SHAPE_DTYPES if n < limit)
    return bytes([(1 << 2) | code]) + np.array([n], shape_dtype).tobytes() + tokens.tobytes()


def _decode_tokens(data: bytes, dtype: str) -> np.ndarray:
    ndim, code = data[0] >> 2, data[0] & 3
    shape_dtype = _SHAPE_CODES[code]
    width = np.dtype(shape_dtype).itemsize * ndim
    return np.frombuffer(data, dtype, offset=1 + width)


def files(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f == INDEX or f.endswith(".mds"))


def write(batches: Iterable[pa.Table], folder: str, meta: dict[str, Any]) -> dict[str, Any]:
    dtype = np.dtype(dtype_for(int(meta["tokenizer"]["vocab_size"])))
    config = _config({"id": "str", "source": "str", "text": "str", "tokens": f"ndarray:{dtype.name}"})
    config_data = json.dumps(config, sort_keys=True).encode()
    os.makedirs(folder, exist_ok=True)
    shards: list[dict[str, Any]] = []
    samples: list[bytes] = []
    size = 0
    documents = tokens_total = 0

    def flush() -> None:
        nonlocal samples, size
        if not samples:
            return
        name = f"shard.{len(shards):05d}.mds"
        offsets = np.cumsum([0, *map(len, samples)], dtype=np.int64) + 4 + 4 * (len(samples) + 1) + len(config_data)
        if offsets[-1] >= 1 << 32:
            raise ExportError(f"{folder}/{name}: a shard over 4 GiB (a document too large for MDS)")
        data = np.uint32(len(samples)).tobytes() + offsets.astype(np.uint32).tobytes() + config_data + b"".join(samples)
        with atomic_open(os.path.join(folder, name)) as f:
            f.write(data)
        shards.append({**config, "samples": len(samples), "zip_data": None,
                       "raw_data": {"basename": name, "bytes": len(data), "hashes": {}}})
        samples, size = [], 0

    for batch in batches:
        ids, sources, texts = (batch.column(c).to_pylist() for c in ("id", "source", "text"))
        for rid, source, text, ids_ in zip(ids, sources, texts, batch.column("input_ids").to_pylist(), strict=True):
            tokens = np.asarray(ids_, np.int64)
            if tokens.size and (tokens.min() < 0 or tokens.max() > np.iinfo(dtype).max):
                raise ExportError(f"{folder}: record {rid}: token id {int(tokens.max())} does not fit {dtype.name}")
            columns = [rid.encode(), (source or "").encode(), (text or "").encode(), _encode_tokens(tokens.astype(dtype))]
            sample = np.array([len(c) for c in columns], np.uint32).tobytes() + b"".join(columns)
            if size + len(sample) > SIZE_LIMIT - 8 - len(config_data):
                flush()
            samples.append(sample)
            size += len(sample) + 4
            documents += 1
            tokens_total += int(tokens.size)
    flush()
    index = {"version": 2, "shards": shards, "assay": {k: meta.get(k) for k in ("run_id", "tokenizer", "dataset")}}
    with atomic_open(os.path.join(folder, INDEX), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    return {"documents": documents, "tokens": tokens_total, "dtype": dtype.name, "eos_appended": True}


def read(folder: str, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The documents back (``id``, ``source``, ``text``, ``input_ids``), shard by shard."""
    path = os.path.join(folder, INDEX)
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: cannot read the MDS index ({e})") from None
    for shard in index["shards"]:
        name = os.path.join(folder, shard["raw_data"]["basename"])
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ExportError(f"{name}: cannot read the shard ({e.strerror}); export again") from None
        n = int(np.frombuffer(data, np.uint32, 1)[0])
        if n != shard["samples"] or len(data) != shard["raw_data"]["bytes"]:
            raise ExportError(f"{name}: {n} samples and {len(data)} bytes, index.json says "
                              f"{shard['samples']} and {shard['raw_data']['bytes']}; export again")
        offsets = np.frombuffer(data, np.uint32, n + 1, 4)
        names, encodings = shard["column_names"], shard["column_encodings"]
        rows: dict[str, list] = {name: [] for name in names}
        for i in range(n):
            start = int(offsets[i])
            sizes = np.frombuffer(data, np.uint32, len(names), start)
            at = start + 4 * len(names)
            for name, encoding, size in zip(names, encodings, sizes, strict=True):
                value = data[at : at + int(size)]
                at += int(size)
                if name == "tokens":
                    rows[name].append(_decode_tokens(value, encoding.split(":")[1]).astype(np.int32))
                else:
                    rows[name].append(value.decode())
        for start in range(0, n, BATCH_ROWS):
            table = pa.table({
                "id": pa.array(rows["id"][start : start + BATCH_ROWS], pa.string()),
                "source": pa.array(rows["source"][start : start + BATCH_ROWS], pa.string()),
                "text": pa.array(rows["text"][start : start + BATCH_ROWS], pa.string()),
                "input_ids": pa.array(rows["tokens"][start : start + BATCH_ROWS], pa.list_(pa.int32())),
            })
            yield table if columns is None else table.select(columns)
