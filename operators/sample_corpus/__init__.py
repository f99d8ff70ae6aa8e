"""A deterministic generator of a synthetic, multilingual, web-like text corpus.

It is the bundled sample of ``assay demo`` and the corpus of the benchmarks, at
any size. Every word comes from the vocabulary in ``data/`` (shipped with the
package); the code here is the grammar that puts them together: clean documents are
prose built from per-language vocabularies and sentence templates (English,
French, German, Spanish, Italian, Portuguese), and the other kinds of record
imitate what a web crawl contains and a data pipeline has to catch.

Each record carries its ground truth in ``kind``:

- ``clean``: several paragraphs of prose on one topic (cooking, travel, ...).
- ``exact_dup``: the text of an earlier clean document, at most re-cased,
  re-punctuated or re-spaced.
- ``near_dup``: an earlier clean document with a few percent of its words
  inserted, deleted or substituted, or with a boilerplate footer added.
- ``boilerplate``: cookie banners, navigation menus, "click here" lists, link
  farms: what Gopher / C4 / FineWeb line and document rules remove.
- ``junk``: character soup, base64 blobs, repeated words, digit tables.
- ``pii``: a clean document full of personal data (names, addresses, e-mail
  addresses, phone numbers, Luhn-valid card numbers, IBANs, IPv4 addresses,
  US social security numbers), made by ``faker`` seeded per document.
- ``toxic``: a clean document with a few insulting lines.

``lang`` is the language the document was written in (``zxx`` for junk with no
language in it); :func:`generate_with_origins` also says which earlier document
each duplicate copies, to score deduplication against the truth.

Determinism: one ``random.Random(seed)`` stream drives the corpus, faker is
seeded per document from ``(seed, index)``, and duplicates copy from a bounded
reservoir of the most recent clean documents; so the same ``(n_docs, seed)``
gives the same bytes, the first ``k`` documents do not depend on ``n_docs``,
and memory stays flat however many documents are made.

Usage::

    python -m operators.sample_corpus corpus.jsonl.gz --docs 100000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import sys
import time
from collections.abc import Iterator
from random import Random
from typing import BinaryIO

from operators.sample_corpus.kinds import (
    _boilerplate,
    _clean,
    _crawl_date,
    _doc_seed,
    _draw,
    _exact_dup,
    _junk,
    _near_dup,
    _pii,
    _toxic,
    _url,
)
from operators.sample_corpus.vocabulary import _TLDS, LANGUAGES, NO_LANGUAGE, TOPICS

__all__ = [
    "KINDS", "KIND_WEIGHTS", "LANGUAGES", "LANGUAGE_WEIGHTS", "NO_LANGUAGE", "TOPICS",
    "generate", "generate_with_origins", "main", "write_jsonl",
]

# --------------------------------------------------------------------------------------
# Mix
# --------------------------------------------------------------------------------------

LANGUAGE_WEIGHTS = (0.50, 0.15, 0.15, 0.12, 0.04, 0.04)
KINDS = ("clean", "exact_dup", "near_dup", "boilerplate", "junk", "pii", "toxic")
KIND_WEIGHTS = (0.60, 0.08, 0.08, 0.07, 0.05, 0.07, 0.05)

# Duplicates copy from the last RESERVOIR_SIZE clean documents: enough for dedup to
# have work across part boundaries, small enough that memory does not grow with n_docs.
RESERVOIR_SIZE = 2_000

# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate(n_docs: int, seed: int = 0) -> Iterator[dict]:
    """Yield ``n_docs`` synthetic web documents, the same ones for the same ``seed``.

    Args:
        n_docs: Number of documents.
        seed: Seed of the corpus; the first ``k`` documents are the same whatever ``n_docs``.

    Yields:
        Records ``{"doc_id", "url", "text", "kind", "lang", "crawl_date"}``; ``kind`` (one of
        ``KINDS``) and ``lang`` are the ground truth.
    """
    for record, _ in generate_with_origins(n_docs, seed):
        yield record


def generate_with_origins(n_docs: int, seed: int = 0) -> Iterator[tuple[dict, str | None]]:
    """Like :func:`generate`, with the ``doc_id`` each duplicate was copied from (else ``None``).

    Args:
        n_docs: Number of documents.
        seed: Seed of the corpus.

    Yields:
        ``(record, origin_doc_id)`` pairs, for checking dedup against the truth.
    """
    if n_docs < 0:
        raise ValueError(f"n_docs must be >= 0, got {n_docs}")
    reservoir: collections.deque[tuple[str, str, str]] = collections.deque(maxlen=RESERVOIR_SIZE)
    # One stream for the whole corpus: document i consumes the same draws whatever n_docs is.
    rng = Random(f"assay-sample:{seed}")
    for index in range(n_docs):
        kind = _draw(rng.random(), KINDS, KIND_WEIGHTS)
        lang = _draw(rng.random(), LANGUAGES, LANGUAGE_WEIGHTS)
        doc_id = f"doc-{index + 1:06d}"
        origin = None
        if kind in ("exact_dup", "near_dup") and not reservoir:
            kind = "clean"  # nothing to copy yet
        if kind == "clean":
            text = _clean(rng, lang)
            reservoir.append((doc_id, text, lang))
        elif kind in ("exact_dup", "near_dup"):
            origin, source, lang = reservoir[rng.randrange(len(reservoir))]
            text = _exact_dup(rng, source) if kind == "exact_dup" else _near_dup(rng, source, lang)
        elif kind == "boilerplate":
            text = _boilerplate(rng, lang)
        elif kind == "junk":
            text, lang = _junk(rng, lang)
        elif kind == "pii":
            text = _pii(rng, lang, _doc_seed(seed, index))
        else:
            text = _toxic(rng, lang)
        record = {
            "doc_id": doc_id,
            "url": _url(rng, lang if lang in _TLDS else "en"),
            "text": text,
            "kind": kind,
            "lang": lang,
            "crawl_date": _crawl_date(rng),
        }
        yield record, origin


def _open_compressed(path: str, raw: BinaryIO) -> BinaryIO | None:
    """A binary writer over ``raw`` compressing by the extension of ``path``."""
    if path.endswith(".gz"):
        # No file name and mtime 0 in the header: the same corpus gives the same bytes. Level 1:
        # compressing at 6 would take a third of the time of generating (for 15% smaller files).
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0)
    if path.endswith(".zst"):
        import zstandard

        return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
    return None


def write_jsonl(path: str | os.PathLike, n_docs: int, seed: int = 0) -> int:
    """Write :func:`generate`'s documents as JSON lines, compressed by extension.

    ``.jsonl`` is plain, ``.jsonl.gz`` gzip and ``.jsonl.zst`` Zstandard. The file
    appears whole or not at all (written to a temporary name, then renamed).

    Args:
        path: Output file.
        n_docs: Number of documents.
        seed: Seed of the corpus.

    Returns:
        The number of records written.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    written = 0
    try:
        with open(tmp, "wb") as raw:
            compressed = _open_compressed(path, raw)
            out = compressed or raw
            batch: list[str] = []
            for record in generate(n_docs, seed):
                batch.append(json.dumps(record, ensure_ascii=False))
                if len(batch) == 1000:
                    out.write(("\n".join(batch) + "\n").encode("utf-8"))
                    written += len(batch)
                    batch = []
            if batch:
                out.write(("\n".join(batch) + "\n").encode("utf-8"))
                written += len(batch)
            if compressed is not None:
                compressed.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m operators.sample_corpus OUT --docs N --seed S``."""
    parser = argparse.ArgumentParser(description="Write the synthetic sample corpus as JSON lines.")
    parser.add_argument("out", help="output file: .jsonl, .jsonl.gz or .jsonl.zst")
    parser.add_argument("--docs", type=int, default=3_000, help="number of documents (default: 3000)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    n = write_jsonl(args.out, args.docs, args.seed)
    elapsed = time.perf_counter() - start
    print(f"wrote {n:,} documents to {args.out} in {elapsed:.1f}s ({n / max(elapsed, 1e-9):,.0f} docs/s)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
