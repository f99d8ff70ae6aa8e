"""`assay run --dagster` records the run in the persistent instance at DAGSTER_HOME, where the UI finds it."""

import dagster as dg
from click.testing import CliRunner

from pipelines.cli import main
from tests.pipelines.conftest import KEPT, READ


def test_run_is_recorded_in_dagster_home(tiny_recipe, tmp_path, monkeypatch, tiny_cache):
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ASSAY_STORAGE", str(tmp_path / "storage"))
    result = CliRunner().invoke(main, ["run", str(tiny_recipe), "--local", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "as Dagster assets" in result.output and "dagster run:" in result.output
    assert (tmp_path / "out" / "summary.json").exists()  # where `assay run` always writes, not the storage root

    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.is_success and run.tags["assay/launched_by"] == "cli"
        event = instance.get_latest_materialization_event(dg.AssetKey("tiny_lineage_ledger"))
        meta = event.asset_materialization.metadata
        assert (meta["records"].value, meta["kept"].value) == (READ, KEPT)


def test_no_dagster_flag_runs_the_plain_pipeline(tiny_recipe, tmp_path, monkeypatch, tiny_cache):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    result = CliRunner().invoke(main, ["run", str(tiny_recipe), "--local", "--no-dagster"])
    assert result.exit_code == 0, result.output
    assert "as Dagster assets" not in result.output and not (tmp_path / "dagster_home").exists()
