"""The landing sensor adds one partition and one run per new file; the daily schedule asks for a full run."""

import datetime as dt
import json

import dagster as dg
import pytest

from pipelines.orchestrate.resources import StorageResource
from pipelines.orchestrate.sensors import landed_files
from tests.conftest import write_jsonl
from tests.pipelines.conftest import ENGLISH, resources, tiny_definitions

PARTITIONS = "tiny_landing_batches"


@pytest.fixture
def defs(tiny_recipe, tmp_path):
    return tiny_definitions(tiny_recipe, tmp_path)


def tick(defs, tmp_path, instance, cursor):
    sensor = defs.resolve_sensor_def("tiny_landing_sensor")
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"storage": StorageResource(root=str(tmp_path))}, definitions=defs
    )
    return sensor(context), context


def test_a_new_file_gives_exactly_one_partition_and_one_run(defs, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    landing = tmp_path / "landing" / "tiny"

    result, _ = tick(defs, tmp_path, instance, None)
    assert not result.run_requests and "no new file" in result.skip_reason.skip_message

    landing.mkdir(parents=True)
    write_jsonl(landing / "batch-001.jsonl", [{"text": t} for t in ENGLISH[:5]])
    (landing / "batch-002.jsonl.tmp-0a1b2c3d").write_text("half written")  # not landed yet
    result, _ = tick(defs, tmp_path, instance, result.cursor)
    assert [r.partition_key for r in result.run_requests] == ["batch-001.jsonl"]
    [add] = result.dynamic_partitions_requests
    assert add.partitions_def_name == PARTITIONS and list(add.partition_keys) == ["batch-001.jsonl"]

    again, _ = tick(defs, tmp_path, instance, result.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests

    write_jsonl(landing / "batch-003.jsonl", [{"text": t} for t in ENGLISH[5:9]])
    third, _ = tick(defs, tmp_path, instance, again.cursor)
    assert [r.partition_key for r in third.run_requests] == ["batch-003.jsonl"]
    assert json.loads(third.cursor) == ["batch-001.jsonl", "batch-003.jsonl"]


def test_landing_folder_defaults_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSAY_LANDING", raising=False)
    monkeypatch.setenv("ASSAY_STORAGE", str(tmp_path / "store"))
    assert StorageResource().landing_folder("demo") == str(tmp_path / "store" / "landing" / "demo")
    monkeypatch.setenv("ASSAY_LANDING", str(tmp_path / "drop"))
    assert StorageResource().landing_folder("demo") == str(tmp_path / "drop" / "demo")
    assert StorageResource(root=str(tmp_path / "x")).recipe_output("demo") == str(tmp_path / "x" / "demo")
    assert landed_files(str(tmp_path / "missing")) == []


def test_landed_batch_runs_the_recipe_on_its_file(defs, tmp_path, tiny_cache):
    landing = tmp_path / "landing" / "tiny"
    landing.mkdir(parents=True)
    write_jsonl(landing / "batch-001.jsonl", [{"text": t} for t in ENGLISH[:5]] + [{"text": ENGLISH[0]}])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTITIONS, ["batch-001.jsonl"])
    batch = next(a for a in defs.assets if a.key == dg.AssetKey("tiny_landed_batch"))
    result = dg.materialize([batch], partition_key="batch-001.jsonl", instance=instance, resources=resources(tmp_path))
    assert result.success
    [event] = result.get_asset_materialization_events()
    meta = event.event_specific_data.materialization.metadata
    assert (meta["records"].value, meta["kept"].value, meta["dropped"].value) == (6, 5, 1)
    assert meta["ledger"].value.startswith(str(tmp_path / "tiny" / "batches" / "batch_001_jsonl" / "ledger"))


def test_daily_schedule_requests_a_full_run(defs):
    schedule = defs.resolve_schedule_def("tiny_daily")
    assert schedule.cron_schedule == "0 3 * * *"
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 23, 3, 0))
    data = schedule.evaluate_tick(context)
    [request] = data.run_requests
    assert isinstance(request, dg.RunRequest)
    assert defs.resolve_job_def(schedule.job_name).name == "tiny_full_run"
