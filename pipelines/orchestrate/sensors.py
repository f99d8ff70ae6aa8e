"""Jobs, the daily schedule and the landing-folder sensor of each recipe."""

import json
import re
from typing import Any

import dagster as dg

from operators.core.io import filesystem
from pipelines.orchestrate.resources import StorageResource
from pipelines.orchestrate.spec import RecipeSpec, landing_partitions

# What dg.define_asset_job returns (its class is not public).
JobLike = Any

DAILY = "0 3 * * *"
# Files still being written (our atomic writes, rsync, browsers) and hidden files are not batches yet.
_NOT_LANDED = re.compile(r"(^\.|\.tmp-[0-9a-f]+$|\.(tmp|part|partial|crdownload)$)")
# Characters Dagster does not allow in a partition key.
_BAD_KEY = re.compile(r"[,\[\]*]|\.\.\.")


def landed_files(folder: str) -> list[str]:
    """Names of the complete files directly in ``folder`` (local or fsspec URL), sorted; [] if it does not exist."""
    fs, path = filesystem(folder)
    if not fs.exists(path):
        return []
    names = []
    for entry in fs.ls(path, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") == "file" and not _NOT_LANDED.search(name):
            names.append(name)
    return sorted(names)


def new_batches(files: list[str], cursor: str | None) -> tuple[list[str], list[str], str]:
    """``(new, unusable, next cursor)``: files not seen before, ones no partition key can name, the cursor to store."""
    seen = set(json.loads(cursor)) if cursor else set()
    fresh = [f for f in files if f not in seen]
    unusable = [f for f in fresh if _BAD_KEY.search(f)]
    new = [f for f in fresh if f not in unusable]
    return new, unusable, json.dumps(sorted(seen | set(fresh)))


def recipe_jobs(
    spec: RecipeSpec, assets: list[dg.AssetsDefinition], batch: dg.AssetsDefinition
) -> tuple[JobLike, JobLike]:
    full_run = dg.define_asset_job(
        f"{spec.key}_full_run",
        selection=dg.AssetSelection.assets(*assets),
        description=f"Every phase of recipe {spec.name} on its sources, with its quality gates.",
    )
    batch_job = dg.define_asset_job(
        f"{spec.key}_landed_batch_job",
        selection=dg.AssetSelection.assets(batch),
        description=f"Recipe {spec.name} on one file from its landing folder.",
    )
    return full_run, batch_job


def recipe_schedule(spec: RecipeSpec, job: JobLike) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=f"{spec.key}_daily",
        job=job,
        cron_schedule=DAILY,
        description=f"A full run of recipe {spec.name} every day at 03:00.",
    )


def landing_sensor(spec: RecipeSpec, job: JobLike) -> dg.SensorDefinition:
    """One new dynamic partition and one run per file that lands in the recipe's landing folder."""
    partitions = landing_partitions(spec)

    @dg.sensor(
        name=f"{spec.key}_landing_sensor",
        job=job,
        minimum_interval_seconds=30,
        description=f"Watches the landing folder of recipe {spec.name} (<landing>/{spec.name}/) for new files.",
    )
    def _landing_sensor(context: dg.SensorEvaluationContext, storage: StorageResource):
        folder = storage.landing_folder(spec.name)
        new, unusable, cursor = new_batches(landed_files(folder), context.cursor)
        for name in unusable:
            context.log.warning(f"{folder}/{name}: ignored; rename it without , [ ] * or ...")
        if not new:
            return dg.SensorResult(skip_reason=f"no new file in {folder}", cursor=cursor)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=name, run_key=name) for name in new],
            dynamic_partitions_requests=[partitions.build_add_request(new)],
            cursor=cursor,
        )

    return _landing_sensor
