"""The packaged image-text recipe as a Dagster asset group: same phase assets, image-text shards, checks pass."""

import dagster as dg
import pytest
import yaml

from operators.formats.shards import IMAGE_TEXT_SHARD_SCHEMA, read_shard
from pipelines.orchestrate.assets import RawDocumentsConfig
from pipelines.orchestrate.definitions import recipe_definitions
from pipelines.orchestrate.spec import RecipeSpec, recipe_files
from tests.clip_tiny import sample_shards
from tests.pipelines.conftest import resources

PHASES = ["raw_documents", "decided_documents", "deduplicated_documents", "training_shards", "lineage_ledger"]


def packaged():
    return next(p for p in recipe_files() if p.stem == "image_text")


def test_image_text_recipe_is_told_apart_and_clip_is_not_counted_as_dedup():
    spec = RecipeSpec.from_file(packaged())
    assert spec.image_text and spec.key == "image_text"
    assert spec.global_stages == ("clip_score", "image_dedup") and spec.dedup_stages == ("image_dedup",)
    defs = recipe_definitions(packaged())
    descriptions = {a.key.path[0]: a.descriptions_by_key[a.key] for a in defs.assets}
    assert "image-text pairs" in descriptions["image_text_raw_documents"]
    assert "image bytes" in descriptions["image_text_training_shards"]


@pytest.mark.slow
def test_image_text_group_materializes_with_a_local_model(tmp_path, tiny_clip, tiny_cache):
    """The packaged recipe's stages, with the tiny trained model in place of ViT-B-32 weights."""
    recipe = yaml.safe_load(packaged().read_text())
    for stage in recipe["stages"]:
        if stage["op"] == "clip_score":
            stage["params"].update(model=tiny_clip.model, checkpoint=tiny_clip.checkpoint, keep_fraction=0.5)
    recipe["rows_per_part"] = 25
    path = tmp_path / "image_text.yaml"
    path.write_text(yaml.safe_dump(recipe))
    shards = sample_shards(tmp_path / "pairs", shards=2, pairs_per_shard=30)
    defs = recipe_definitions(path)
    phases = [a for a in defs.assets if a.key.path[0] in {f"image_text_{p}" for p in PHASES}]
    result = dg.materialize(
        [*phases, *defs.asset_checks],
        resources=resources(tmp_path),
        run_config=dg.RunConfig({"image_text_raw_documents": RawDocumentsConfig(sources=shards)}),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    summary = result.output_for_node("image_text_lineage_ledger").summary
    assert summary["read"] == 60 == summary["kept"] + summary["dropped"] + summary["quarantined"]
    scored = 60 - sum(n for r, n in summary["drop_reasons"].items() if r.startswith("image_hygiene"))
    assert summary["drop_reasons"]["clip_score:below_top_fraction"] == scored - round(scored * 0.5)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    table = read_shard(f"{summary['output']}/shards/{summary['shards'][0]['shard']}")
    assert table.schema == IMAGE_TEXT_SHARD_SCHEMA and table.num_rows > 0
