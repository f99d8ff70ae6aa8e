"""The synthesis asset group: synthetic records feed the recipe's phases and ledger under Dagster."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml

from pipelines.orchestrate.definitions import recipe_definitions
from pipelines.orchestrate.resources import RayResource, StorageResource
from pipelines.orchestrate.spec import recipe_files
from synth.loopback import LoopbackServer


def test_packaged_synth_recipe_has_a_synthesis_asset_upstream_of_its_phases():
    defs = recipe_definitions(next(p for p in recipe_files() if p.stem == "synth"))
    by_key = {a.key: a for a in defs.assets}
    synth_key = dg.AssetKey("synth_synthetic_records")
    assert synth_key in by_key
    assert synth_key in by_key[dg.AssetKey("synth_raw_documents")].dependency_keys
    # recipes without a synth section have no such asset
    demo = recipe_definitions(next(p for p in recipe_files() if p.stem == "demo"))
    assert not any(a.key.path[0].endswith("synthetic_records") for a in demo.assets)


def materialize_group(recipe: dict, tmp_path):
    """Materialize the Dagster group of ``recipe`` (named ``recipe["name"]``) but its landed-batch sensor asset."""
    name = recipe["name"]
    recipe["output"] = str(tmp_path / "unused")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    defs = recipe_definitions(path)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups(name) - dg.AssetSelection.assets(f"{name}_landed_batch"),
        resources={"ray": RayResource(local=True), "storage": StorageResource(root=str(tmp_path / "store"))},
        instance=dg.DagsterInstance.ephemeral(),
    )


@pytest.mark.slow
def test_synth_group_materializes_with_lineage(tmp_path):
    with LoopbackServer() as server:
        recipe = yaml.safe_load(next(p for p in recipe_files() if p.stem == "synth").read_text())
        recipe["name"] = "tinysynth"
        recipe["synth"].update(
            target=5, max_rounds=2,
            backend={"kind": "http", "http": {"base_url": server.base_url, "model": "loopback"}},
        )  # fmt: skip
        result = materialize_group(recipe, tmp_path)
    synth = result.output_for_node("tinysynth_synthetic_records")
    summary = result.output_for_node("tinysynth_lineage_ledger").summary
    assert synth["record_count"] >= 5
    assert summary["read"] == synth["record_count"] == summary["kept"] + summary["dropped"] + summary["quarantined"]
    import pyarrow.parquet as pq

    ledger = pq.read_table(summary["ledger"]).to_pylist()
    assert all(r["parents"] and r["generator"]["method"] == "self_instruct" for r in ledger)


@pytest.mark.slow
def test_backtranslation_group_materializes_with_its_documents_as_parents(tmp_path):
    """The packaged backtranslate recipe under Dagster: segments -> curated pairs -> governance -> ledger."""
    from pipelines.backtranslate_input import read_documents
    from tests.conftest import write_jsonl
    from tests.synth.test_backtranslate import PARA, responder

    docs = write_jsonl(tmp_path / "docs.jsonl", [{"text": f"Topic{i} {PARA}"} for i in range(3)])
    with LoopbackServer(responder=responder) as server:
        recipe = yaml.safe_load(next(p for p in recipe_files() if p.stem == "backtranslate").read_text())
        recipe["name"] = "tinybt"
        recipe["synth"]["backend"] = {"kind": "http", "http": {"base_url": server.base_url, "model": "loopback"}}
        recipe["synth"]["backtranslate"]["documents"] = docs
        result = materialize_group(recipe, tmp_path)
    synth = result.output_for_node("tinybt_synthetic_records")
    summary = result.output_for_node("tinybt_lineage_ledger").summary
    assert synth["record_count"] == 3 and synth["stop_reason"] == "exhausted"
    assert summary["read"] == 3 == summary["kept"] + summary["dropped"] + summary["quarantined"]
    import pyarrow.parquet as pq

    doc_ids = {d["id"] for d in read_documents(docs)}
    for row in pq.read_table(summary["ledger"]).to_pylist():
        assert row["parents"][1] in doc_ids and row["generator"]["method"] == "backtranslate"
        assert next(op for op in row["ops"] if op["name"] == "synth_record")["score"] == 5.0  # the curation score
