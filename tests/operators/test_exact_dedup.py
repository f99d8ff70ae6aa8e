import random

import pyarrow as pa

from operators.core.io import write_parquet_atomic
from operators.dedup.exact import ExactDedup
from operators.execution.executor import LocalExecutor
from pipelines.run.stages import run_global_stage as run_stage
from tests.conftest import make_table, run_global_stage, stage_context

TEXTS = ["alpha beta", "Alpha,  beta!", "gamma", "delta", "ALPHA BETA", "gamma.", "epsilon"]


def dedup(tmp_path, texts, parts: int, seed: int | None = None, num_buckets: int = 0):
    table = make_table(texts)
    order = list(range(len(texts)))
    if seed is not None:
        random.Random(seed).shuffle(order)
    table = table.take(pa.array(order))
    size = -(-len(texts) // parts)
    pieces = [table.slice(i * size, size) for i in range(parts)]
    out = run_global_stage(ExactDedup(num_buckets=num_buckets), pieces, tmp_path / f"run{seed}-{parts}")
    merged = pa.concat_tables(out, promote_options="default")
    return {row["text"]: row for row in merged.to_pylist()}


def test_one_survivor_per_normalised_text(tmp_path):
    rows = dedup(tmp_path, TEXTS, parts=1)
    alpha = [rows[t] for t in ("alpha beta", "Alpha,  beta!", "ALPHA BETA")]
    survivor = min(r["id"] for r in alpha)
    assert [r["keep"] for r in alpha] == [r["id"] == survivor for r in alpha]
    assert {r["dup_survivor"] for r in alpha} == {survivor}
    assert {r["drop_reason"] for r in alpha if not r["keep"]} == {"exact_dedup:duplicate"}
    assert sum(rows[t]["keep"] for t in ("gamma", "gamma.")) == 1
    assert rows["delta"]["keep"] and rows["delta"]["dup_cluster"] is None  # singletons are not clusters


def test_same_survivors_whatever_the_order_and_partitioning(tmp_path):
    baseline = {t: r["keep"] for t, r in dedup(tmp_path, TEXTS, parts=1).items()}
    for seed, parts, buckets in [(1, 3, 0), (2, 7, 1), (3, 2, 5)]:
        got = {t: r["keep"] for t, r in dedup(tmp_path, TEXTS, parts=parts, seed=seed, num_buckets=buckets).items()}
        assert got == baseline


def test_already_dropped_rows_do_not_take_part(tmp_path):
    table = make_table(["same", "same"])
    table = ExactDedup().drop(table, ["earlier", None])
    path = str(tmp_path / "p" / "part-0.parquet")
    write_parquet_atomic(table, path)
    patches = run_stage(ExactDedup(), stage_context(None, [path], tmp_path, str(tmp_path / "w")), LocalExecutor())
    assert patches == {}  # one kept copy left: nothing to deduplicate


def test_normal_form_is_the_per_character_rule():
    """The fast normal form (runs of punctuation, str.split) equals replacing each non-word, non-space character
    with a space and collapsing every Unicode whitespace run, on text made of punctuation, symbols, word
    characters of several scripts and unusual whitespace (no-break space, line separator, U+001C)."""
    import re

    from operators.core.schema import dedup_normal_form

    def reference(text: str) -> str:
        import unicodedata

        text = re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", text).casefold())
        return re.sub(r"\s+", " ", text).strip()

    alphabet = list(" \t\n\x1c\u00a0\u2028\u3000.,;:!?-_'\"()[]{}#*/\\@€£°·…—aZé9ßçΩжק汉ǅﬁ²")
    rng = random.Random(7)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    assert [dedup_normal_form(t) for t in texts] == [reference(t) for t in texts]
    assert dedup_normal_form("  Alpha,\u00a0 beta!!\u2028") == "alpha beta"
