"""The Dagster code location: one asset group per recipe in pipelines/recipes/ (``dagster dev -w workspace.yaml``)."""

import os
from pathlib import Path

import dagster as dg

from operators.core.phases import Phase
from pipelines.orchestrate.assets import ASSET_NOUNS, landed_batch_asset, recipe_assets
from pipelines.orchestrate.checks import recipe_checks
from pipelines.orchestrate.resources import RayResource, StorageResource
from pipelines.orchestrate.sensors import landing_sensor, recipe_jobs, recipe_schedule
from pipelines.orchestrate.spec import RecipeSpec, recipe_files


def recipe_definitions(path: Path) -> dg.Definitions:
    """Assets, checks, jobs, schedule and landing sensor of the recipe in ``path``."""
    spec = RecipeSpec.from_file(path)
    assets = recipe_assets(spec)
    checks = recipe_checks(
        {
            "deduplicated": spec.asset_key(ASSET_NOUNS[Phase.DEDUPLICATE]),
            "shards": spec.asset_key(ASSET_NOUNS[Phase.WRITE_SHARDS]),
            "ledger": spec.asset_key(ASSET_NOUNS[Phase.WRITE_LEDGER]),
        },
        list(spec.pii_stages),
        list(spec.dedup_stages),
        spec.checks.max_duplicate_rate,
        spec.checks.min_duplicate_rate,
    )
    batch = landed_batch_asset(spec)
    full_run, batch_job = recipe_jobs(spec, assets, batch)
    return dg.Definitions(
        assets=[*assets, batch],
        asset_checks=checks,
        jobs=[full_run, batch_job],
        schedules=[recipe_schedule(spec, full_run)],
        sensors=[landing_sensor(spec, batch_job)],
    )


def definitions(folder: Path | None = None) -> dg.Definitions:
    """Every recipe of ``folder`` (default: the packaged recipes) with the resources their assets use."""
    return dg.Definitions.merge(
        *(recipe_definitions(path) for path in (recipe_files(folder) if folder else recipe_files())),
        dg.Definitions(
            resources={
                "ray": RayResource(address=dg.EnvVar("RAY_ADDRESS") if os.environ.get("RAY_ADDRESS") else None),
                "storage": StorageResource(),
            },
            # Ray spreads each phase over the cluster; the phases themselves run one
            # after the other in one process, which keeps one Ray driver per run.
            executor=dg.in_process_executor,
        ),
    )


defs = definitions()
