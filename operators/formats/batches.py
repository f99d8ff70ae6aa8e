"""Record batches as readers build them (quarantining what cannot be a record), and checked decompression."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
from typing import Any

import pyarrow as pa
import zstandard

from operators.core.reasons import Reason
from operators.core.schema import BASE_SCHEMA, IMAGE_TEXT_SCHEMA, bytes_hash, content_hash, record_id, text_hash
from operators.formats.sources import DEFAULT_MAX_DOC_BYTES


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
        c["drop_reason"].append(Reason.quarantine(reason).format())
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


