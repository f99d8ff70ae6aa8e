import itertools

import pyarrow as pa
import pytest
from pydantic import ValidationError

from filters.quality import C4FineWeb, GopherQuality, GopherRepetition
from operators.core import registry
from tests.conftest import make_table

SENTENCES = [
    "The town council met on Thursday evening to discuss the budget for the new public library.",
    "Several members argued that the building should have more reading rooms and a space for children.",
    "The mayor said the city would pay for most of the work with money it had saved over many years.",
    "Some residents asked whether the old library would stay open while the builders were at work.",
    "The architect explained that the project could take about two years, depending on the weather.",
    "A final vote on the plan is expected at the next meeting of the council in early March.",
]
CLEAN = "\n".join(SENTENCES)
SPAN = "alpha bravo delta eagle fable gamma hotel india joker karma"  # ten 5-letter words


def filler(n: int) -> list[str]:
    """``n`` distinct 5-letter words that share no n-gram with anything else."""
    letters = itertools.product("bcdfghjklmnpqrstvwxz", repeat=4)
    return ["q" + "".join(next(letters)) for _ in range(n)]


def repeated_span(frac: float) -> str:
    """SPAN twice among unique filler, so its second copy is ``frac`` of the word characters."""
    words = filler(round((50 / frac - 100) / 5))
    half = len(words) // 2
    return " ".join([SPAN, *words[:half], SPAN, *words[half:]])


def repeated_ngram(gram: str, times: int, gap: int) -> str:
    """``gram`` ``times`` times, each followed by ``gap`` unique filler words."""
    words = filler(times * gap)
    return " ".join(f"{gram} {' '.join(words[i * gap : (i + 1) * gap])}" for i in range(times))


def indented_block() -> str:
    # Stripped, its lines are one letter each; the paragraph keeps the indentation.
    return "a\n" + "\n".join(" " * 150 + w for w in "bcd")


# (operator, reason, params that disable the rule, the reason once it is disabled, document)
CASES = [
    (GopherQuality, "word_count", {"min_words": None}, None, "Too short to be a document, with the cat."),
    (
        GopherQuality,
        "mean_word_length",
        {"max_mean_word_length": None},
        None,
        " ".join(["the", "of"] + ["incomprehensibilities"] * 60),
    ),
    (GopherQuality, "symbol_ratio", {"max_symbol_ratio": None}, None, CLEAN + " #" * 20),
    (
        GopherQuality,
        "bullet_lines",
        {"max_bullet_lines_frac": None},
        None,
        "\n".join("• " + s for s in SENTENCES),
    ),
    (
        GopherQuality,
        "ellipsis_lines",
        {"max_ellipsis_lines_frac": None},
        None,
        "\n".join(s[:-1] + "..." for s in SENTENCES),
    ),
    (
        GopherQuality,
        "alpha_words",
        {"min_alpha_words_frac": None},
        None,
        CLEAN + "\n" + " ".join(str(i) for i in range(40)),
    ),
    (
        GopherQuality,
        "stop_words",
        {"min_stop_words": None},
        None,
        " ".join(["Bright", "green", "apples", "grow", "fast", "near", "river", "banks."] * 8),
    ),
    (GopherRepetition, "dup_line_frac", {"max_dup_line_frac": None}, None, CLEAN + "\nRead more here." * 5),
    (
        GopherRepetition,
        "dup_para_frac",
        {"max_dup_para_frac": None},
        None,
        "\n\n".join(
            ["\n".join(SENTENCES[:3]), "\n".join(SENTENCES[3:]), "Short note.", "Short note.", "Short note."]
        ),
    ),
    (
        GopherRepetition,
        "dup_line_char_frac",
        {"max_dup_line_char_frac": None},
        "top_3gram",  # a repeated line also repeats its n-grams
        "\n".join([SENTENCES[1], "One.", "Two.", "Three.", "Four.", SENTENCES[1]]),
    ),
    (
        GopherRepetition,
        "dup_para_char_frac",
        {"max_dup_para_char_frac": None},
        None,
        "\n\n".join(
            ["\n".join(SENTENCES[i : i + 2]) for i in (0, 2, 4)] + [indented_block(), indented_block()]
        ),
    ),
    (GopherRepetition, "top_2gram", {"max_top_2gram_frac": None}, "top_3gram", "la " * 60),
    (
        GopherRepetition,
        "top_3gram",
        {"max_top_3gram_frac": None},
        None,
        repeated_ngram("alphabet b omega", 5, 8),
    ),
    (
        GopherRepetition,
        "top_4gram",
        {"max_top_4gram_frac": None},
        None,
        repeated_ngram("alphabet x y magnitude", 5, 11),
    ),
    # A repeated 10-word span repeats every shorter n-gram in it too, so the fraction
    # chooses which rule fires first, and disabling it lets the next one fire.
    (GopherRepetition, "dup_5gram", {"max_dup_5gram_frac": None}, "dup_6gram", repeated_span(0.17)),
    (GopherRepetition, "dup_6gram", {"max_dup_6gram_frac": None}, "dup_7gram", repeated_span(0.145)),
    (GopherRepetition, "dup_7gram", {"max_dup_7gram_frac": None}, "dup_8gram", repeated_span(0.135)),
    (GopherRepetition, "dup_8gram", {"max_dup_8gram_frac": None}, "dup_9gram", repeated_span(0.125)),
    (GopherRepetition, "dup_9gram", {"max_dup_9gram_frac": None}, "dup_10gram", repeated_span(0.115)),
    (GopherRepetition, "dup_10gram", {"max_dup_10gram_frac": None}, None, repeated_span(0.105)),
    (
        C4FineWeb,
        "lorem_ipsum",
        {"max_lorem_ipsum": None},
        None,
        CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
    ),
    (
        C4FineWeb,
        "javascript",
        {"max_javascript_line_frac": None},
        None,
        CLEAN + "\nPlease enable JavaScript in your browser to see the map.",
    ),
    (
        C4FineWeb,
        "curly_bracket",
        {"max_curly_brackets": None},
        None,
        CLEAN + "\nThe config file sets {debug: true} for every test run.",
    ),
    (
        C4FineWeb,
        "policy",
        {"max_policy_line_frac": None},
        None,
        CLEAN + "\nBy using this site you agree to our Terms of Use and the rules.",
    ),
    (C4FineWeb, "too_few_sentences", {"min_sentences": None}, None, "\n".join(SENTENCES[:4])),
    (C4FineWeb, "line_punct", {"line_punct_thr": None}, None, "\n".join(s[:-1] for s in SENTENCES)),
    (
        C4FineWeb,
        "short_lines",
        {"short_line_thr": None},
        None,
        "\n".join(
            ["The cat sat down.", "A dog ran off.", "Rain fell all day.", "We went home.", "It got dark."]
        )
        + "\n"
        + "\n".join(SENTENCES[:2]),
    ),
    (C4FineWeb, "dup_line_chars", {"dup_line_char_thr": None}, None, CLEAN + "\n" + SENTENCES[1]),
    (
        C4FineWeb,
        "newline_ratio",
        {"max_newline_ratio": None},
        None,
        "\n".join(f"Incomprehensibly {w} notwithstanding." for w in filler(20)),
    ),
]
IDS = [f"{op.name}:{reason}" for op, reason, *_ in CASES]
ALL = (GopherQuality, GopherRepetition, C4FineWeb)


def reasons(op, texts, **kwargs):
    return op(make_table(texts, **kwargs)).column("drop_reason").to_pylist()


@pytest.mark.parametrize("op_cls", ALL)
def test_clean_paragraph_passes(op_cls):
    assert reasons(op_cls(), [CLEAN]) == [None]


@pytest.mark.parametrize(("op_cls", "reason", "off", "then", "text"), CASES, ids=IDS)
def test_each_rule_drops_with_its_reason(op_cls, reason, off, then, text):
    assert reasons(op_cls(), [CLEAN, text]) == [None, f"{op_cls.name}:{reason}"]


@pytest.mark.parametrize(("op_cls", "reason", "off", "then", "text"), CASES, ids=IDS)
def test_a_disabled_rule_no_longer_drops(op_cls, reason, off, then, text):
    assert reasons(op_cls(**off), [text]) == [None if then is None else f"{op_cls.name}:{then}"]


def test_every_rule_is_covered():
    rules = {(op.name, reason) for op, reason, *_ in CASES}
    assert len(rules) == len(CASES) == 7 + 13 + 9


def test_stop_words_apply_only_to_the_configured_languages():
    text = next(t for op, reason, *_, t in CASES if reason == "stop_words")
    dropped = "gopher_quality:stop_words"
    assert reasons(GopherQuality(), [text, text, text], lang=["en", "fr", None]) == [dropped, None, None]
    assert (
        reasons(GopherQuality(stop_word_langs=["en", "fr"]), [text, text], lang=["en", "fr"]) == [dropped] * 2
    )
    assert reasons(GopherQuality(), [text]) == [dropped]  # no lang column: the rule applies


def test_signals_on_a_tiny_document():
    out = GopherQuality()(make_table(["Hello, world! -- It's 42.\n• one..."]))
    row = {name: out.column(name)[0].as_py() for name in GopherQuality.columns}
    # Words: Hello, world, It's, 42, one ("--" and "•" are punctuation, not words).
    assert row["gopher_word_count"] == 5
    assert row["gopher_mean_word_length"] == pytest.approx(19 / 5)
    assert row["gopher_alpha_words_frac"] == pytest.approx(4 / 5)
    assert row["gopher_symbol_ratio"] == pytest.approx(1 / 5)
    assert row["gopher_bullet_lines_frac"] == row["gopher_ellipsis_lines_frac"] == pytest.approx(1 / 2)
    assert row["gopher_stop_words"] == 0


def test_ngram_fractions_are_over_word_characters():
    out = GopherRepetition()(make_table(["one two three four five one two three four five"]))
    frac = {name: out.column(name)[0].as_py() for name in GopherRepetition.columns}
    # 38 word characters; the second copy (19) repeats every n-gram up to 5 words.
    assert frac["rep_dup_5gram_frac"] == pytest.approx(19 / 38)
    assert frac["rep_dup_6gram_frac"] == 0
    # Most frequent 2-grams all occur twice; the tie goes to the longest, "three four".
    assert frac["rep_top_2gram_frac"] == pytest.approx(2 * 9 / 38)
    assert frac["rep_top_4gram_frac"] == pytest.approx(2 * 16 / 38)


def test_redecide_with_new_thresholds_needs_no_rescoring(monkeypatch):
    short = CASES[0][-1]
    scored = GopherQuality(min_words=None)(make_table([CLEAN, short]))
    assert scored.column("drop_reason").to_pylist() == [None, None]
    strict = GopherQuality()
    monkeypatch.setattr(strict, "score", lambda table: pytest.fail("rescored"))
    out = strict.redecide(scored)
    assert out.column("drop_reason").to_pylist() == [None, "gopher_quality:word_count"]
    assert out.column("gopher_word_count").to_pylist() == scored.column("gopher_word_count").to_pylist()


@pytest.mark.parametrize("op_cls", ALL)
def test_dropped_rows_are_not_scored_and_keep_their_reason(op_cls, monkeypatch):
    texts = [CLEAN, "", "la " * 60]
    table = registry.get("lang_id")().drop(make_table(texts), ["low_lang_score", None, None])
    op = op_cls()
    seen = []
    score = op.score
    monkeypatch.setattr(op, "score", lambda kept: seen.append(kept.column("text").to_pylist()) or score(kept))
    out = op(table)
    assert seen == [texts[1:]]
    assert out.column("drop_reason")[0].as_py() == "lang_id:low_lang_score"
    assert out.column(op.score_column)[0].as_py() is None
    assert out.column(op.score_column)[1].is_valid


def test_row_count_and_order_never_change():
    texts = [CLEAN, "", None, *(case[-1] for case in CASES)]
    table = make_table([t or "" for t in texts]).set_column(1, "text", pa.array(texts, pa.string()))
    out = table
    for op_cls in ALL:
        out = op_cls()(out)
        assert out.num_rows == table.num_rows
        assert out.column("id").equals(table.column("id"))
    keep, dropped = out.column("keep").to_pylist(), out.column("drop_reason").to_pylist()
    assert keep[0] and all(k == (r is None) for k, r in zip(keep, dropped, strict=True))
    assert dropped[1:3] == ["gopher_quality:word_count"] * 2  # empty and null texts


def test_empty_batches_and_all_dropped_batches():
    for op_cls in ALL:
        out = op_cls()(make_table([]))
        assert out.num_rows == 0 and set(op_cls.columns) <= set(out.column_names)
        dropped = op_cls().drop(make_table(["x"]), ["earlier"])
        assert op_cls()(dropped).column("drop_reason").to_pylist() == [f"{op_cls.name}:earlier"]


def test_registered_and_configs_are_strict():
    for op_cls in ALL:
        assert registry.get(op_cls.name) is op_cls
        assert set(op_cls.columns) >= {op_cls.score_column}
        for field in op_cls.Config.model_fields.values():
            assert field.description
    with pytest.raises(ValidationError):
        GopherQuality(min_word=10)
    with pytest.raises(ValidationError):
        GopherRepetition(max_dup_line_frac=1.5)
    assert C4FineWeb().fingerprint != C4FineWeb(max_policy_line_frac=0.1).fingerprint
