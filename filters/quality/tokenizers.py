"""DataTrove's word tokenizers, per language, run once per distinct chunk of a batch.

DataTrove 0.10 splits words with a tokenizer chosen per language
(``data/datatrove_tokenizers.tsv``: its table, for every language lid.176
reports); for English and most other languages that is a blank spaCy pipeline
(``spacy.blank(code)``), whose rule-based tokenizer only looks inside one
whitespace-separated chunk at a time. So a batch is split on whitespace, the
distinct chunks are tokenized once by spaCy itself (in one call, separated so
that no rule can see two chunks at once), and every document's words are put
together from its chunks with Arrow ``take``: the same words as DataTrove's
per-document call, for a fraction of the work. Chunks seen before in this
process are not tokenized again.

Where a tokenizer cannot work chunk by chunk, a document is tokenized whole:
spaCy languages with special cases that contain a space (``EE. UU.`` in
Spanish) for the documents that contain one; spaCy's Chinese (jieba) and
Japanese (SudachiPy) pipelines when those packages are installed.

Substitutes, where DataTrove's tokenizer is not available offline (its models
download at run time, or its package is not installed): spaCy's
multi-language ``xx`` rules, which DataTrove itself uses as its fallback
(``WhitespaceTokenizer``). That covers Stanza (27 lid.176 languages, e.g. hi,
be, cy, gl, kk: models come from a hub), IndicNLP (14, e.g. ta, te, ml),
PyThaiNLP (th, and ms, which DataTrove's table sends to the Thai tokenizer),
Kiwi (ko), botok (bo), khmer-nltk (km), LaoNLP (lo), pyidaungsu (my), pyvi
(vi), jieba (zh) and SudachiPy (ja) when not installed, and bh and tl, which
DataTrove has no tokenizer for. :func:`tokenizer_for` says which is used, and a
substitute is logged once per language. DataTrove cuts Japanese texts into
40,000-byte pieces before SudachiPy; assay does not, so a longer Japanese text
may split differently at a cut.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
import threading
from functools import cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.quality.batch import re2_literal, to_np

_TABLE = os.path.join(os.path.dirname(__file__), "data", "datatrove_tokenizers.tsv")
# spaCy languages whose tokenizer is not the rule-based one: (packages they need, the config DataTrove gives).
_WHOLE_DOCUMENT = {
    "zh": (("jieba",), {"nlp": {"tokenizer": {"segmenter": "jieba"}}}),
    "ja": (("sudachipy", "sudachidict_core"), None),
    "vi": (("pyvi",), None),
}
log = logging.getLogger(__name__)
# A distinct chunk cache larger than this is started afresh (a few tens of MB).
_CACHE_LIMIT = 1 << 20


class Choice(NamedTuple):
    """The tokenizer assay uses for a language.

    Attributes:
        datatrove: DataTrove's tokenizer for it, e.g. ``SpaCyTokenizer(en)``.
        spacy: the spaCy language assay runs (``xx`` for a substitute).
        exact: whether that is DataTrove's tokenizer (else a substitute).
    """

    datatrove: str
    spacy: str
    exact: bool


@cache
def _datatrove_table() -> dict[str, tuple[str, str]]:
    with open(_TABLE, encoding="utf-8") as f:
        rows = csv.reader((line for line in f if not line.startswith("#")), delimiter="\t")
        return {lang: (cls, arg) for lang, cls, arg in rows}


def _installed(*packages: str) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in packages)


@cache
def tokenizer_for(language: str) -> Choice:
    """Which tokenizer splits ``language``'s words (a lid.176 code, e.g. ``en``; ``xx``: spaCy's multi-language)."""
    if language == "xx":
        return Choice("SpaCyTokenizer(xx)", "xx", True)
    cls, arg = _datatrove_table().get(language, ("", ""))
    if cls == "WhitespaceTokenizer":
        return Choice("WhitespaceTokenizer (spaCy xx)", "xx", True)
    if cls != "SpaCyTokenizer":
        name = f"{cls}({arg})" if cls else "none"
        remedy = "DataTrove has no tokenizer for it" if not cls else "its models or package are not available offline"
        return _substitute(language, Choice(name, "xx", False), remedy)
    needs = _WHOLE_DOCUMENT.get(arg, ((), None))[0]
    if not _installed(*needs):
        return _substitute(language, Choice(f"SpaCyTokenizer({arg})", "xx", False), f"install {', '.join(needs)}")
    return Choice(f"SpaCyTokenizer({arg})", arg, True)


def _substitute(language: str, choice: Choice, remedy: str) -> Choice:
    log.warning(
        "words of %r: DataTrove's %s is not available here; spaCy's multi-language rules (xx) split them (%s)",
        language,
        choice.datatrove,
        remedy,
    )
    return choice


def _strip_strings(tokens: list[str]) -> list[str]:
    """DataTrove's ``strip_strings``: tokens stripped, empty ones dropped."""
    return [t.strip() for t in tokens if t.strip()]


class SpacyWords:
    """The words DataTrove's ``SpaCyTokenizer(code)`` gives, for a whole batch at once.

    One instance per spaCy language and process; it keeps the pieces of every
    distinct chunk it has tokenized (up to ``_CACHE_LIMIT`` chunks).
    """

    def __init__(self, code: str):
        import spacy

        from filters.spacy_pipelines import build

        config = _WHOLE_DOCUMENT.get(code, ((), None))[1]
        self._nlp = build(spacy.blank, code) if config is None else build(spacy.blank, code, config=config)
        # Lexeme attributes (shape, norm, is_alpha...) are never read here, and computing them for every new
        # token string was a third of the tokenizer's time. Tokenization itself reads only strings.
        self._nlp.vocab.lex_attr_getters = {}
        tokenizer = self._nlp.tokenizer
        self._by_chunk = type(tokenizer).__name__ == "Tokenizer"
        self._lock = threading.Lock()
        if self._by_chunk:
            rules = list(tokenizer.rules or {})
            # Special cases that span chunks ("EE. UU."): documents holding one are tokenized whole.
            spanning = [r for r in rules if any(c.isspace() for c in r) and not r.isspace()]
            self._spanning = "|".join(re2_literal(r) for r in sorted(spanning, key=len, reverse=True)) or None
            self._chunks = pa.array([], pa.string())
            self._pieces = pa.array([], pa.list_(pa.string()))

    @property
    def by_chunk(self) -> bool:
        """Whether this tokenizer looks at one whitespace-separated chunk at a time."""
        return self._by_chunk

    def split(self, texts: pa.Array) -> pa.ListArray:
        """Each text's words (``list<string>``), as DataTrove's ``word_tokenize`` returns them."""
        texts = pc.fill_null(texts, "")
        if not self._by_chunk:
            return pa.array([self._strings(t) for t in texts.to_pylist()], pa.list_(pa.string()))
        chunks, pieces = self.chunk_pieces(texts)
        offsets = to_np(pieces.offsets).astype(np.int64)
        bounds = to_np(chunks.offsets).astype(np.int64)
        bounds -= bounds[0]
        words = pa.ListArray.from_arrays(pa.array(offsets[bounds] - offsets[0], pa.int32()), pc.list_flatten(pieces))
        whole = self.whole_rows(texts)
        if not len(whole):
            return words
        # Rows holding a special case that spans chunks: their own tokenization replaces the chunk-wise one.
        redone = pa.array([self._strings(texts[int(i)].as_py()) for i in whole], pa.list_(pa.string()))
        order = np.arange(len(texts))
        order[whole] = len(texts) + np.arange(len(whole))
        return pa.concat_arrays([words, redone]).take(pa.array(order))

    def whole_rows(self, texts: pa.Array) -> np.ndarray:
        """Rows that must be tokenized whole: they hold a special case spanning chunks."""
        if not self._by_chunk or self._spanning is None:
            return np.zeros(0, np.int64)
        return np.flatnonzero(to_np(pc.match_substring_regex(texts, self._spanning)))

    def tokens(self, text: str) -> list[str]:
        """Every token of one text as spaCy makes it, whitespace tokens included."""
        with self._nlp.memory_zone():
            return [token.text for token in self._nlp.tokenizer(text)]

    def _strings(self, text: str) -> list[str]:
        return _strip_strings(self.tokens(text))

    def chunk_pieces(self, texts: pa.Array) -> tuple[pa.ListArray, pa.ListArray]:
        """Each text's whitespace-separated chunks, and the tokens of every chunk (in the same order)."""
        chunks = pc.utf8_split_whitespace(texts)
        encoded = pc.dictionary_encode(pc.list_flatten(chunks))
        distinct = encoded.dictionary
        with self._lock:
            known = pc.index_in(distinct, value_set=self._chunks)
            new = distinct.filter(pc.is_null(known))
            if len(new):
                pieces = self._tokenize(new)
                if len(self._chunks) + len(new) > _CACHE_LIMIT:
                    self._chunks, self._pieces = pa.array([], pa.string()), pa.array([], pa.list_(pa.string()))
                self._chunks = pa.concat_arrays([self._chunks, new])
                self._pieces = pa.concat_arrays([self._pieces, pieces])
                known = pc.index_in(distinct, value_set=self._chunks)
            cached = self._pieces
        return chunks, cached.take(known).take(encoded.indices)

    def _tokenize(self, chunks: pa.Array) -> pa.ListArray:
        """spaCy's tokens of each chunk, from one call over all of them.

        Chunks are joined with newlines: a newline is a token of its own (a
        special case, so it costs nothing) between any two chunks, so no
        special case or affix rule sees across.
        """
        from spacy.attrs import IDX, LENGTH

        strings = chunks.to_pylist()
        joined = "\n".join(strings)
        with self._nlp.memory_zone():
            spans = self._nlp.tokenizer(joined).to_array([IDX, LENGTH]).astype(np.int64)
        lengths = np.array([len(s) for s in strings], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths[:-1] + 1)])
        spans = spans[~np.isin(spans[:, 0], starts[1:] - 1)]  # the newlines between chunks
        owner = np.searchsorted(starts, spans[:, 0], side="right") - 1
        if not np.array_equal(np.bincount(owner, spans[:, 1], len(strings)), lengths):
            raise AssertionError("spaCy's tokens do not cover the chunks they came from; please report this")
        tokens = pa.array([joined[i : i + n] for i, n in spans.tolist()], pa.string())
        offsets = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(strings)))])
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), tokens)


@cache
def spacy_words(code: str) -> SpacyWords:
    return SpacyWords(code)
