"""Plain text with ids: JSON lines or Parquet (``id``, ``source``, ``text``), for tools that want text."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from operators.core.io import atomic_open
from operators.exports.base import BATCH_ROWS, ExportError

COLUMNS = ("id", "source", "text")
_SCHEMA = pa.schema([pa.field(c, pa.string()) for c in COLUMNS])


class _Format:
    """One file: ``files``, ``write`` and ``read`` as every export format has them."""

    @staticmethod
    def files(path: str) -> list[str]:
        return [path] if os.path.exists(path) else []


class _Jsonl(_Format):
    @staticmethod
    def write(batches: Iterable[pa.Table], path: str, meta: dict[str, Any]) -> dict[str, Any]:
        n = 0
        with atomic_open(path, "w") as f:
            for batch in batches:
                for row in batch.select(list(COLUMNS)).to_pylist():
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
        return {"documents": n}

    @staticmethod
    def read(path: str, columns: list[str] | None = None) -> Iterator[pa.Table]:
        rows = []
        try:
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        raise ExportError(f"{path}:{number}: not a JSON line; export again") from None
                    if len(rows) == BATCH_ROWS:
                        yield pa.Table.from_pylist(rows, _SCHEMA).select(columns or list(COLUMNS))
                        rows = []
        except OSError as e:
            raise ExportError(f"{path}: cannot read the export ({e.strerror})") from None
        yield pa.Table.from_pylist(rows, _SCHEMA).select(columns or list(COLUMNS))


class _Parquet(_Format):
    @staticmethod
    def write(batches: Iterable[pa.Table], path: str, meta: dict[str, Any]) -> dict[str, Any]:
        n = 0
        # The run and tokenizer ride in the file's key-value metadata too, not only in the sidecar.
        schema = _SCHEMA.with_metadata({"assay": json.dumps({k: meta.get(k) for k in ("run_id", "tokenizer", "dataset")})})
        with atomic_open(path) as f, pq.ParquetWriter(f, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_table(batch.select(list(COLUMNS)).cast(schema))
                n += batch.num_rows
        return {"documents": n}

    @staticmethod
    def read(path: str, columns: list[str] | None = None) -> Iterator[pa.Table]:
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid) as e:
            raise ExportError(f"{path}: cannot read the export ({e}); export again") from None
        for batch in parquet.iter_batches(BATCH_ROWS, columns=columns or list(COLUMNS)):
            yield pa.Table.from_batches([batch])


JSONL = _Jsonl()
PARQUET = _Parquet()
