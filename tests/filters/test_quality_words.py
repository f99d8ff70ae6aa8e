"""Word splits, sentence counts and lines as DataTrove's tokenizers make them, checked against spaCy itself."""

import pyarrow as pa
import pytest
import spacy

from filters.quality import words as split_words
from filters.quality.batch import python_lines
from filters.quality.sentences import sentence_counts
from filters.quality.tokenizers import SpacyWords, tokenizer_for
from tests.conftest import make_table

TRICKY = [
    "Don't panic: it's 5pm in the U.S., isn't it? (See e.g. https://example.org/a?b=c.)",
    "The 10km run costs $20.00 -- or £15; emails to ann@example.com, :) and :-( aside...",
    "Tabs\tand\u00a0no-break spaces,  double  spaces\nand lines;\r\nwindows too.\u2028Unicode\u3000breaks.",
    'def f(x):\n    return {"a": [x, x*2]}  # code: a=b+c; x==y; i++',
    "“Quoted,” she said — ‘single’ — «guillemets» and naïve café déjà-vu!!!",
    "",
    "   ",
    "a.m. p.m. Mr. Smith vs. Dr. Jones, etc. O'Neill's rock'n'roll y'all.",
]


def reference(nlp, text: str) -> list[str]:
    """What DataTrove's SpaCyTokenizer.word_tokenize returns: spaCy's tokens, stripped, blanks dropped."""
    return [t.text.strip() for t in nlp.tokenizer(text) if t.text.strip()]


@pytest.mark.parametrize(
    ("code", "texts"),
    [
        ("en", TRICKY),
        ("fr", ["L'homme qu'on voit aujourd'hui, c.-à-d. M. Dupont, n'est-ce pas ?", *TRICKY[:3]]),
        ("de", ["Die Straße z.B. am 3. Okt. (u.a. Berlin) ist's.", TRICKY[2]]),
        # Spanish has a special case with a space ("EE. UU."): that document is tokenized whole.
        ("es", ["Los EE. UU. y la U.E., ¿verdad? ¡Sí!", "Sin nada especial: EE.UU. juntos.", TRICKY[0]]),
    ],
)
def test_chunkwise_words_are_spacys_words(code, texts):
    nlp = spacy.blank(code)
    words = SpacyWords(code)
    got = words.split(pa.array(texts)).to_pylist()
    assert got == [reference(nlp, t) for t in texts]
    # A second batch reuses the chunks it has seen and gives the same words.
    assert words.split(pa.array(texts[::-1])).to_pylist() == got[::-1]


def test_the_spanning_special_case_is_what_makes_a_difference():
    # Chunk by chunk, "EE." and "UU." would be split as two chunks; spaCy keeps the special case whole.
    assert SpacyWords("es").split(pa.array(["Los EE. UU. hoy"])).to_pylist() == [["Los", "EE. UU.", "hoy"]]


def test_the_split_is_shared_between_filters(monkeypatch):
    table = make_table(["One document, here.", "Another one!", "A third."])
    first = split_words.split(table, "datatrove", "en")
    monkeypatch.setattr(split_words, "datatrove_words", lambda *a: pytest.fail("split twice"))
    # The same rows, or the rows still kept after another filter dropped one, are not split again.
    again = split_words.split(table, "datatrove", "en")
    subset = split_words.split(table.take([0, 2]), "datatrove", "en")
    assert again.vocab.take(pa.array(again.ids)).equals(first.vocab.take(pa.array(first.ids)))
    assert subset.vocab.take(pa.array(subset.ids)).to_pylist() == [
        "One",
        "document",
        ",",
        "here",
        ".",
        "A",
        "third",
        ".",
    ]
    # Another text under the same id is split anew.
    changed = table.set_column(1, "text", pa.array(["One document, here.", "Changed!", "A third."]))
    with pytest.raises(pytest.fail.Exception, match="split twice"):
        split_words.split(changed, "datatrove", "en")


def test_whitespace_words_trim_punctuation():
    words = split_words.whitespace_words(pa.array(["Hello, world! -- (it's) “fine”."]))
    assert words.to_pylist() == [["Hello", "world", "it's", "fine"]]


LINES = [
    "One sentence. Two sentences! Three?",
    "e.g. an abbreviation, i.e. one token, vs. another.",
    "Trailing whitespace after a period.  \t",
    " Leading space. x",
    "a.\t. b",
    'Quotes end it." Then this.',
    "Ellipsis... then more. And ‽ interrobang‽ yes",
    "。日本語の文。もう一つ。",
    "no punctuation at all",
    ". starts with a period",
]


@pytest.mark.parametrize("code", ["en", "xx"])
def test_sentence_counts_are_the_sentencizers(code):
    nlp = spacy.blank(code)
    nlp.add_pipe("sentencizer")
    assert sentence_counts(pa.array(LINES), code).tolist() == [len(list(nlp(line).sents)) for line in LINES]


def test_lines_are_splitlines():
    texts = ["a\nb\r\nc\rd\x0be\x1cf\u2028g\n", "", "\n", "x\n\ny", "no break"]
    items, lines = python_lines(pa.array(texts))
    assert items.count().tolist() == [len(t.splitlines()) for t in texts]
    assert lines.to_pylist() == [line for t in texts for line in t.splitlines()]


def test_each_language_gets_datatroves_tokenizer_or_a_named_substitute(caplog):
    tokenizer_for.cache_clear()
    assert tokenizer_for("en") == ("SpaCyTokenizer(en)", "en", True)
    assert tokenizer_for("als") == ("SpaCyTokenizer(sq)", "sq", True)  # DataTrove's proxy language
    assert tokenizer_for("ka") == ("WhitespaceTokenizer (spaCy xx)", "xx", True)
    hindi = tokenizer_for("hi")  # Stanza: its models download at run time
    assert (hindi.spacy, hindi.exact) == ("xx", False) and "Stanza" in hindi.datatrove
    assert tokenizer_for("tl").exact is False  # DataTrove has none
    # A substitute is said once per language, naming what is missing and what splits instead.
    tokenizer_for("hi")
    said = [r.getMessage() for r in caplog.records if r.name == "filters.quality.tokenizers"]
    assert len(said) == 2 and "'hi'" in said[0] and "Stanza" in said[0] and "xx" in said[0]
    assert "'tl'" in said[1] and "DataTrove has no tokenizer" in said[1]
