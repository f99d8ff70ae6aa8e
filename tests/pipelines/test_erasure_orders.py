"""The Dagster side of "erased stays erased": the daily schedule's job and a landed batch obey tombstones."""

import json

import dagster as dg
import pytest
from click.testing import CliRunner

from lineage.store import Ledger
from operators.formats.shards import read_shard
from pipelines.cli import main
from tests.conftest import write_jsonl
from tests.pipelines.conftest import ENGLISH, TINY_RECIPE, corpus_records, resources, tiny_definitions

EMAIL = "marta.keller@example.org"
PII_RECIPE = TINY_RECIPE.replace(
    "  - op: exact_dedup\n",
    "  - op: pii\n    params: {languages: [en], entities: {EMAIL_ADDRESS: {}}}\n  - op: exact_dedup\n",
)
PERSON = f"The choir rehearses on Thursday evenings in the old school hall; new singers can write to {EMAIL} first."


def _shard_ids(out) -> set[str]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {i for e in manifest["shards"] for i in read_shard(str(out / "shards" / e["shard"])).column("id").to_pylist()}


def _reasons(out, run_id) -> dict[str, str | None]:
    db = Ledger(str(out))
    try:
        return {r["id"]: r["reason"] for r in db.rows("SELECT id, reason FROM ledger_raw WHERE run_id = ?", [run_id])}
    finally:
        db.close()


@pytest.mark.slow
def test_forget_then_the_schedule_and_the_sensor_keep_the_person_out(tmp_path, tiny_cache, monkeypatch):
    monkeypatch.setenv("ASSAY_PII_SALT", "dagster-erasure-test")
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    write_jsonl(recipes / "corpus.jsonl", [*corpus_records(), {"text": PERSON, "url": "person"}])
    (recipes / "tiny.yaml").write_text(PII_RECIPE)
    defs = tiny_definitions(recipes / "tiny.yaml", tmp_path)
    job = defs.resolve_job_def(defs.resolve_schedule_def("tiny_daily").job_name)  # what the schedule launches
    instance = dg.DagsterInstance.ephemeral()
    first = job.execute_in_process(instance=instance)
    assert first.success
    out = tmp_path / "tiny"
    run1 = first.output_for_node("tiny_lineage_ledger").run_id
    db = Ledger(str(out))
    [person] = [r["id"] for r in db.rows("SELECT id FROM ledger_raw WHERE run_id = ? AND len(pii) > 0", [run1])]
    db.close()
    assert person in _shard_ids(out)  # kept, its e-mail tagged

    forget = CliRunner().invoke(main, ["lineage", "forget", "--subject", EMAIL, "--reason", "request #18", "--yes",
                                       "--json", "-o", str(out)], catch_exceptions=False)
    assert forget.exit_code == 0, forget.output
    erasure = json.loads(forget.output)["result"]["erasure_id"]
    assert person not in _shard_ids(out)

    # The next scheduled run reads the same corpus: the person's record stays out, the ledger says why.
    second = job.execute_in_process(instance=instance)
    assert second.success
    run2 = second.output_for_node("tiny_lineage_ledger").run_id
    assert person not in _shard_ids(out) and _reasons(out, run2)[person] == f"erased:{erasure}"
    assert len(_shard_ids(out)) == len(ENGLISH)  # nobody else was touched
    checks = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert checks["erasures_hold"]

    # A batch the landing sensor picks up, holding the person's e-mail in a new document, under the recipe's output.
    landing = tmp_path / "landing" / "tiny"
    landing.mkdir(parents=True)
    write_jsonl(landing / "batch-001.jsonl", [{"text": f"Tickets for the spring concert: ask {EMAIL} at the door."},
                                              {"text": ENGLISH[0]}])
    instance.add_dynamic_partitions("tiny_landing_batches", ["batch-001.jsonl"])
    batch = next(a for a in defs.assets if a.key == dg.AssetKey("tiny_landed_batch"))
    landed = dg.materialize([batch], partition_key="batch-001.jsonl", instance=instance, resources=resources(tmp_path))
    assert landed.success
    meta = landed.get_asset_materialization_events()[0].event_specific_data.materialization.metadata
    assert (meta["kept"].value, meta["dropped"].value) == (1, 1)
    assert f"erased:{erasure}" in meta["drop_reasons"].value
