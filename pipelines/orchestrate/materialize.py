"""Run a recipe through its Dagster assets, recorded in the persistent Dagster instance.

``assay run --dagster`` (the default when ``DAGSTER_HOME`` is set) calls
:func:`materialize_recipe`, so a run started from the command line shows up in
``dagster dev`` (same ``DAGSTER_HOME``) with its materializations, metadata and
check results, exactly as if it had been launched from the UI.
"""

import os
from pathlib import Path

import dagster as dg

from pipelines.orchestrate.assets import PHASES, RawDocumentsConfig
from pipelines.orchestrate.definitions import recipe_definitions
from pipelines.orchestrate.resources import RayResource, StorageResource
from pipelines.orchestrate.spec import RecipeSpec
from pipelines.run import RunResult


class DagsterRunError(RuntimeError):
    """The Dagster run failed: a phase raised or a blocking quality gate failed."""


def instance() -> dg.DagsterInstance:
    """The persistent instance in ``$DAGSTER_HOME``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise DagsterRunError(
            "DAGSTER_HOME is not set: point it at a folder (e.g. `export DAGSTER_HOME=$PWD/.dagster_home`, "
            "which `make ui` creates) so that runs are recorded where `dagster dev` can see them"
        )
    # Dagster wants an absolute DAGSTER_HOME; `.dagster_home` relative to the current folder is what people type.
    os.environ["DAGSTER_HOME"] = home = os.path.abspath(home)
    Path(home).mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def materialize_recipe(
    path: Path,
    ray: RayResource,
    *,
    sources: list[str] | None = None,
    output: str | None = None,
    keep_work: bool = False,
    dagster_instance: dg.DagsterInstance | None = None,
) -> tuple[RunResult, str]:
    """Materialize every phase asset and quality gate of the recipe at ``path``.

    Returns:
        The run's result and the Dagster run id.

    Raises:
        DagsterRunError: naming the failed steps and checks.
    """
    spec = RecipeSpec.from_file(path)
    defs = recipe_definitions(path)
    phases = {spec.asset_key(noun) for noun in PHASES}
    result = dg.materialize(
        [*(a for a in defs.assets if a.key in phases), *defs.asset_checks],
        resources={"ray": ray, "storage": StorageResource()},
        run_config=dg.RunConfig(
            ops={
                f"{spec.key}_raw_documents": RawDocumentsConfig(
                    sources=list(sources or []), output=output, keep_work=keep_work
                )
            },
            loggers={"console": {"config": {"log_level": "INFO"}}},
        ),
        instance=dagster_instance or instance(),
        tags={"assay/launched_by": "cli", "assay/recipe": spec.name},
        raise_on_error=False,
    )
    failed_checks = [f"{e.asset_key.to_user_string()}:{e.check_name}: {e.description}"
                     for e in result.get_asset_check_evaluations() if not e.passed]
    if not result.success:
        failed_steps = [e.step_key for e in result.get_step_failure_events()]
        raise DagsterRunError(
            f"Dagster run {result.run_id} failed"
            + (f"; steps: {', '.join(failed_steps)}" if failed_steps else "")
            + (f"; quality gates: {'; '.join(failed_checks)}" if failed_checks else "")
        )
    state = result.output_for_node(f"{spec.key}_lineage_ledger")
    return RunResult(**state.summary), result.run_id
