"""The words of a batch, split once and shared by the filters that need them.

Two ways to split, chosen by each operator's ``compat`` setting:

* ``datatrove``: DataTrove 0.10's word tokenizer for the language
  (:mod:`filters.quality.tokenizers`): punctuation becomes tokens of its own,
  ``don't`` is ``do`` + ``n't``. Punctuation tokens stay in the list, as
  DataTrove keeps them; each rule decides whether it counts them.
* ``whitespace``: assay's first definition: whitespace-separated tokens with
  punctuation trimmed from both ends; tokens made only of punctuation are not
  words. Scripts written without spaces make one long "word".

:func:`split` remembers the last split it made for each setting, keyed on the
records' ids and texts: ``gopher_repetition`` and ``gopher_quality`` run on the
same batch (or the part of it still kept) split its words once.
"""

from __future__ import annotations

import string
import threading
from typing import Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from filters.quality.batch import Items, char_class, texts_of, to_np
from filters.quality.tokenizers import spacy_words, tokenizer_for
from operators.core.base import Filter, OperatorConfig

# ASCII punctuation (what DataTrove excludes) plus the Unicode quotes, dashes and
# bullets that would otherwise stick to words or count as words.
_TRIM_CHARS = string.punctuation + "“”‘’„‚«»‹›…–—―¿¡·•"
Compat = Literal["datatrove", "whitespace"]

COMPAT_HELP = (
    "How words are split and rules defined. datatrove (the default): as DataTrove 0.10, which built FineWeb, "
    "decides (its word tokenizer for `language`, its rule definitions and order), so FineWeb's filtering is "
    "reproducible. whitespace: assay's first definitions (whitespace words, punctuation trimmed)."
)


class SplitConfig(OperatorConfig):
    """Settings every heuristic filter shares: how words are split."""

    compat: Compat = Field("datatrove", description=COMPAT_HELP)
    language: str = Field(
        "en",
        description="Language whose word tokenizer splits words under compat datatrove (a lid.176 code; "
        "DataTrove's default is English for every document). auto: each record's `lang` (from lang_id).",
    )


class WordFilter(Filter):
    """A filter that splits words: its tokenizer and character tables load in ``setup()``, once per worker."""

    def setup(self) -> None:
        if self.config.compat == "datatrove" and self.config.language != "auto":
            spacy_words(tokenizer_for(self.config.language).spacy)
        char_class("isalpha")
        char_class("punct")


class Words(NamedTuple):
    """Every document's words as ids into the batch's vocabulary.

    Per-word properties are computed once per distinct word (``vocab``) and
    reach the words through ``ids``.

    Attributes:
        items: which row each word belongs to.
        vocab: the distinct words of the batch.
        ids: each word's index in ``vocab``, in document order.
    """

    items: Items
    vocab: pa.Array
    ids: np.ndarray

    @classmethod
    def of(cls, lists: pa.ListArray) -> Words:
        encoded = pc.dictionary_encode(pc.list_flatten(lists))
        return cls(Items.of(lists), encoded.dictionary, to_np(encoded.indices).astype(np.int64))

    def per_word(self, per_vocab: pa.Array | np.ndarray) -> np.ndarray:
        """A property of each distinct word, for every word."""
        values = per_vocab if isinstance(per_vocab, np.ndarray) else to_np(per_vocab)
        return values[self.ids]

    def lengths(self) -> np.ndarray:
        """Length of every word in code points."""
        return self.per_word(pc.utf8_length(self.vocab)).astype(np.int64)


def whitespace_words(texts: pa.Array) -> pa.ListArray:
    """assay's whitespace words of each text (``compat: whitespace``)."""
    tokens = pc.ascii_split_whitespace(texts)  # twice as fast as the Unicode split
    raw = pc.dictionary_encode(pc.list_flatten(tokens))
    trimmed = pc.utf8_trim(raw.dictionary, characters=_TRIM_CHARS)
    words = trimmed.take(raw.indices)
    real = to_np(pc.greater(pc.utf8_length(words), 0))
    items = Items.of(tokens, real)
    return pa.ListArray.from_arrays(pa.array(items.offsets, pa.int32()), words.filter(real))


def spacy_codes(table: pa.Table, language: str) -> pa.Array | str:
    """The spaCy language splitting each row: one for all, or per row from ``lang`` when ``language`` is ``auto``."""
    if language != "auto":
        return tokenizer_for(language).spacy
    if "lang" not in table.column_names:
        raise ValueError("language: auto reads each record's `lang` column: put lang_id before this stage")
    langs = pc.dictionary_encode(pc.fill_null(table.column("lang"), "xx").combine_chunks())
    codes = pa.array([tokenizer_for(lang).spacy for lang in langs.dictionary.to_pylist()], pa.string())
    return codes.take(langs.indices)


def datatrove_words(texts: pa.Array, codes: pa.Array | str) -> pa.ListArray:
    """DataTrove's words of each text, with the spaCy language(s) ``codes``."""
    if isinstance(codes, str):
        return spacy_words(codes).split(texts)
    encoded = pc.dictionary_encode(codes)
    groups = to_np(encoded.indices)
    rows = [np.flatnonzero(groups == g) for g in range(len(encoded.dictionary))]
    parts = [
        spacy_words(code).split(texts.take(pa.array(r)))
        for code, r in zip(encoded.dictionary.to_pylist(), rows, strict=True)
    ]
    order = np.empty(len(texts), np.int64)
    order[np.concatenate(rows)] = np.arange(len(texts))
    return pa.concat_arrays(parts).take(pa.array(order)) if parts else pa.array([], pa.list_(pa.string()))


class _Split(NamedTuple):
    ids: pa.Array | None
    texts: pa.Array
    codes: pa.Array | str
    lists: pa.ListArray


_last: dict[tuple[str, str], _Split] = {}
_lock = threading.Lock()


def _reuse(entry: _Split, ids: pa.Array | None, texts: pa.Array, codes: pa.Array | str) -> pa.ListArray | None:
    """``entry``'s words for these records, if it split them (the same ids, texts and languages)."""
    if ids is None or entry.ids is None:
        if len(texts) != len(entry.texts):
            return None
        rows = pa.array(np.arange(len(texts)))
    else:
        rows = pc.index_in(ids, value_set=entry.ids)
        if rows.null_count:
            return None
    if not pc.all(pc.equal(entry.texts.take(rows), texts)).as_py():
        return None
    if isinstance(codes, str) or isinstance(entry.codes, str):
        if codes != entry.codes:
            return None
    elif not pc.all(pc.equal(entry.codes.take(rows), codes)).as_py():
        return None
    return entry.lists.take(rows)


def split(table: pa.Table, compat: str, language: str = "en") -> Words:
    """The words of every row of ``table`` (``compat``: ``datatrove`` or ``whitespace``)."""
    texts = texts_of(table)
    ids = table.column("id").combine_chunks() if "id" in table.column_names else None
    codes = spacy_codes(table, language) if compat == "datatrove" else "whitespace"
    key = (compat, language)
    with _lock:
        entry = _last.get(key)
    lists = _reuse(entry, ids, texts, codes) if entry is not None else None
    if lists is None:
        lists = datatrove_words(texts, codes) if compat == "datatrove" else whitespace_words(texts)
        with _lock:
            _last[key] = _Split(ids, texts, codes, lists)
    return Words.of(lists)
