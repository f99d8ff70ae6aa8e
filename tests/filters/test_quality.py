import itertools
import random

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from filters.quality import C4, C4FineWeb, FineWeb, GopherQuality, GopherRepetition
from filters.quality.joined_ngrams import joined_ngram_keys
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


# compat: whitespace (assay's first definitions; c4_fineweb has only those).
# (operator, reason, params that disable the rule, the reason once it is disabled, document)
WHITESPACE_CASES = [
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
        "\n\n".join(["\n".join(SENTENCES[:3]), "\n".join(SENTENCES[3:]), "Short note.", "Short note.", "Short note."]),
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
        "\n\n".join(["\n".join(SENTENCES[i : i + 2]) for i in (0, 2, 4)] + [indented_block(), indented_block()]),
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
        "\n".join(["The cat sat down.", "A dog ran off.", "Rain fell all day.", "We went home.", "It got dark."])
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


def copies(span_words: int, times: int, gap: int) -> str:
    """The first ``span_words`` words of SPAN ``times`` times, each followed by ``gap`` unique filler words."""
    span, words = SPAN.split()[:span_words], filler(times * gap)
    return " ".join(" ".join([*span, *words[i * gap : (i + 1) * gap]]) for i in range(times))


def short_then_long(short_words: int, gap: int) -> str:
    """One-letter words then a long one, twice, ``gap`` filler words after each.

    The top 2-, 3- and 4-grams are the cheap one-letter ones, so the repeated
    ``short_words + 1``-gram, which holds the long word, is the first rule past
    its limit.
    """
    span, words = " ".join([*"abcdefghij"[:short_words], "extraordinarily"]), filler(2 * gap)
    return " ".join([span, *words[:gap], span, *words[gap:]])


# compat: datatrove (the default). Every document here decides as DataTrove 0.10's filter of the same name:
# the same reason, and the same reason once the rule is disabled (`python benchmarks/heuristics_pinned.py`
# checks these, the near misses and the mode pins below against DataTrove itself).
DATATROVE_CASES = [
    (GopherQuality, "word_count", {"min_words": None}, None, "Too short to be a document, with the cat."),
    (
        GopherQuality,
        "mean_word_length",
        {"max_mean_word_length": None},
        None,
        " ".join(["the", "of"] + ["incomprehensibilities"] * 60),
    ),
    # 20 '#' among 128 tokens; without the rule, the '#' tokens (no letter) are too many for alpha_words.
    (GopherQuality, "symbol_ratio", {"max_symbol_ratio": None}, "alpha_words", CLEAN + " #" * 20),
    (GopherQuality, "bullet_lines", {"max_bullet_lines_frac": None}, None, "\n".join("- " + s for s in SENTENCES)),
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
    # Stop words are matched in exact case: "The" and "Of" are not "the" and "of".
    (
        GopherQuality,
        "stop_words",
        {"min_stop_words": None},
        None,
        " ".join(["The", "green", "apples", "grow", "fast", "Of", "river", "banks."] * 8),
    ),
    (
        GopherRepetition,
        "dup_para_frac",
        {"max_dup_para_frac": None},
        None,
        "\n\n".join(["\n".join(SENTENCES[:3]), "\n".join(SENTENCES[3:]), "Short note.", "Short note.", "Short note."]),
    ),
    (
        GopherRepetition,
        "dup_para_char_frac",
        {"max_dup_para_char_frac": None},
        "dup_line_char_frac",
        "\n\n".join(["\n".join(SENTENCES[i : i + 2]) for i in (0, 2, 4)] + [indented_block(), indented_block()]),
    ),
    (GopherRepetition, "dup_line_frac", {"max_dup_line_frac": None}, None, CLEAN + "\nRead more here." * 5),
    (
        GopherRepetition,
        "dup_line_char_frac",
        {"max_dup_line_char_frac": None},
        "top_3gram",
        "\n".join([SENTENCES[1], "One.", "Two.", "Three.", "Four.", SENTENCES[1]]),
    ),
    # Occurrences overlap: "la la" covers 59 * 5 characters of 180, a fraction above 1.
    (GopherRepetition, "top_2gram", {"max_top_2gram_frac": None}, "top_3gram", "la " * 60),
    (GopherRepetition, "top_3gram", {"max_top_3gram_frac": None}, None, repeated_ngram("alphabet b omega", 5, 8)),
    (
        GopherRepetition,
        "top_4gram",
        {"max_top_4gram_frac": None},
        None,
        repeated_ngram("alphabet x y magnitude", 5, 11),
    ),
    # DataTrove's scan counts a repeated 10-word span as two 5-grams, one 6-gram, one 9-gram...
    (GopherRepetition, "dup_5gram", {"max_dup_5gram_frac": None}, None, short_then_long(4, 6)),
    (GopherRepetition, "dup_6gram", {"max_dup_6gram_frac": None}, None, copies(6, 6, 20)),
    (GopherRepetition, "dup_7gram", {"max_dup_7gram_frac": None}, None, short_then_long(6, 8)),
    (GopherRepetition, "dup_8gram", {"max_dup_8gram_frac": None}, None, short_then_long(7, 9)),
    (GopherRepetition, "dup_9gram", {"max_dup_9gram_frac": None}, "dup_10gram", repeated_span(0.17)),
    (GopherRepetition, "dup_10gram", {"max_dup_10gram_frac": None}, None, repeated_span(0.145)),
    (
        C4,
        "lorem_ipsum",
        {"filter_lorem_ipsum": False},
        None,
        CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
    ),
    (
        C4,
        "curly_bracket",
        {"filter_curly_bracket": False},
        None,
        CLEAN + "\nThe config file sets {debug: true} for every test run.",
    ),
    (C4, "too_few_sentences", {"min_sentences": None}, None, "\n".join(SENTENCES[:4])),
    (FineWeb, "empty", {}, None, "  \n \n"),
    (FineWeb, "line_punct_ratio", {"line_punct_thr": None}, None, "\n".join(s[:-1] for s in SENTENCES)),
    (
        FineWeb,
        "short_line_ratio",
        {"short_line_thr": None},
        None,
        "\n".join(["The cat sat down.", "A dog ran off.", "Rain fell all day.", "We went home.", "It got dark."])
        + "\n"
        + "\n".join(SENTENCES[:2]),
    ),
    (FineWeb, "char_dup_ratio", {"char_duplicates_ratio": None}, None, CLEAN + "\n" + SENTENCES[1]),
    (
        FineWeb,
        "list_ratio",
        {"new_line_ratio": None},
        None,
        "\n".join(f"{w}incomprehensibly notwithstanding." for w in filler(20)),
    ),
]
# Documents each rule must keep (it must not over-match), compat datatrove: (operator, rule, why, document),
# every decision checked against DataTrove 0.10 (`python benchmarks/heuristics_pinned.py`).
DATATROVE_KEPT = [
    (GopherQuality, "word_count", "50 words: not fewer than 50", " ".join(" ".join(SENTENCES).split()[:50])),
    (
        GopherQuality,
        "mean_word_length",
        "punctuation tokens are not words of the mean (with them: 26/9 < 3)",
        " ".join(["the", "cat", "and", "dog", "sat", "near", "our", "red,"] * 10),
    ),
    (GopherQuality, "symbol_ratio", "12 '#' in 132 tokens (whitespace words: 12 in 112, too many)", CLEAN + " #" * 12),
    (GopherQuality, "bullet_lines", "'*' is not DataTrove's bullet", "\n".join("* " + s for s in SENTENCES)),
    (
        GopherQuality,
        "bullet_lines",
        "9 bullet lines of 10: not above 0.9",
        "\n".join("- " + s if i else s for i, s in enumerate(SENTENCES + SENTENCES[:4])),
    ),
    (
        GopherQuality,
        "ellipsis_lines",
        "blank lines are lines: 4 of 19 end in '...'",
        "\n\n".join(s[:-1] + "..." if i < 4 else s for i, s in enumerate(SENTENCES + SENTENCES[:4])),
    ),
    (
        GopherQuality,
        "alpha_words",
        "'3rd' has a letter",
        CLEAN + "\n" + " ".join(f"{i}rd" for i in range(40)),
    ),
    (
        GopherQuality,
        "stop_words",
        "two distinct stop words, nothing else",
        " ".join(["the", "green", "river", "of", "stone", "runs", "past", "old", "farms."] * 8),
    ),
    (
        GopherRepetition,
        "dup_para_frac",
        "a line of spaces does not end a paragraph",
        CLEAN + "\n\nShort note.\n \nShort note.\n \nShort note.",
    ),
    (
        GopherRepetition,
        "dup_line_frac",
        "3 repeated lines of 10: not above 0.3",
        "\n".join([*SENTENCES, "Note.", "Note.", "Note.", "Note."]),
    ),
    (GopherRepetition, "dup_line_frac", "blank lines between paragraphs are not lines", "\n\n".join(SENTENCES)),
    (C4, "lorem_ipsum", "'lorem ipsum' in a line C4 removes (2 words)", CLEAN + "\nLorem ipsum."),
    (
        C4,
        "curly_bracket",
        "'{' in a line removed first (no terminal punctuation)",
        CLEAN + "\nThe config file sets {debug: true}",
    ),
    (
        C4,
        "curly_bracket",
        "'{' in a javascript line: removed as javascript",
        CLEAN + "\nThe javascript config sets {debug: true}.",
    ),
    (
        C4,
        "too_few_sentences",
        "a javascript line is removed, not the page",
        CLEAN + "\nPlease enable JavaScript in your browser to see the map.",
    ),
    (
        C4,
        "too_few_sentences",
        "a policy line is removed",
        CLEAN + "\nBy using this site you agree to our Terms of Use and the rules.",
    ),
    (C4, "too_few_sentences", "5 sentences on one line", " ".join(SENTENCES[:5])),
    (FineWeb, "empty", "one line is a document", SENTENCES[0]),
    (
        FineWeb,
        "line_punct_ratio",
        "2 of 6 lines without punctuation",
        "\n".join(SENTENCES[:4] + [s[:-1] for s in SENTENCES[4:]]),
    ),
    (FineWeb, "line_punct_ratio", "'。' is terminal punctuation", "\n".join(s[:-1] + "。" for s in SENTENCES)),
    (
        FineWeb,
        "short_line_ratio",
        "a line's length counts its indentation",
        "\n".join(f"{' ' * 25}Short one, {w}." for w in filler(8)),
    ),
    (
        FineWeb,
        "list_ratio",
        "punctuation tokens are words: 19 breaks, 80 tokens",
        "\n".join(f"Incomprehensibly {w} notwithstanding." for w in filler(20)),
    ),
]
# Each threshold rule of DATATROVE_CASES: its score column and limit (a lower limit: min_words, line_punct_thr...
# or an upper one). A document scoring exactly the limit is kept (DataTrove compares strictly); one a hair past it
# is dropped.
BOUNDARIES = {
    (GopherQuality, "word_count"): ("gopher_word_count", "min_words"),
    (GopherQuality, "mean_word_length"): ("gopher_mean_word_length", "max_mean_word_length"),
    (GopherQuality, "symbol_ratio"): ("gopher_symbol_ratio", "max_symbol_ratio"),
    (GopherQuality, "bullet_lines"): ("gopher_bullet_lines_frac", "max_bullet_lines_frac"),
    (GopherQuality, "ellipsis_lines"): ("gopher_ellipsis_lines_frac", "max_ellipsis_lines_frac"),
    (GopherQuality, "alpha_words"): ("gopher_alpha_words_frac", "min_alpha_words_frac"),
    (GopherQuality, "stop_words"): ("gopher_stop_words", "min_stop_words"),
    **{
        (GopherRepetition, reason): (f"rep_{reason}" if "frac" in reason else f"rep_{reason}_frac", field)
        for reason, field in [
            *[(f"dup_{b}_frac", f"max_dup_{b}_frac") for b in ("para", "para_char", "line", "line_char")],
            *[(f"top_{n}gram", f"max_top_{n}gram_frac") for n in (2, 3, 4)],
            *[(f"dup_{n}gram", f"max_dup_{n}gram_frac") for n in range(5, 11)],
        ]
    },
    (C4, "too_few_sentences"): ("c4_sentences", "min_sentences"),
    (FineWeb, "line_punct_ratio"): ("fineweb_line_punct_ratio", "line_punct_thr"),  # a lower limit
    (FineWeb, "short_line_ratio"): ("fineweb_short_line_ratio", "short_line_thr"),
    (FineWeb, "char_dup_ratio"): ("fineweb_char_dup_ratio", "char_duplicates_ratio"),
    (FineWeb, "list_ratio"): ("fineweb_list_ratio", "new_line_ratio"),
}
# Documents the two compat modes decide differently; each mode asserts its own decision.
MODE_PINS = [
    # (operator, datatrove's reason, whitespace's reason, document)
    (
        GopherQuality,
        "alpha_words",
        None,
        "def main(args):\n    x = compute(args.a, args.b)\n    if x > 0:\n"
        "        return [x, x * 2]\n    return {}\n" * 3 + CLEAN,
    ),
    (GopherQuality, "alpha_words", None, CLEAN.replace(" the ", " (the) ").replace(",", " , ;")),
    (GopherQuality, None, "symbol_ratio", CLEAN + " #" * 12),
    (GopherQuality, None, "bullet_lines", "\n".join("* " + s for s in SENTENCES)),
    (
        GopherQuality,
        "stop_words",
        None,
        " ".join(["The", "green", "apples", "grow", "fast", "Of", "river", "banks."] * 8),
    ),
    (GopherRepetition, "dup_line_frac", None, "\n" + SENTENCES[0] + "\n"),
    (GopherRepetition, "top_2gram", None, "hello world"),
    (C4, "too_few_sentences", None, "\n".join(["See e.g. the docs, i.e. the manual, vs. the code."] * 3)),
    (FineWeb, None, "list_ratio", "\n".join(f"Incomprehensibly {w} notwithstanding." for w in filler(20))),
    # whitespace: blank lines are not lines, so 4 of 10 lines end in '...'; datatrove: 4 of 19.
    (
        GopherQuality,
        None,
        "ellipsis_lines",
        "\n\n".join(s[:-1] + "..." if i < 4 else s for i, s in enumerate(SENTENCES + SENTENCES[:4])),
    ),
    # whitespace: a line of spaces separates paragraphs, so "Short note." repeats twice in 4 paragraphs.
    (GopherRepetition, None, "dup_para_frac", CLEAN + "\n\nShort note.\n \nShort note.\n \nShort note."),
]
ALL = (GopherQuality, GopherRepetition, C4, FineWeb, C4FineWeb)
COMPAT_OPS = (GopherQuality, GopherRepetition, C4, FineWeb)


def make(op_cls, compat: str = "datatrove", **params):
    return op_cls(**params) if op_cls is C4FineWeb else op_cls(compat=compat, **params)


def reasons(op, texts, **kwargs):
    return op(make_table(texts, **kwargs)).column("drop_reason").to_pylist()


CASES = [("whitespace", *case) for case in WHITESPACE_CASES] + [("datatrove", *case) for case in DATATROVE_CASES]
IDS = [f"{compat}:{op.name}:{reason}" for compat, op, reason, *_ in CASES]


@pytest.mark.parametrize("op_cls", ALL)
@pytest.mark.parametrize("compat", ["datatrove", "whitespace"])
def test_clean_paragraph_passes(op_cls, compat):
    assert reasons(make(op_cls, compat), [CLEAN]) == [None]


@pytest.mark.parametrize(("compat", "op_cls", "reason", "off", "then", "text"), CASES, ids=IDS)
def test_each_rule_drops_with_its_reason(compat, op_cls, reason, off, then, text):
    assert reasons(make(op_cls, compat), [CLEAN, text]) == [None, f"{op_cls.name}:{reason}"]


SWITCHED = [case for case in CASES if case[3]]  # fineweb's "empty" has no switch


@pytest.mark.parametrize(
    ("compat", "op_cls", "reason", "off", "then", "text"),
    SWITCHED,
    ids=[f"{c}:{o.name}:{r}" for c, o, r, *_ in SWITCHED],
)
def test_a_disabled_rule_no_longer_drops(compat, op_cls, reason, off, then, text):
    assert reasons(make(op_cls, compat, **off), [text]) == [None if then is None else f"{op_cls.name}:{then}"]


def test_every_rule_is_covered():
    rules = {(op.name, reason) for op, reason, *_ in WHITESPACE_CASES}
    assert len(rules) == len(WHITESPACE_CASES) == 7 + 13 + 9
    rules = {(op, reason) for op, reason, *_ in DATATROVE_CASES}
    assert len(rules) == len(DATATROVE_CASES) == 7 + 13 + 3 + 5
    # Each rule also has a document it must keep: a near miss, or its own document at the limit.
    guarded = {(op, rule) for op, rule, *_ in DATATROVE_KEPT} | set(BOUNDARIES)
    assert rules <= guarded, rules - guarded


@pytest.mark.parametrize(
    ("op_cls", "rule", "why", "text"), DATATROVE_KEPT, ids=[f"{o.name}:{r}:{w}" for o, r, w, _ in DATATROVE_KEPT]
)
def test_datatrove_rules_do_not_over_match(op_cls, rule, why, text):
    assert reasons(op_cls(), [text]) == [None]


BOUNDARY_CASES = [case for case in DATATROVE_CASES if (case[0], case[1]) in BOUNDARIES]
# top_2gram's case scores above 1, beyond any limit: a repeated 2-gram among unique words instead.
BOUNDARY_CASES = [
    (op, reason, off, then, repeated_ngram("alphabet omega", 5, 6) if reason == "top_2gram" else text)
    for op, reason, off, then, text in BOUNDARY_CASES
]


@pytest.mark.parametrize(
    ("op_cls", "reason", "off", "then", "text"), BOUNDARY_CASES, ids=[f"{c[0].name}:{c[1]}" for c in BOUNDARY_CASES]
)
def test_a_score_at_the_limit_is_kept_and_one_past_it_dropped(op_cls, reason, off, then, text):
    column, field = BOUNDARIES[(op_cls, reason)]
    lower = field.startswith("min") or field == "line_punct_thr"
    value = op_cls()(make_table([text])).column(column)[0].as_py()
    if isinstance(value, int):
        past = value + 1 if lower else value - 1
    else:  # the next float32 beyond the score, the precision scores are kept in
        past = float(np.nextafter(np.float32(value), np.float32(np.inf if lower else -np.inf)))
    assert reasons(op_cls(**{field: value}), [text]) != [f"{op_cls.name}:{reason}"]
    assert reasons(op_cls(**{field: past}), [text]) == [f"{op_cls.name}:{reason}"]


@pytest.mark.parametrize(("op_cls", "datatrove", "whitespace", "text"), MODE_PINS)
def test_the_two_splits_decide_differently_on_pinned_documents(op_cls, datatrove, whitespace, text):
    for compat, reason in (("datatrove", datatrove), ("whitespace", whitespace)):
        assert reasons(make(op_cls, compat), [text]) == [None if reason is None else f"{op_cls.name}:{reason}"], compat


def test_repetition_rules_decide_in_order():
    """Each rule on its own (scores set by hand), and DataTrove's order: paragraphs before lines."""
    names = list(GopherRepetition.columns)
    for compat, first in (("datatrove", "dup_para_frac"), ("whitespace", "dup_line_frac")):
        op = GopherRepetition(compat=compat)
        for name in names:
            table = make_table(["x"])
            for other in names:
                table = table.append_column(other, pa.array([0.99 if other == name else 0.0], pa.float32()))
            reason = name.removeprefix("rep_")
            reason = reason.removesuffix("_frac") if "gram" in reason else reason
            expected = reason
            assert op.redecide(table).column("drop_reason").to_pylist() == [f"gopher_repetition:{expected}"]
        both = make_table(["x"])
        for other in names:
            both = both.append_column(
                other, pa.array([0.99 if "dup_line" in other or "dup_para" in other else 0.0], pa.float32())
            )
        assert op.redecide(both).column("drop_reason").to_pylist() == [f"gopher_repetition:{first}"]


def test_stop_words_apply_only_to_the_configured_languages():
    text = " ".join(["Bright", "green", "apples", "grow", "fast", "near", "river", "banks."] * 8)
    dropped = "gopher_quality:stop_words"
    # whitespace: English only by default; datatrove: every document, as DataTrove checks them all.
    whitespace = GopherQuality(compat="whitespace")
    assert reasons(whitespace, [text, text, text], lang=["en", "fr", None]) == [dropped, None, None]
    assert reasons(GopherQuality(), [text, text, text], lang=["en", "fr", None]) == [dropped] * 3
    assert GopherQuality().config.stop_word_langs is None and whitespace.config.stop_word_langs == ["en"]
    assert reasons(GopherQuality(stop_word_langs=["en", "fr"]), [text, text], lang=["en", "de"]) == [dropped, None]
    assert reasons(whitespace, [text]) == [dropped]  # no lang column: the rule applies


def test_signals_on_a_tiny_document():
    text = "Hello, world! -- It's 42.\n• one..."
    out = GopherQuality(compat="whitespace")(make_table([text]))
    row = {name: out.column(name)[0].as_py() for name in GopherQuality.columns}
    # Words: Hello, world, It's, 42, one ("--" and "•" are punctuation, not words).
    assert row["gopher_word_count"] == 5
    assert row["gopher_mean_word_length"] == pytest.approx(19 / 5)
    assert row["gopher_alpha_words_frac"] == pytest.approx(4 / 5)
    assert row["gopher_symbol_ratio"] == pytest.approx(1 / 5)
    assert row["gopher_bullet_lines_frac"] == row["gopher_ellipsis_lines_frac"] == pytest.approx(1 / 2)
    assert row["gopher_stop_words"] == 0
    out = GopherQuality()(make_table([text]))
    row = {name: out.column(name)[0].as_py() for name in GopherQuality.columns}
    # spaCy's English tokens: Hello , world ! -- It 's 42 . • one ... (12); not only DataTrove's punctuation
    # (which has no '•'): 7 of them.
    assert row["gopher_word_count"] == 7
    assert row["gopher_mean_word_length"] == pytest.approx(20 / 7)
    assert row["gopher_alpha_words_frac"] == pytest.approx(5 / 12)  # It, 's, Hello, world, one
    assert row["gopher_symbol_ratio"] == pytest.approx(1 / 12)
    assert row["gopher_bullet_lines_frac"] == row["gopher_ellipsis_lines_frac"] == pytest.approx(1 / 2)


def test_ngram_fractions_are_over_word_characters():
    out = GopherRepetition(compat="whitespace")(make_table(["one two three four five one two three four five"]))
    frac = {name: out.column(name)[0].as_py() for name in GopherRepetition.columns}
    # 38 word characters; the second copy (19) repeats every n-gram up to 5 words.
    assert frac["rep_dup_5gram_frac"] == pytest.approx(19 / 38)
    assert frac["rep_dup_6gram_frac"] == 0
    # Most frequent 2-grams all occur twice; the tie goes to the longest, "three four".
    assert frac["rep_top_2gram_frac"] == pytest.approx(2 * 9 / 38)
    assert frac["rep_top_4gram_frac"] == pytest.approx(2 * 16 / 38)


def test_ngram_fractions_as_datatrove_counts_them():
    def frac(text):
        out = GopherRepetition()(make_table([text]))
        return {name: out.column(name)[0].as_py() for name in GopherRepetition.columns}

    # Over the text's 13 characters. The scan finds "aaaaa" again at word 1, counts 5 characters and jumps
    # past word 5: the repeats at words 2 (for 5-grams) are never seen. 6-grams: one repeat, 6 characters.
    got = frac("a a a a a a a")
    assert got["rep_dup_5gram_frac"] == pytest.approx(5 / 13)
    assert got["rep_dup_6gram_frac"] == pytest.approx(6 / 13)
    assert got["rep_dup_7gram_frac"] == 0
    # The most frequent 2-grams, "a b" and "c d" (twice each): the first to occur, with its space (3 * 2).
    got = frac("a b a b c d c dd")
    assert got["rep_top_2gram_frac"] == pytest.approx(6 / 16)
    # Repeats are n-grams whose words joined with nothing between are equal: "qab c d e f" and "qa bc d e f"
    # are one 5-gram ("qabcdef", 7 characters), not two.
    words = filler(12)
    got = frac(" ".join(["qab", "c", "d", "e", "f", *words[:6], "qa", "bc", "d", "e", "f", *words[6:]]))
    assert got["rep_dup_5gram_frac"] == pytest.approx(7 / 95)
    assert got["rep_dup_6gram_frac"] == 0
    # No repeat at all: the first n-gram, once.
    got = frac("hello world again")
    assert got["rep_top_2gram_frac"] == pytest.approx(11 / 17)
    assert got["rep_top_4gram_frac"] == 0  # fewer than 4 words: no 4-gram


def test_joined_ngram_keys_are_equal_exactly_where_the_joined_texts_are():
    rng = random.Random(5)
    pieces = ["a", "b", "ab", "ba", "é", "aé", "\x00", "", "/usr", "/", "usr/", "ü"]
    docs = [[rng.choice(pieces[:-1] if i % 2 else pieces) for _ in range(rng.randrange(0, 40))] for i in range(30)]
    vocab = pa.array(sorted({w for d in docs for w in d}))
    index = {w: i for i, w in enumerate(vocab.to_pylist())}
    ids = np.array([index[w] for d in docs for w in d], np.int64)
    lengths = np.array([len(d) for d in docs])
    doc_end = np.repeat(np.cumsum(lengths), lengths)
    flat = [w for d in docs for w in d]
    for n, starts, keys in joined_ngram_keys(ids, vocab, doc_end, (1, 5, 10)):
        assert sorted(starts.tolist()) == [i for i in range(len(flat)) if i + n <= doc_end[i]]
        joined = ["".join(flat[i : i + n]) for i in starts.tolist()]
        for a in range(len(starts)):
            for b in range(a + 1, len(starts)):
                assert (keys[a] == keys[b]) == (joined[a] == joined[b])


def test_c4_rewrites_kept_documents_as_their_kept_lines():
    text = "  " + CLEAN.replace("library.", "library.[1]") + "\nPlease enable JavaScript now.\nToo short.\n"
    out = C4()(make_table([text, "\n".join(SENTENCES[:4])]))
    assert out.column("drop_reason").to_pylist() == [None, "c4:too_few_sentences"]
    assert out.column("text")[0].as_py() == CLEAN  # citations cut, the javascript and 2-word lines gone
    assert out.column("text")[1].as_py() == "\n".join(SENTENCES[:4])  # a dropped document keeps its text
    assert out.column("c4_lines_removed").to_pylist() == [2, 0]
    unchanged = C4(remove_lines=False)(make_table([text]))
    assert unchanged.column("text")[0].as_py() == text


def test_c4_the_first_line_decides_the_reason():
    curly, lorem = "The config file sets {debug: true} for a run.", "Lorem ipsum dolor sit amet, consectetur elit."
    out = C4()(make_table([f"{curly}\n{CLEAN}\n{lorem}", f"{lorem}\n{CLEAN}\n{curly}"]))
    assert out.column("drop_reason").to_pylist() == ["c4:curly_bracket", "c4:lorem_ipsum"]
    assert out.column("c4_curly_bracket_line").to_pylist() == [1, 8]


def test_fineweb_splits_words_only_where_the_list_rule_is_reached():
    out = FineWeb()(make_table([CLEAN, "\n".join(s[:-1] for s in SENTENCES)]))
    assert out.column("drop_reason").to_pylist() == [None, "fineweb:line_punct_ratio"]
    ratios = out.column("fineweb_list_ratio").to_pylist()
    assert ratios[0] == pytest.approx(5 / 108) and ratios[1] is None  # 5 line breaks, 108 tokens
    # Loosening the rule that dropped it leaves a document with no list ratio: decide says to rescore.
    with pytest.raises(ValueError, match="run the operator again"):
        FineWeb(line_punct_thr=None).redecide(
            out.set_column(out.schema.get_field_index("keep"), "keep", pa.array([True, True]))
        )


def test_language_auto_splits_each_document_with_its_language():
    # French elision: spaCy's French rules split "l'homme"; English ones do not.
    text = " ".join(["L'homme regarde l'eau et la ville."] * 12)
    auto = GopherQuality(language="auto")(make_table([text, text], lang=["fr", "en"]))
    assert auto.column("gopher_word_count").to_pylist() == [8 * 12, 6 * 12]
    with pytest.raises(ValueError, match="lang_id"):
        GopherQuality(language="auto")(make_table([text]))


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
    with pytest.raises(ValidationError):
        GopherQuality(compat="nltk")
    assert C4FineWeb().fingerprint != C4FineWeb(max_policy_line_frac=0.1).fingerprint
    for op_cls in COMPAT_OPS:
        assert op_cls().fingerprint != op_cls(compat="whitespace").fingerprint
    # New definitions, new versions in the ledger.
    assert GopherQuality.version == GopherRepetition.version == "2"


# C4's line rules remove a line rather than drop the document: (switch, its off value, removed line, near miss kept).
C4_LINE_RULES = [
    ("filter_javascript", False, "Please enable JavaScript now.", "Java and a script differ."),
    ("filter_policy", False, "Read our privacy policy now.", "A policy on privacy matters."),
    ("max_word_length", None, f"A word of {'x' * 1001} letters.", f"A word of {'x' * 1000} letters."),
    ("filter_no_terminal_punct", False, "A line that has no ending", "A line that ends in a quote '"),
    ("filter_no_terminal_punct", False, "A line that trails off...", "A line that ends in a question?"),
    ("min_words_per_line", None, "Two words.", "Three whole words."),
]


@pytest.mark.parametrize(("switch", "off", "removed", "near_miss"), C4_LINE_RULES, ids=[r[0] for r in C4_LINE_RULES])
def test_c4_each_line_rule_removes_its_line_and_only_that(switch, off, removed, near_miss):
    texts = [f"{CLEAN}\n{removed}", f"{CLEAN}\n{near_miss}"]
    out = C4()(make_table(texts))
    assert out.column("drop_reason").to_pylist() == [None, None]
    assert out.column("text").to_pylist() == [CLEAN, texts[1]]
    assert out.column("c4_lines_removed").to_pylist() == [1, 0]
    assert C4(**{switch: off})(make_table(texts[:1])).column("text").to_pylist() == texts[:1]


def test_c4_cuts_citations_and_only_citations():
    text = CLEAN.replace("library.", "library.[12][edit][citation needed]")
    near_miss = CLEAN.replace("library.", "library [12a] [needed].")
    out = C4()(make_table([text, near_miss]))
    assert out.column("text").to_pylist() == [CLEAN, near_miss]
    # Left in, a citation ends the line without terminal punctuation: C4 then removes the line.
    assert C4(remove_citations=False)(make_table([text])).column("text").to_pylist() == ["\n".join(SENTENCES[1:])]
