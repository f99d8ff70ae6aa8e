"""The example recipe (decontaminate + semantic_dedup) run end to end: ledger report per evaluation set,
trace and erasure through semantic clusters, and its Dagster asset group."""

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

pytest.importorskip("onnxruntime", reason="semantic_dedup needs the 'embeddings' extra (make test installs it)")

from lineage import audit, erase  # noqa: E402
from lineage.audit import Selectors  # noqa: E402
from tests.conftest import write_jsonl  # noqa: E402
from tests.filters.test_decontaminate import FILLER, QUESTIONS, TRIVIA  # noqa: E402
from tests.operators.test_semantic_dedup import BASE, NEAR  # noqa: E402

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "semantic_decontaminate.yaml"


def example_recipe(tmp_path: Path) -> dict:
    """The example recipe with this test's corpus and evaluation files."""
    import datasets

    recipe = yaml.safe_load(EXAMPLE.read_text())
    evals = tmp_path / "evals"
    evals.mkdir()
    write_jsonl(evals / "gsm8k_test.jsonl", QUESTIONS)
    datasets.DatasetDict({"test": datasets.Dataset.from_list(TRIVIA)}).save_to_disk(str(evals / "trivia"))
    decont = next(s for s in recipe["stages"] if s["op"] == "decontaminate")
    decont["params"]["eval_sets"] = [
        {"name": "gsm8k", "path": str(evals / "gsm8k_test.jsonl"), "fields": ["question", "answer"]},
        {"name": "trivia", "path": str(evals / "trivia"), "fields": ["prompt", "answer"], "split": "test"},
    ]
    docs = BASE + [t for _, t in NEAR]
    docs += [FILLER + QUESTIONS[0]["question"], QUESTIONS[1]["answer"] + " " + FILLER, TRIVIA[0]["prompt"] + " Euphrates!"]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"text": t, "url": f"u{i}"} for i, t in enumerate(docs)])
    recipe["sources"] = [{"path": corpus, "name": "web"}]
    recipe["output"] = str(tmp_path / "out")
    recipe["rows_per_part"] = 5
    return recipe


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from operators.execution.executor import LocalExecutor
    from pipelines.recipe import load

    tmp = tmp_path_factory.mktemp("semantic-run")
    loaded = load(example_recipe(tmp))
    result = loaded.pipeline().run(LocalExecutor())
    assert result.balanced
    return tmp / "out"


def test_report_counts_decontamination_drops_per_set(run):
    rows = audit.report(str(run))["drops_by_stage"]
    reasons = {(r["name"], r["reason"]): r["records"] for r in rows}
    assert reasons[("decontaminate", "decontaminate:gsm8k")] == 2
    assert reasons[("decontaminate", "decontaminate:trivia")] == 1
    # MinHash finds the copy with one word added; the paraphrases are semantic_dedup's.
    semantic = reasons[("semantic_dedup", "semantic_dedup:near_duplicate_of")]
    assert semantic >= 2 and semantic + reasons.get(("fuzzy_dedup", "fuzzy_dedup:near_duplicate_of"), 0) == len(NEAR)


def test_trace_and_erasure_follow_semantic_clusters(run):
    db = audit.Ledger(str(run))
    dropped = db.rows("SELECT id, dup_cluster, dup_survivor, reason FROM ledger WHERE reason LIKE 'semantic_dedup:%' ORDER BY id")
    record = dropped[0]
    assert record["dup_cluster"].startswith("semantic-")
    assert record["reason"] == f"semantic_dedup:near_duplicate_of:{record['dup_survivor']}"
    story = audit.trace(str(run), record["id"])["runs"][0]
    assert story["dedup"]["cluster"] == record["dup_cluster"] and story["dedup"]["survivor"] == record["dup_survivor"]
    assert record["dup_survivor"] in {m["id"] for m in story["dedup"]["members"]}
    op = next(o for o in story["ops"] if o["name"] == "semantic_dedup")
    assert op["decision"] == "drop" and op["score"] > 0.9  # the cosine similarity to the survivor
    # Erasing the survivor reaches every semantic duplicate of it.
    plan = erase.plan(str(run), Selectors(records=[record["dup_survivor"]]))
    members = {r["id"] for r in db.rows("SELECT id FROM ledger WHERE dup_cluster = ?", [record["dup_cluster"]])}
    near = {t.id for t in plan.targets if t.cause == "near_duplicate"}
    assert members - {record["dup_survivor"]} <= near and len(near) >= 1


def test_the_example_makes_a_dagster_group_counting_semantic_drops_as_dedup(tmp_path):
    from pipelines.orchestrate.spec import RecipeSpec

    path = tmp_path / "semantic.yaml"
    path.write_text(yaml.safe_dump(example_recipe(tmp_path)))
    spec = RecipeSpec.from_file(path)
    assert spec.dedup_stages == ("exact_dedup", "fuzzy_dedup", "semantic_dedup")
    assert "decontaminate" in spec.stages
    from tests.pipelines.conftest import tiny_definitions

    keys = {k.to_user_string() for k in tiny_definitions(path, tmp_path).resolve_asset_graph().get_all_asset_keys()}
    assert {"semantic_deduplicated_documents", "semantic_training_shards"} <= keys


def test_forget_removes_the_erased_records_kept_embeddings_and_verify_finds_a_restored_copy(run, tmp_path):
    from lineage.verify import verify

    out = tmp_path / "out"
    shutil.copytree(run, out)  # the module's run stays as it was for the other tests
    kept = audit.Ledger(str(out)).rows("SELECT id FROM ledger WHERE status = 'kept' ORDER BY id")
    target = kept[0]["id"]

    def embedded() -> set[str]:
        return {i for f in (out / "_embeddings").rglob("*.parquet") for i in pq.read_table(f).column("id").to_pylist()}

    assert target in embedded()
    saved = tmp_path / "embeddings-backup"
    shutil.copytree(out / "_embeddings", saved)
    erase.forget(str(out), Selectors(records=[target]), reason="r", near_duplicates=False)
    assert target not in embedded()
    assert verify(str(out))["passed"]
    shutil.rmtree(out / "_embeddings")
    shutil.copytree(saved, out / "_embeddings")
    found = verify(str(out))
    assert not found["passed"] and any(f["value"] == target and "_embeddings" in f["path"] for f in found["found"])
