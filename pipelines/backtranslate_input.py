"""Segments for instruction backtranslation: documents -> self-contained, clean segments.

Reads the documents a backtranslation run names (any source a recipe can read,
or a finished run's output folder, whose shards hold the kept documents with
their ledger ids), cuts each into segments of whole paragraphs within the
length bounds, and keeps the segments that the text path's own operators pass:
``lang_id`` (the wanted languages) and ``c4_fineweb`` (no menus, cookie
notices, code or other boilerplate). The result is ``segments.jsonl`` in the
synthesis work folder, with a ``segments.json`` summary of what was dropped
and why; ``synth.backtranslate`` reads it. It lives here, in ``pipelines``,
because it needs both ``filters`` and ``synth``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from operators.core.schema import kept_mask, records_table
from operators.formats.readers import read_file
from operators.formats.sources import SourceSpec, expand
from synth.config import BacktranslateConfig, SegmentConfig
from synth.pool import write_jsonl_atomic

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class DocumentsError(ValueError):
    """The documents cannot be read; the message says what to change."""


def read_documents(path: str, text_field: str = "text", limit: int | None = None) -> Iterator[dict[str, str]]:
    """``{id, source, text}`` of each document: a finished run's shards, or any source a recipe reads."""
    root = Path(path)
    count = 0
    if root.is_dir() and (root / "manifest.json").is_file():
        manifest = json.loads((root / "manifest.json").read_text())
        for entry in manifest.get("shards", []):
            with pa.memory_map(str(root / "shards" / entry["shard"])) as f:
                table = pa.ipc.open_stream(f).read_all().select(["id", "source", "text"])
            for row in table.to_pylist():
                if limit is not None and count >= limit:
                    return
                count += 1
                yield row
        return
    spec = SourceSpec(path=path, text_field=text_field)
    for file in expand(spec):
        for table in read_file(file, spec):
            for row in table.select(["id", "source", "text", "quarantined"]).to_pylist():
                if row["quarantined"] or not row["text"]:
                    continue
                if limit is not None and count >= limit:
                    return
                count += 1
                yield {"id": row["id"], "source": row["source"], "text": row["text"]}


def split_segments(text: str, max_words: int) -> list[str]:
    """Whole paragraphs packed into segments of at most ``max_words`` words.

    A paragraph longer than that is cut at sentence ends (a sentence longer than
    the bound is its own segment, and the length filter decides).
    """
    pieces: list[str] = []
    for para in _PARAGRAPH.split(text.replace("\r\n", "\n")):
        para = para.strip()
        if not para:
            continue
        if len(para.split()) <= max_words:
            pieces.append(para)
            continue
        cur: list[str] = []
        for sentence in _SENTENCE_END.split(para):
            if cur and len(" ".join(cur + [sentence]).split()) > max_words:
                pieces.append(" ".join(cur))
                cur = []
            cur.append(sentence)
        if cur:
            pieces.append(" ".join(cur))
    segments: list[str] = []
    cur_text, cur_words = "", 0
    for piece in pieces:
        words = len(piece.split())
        if cur_text and cur_words + words > max_words:
            segments.append(cur_text)
            cur_text, cur_words = "", 0
        cur_text = f"{cur_text}\n\n{piece}" if cur_text else piece
        cur_words += words
    if cur_text:
        segments.append(cur_text)
    return segments


def select_segments(documents: list[dict[str, str]], cfg: SegmentConfig) -> tuple[list[dict[str, Any]], Counter]:
    """The segments that pass the length bounds, ``lang_id`` and ``c4_fineweb``; and the drop reasons."""
    from filters.lang_id import LangId
    from filters.quality import C4FineWeb

    reasons: Counter = Counter()
    candidates = []
    for doc in documents:
        for k, text in enumerate(split_segments(doc["text"], cfg.max_words)):
            if len(text.split()) < cfg.min_words:
                reasons["too_short"] += 1
                continue
            candidates.append({"id": f"{doc['id']}-s{k}", "document_id": doc["id"], "source": doc["source"], "text": text})
    if not candidates:
        return [], reasons
    table = records_table([c["text"] for c in candidates], source="segments")
    stages = [LangId(languages=cfg.languages, min_score=cfg.min_lang_score)]
    if cfg.boilerplate is not None:
        stages.append(C4FineWeb(cfg.boilerplate))
    for stage in stages:
        table = stage(table)
    keep = kept_mask(table).to_pylist()
    for reason in table.column("drop_reason").to_pylist():
        if reason:
            reasons[reason] += 1
    return [c for c, k in zip(candidates, keep, strict=True) if k], reasons


def prepare_segments(cfg: BacktranslateConfig, work: Path) -> dict[str, Any]:
    """Write ``work/segments.jsonl`` for ``cfg`` (kept when already made from the same settings); return the summary."""
    if not cfg.documents:
        raise DocumentsError(
            "backtranslation needs documents: set synth.backtranslate.documents in the recipe or pass --documents "
            "(a JSONL/Parquet file, folder or glob, or a finished run's output folder)"
        )
    settings = {"documents": cfg.documents, "text_field": cfg.text_field, "max_documents": cfg.max_documents,
                "segments": cfg.segments.model_dump()}  # fmt: skip
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    summary_path, segments_path = work / "segments.json", work / "segments.jsonl"
    if summary_path.exists() and segments_path.exists():
        summary = json.loads(summary_path.read_text())
        if summary.get("key") == key:
            return summary
        raise DocumentsError(
            f"{work} holds segments of other documents or settings ({summary.get('settings')}); use another work folder"
        )
    try:
        documents = list(read_documents(cfg.documents, cfg.text_field, cfg.max_documents))
    except (OSError, ValueError) as e:
        raise DocumentsError(f"cannot read the documents {cfg.documents}: {e}") from None
    segments, dropped = select_segments(documents, cfg.segments)
    work.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(segments_path, segments)
    summary = {"key": key, "settings": settings, "documents": len(documents), "segments": len(segments),
               "dropped": dict(sorted(dropped.items()))}  # fmt: skip
    tmp = summary_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(summary_path)
    return summary
