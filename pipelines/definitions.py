"""The Dagster code location: one asset group per recipe in pipelines/recipes/ (``dagster dev -w workspace.yaml``)."""

import os

import dagster as dg

from pipelines.assets import recipe_definitions, recipe_files
from pipelines.resources import RayResource, StorageResource

defs = dg.Definitions.merge(
    *(recipe_definitions(path) for path in recipe_files()),
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
