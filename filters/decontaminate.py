"""Decontamination: drop (or cut) training text that overlaps the user's evaluation sets.

Evaluation sets are files the user names -- JSON lines, Parquet, or a Hugging Face ``datasets``
folder written by ``save_to_disk`` -- with the fields that hold prompts and answers. Nothing is
bundled and nothing is downloaded.

Matching follows GPT-3 (13 word-grams) and DataTrove's ``NGramsDecontFilter`` (its text
normalisation): words are whitespace-separated tokens, lower-cased, with punctuation removed,
diacritics stripped and every digit run written ``0``; a word hyphenated across a line break
(``docu-\nmentation``, as PDF extractions have them) is read as one word. An evaluation item's fields are joined in
the order given, so its n-grams cover the prompt, the answer, and the words across the two
(DataTrove's query, label and overlap n-grams). An item shorter than ``ngram`` words but at
least ``min_ngram`` long is matched whole.

The index -- 64-bit hashes of every evaluation n-gram with the set each came from, sorted for
binary search; above ``bloom_above`` n-grams a Bloom filter per set instead -- is built once per
machine into assay's cache (named by a digest of the files' bytes and the settings) and
memory-mapped by every worker, so workers share one copy and a changed file builds a new one.

Modes: ``drop`` drops a document with at least ``min_matches`` matched n-grams
(``decontaminate:<set>:ngrams=<n>``, naming the set with most matches). ``cut`` removes each
matched span with ``context_chars`` on either side and keeps the rest; a document cut into more
than ``max_pieces`` pieces, or left with fewer than ``min_chars`` characters, is dropped as in
``drop`` mode (GPT-3's rule).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from operators.core.base import Filter, OperatorConfig
from operators.core.io import cache_dir, file_lock
from operators.core.schema import kept_mask, scatter, set_column
from operators.dedup.minhash import mix64

# A word is a run of non-space characters; a word hyphenated across a line break is one word.
_TOKEN = re.compile(r"\S+?-[ \t]*\n\s*\S+|\S+")
_DIGITS = re.compile(r"\d+")
_BASE = np.uint64(0x100000001B3)
_INDEX_VERSION = "1"


class EvalSet(BaseModel):
    """One evaluation set: where it is and which fields hold its prompts and answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", description="Name used in drop reasons (decontaminate:<name>:ngrams=N).")
    path: str = Field(description="A .jsonl(.gz) or .parquet file, a glob of them, or a datasets folder from save_to_disk.")
    fields: list[str] = Field(min_length=1, description="Fields holding the prompts and answers, joined in this order.")
    split: str | None = Field(None, description="For a DatasetDict folder: the split to use; null = every split.")


class DecontaminateConfig(OperatorConfig):
    eval_sets: list[EvalSet] = Field(min_length=1, description="Evaluation sets to protect: [{name, path, fields, split}].")
    ngram: int = Field(13, ge=3, le=64, description="Words per n-gram (GPT-3 used 13; DataTrove defaults to 12).")
    min_ngram: int = Field(8, ge=1, description="An evaluation item shorter than ngram words but at least this long is matched whole.")
    min_matches: int = Field(1, ge=1, description="Distinct evaluation n-grams a document must contain to count as contaminated.")
    mode: Literal["drop", "cut"] = Field("drop", description="'drop' the document, or 'cut' the matching spans and keep the rest.")
    context_chars: int = Field(200, ge=0, description="cut: characters removed on either side of a matched span (GPT-3: 200).")
    max_pieces: int = Field(10, ge=1, description="cut: a document cut into more pieces than this is dropped (GPT-3: 10).")
    min_chars: int = Field(200, ge=0, description="cut: a document left shorter than this is dropped.")
    bloom_above: int = Field(
        100_000_000, ge=0, description="Index n-grams above which a Bloom filter per set replaces the exact hash index."
    )
    bloom_error: float = Field(1e-7, gt=0, lt=0.01, description="False-positive rate of each Bloom filter lookup.")


# ---------------------------------------------------------------- text to n-gram hashes


class Tokens:
    """Normalised word hashes of texts; remembers the words it has seen (most text reuses few words)."""

    def __init__(self, limit: int = 1_000_000):
        self._memo: dict[str, int] = {}
        self._limit = limit

    def word(self, token: str) -> int:
        h = self._memo.get(token)
        if h is None:
            norm = unicodedata.normalize("NFD", token.lower())
            norm = _DIGITS.sub("0", "".join(c for c in norm if unicodedata.category(c)[0] in "LN"))
            h = int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8).digest(), "little") if norm else 0
            if len(self._memo) >= self._limit:
                self._memo.clear()
            self._memo[token] = h
        return h

    def hashes(self, text: str) -> np.ndarray:
        """uint64 hash of every word that is not all punctuation, in order."""
        word = self.word
        tokens = _TOKEN.findall(text) if "-\n" in text or "- \n" in text else text.split()
        out = np.fromiter((word(t) for t in tokens), np.uint64)
        return out[out != 0]

    def spans(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of the same words as :meth:`hashes`, with their (start, end) character offsets."""
        found = [(self.word(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        found = [f for f in found if f[0] != 0]
        if not found:
            return np.zeros(0, np.uint64), np.zeros((0, 2), np.int64)
        arr = np.array([f[1:] for f in found], np.int64)
        return np.array([f[0] for f in found], np.uint64), arr


def ngram_hashes(words: np.ndarray, n: int) -> np.ndarray:
    """64-bit hash of every window of ``n`` word hashes (a polynomial hash, then mixed with ``n``)."""
    if len(words) < n:
        return np.zeros(0, np.uint64)
    count = len(words) - n + 1
    h = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _BASE + words[j : j + count]
        return mix64(h ^ np.uint64(n))


# ---------------------------------------------------------------- evaluation sets


def _files(path: str) -> list[Path]:
    p = Path(path).expanduser()
    if p.is_dir():
        if (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            return [p]
        raise ValueError(f"decontaminate: {p} is a folder but not a datasets folder (no state.json or dataset_dict.json)")
    files = sorted(Path(f) for f in glob.glob(str(p))) if any(c in path for c in "*?[") else [p]
    if not files or not all(f.exists() for f in files):
        raise ValueError(f"decontaminate: evaluation set {path} does not exist")
    return files


def _hf_arrow_files(folder: Path, split: str | None) -> list[Path]:
    """The Arrow files of a ``save_to_disk`` folder (a Dataset, or a DatasetDict's splits)."""
    if (folder / "dataset_dict.json").exists():
        splits = json.loads((folder / "dataset_dict.json").read_text())["splits"]
        if split is not None:
            if split not in splits:
                raise ValueError(f"decontaminate: {folder} has splits {splits}, not {split!r}")
            splits = [split]
        return [f for s in splits for f in _hf_arrow_files(folder / s, None)]
    state = json.loads((folder / "state.json").read_text())
    return [folder / f["filename"] for f in state["_data_files"]]


def _records(es: EvalSet) -> Iterator[tuple[str, int, dict]]:
    """(file, record number, record) of every item of an evaluation set."""
    for f in _files(es.path):
        if f.is_dir():
            for arrow in _hf_arrow_files(f, es.split):
                with pa.memory_map(str(arrow)) as source:
                    table = pa.ipc.open_stream(source).read_all()
                yield from _table_records(str(arrow), table, es)
        elif f.suffix == ".parquet":
            import pyarrow.parquet as pq

            yield from _table_records(str(f), pq.read_table(f), es)
        else:
            opener = gzip.open if f.suffix == ".gz" else open
            with opener(f, "rt", encoding="utf-8") as lines:
                for i, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield str(f), i, json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(f"decontaminate: {f} line {i} is not JSON ({e.msg}); fix or remove it") from None


def _table_records(name: str, table: pa.Table, es: EvalSet) -> Iterator[tuple[str, int, dict]]:
    missing = [f for f in es.fields if f not in table.column_names]
    if missing:
        raise ValueError(f"decontaminate: {name} has no field(s) {missing}; its fields are {table.column_names}")
    for i, row in enumerate(table.select(es.fields).to_pylist(), start=1):
        yield name, i, row


def _field_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(_field_text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_field_text(v) for v in value.values())
    return str(value)


def _item_hashes(es: EvalSet, cfg: DecontaminateConfig, tokens: Tokens) -> Iterator[tuple[int, np.ndarray]]:
    """(n-gram length, n-gram hashes) of every item long enough to match."""
    for name, line, record in _records(es):
        if not isinstance(record, dict) or any(f not in record for f in es.fields):
            raise ValueError(f"decontaminate: {name} record {line} lacks field(s) {es.fields} of evaluation set {es.name!r}")
        words = tokens.hashes(" ".join(_field_text(record[f]) for f in es.fields))
        if len(words) >= cfg.min_ngram:
            n = min(cfg.ngram, len(words))
            yield n, ngram_hashes(words, n)


# ---------------------------------------------------------------- the index


class Index:
    """Evaluation n-gram hashes: sorted (hash, set) arrays, or one Bloom filter per set."""

    def __init__(self, folder: Path):
        meta = json.loads((folder / "meta.json").read_text())
        self.sets: list[str] = meta["sets"]
        self.lengths: list[int] = meta["lengths"]  # n-gram lengths present (ngram, and shorter whole items)
        self.size: int = meta["size"]
        self.bloom = meta["bloom"]
        if self.bloom:
            self._bits = [np.load(folder / f"bloom-{i}.npy", mmap_mode="r") for i in range(len(self.sets))]
            self._k = meta["bloom_k"]
        else:
            self._hashes = np.load(folder / "hashes.npy", mmap_mode="r")
            self._set = np.load(folder / "sets.npy", mmap_mode="r")

    def lookup(self, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``grams``, set index) of every match; a gram in two sets matches twice."""
        if not len(grams):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self.bloom:
            pos, sets = [], []
            for s, bits in enumerate(self._bits):
                hit = np.flatnonzero(_bloom_test(bits, self._k, grams))
                pos.append(hit)
                sets.append(np.full(len(hit), s))
            return np.concatenate(pos), np.concatenate(sets)
        lo = np.searchsorted(self._hashes, grams, side="left")
        hi = np.searchsorted(self._hashes, grams, side="right")
        hit = np.flatnonzero(hi > lo)
        if not len(hit):
            return hit, hit
        counts = (hi - lo)[hit]
        pos = np.repeat(hit, counts)
        starts = np.repeat(lo[hit], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        return pos, np.asarray(self._set[starts], np.int64)


def _bloom_positions(grams: np.ndarray, k: int, m: int) -> Iterator[np.ndarray]:
    with np.errstate(over="ignore"):
        h2 = mix64(grams ^ np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
        for i in range(k):
            yield (grams + np.uint64(i) * h2) % np.uint64(m)


def _bloom_test(bits: np.ndarray, k: int, grams: np.ndarray) -> np.ndarray:
    m = len(bits) * 8
    ok = np.ones(len(grams), bool)
    for p in _bloom_positions(grams, k, m):
        ok &= (bits[(p >> np.uint64(3)).astype(np.int64)] >> (p & np.uint64(7)).astype(np.uint8)) & 1 == 1
    return ok


def _bloom_build(grams: np.ndarray, error: float) -> tuple[np.ndarray, int]:
    n = max(1, len(grams))
    m = max(64, math.ceil(-n * math.log(error) / math.log(2) ** 2))
    k = max(1, round(m / n * math.log(2)))
    bits = np.zeros((m + 7) // 8, np.uint8)
    m = len(bits) * 8
    for p in _bloom_positions(grams, k, m):
        np.bitwise_or.at(bits, (p >> np.uint64(3)).astype(np.int64), (np.uint8(1) << (p & np.uint64(7)).astype(np.uint8)))
    return bits, k


def _index_key(cfg: DecontaminateConfig) -> str:
    """Digest of every evaluation file's bytes and of the settings the index depends on."""
    h = hashlib.sha256(f"v{_INDEX_VERSION}:{cfg.ngram}:{cfg.min_ngram}:{cfg.bloom_above}:{cfg.bloom_error}".encode())
    for es in cfg.eval_sets:
        h.update(json.dumps(es.model_dump(exclude={"path"}), sort_keys=True).encode())
        for f in _files(es.path):
            for path in sorted(f.rglob("*")) if f.is_dir() else [f]:
                if path.is_file():
                    h.update(path.name.encode())
                    with open(path, "rb") as fh:
                        while block := fh.read(1 << 22):
                            h.update(block)
    return h.hexdigest()[:24]


def load_index(cfg: DecontaminateConfig) -> Index:
    """The index of ``cfg``'s evaluation sets: built once per machine into the cache, then memory-mapped."""
    folder = cache_dir() / "decontaminate" / _index_key(cfg)
    if not (folder / "meta.json").exists():
        with file_lock(folder):
            if not (folder / "meta.json").exists():
                build_index(cfg, folder)
    return Index(folder)


def build_index(cfg: DecontaminateConfig, folder: Path) -> None:
    tokens = Tokens()
    per_set, lengths = [], set()
    for es in cfg.eval_sets:
        grams = []
        for n, g in _item_hashes(es, cfg, tokens):
            lengths.add(n)
            grams.append(g)
        if not grams:
            raise ValueError(
                f"decontaminate: evaluation set {es.name!r} ({es.path}) has no item of at least {cfg.min_ngram} words "
                f"in fields {es.fields}; check the field names"
            )
        per_set.append(np.unique(np.concatenate(grams)))
    size = int(sum(len(g) for g in per_set))
    bloom = size > cfg.bloom_above
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    meta = {"sets": [es.name for es in cfg.eval_sets], "lengths": sorted(lengths), "size": size, "bloom": bloom}
    if bloom:
        for i, grams in enumerate(per_set):
            bits, k = _bloom_build(grams, cfg.bloom_error)
            np.save(tmp / f"bloom-{i}.npy", bits)
            meta["bloom_k"] = k
    else:
        hashes = np.concatenate(per_set)
        sets = np.concatenate([np.full(len(g), i, np.uint16) for i, g in enumerate(per_set)])
        order = np.argsort(hashes, kind="stable")
        np.save(tmp / "hashes.npy", hashes[order])
        np.save(tmp / "sets.npy", sets[order])
    (tmp / "meta.json").write_text(json.dumps(meta))
    os.replace(tmp, folder)


# ---------------------------------------------------------------- the operator


class Decontaminate(Filter):
    """Drops (or cuts) documents that share word n-grams with the given evaluation sets (``decontaminate:<set>:ngrams=<n>``).

    Annotates ``contamination`` (distinct evaluation n-grams found, for the set with most) and
    ``contamination_set``. The index of the evaluation sets is built once per machine and shared
    by the workers.
    """

    name = "decontaminate"
    version = "1"
    Config = DecontaminateConfig
    columns = {"contamination": pa.int32(), "contamination_set": pa.string()}
    score_column = "contamination"

    def setup(self) -> None:
        self._loaded_index = load_index(self.config)
        self._loaded_tokens = Tokens()

    def _matches(self, words: np.ndarray) -> tuple[dict[int, np.ndarray], list[int]]:
        """Per set: the distinct matched gram hashes; and the (start, length) windows that matched."""
        index = self._loaded_index
        found: dict[int, list[np.ndarray]] = {}
        windows = []
        for n in index.lengths:
            grams = ngram_hashes(words, n)
            pos, sets = index.lookup(grams)
            for s in np.unique(sets):
                found.setdefault(int(s), []).append(grams[pos[sets == s]])
            windows += [(int(p), n) for p in np.unique(pos)]
        return {s: np.unique(np.concatenate(g)) for s, g in found.items()}, windows

    def score(self, table: pa.Table) -> dict[str, list]:
        counts, names = [], []
        for text in table.column("text").to_pylist():
            matched, _ = self._matches(self._loaded_tokens.hashes(text or ""))
            if not matched:
                counts.append(0)
                names.append(None)
                continue
            best = max(matched, key=lambda s: (len(matched[s]), -s))  # most matches; ties: the set listed first
            counts.append(len(matched[best]))
            names.append(self._loaded_index.sets[best])
        return {"contamination": counts, "contamination_set": names}

    def decide(self, table: pa.Table) -> list[str | None]:
        if self.config.mode == "cut":  # cut mode decides in process(), where it rewrites the text
            return [None] * table.num_rows
        return [
            f"{s}:ngrams={n}" if n is not None and n >= self.config.min_matches else None
            for n, s in zip(table.column("contamination").to_pylist(), table.column("contamination_set").to_pylist(), strict=True)
        ]

    def process(self, table: pa.Table) -> pa.Table:
        table = super().process(table)
        if self.config.mode != "cut":
            return table
        hits = pc.and_(kept_mask(table), pc.greater_equal(pc.fill_null(table.column("contamination"), 0), self.config.min_matches))
        rows = np.flatnonzero(hits.to_numpy(zero_copy_only=False))
        if not len(rows):
            return table
        texts = table.column("text").to_pylist()
        sets = table.column("contamination_set").to_pylist()
        counts = table.column("contamination").to_pylist()
        reasons: list[str | None] = [None] * table.num_rows
        for r in rows:
            cut = self._cut(texts[r])
            if cut is None:
                reasons[r] = f"{sets[r]}:ngrams={counts[r]}"
            else:
                texts[r] = cut
        text = scatter(hits, pa.array([texts[r] for r in rows], pa.string()), table.num_rows, pa.string())
        table = set_column(table, "text", pc.if_else(hits, text, table.column("text")))
        return self.drop(table, pa.array(reasons, pa.string()))

    def _cut(self, text: str) -> str | None:
        """``text`` without its matched spans (and their context), or None when too little is left."""
        cfg = self.config
        words, spans = self._loaded_tokens.spans(text)
        _, windows = self._matches(words)
        intervals = sorted(
            (max(0, int(spans[p, 0]) - cfg.context_chars), min(len(text), int(spans[p + n - 1, 1]) + cfg.context_chars))
            for p, n in windows
        )
        pieces, at = [], 0
        for lo, hi in intervals:
            if lo > at:
                pieces.append(text[at:lo].strip())
            at = max(at, hi)
        pieces.append(text[at:].strip())
        pieces = [p for p in pieces if p]
        kept = "\n\n".join(pieces)
        if len(pieces) > cfg.max_pieces or len(kept) < cfg.min_chars:
            return None
        return kept
