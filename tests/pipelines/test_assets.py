"""The Dagster code location: definitions load, assets run one phase each, a full run materializes."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from operators.execution.executor import LocalExecutor
from pipelines.orchestrate.assets import RawDocumentsConfig, recipe_assets
from pipelines.orchestrate.definitions import recipe_definitions
from pipelines.orchestrate.resources import RayResource, StorageResource
from pipelines.orchestrate.spec import RecipeSpec, recipe_files
from pipelines.run import RunState
from tests.pipelines.conftest import BROKEN, DUPLICATES, KEPT, READ, make_recipe, resources

PHASES = ["raw_documents", "decided_documents", "deduplicated_documents", "training_shards", "lineage_ledger"]
ROOT = Path(__file__).resolve().parents[2]


def test_workspace_points_at_the_definitions():
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]
    assert module["module_name"] == "pipelines.definitions" and module["working_directory"] == "."


def test_packaged_definitions_load_with_a_group_per_recipe():
    from pipelines.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    names = [RecipeSpec.from_file(p).key for p in recipe_files()]
    assert "demo" in names
    graph = repo.asset_graph
    for name in names:
        keys = [dg.AssetKey(f"{name}_{phase}") for phase in PHASES]
        for upstream, downstream in zip(keys, keys[1:], strict=False):
            assert upstream in graph.get(downstream).parent_keys
        for key in keys:
            node = graph.get(key)
            assert node.group_name == name and "ray" in node.kinds and node.owners and node.description
        checks = {(c.asset_key.path[0].removeprefix(f"{name}_"), c.name) for c in graph.asset_check_keys
                  if c.asset_key.path[0].startswith(f"{name}_")}
        assert checks == {
            ("deduplicated_documents", "duplicate_rate_within_bounds"),
            ("training_shards", "shards_readable"),
            ("training_shards", "no_residual_pii"),
            ("lineage_ledger", "accounting_balances"),
        }
        assert repo.has_job(f"{name}_full_run") and repo.has_job(f"{name}_landed_batch_job")
        assert repo.has_schedule_def(f"{name}_daily") and repo.has_sensor_def(f"{name}_landing_sensor")
    assert {"ray", "storage"} <= set(repo.get_top_level_resources())


def test_raw_documents_asset_called_directly(tmp_path, tiny_cache):
    path = make_recipe(tmp_path / "recipes")
    raw = recipe_assets(RecipeSpec.from_file(path))[0]
    output = raw(
        context=dg.build_asset_context(),
        config=RawDocumentsConfig(),
        ray=RayResource(local=True),
        storage=StorageResource(root=str(tmp_path / "storage")),
    )
    state = output.value
    assert isinstance(state, RunState) and state.phase == "read"
    assert state.read == READ and state.counts["read"]["quarantined"] == BROKEN
    assert state.output == str(tmp_path / "storage" / "tiny") and all(Path(p).exists() for p in state.parts)
    assert RunState.from_json(state.to_json()) == state  # what each asset hands the next is plain JSON
    assert output.metadata["records"].value == READ and "bad_json" in output.metadata["quarantine_reasons"].value


def test_full_run_materializes_every_phase_and_passes_its_gates(tiny_run):
    result, root = tiny_run["result"], tiny_run["root"]
    assert result.success
    state = result.output_for_node("tiny_lineage_ledger")
    assert (state.summary["read"], state.summary["kept"], state.summary["quarantined"]) == (READ, KEPT, BROKEN)
    assert state.summary["drop_reasons"] == {"exact_dedup:duplicate": DUPLICATES, "lang_id:lang_not_allowed": 2}
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"duplicate_rate_within_bounds", "shards_readable", "no_residual_pii",
                                "accounting_balances"}
    assert all(e.passed for e in evaluations.values())
    assert evaluations["no_residual_pii"].metadata["skipped"].value is True

    # Metadata a reader of the UI sees on each asset.
    meta = {e.asset_key.path[0]: e.event_specific_data.materialization.metadata
            for e in result.get_asset_materialization_events()}
    decided = meta["tiny_decided_documents"]
    assert decided["kept"].value == KEPT + DUPLICATES and decided["dropped"].value == 2
    assert "lang_id:lang_not_allowed" in decided["reasons"].value
    assert "█" in decided["lang_score_histogram"].value and "| id |" in decided["sample_kept"].value
    dedup = meta["tiny_deduplicated_documents"]
    assert dedup["duplicates_removed"].value == DUPLICATES
    shards = meta["tiny_training_shards"]
    assert shards["tokens"].value > 0 and Path(shards["manifest"].value).exists()
    ledger = meta["tiny_lineage_ledger"]
    assert Path(ledger["ledger"].value).is_dir() and "exact_dedup:duplicate" in ledger["drop_reasons"].value

    # The same files `assay run` writes, under the storage root.
    out = root / "tiny"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == state.run_id and summary["read"] == READ
    rows = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{state.ledger}/*.parquet')").fetchone()[0]
    assert rows == READ
    assert not Path(state.work).exists()  # the finished run cleaned its staged parts


def test_assets_and_pipeline_run_share_the_phases(tiny_run, tmp_path):
    """`assay run` (Pipeline.run) and the asset group give the same outcome on the same recipe."""
    from pipelines.recipe import load

    spec = tiny_run["spec"]
    dagster_summary = tiny_run["result"].output_for_node("tiny_lineage_ledger").summary
    result = load(spec.path, overrides={"output": str(tmp_path / "cli")}).pipeline().run(LocalExecutor())
    for key in ("read", "kept", "dropped", "quarantined", "tokens", "drop_reasons", "quarantine_reasons"):
        assert getattr(result, key) == dagster_summary[key], key


def test_demo_group_materializes_on_a_tiny_corpus(tmp_path, tiny_cache):
    """The packaged demo recipe (all its quality stages), on the tiny corpus instead of the generated sample."""
    corpus = make_recipe(tmp_path / "in").parent / "corpus.jsonl"
    defs = recipe_definitions(next(p for p in recipe_files() if p.stem == "demo"))
    phases = [a for a in defs.assets if a.key.path[0] in {f"demo_{p}" for p in PHASES}]
    result = dg.materialize(
        [*phases, *defs.asset_checks],
        resources=resources(tmp_path),
        run_config=dg.RunConfig({"demo_raw_documents": RawDocumentsConfig(sources=[str(corpus)])}),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    summary = result.output_for_node("demo_lineage_ledger").summary
    assert summary["read"] == READ == summary["kept"] + summary["dropped"] + summary["quarantined"]
    assert summary["quarantined"] == BROKEN and summary["output"] == str(tmp_path / "demo")
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["accounting_balances"] and evaluations["no_residual_pii"]


def test_demo_group_generates_its_sample_when_launched_without_config(tmp_path, tiny_cache):
    """What a click on "Materialize all" in the UI does: the demo recipe on a freshly generated sample."""
    pytest.importorskip("operators.sample_corpus")
    defs = recipe_definitions(next(p for p in recipe_files() if p.stem == "demo"))
    phases = [a for a in defs.assets if a.key.path[0] in {f"demo_{p}" for p in PHASES}]
    result = dg.materialize(
        [*phases, *defs.asset_checks],
        resources=resources(tmp_path),
        run_config=dg.RunConfig({"demo_raw_documents": RawDocumentsConfig(demo_docs=200)}),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert (tmp_path / "demo" / "sample" / "corpus.jsonl.gz").exists()
    summary = result.output_for_node("demo_lineage_ledger").summary
    assert summary["read"] == 200 and summary["kept"] > 0
    assert any(r.startswith("exact_dedup") for r in summary["drop_reasons"])
