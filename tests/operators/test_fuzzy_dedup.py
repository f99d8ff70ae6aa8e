"""Fuzzy dedup: signatures equal to datasketch's, exact clusters, determinism, incremental index, Ray."""

import json
import random

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from operators.core.io import read_parquet, write_parquet_atomic
from operators.dedup.fuzzy import FuzzyDedup
from operators.dedup.fuzzy.components import components
from operators.dedup.fuzzy.components import edge_table as _edge_table
from operators.dedup.fuzzy.components import owner as _owner
from operators.dedup.minhash import Signer, shingle_hash, shingles
from operators.execution.executor import LocalExecutor, RayExecutor
from operators.sample_corpus import generate_with_origins
from pipelines.run.stages import run_steps
from tests.conftest import commit_stage, make_table, run_global_stage, write_jsonl

_rng = random.Random(7)
_VOCAB = [f"w{i}" for i in range(5000)]


def _doc(n: int = 200) -> str:
    return " ".join(_rng.choice(_VOCAB) for _ in range(n))


def _edit(text: str, k: int = 1, word: str = "edited") -> str:
    """``text`` with ``k`` words replaced: Jaccard of word 5-grams ~ (N - 5k) / (N + 5k)."""
    words = text.split()
    step = len(words) // (k + 1)
    for i in range(1, k + 1):
        words[i * step] = f"{word}{i}"
    return " ".join(words)


A, B, C, D = _doc(), _doc(), _doc(), _doc()
# 0-2 near-duplicates of A, 4-5 of C; the longer text survives ("length desc"); 3, 6, 7 alone.
TEXTS = [A, _edit(A, 1, "longerword"), _edit(A, 2, "x"), B, C, _edit(C, 1, "longery"), D, ""]


def dedup(tmp_path, texts, parts=1, seed=None, executor=None, table=None, name="run", **config):
    table = table if table is not None else make_table(texts)
    order = list(range(table.num_rows))
    if seed is not None:
        random.Random(seed).shuffle(order)
    original = table
    table = original.take(pa.array(order))
    size = -(-table.num_rows // parts)
    op = FuzzyDedup(**config)
    work = str(tmp_path / name / "out" / "_work" / "r" / "stage-01-fuzzy_dedup")
    executor = executor or LocalExecutor()
    pieces = [table.slice(i * size, size) for i in range(parts)]
    out = run_global_stage(op, pieces, tmp_path / name, executor, work)
    merged = pa.concat_tables(out, promote_options="default")
    by_id = {r["id"]: r for r in merged.to_pylist()}
    rows = [by_id[i] for i in original.column("id").to_pylist()]
    return rows, (op, work, executor)


def fates(rows):
    return [(r["keep"], r.get("dup_survivor"), r["drop_reason"]) for r in rows]


@pytest.mark.parametrize(("kind", "n"), [("word", 5), ("char", 4), ("word", 1)])
def test_signatures_are_datasketchs(kind, n):
    texts = [A[:300], "Ünïcode café — naïve façade; résumé, again and again.", "tiny", "", "  !! ", "Two words"]
    sig, has = Signer(64, 3, kind, n).signatures(texts)
    for i, text in enumerate(texts):
        expected = MinHash(64, seed=3, scheme="affine32", hashfunc=shingle_hash)
        expected.update_batch(shingles(text, kind, n))
        assert has[i] == bool(shingles(text, kind, n))
        assert np.array_equal(sig[i], expected.hashvalues)


def test_exact_clusters_and_survivors(tmp_path):
    rows, (op, _, _) = dedup(tmp_path, TEXTS, parts=2)
    a_survivor, c_survivor = rows[1]["id"], rows[5]["id"]  # the longer texts
    assert fates(rows) == [
        (False, a_survivor, f"fuzzy_dedup:near_duplicate_of:{a_survivor}"),
        (True, a_survivor, None),
        (False, a_survivor, f"fuzzy_dedup:near_duplicate_of:{a_survivor}"),
        (True, None, None),
        (False, c_survivor, f"fuzzy_dedup:near_duplicate_of:{c_survivor}"),
        (True, c_survivor, None),
        (True, None, None),
        (True, None, None),
    ]
    assert {rows[i]["dup_cluster"] for i in (0, 1, 2)} == {"fuzzy-" + min(rows[i]["id"] for i in (0, 1, 2))}
    assert op.stats["clusters"] == 2 and op.stats["drops"] == 3


def test_same_survivors_whatever_the_order_parts_and_partitions(tmp_path):
    # A chain: each text is a near-duplicate of the next, the ends are not (components, not cliques).
    chain = [A]
    for i in range(6):
        chain.append(_edit(chain[-1], 1, f"c{i}-"))
    texts = TEXTS + chain[1:] + [_doc() for _ in range(5)]
    baseline, _ = dedup(tmp_path, texts, name="base")
    assert len({r["dup_cluster"] for r in baseline if r["dup_cluster"]}) == 2
    for seed, parts, partitions in [(1, 3, 0), (2, 7, 5), (3, 2, 8)]:
        got, _ = dedup(tmp_path, texts, parts=parts, seed=seed, num_partitions=partitions, name=f"r{seed}")
        assert fates(got) == fates(baseline)
        assert [r["dup_cluster"] for r in got] == [r["dup_cluster"] for r in baseline]


def test_components_match_scipy_over_many_partitions(tmp_path):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(0)
    n, parts = 150, 4
    u, v = rng.integers(0, n, 110), rng.integers(0, n, 110)
    work = str(tmp_path / "cc")
    uu, vv = np.concatenate([u, v]), np.concatenate([v, u])
    owner = _owner(uu, parts)
    edges = {}
    for p in range(parts):
        path = f"{work}/in/p{p}.parquet"
        write_parquet_atomic(_edge_table(uu[owner == p], vv[owner == p]), path)
        edges[p] = [path]
    assign = run_steps(components(edges, work, parts, 30, "fuzzy_dedup"), LocalExecutor(), f"{work}/done", "components")
    got = {}
    for path in filter(None, assign.values()):
        t = read_parquet(path)
        got.update(zip(t.column("u").to_pylist(), t.column("v").to_pylist(), strict=True))
    _, labels = connected_components(coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)
    nodes = sorted(set(u.tolist()) | set(v.tolist()))
    expected = {x: min(y for y in nodes if labels[y] == labels[x]) for x in nodes}
    assert {k: v for k, v in got.items() if k in expected} == expected


def test_verification_cuts_false_positives(tmp_path):
    half = A.split()
    texts = [A, " ".join(half[:100] + B.split()[:100])]  # share half their words: Jaccard ~0.3
    loose = {"bands": 64, "rows": 1, "num_perm": 64}  # any shared value makes a candidate
    rows, (op, _, _) = dedup(tmp_path, texts, name="v", **loose)
    assert op.stats["candidates"] == 1 and op.stats["edges"] == 0 and all(r["keep"] for r in rows)
    rows, _ = dedup(tmp_path, texts, name="nv", verify=False, **loose)
    assert sorted(r["keep"] for r in rows) == [False, True]


def test_verification_bar_allows_for_the_estimates_error(tmp_path):
    """A copy whose estimated Jaccard falls just under the threshold (the estimate of a pair at 0.8 does so half the
    time) stays a duplicate with the default margin; without a margin it is cut, and unrelated texts always are."""
    signer = Signer(num_perm=128)
    for k in range(1, 12):  # edit A until the estimate lands between the bar and the threshold
        copy = _edit(A, k, "e")
        sig, _ = signer.signatures([A, copy])
        estimate = float((sig[0] == sig[1]).mean())
        if FuzzyDedup().config.verify_bar() <= estimate < 0.8:
            break
    else:
        pytest.fail("no edit count puts the estimate between the bar and the threshold")
    assert FuzzyDedup().config.verify_bar() == pytest.approx(0.8 - 2 * (0.8 * 0.2 / 128) ** 0.5)
    loose = {"bands": 32, "rows": 4}  # makes the pair a candidate whatever its estimate
    rows, _ = dedup(tmp_path, [A, copy, B], name="margin", **loose)
    assert [r["keep"] for r in rows] == [True, False, True]
    rows, _ = dedup(tmp_path, [A, copy, B], name="strict", verify_margin=0, **loose)
    assert [r["keep"] for r in rows] == [True, True, True]


def test_survivor_policy_reads_a_score_column(tmp_path):
    table = make_table(TEXTS).append_column("quality", pa.array([0.1, 0.2, 0.9, 0, 0.5, 0.5, 0, 0], pa.float64()))
    rows, _ = dedup(tmp_path, TEXTS, table=table, survivor=["quality desc", "id asc"])
    assert [r["keep"] for r in rows[:3]] == [False, False, True]
    c_survivor = min(rows[4]["id"], rows[5]["id"])  # equal quality: the smaller id
    assert {rows[4]["dup_survivor"], rows[5]["dup_survivor"]} == {c_survivor}
    with pytest.raises(ValueError, match="must end in 'id asc'"):
        FuzzyDedup(survivor=["quality desc"])


def test_incremental_never_reemits_an_old_near_duplicate(tmp_path):
    index = str(tmp_path / "index")
    first, (op, work, ex) = dedup(tmp_path, [A, B, _edit(B, 1)], name="one", incremental=True, index_path=index)
    b_survivor = first[2]["id"]
    # Not committed (the run did not finish): the next run sees an empty index.
    table = make_table([_edit(A, 1, "z"), C, _edit(C, 2), _edit(B, 2, "q")], source="batch2")
    rows, _ = dedup(tmp_path, None, table=table, name="two-uncommitted", incremental=True, index_path=index)
    assert rows[0]["keep"] and rows[3]["keep"]
    commit_stage(op, work, ex, "one")
    rows, (op2, work2, ex2) = dedup(tmp_path, None, table=table, name="two", incremental=True, index_path=index)
    assert fates(rows)[0] == (False, first[0]["id"], f"fuzzy_dedup:near_duplicate_of:{first[0]['id']}")
    # Near the record run one dropped: dropped in favour of that record's survivor.
    assert rows[3]["drop_reason"] == f"fuzzy_dedup:near_duplicate_of:{b_survivor}"
    assert rows[1]["keep"] != rows[2]["keep"]
    c_kept = next(r["id"] for r in rows[1:3] if r["keep"])
    commit_stage(op2, work2, ex2, "two")
    third = make_table([_edit(C, 1, "w"), _doc()], source="batch3")
    rows, _ = dedup(tmp_path, None, table=third, name="three", incremental=True, index_path=index)
    assert rows[0]["drop_reason"] == f"fuzzy_dedup:near_duplicate_of:{c_kept}"
    assert rows[1]["keep"]
    with pytest.raises(ValueError, match="built with"):
        dedup(tmp_path, None, table=third, name="other", incremental=True, index_path=index, num_perm=64)


@pytest.mark.slow
def test_ray_gives_the_local_answer(tmp_path, ray_local):
    local, _ = dedup(tmp_path, TEXTS, parts=3, name="local", num_partitions=3)
    on_ray, _ = dedup(tmp_path, TEXTS, parts=3, name="ray", num_partitions=3, executor=RayExecutor(concurrency=2))
    assert fates(on_ray) == fates(local)


def test_pipeline_catches_the_sample_corpus_near_duplicates(tmp_path):
    """The demo's settings on the demo's corpus (near duplicates at Jaccard 0.6-0.93 of their origin)."""
    from operators.dedup.exact import ExactDedup
    from operators.formats.readers import SourceSpec
    from operators.sample_corpus.kinds import _jaccard, _word_shingles
    from pipelines.run import Pipeline
    from pipelines.run.workers import read_part

    records, texts = [], {}
    for record, src in generate_with_origins(300, seed=3):
        records.append({**record, "origin": src})
        texts[record["doc_id"]] = record["text"]
    # No tokenizer: the shards are not what this test is about.
    pipeline = Pipeline(
        sources=[SourceSpec(write_jsonl(tmp_path / "c.jsonl", records))],
        stages=[ExactDedup(), FuzzyDedup(threshold=0.7)],
        tokenizer=None,
        output=str(tmp_path / "out"),
        rows_per_part=70,
    )
    ex = LocalExecutor()
    state = pipeline.deduplicate(ex, pipeline.decide(ex, pipeline.read(ex, pipeline.start())))
    global_ops = {op.stage_index: op for op in pipeline.global_ops}
    table = pa.concat_tables(
        [read_part(i, global_ops) for i in pipeline.items(state)],
        promote_options="default",
    )
    rows = {json.loads(r["meta"])["doc_id"]: {**r, **json.loads(r["meta"])} for r in table.to_pylist()}
    # A family: a clean text and its copies. Exact dedup may keep any exact copy of the origin.
    family = {d: r["origin"] or d for d, r in rows.items()}
    fuzzy = {d: r["dup_cluster"] for d, r in rows.items() if (r["dup_cluster"] or "").startswith("fuzzy-")}
    close = [
        d for d, r in rows.items()
        if r["kind"] == "near_dup" and _jaccard(_word_shingles(texts[d]), _word_shingles(texts[r["origin"]])) >= 0.8
    ]
    found = [d for d in close if d in fuzzy and any(fuzzy.get(x) == fuzzy[d] for x in rows if family[x] == family[d] and x != d)]
    assert len(close) >= 8 and len(found) >= 0.9 * len(close), (len(found), len(close))
    assert any((r["drop_reason"] or "").startswith("fuzzy_dedup:near_duplicate_of:") for r in rows.values())
    # No false merges: a fuzzy cluster holds one family of prose (templated boilerplate may cluster).
    prose = {d for d, r in rows.items() if r["kind"] in ("clean", "exact_dup", "near_dup")}
    for d, c in fuzzy.items():
        if d in prose:
            assert {family[x] for x, cx in fuzzy.items() if cx == c and x in prose} == {family[d]}
