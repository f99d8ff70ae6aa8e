"""Semantic dedup: real all-MiniLM-L6-v2 embeddings, eps semantics, survivor policy, determinism, splits, caching."""

import json

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("onnxruntime", reason="semantic_dedup needs the 'embeddings' extra (make test installs it)")

from operators.dedup.semantic import SemanticDedup  # noqa: E402
from operators.dedup.semantic.embed import Embedder, resolve  # noqa: E402
from tests.conftest import global_run_rows, make_table  # noqa: E402

# Six unrelated documents, and near-duplicates (a word or two changed, reworded a little) of three.
BASE = [
    "The city council approved a new budget for repairing roads and bridges after the winter storms damaged several routes.",
    "A small bakery in the old town has started selling sourdough bread made with flour from local farms.",
    "Researchers found that regular walking improves sleep quality in adults over sixty.",
    "The football club announced that its star striker will miss the next three matches with a knee injury.",
    "Volcanic ash from the eruption forced airlines to cancel hundreds of flights across northern Europe.",
    "The museum opened an exhibition of medieval manuscripts borrowed from monasteries in Italy.",
]
NEAR = [
    (0, "The city council has approved a new budget for repairing the roads and bridges after winter storms damaged several routes."),
    (0, "City council approved a new budget to repair roads and bridges after the winter storms damaged several routes!"),
    (2, "Researchers have found that walking regularly improves the quality of sleep in adults over sixty."),
    (4, "Volcanic ash from the eruption forced airlines to cancel hundreds of flights across Northern Europe today."),
]
TEXTS = BASE + [t for _, t in NEAR]
ORIGIN = list(range(len(BASE))) + [k for k, _ in NEAR]


@pytest.fixture(scope="module")
def embedder():
    return Embedder(backend="onnx", threads=2)


def dedup(tmp_path, texts=TEXTS, parts=1, seed=None, executor=None, table=None, name="run", run="r", **config):
    op = SemanticDedup(**config)
    table = table if table is not None else make_table(texts)
    rows, _ = global_run_rows(op, table, tmp_path / name, parts, seed, executor, run)
    return rows, op


def cosine(embedder, a: str, b: str) -> float:
    va, vb = embedder.encode([a, b])
    return float(va @ vb)


def fates(rows):
    return [(r["keep"], r.get("dup_survivor"), r.get("dup_cluster"), r["drop_reason"]) for r in rows]


def test_near_duplicates_go_and_the_longest_of_each_group_survives(tmp_path, embedder):
    rows, op = dedup(tmp_path, eps=0.1)
    ids = [r["id"] for r in rows]
    groups = {}
    for i, k in enumerate(ORIGIN):
        groups.setdefault(k, []).append(i)
    for members in groups.values():
        if len(members) == 1:
            (i,) = members
            assert rows[i]["keep"] and rows[i].get("dup_cluster") is None, TEXTS[i]
            continue
        winner = sorted(members, key=lambda i: (-len(TEXTS[i]), ids[i]))[0]
        cluster = f"semantic-{min(ids[i] for i in members)}"
        for i in members:
            expected = (True, ids[winner], cluster, None) if i == winner else (
                False, ids[winner], cluster, f"semantic_dedup:near_duplicate_of:{ids[winner]}")
            assert fates([rows[i]]) == [expected], TEXTS[i]
            if i != winner:  # the ledger's score: the cosine similarity to the survivor, above 1 - eps
                sim = cosine(embedder, TEXTS[i], TEXTS[winner])
                assert rows[i]["semantic_similarity"] == pytest.approx(sim, abs=3e-3)
                assert rows[i]["semantic_similarity"] > 0.9
    assert op.stats["drops"] == len(NEAR)


def test_eps_is_a_cosine_distance_bar(tmp_path, embedder):
    a, b = BASE[2], NEAR[2][1]
    sim = cosine(embedder, a, b)
    assert 0.85 < sim < 0.99
    texts = [a, b, BASE[3]]
    just_inside, _ = dedup(tmp_path, texts, eps=1 - sim + 0.01, name="in")
    just_outside, _ = dedup(tmp_path, texts, eps=1 - sim - 0.01, name="out")
    assert len(b) > len(a)
    assert [r["keep"] for r in just_inside] == [False, True, True]  # the longer one stays
    assert [r["keep"] for r in just_outside] == [True, True, True]
    # Far apart texts never match, whatever eps short of 1.
    far, _ = dedup(tmp_path, [BASE[0], BASE[5]], eps=0.5, name="far")
    assert all(r["keep"] for r in far)


def test_the_survivor_policy_decides_who_stays(tmp_path):
    table = make_table(TEXTS).append_column("quality", pa.array([0.5] * len(TEXTS), pa.float64()))
    quality = table.column("quality").to_pylist()
    ids = table.column("id").to_pylist()
    # Neither the longest nor the smallest id of its group: only the policy can pick it.
    group = [i for i, k in enumerate(ORIGIN) if k == 0]
    chosen = max(group, key=lambda i: ids[i])
    assert chosen != max(group, key=lambda i: len(TEXTS[i]))
    quality[chosen] = 0.9
    table = table.set_column(table.schema.get_field_index("quality"), "quality", pa.array(quality, pa.float64()))
    rows, _ = dedup(tmp_path, table=table, survivor=["quality desc", "id asc"])
    assert rows[chosen]["keep"] and rows[chosen]["dup_survivor"] == rows[chosen]["id"]
    assert {rows[i]["dup_survivor"] for i, k in enumerate(ORIGIN) if k == 0} == {rows[chosen]["id"]}
    with pytest.raises(ValueError, match="lacks"):
        dedup(tmp_path, survivor=["missing desc", "id asc"], name="bad")


def test_same_decisions_whatever_the_order_and_the_parts(tmp_path):
    reference, _ = dedup(tmp_path, name="ref")
    for parts, seed in [(3, 1), (5, 2), (2, None)]:
        rows, _ = dedup(tmp_path, parts=parts, seed=seed, name=f"p{parts}")
        assert fates(rows) == fates(reference), (parts, seed)


def test_a_forced_small_max_cluster_gives_the_same_decisions(tmp_path):
    reference, _ = dedup(tmp_path, clusters=1, name="ref")
    rows, op = dedup(tmp_path, clusters=1, max_cluster_size=4, name="small")
    assert op.stats["splits"] >= 1
    assert fates(rows) == fates(reference)
    many, op = dedup(tmp_path, clusters=3, name="k3")
    assert fates(many) == fates(reference)


def test_dropped_rows_are_not_embedded_and_empty_runs_are_fine(tmp_path):
    table = make_table(TEXTS)
    keep = [k != 0 for k in ORIGIN]  # the whole first group was dropped by an earlier stage
    table = table.set_column(table.schema.get_field_index("keep"), "keep", pa.array(keep))
    rows, op = dedup(tmp_path, table=table)
    assert op.stats["docs"] == len(TEXTS) - 3
    assert all(r.get("dup_cluster") is None for r, k in zip(rows, ORIGIN, strict=True) if k == 0)
    rows, op = dedup(tmp_path, texts=[BASE[0]], name="one")
    assert rows[0]["keep"]


def test_embeddings_are_kept_for_later_runs(tmp_path):
    first, op = dedup(tmp_path, parts=2, name="cached")
    assert op.stats["cached_parts"] == 0
    again, op = dedup(tmp_path, parts=2, name="cached", run="later")  # another run into the same output
    assert op.stats["cached_parts"] == 2 and fates(again) == fates(first)
    stored = list((tmp_path / "cached" / "_embeddings").rglob("*.parquet"))
    assert len(stored) == 2
    column = pa.parquet.read_table(stored[0]).column("embedding")
    assert column.type.value_type == pa.float16() and column.type.list_size == 384


def test_onnx_and_torch_embeddings_agree_with_sentence_transformers(embedder):
    st = pytest.importorskip("sentence_transformers")
    texts = [TEXTS[0], TEXTS[7], "", "naïve café — déjà vu " * 100]  # empty, accented, truncated at 256 tokens
    reference = st.SentenceTransformer(resolve("all-minilm-l6-v2").folder, device="cpu").encode(texts, normalize_embeddings=True)
    for backend in ("onnx", "torch"):
        ours = embedder.encode(texts) if backend == "onnx" else Embedder(backend="torch", threads=2).encode(texts)
        assert np.allclose(np.sum(ours * reference, axis=1), 1.0, atol=1e-4), backend


@pytest.mark.slow
def test_on_ray_the_decisions_are_the_local_ones(tmp_path, ray_local):
    from operators.execution.executor import RayExecutor

    local, _ = dedup(tmp_path, parts=3, name="local")
    on_ray, _ = dedup(tmp_path, parts=3, executor=RayExecutor(), name="ray")
    assert fates(on_ray) == fates(local)


def decisions(folder: str, parts: int = 3) -> str:
    """JSON of the fates of TEXTS, deduplicated with the executor ``RAY_ADDRESS`` asks for (the two-node test)."""
    import os
    from pathlib import Path

    from operators.execution.executor import LocalExecutor, RayExecutor

    executor = RayExecutor() if os.environ.get("RAY_ADDRESS") else LocalExecutor()
    rows, _ = dedup(Path(folder), parts=parts, executor=executor, name="cluster")
    return json.dumps(fates(rows))
