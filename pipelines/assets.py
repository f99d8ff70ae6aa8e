"""One asset group per recipe: each phase of a run is an asset.

``<recipe>_raw_documents`` (read) -> ``<recipe>_decided_documents`` (stream
stages) -> ``<recipe>_deduplicated_documents`` (global stages) ->
``<recipe>_training_shards`` -> ``<recipe>_lineage_ledger``. Each asset calls
one phase of :class:`operators.pipeline.Pipeline` and hands the run's
:class:`~operators.pipeline.RunState` to the next; ``assay run`` calls the same
phases through ``Pipeline.run``. A ``<recipe>_landed_batch`` asset,
partitioned by the files that land in the recipe's landing folder, runs the
whole recipe on one such file.

Recipes are the YAML files of a folder (``pipelines/recipes/`` for the code
location): adding a file adds its group.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from operators.base import GlobalOperator
from operators.io import exists, join
from operators.pipeline import Pipeline, RunResult, RunState
from operators.readers import TAR_SUFFIXES, SourceError, expand
from pipelines import metadata as md
from pipelines.checks import duplicate_counts, recipe_checks
from pipelines.recipe import ChecksConfig, load
from pipelines.resources import RayResource, StorageResource, safe_name

PACKAGED_RECIPES = Path(__file__).parent / "recipes"
OWNERS = ["team:data-platform"]
#: The phase assets of a recipe, in order: ``<recipe>_<phase>``.
PHASES = ("raw_documents", "decided_documents", "deduplicated_documents", "training_shards", "lineage_ledger")
# The packaged demo recipe reads a generated sample; `assay demo` makes it on
# the fly, and so does its raw documents asset when it is missing.
DEMO_RECIPE = "demo"
DEMO_SAMPLE = "sample/corpus.jsonl.gz"


@dataclass(frozen=True)
class RecipeSpec:
    """What the code location needs to know about a recipe to draw its assets.

    Attributes:
        path: the recipe file (loaded again, with paths checked, when a run starts).
        name: the recipe's name.
        key: ``name`` made safe for Dagster names; prefixes the asset keys and names the group.
        description: the recipe's description.
        stages: the enabled stages' operator names, in order.
        dedup_stages: the names of the global dedup stages.
        checks: the recipe's quality gate bounds.
        global_stages: the names of every global stage (dedup, and scorers that rank the whole run).
        image_text: the sources are image-text pairs (WebDataset, or Parquet with an image column):
            the same phase assets, with image-text shards.
        synth_work: the synth section's work folder when the recipe has one
            (its ``synthetic_records`` asset feeds ``raw_documents``).
    """

    path: Path
    name: str
    key: str
    description: str
    stages: tuple[str, ...]
    dedup_stages: tuple[str, ...]
    checks: ChecksConfig
    image_text: bool = False
    global_stages: tuple[str, ...] = ()
    synth_work: str | None = None

    @property
    def records(self) -> str:
        """What the recipe's records are, for descriptions."""
        return "image-text pairs" if self.image_text else "records"

    @classmethod
    def from_file(cls, path: Path) -> "RecipeSpec":
        # A recipe whose optional packages are missing is still drawn; running it fails naming the extra.
        loaded = load(path, check_paths=False, check_extras=False)
        recipe = loaded.recipe
        return cls(
            path=path,
            name=recipe.name,
            key=safe_name(recipe.name),
            description=recipe.description,
            stages=tuple(op.name for op in loaded.operators),
            # Global stages that score (clip_score's global rank) filter; they are not dedup.
            dedup_stages=tuple(
                op.name for op in loaded.operators if isinstance(op, GlobalOperator) and not op.score_column
            ),
            global_stages=tuple(op.name for op in loaded.operators if isinstance(op, GlobalOperator)),
            image_text=any(s.image_field or s.format == "webdataset" or _is_tar(s.path) for s in recipe.sources),
            checks=recipe.checks,
            synth_work=recipe.synth.work_dir if recipe.synth else None,
        )

    def asset_key(self, noun: str) -> dg.AssetKey:
        return dg.AssetKey(f"{self.key}_{noun}")


def _is_tar(path: str) -> bool:
    return path.lower().endswith(TAR_SUFFIXES)


def recipe_files(folder: Path = PACKAGED_RECIPES) -> list[Path]:
    return sorted(Path(folder).glob("*.yaml"))


class RawDocumentsConfig(dg.Config):
    """Run-time choices of a recipe's read phase."""

    sources: list[str] = Field(
        default=[], description="Read these files, globs or URLs instead of the recipe's sources (same text field)."
    )
    output: str | None = Field(
        default=None, description="Write the run here instead of <storage>/<recipe> (folder or fsspec URL)."
    )
    keep_work: bool = Field(default=False, description="Keep the staged parts under <output>/_work after the run.")
    demo_docs: int = Field(
        default=3000, ge=1, description="Documents in the sample corpus generated for the demo recipe when it is missing."
    )


def build_pipeline(spec: RecipeSpec, output: str, sources: list[str] | None = None, keep_work: bool = False) -> Pipeline:
    """The recipe's :class:`Pipeline`, writing to ``output``, optionally reading ``sources`` instead."""
    overrides: dict[str, Any] = {"output": output}
    if sources:
        first = load(spec.path, check_paths=False).recipe.sources[0]
        overrides["sources"] = [
            # Relative paths given at run time are read from the current folder, not the recipe's.
            {**first.model_dump(exclude={"path", "name"}), "path": _absolute(s), "name": first.name}
            for s in sources
        ]
    return load(spec.path, overrides=overrides, check_paths=False).pipeline(keep_work=keep_work)


def _absolute(path: str) -> str:
    return path if "://" in path or os.path.isabs(path) else os.path.abspath(path)


def _progress(context: dg.AssetExecutionContext):
    def report(desc: str, done: int, total: int) -> None:
        if done == total:
            context.log.info(f"{desc}: {total} part(s) done")

    return report


def _demo_sources(spec: RecipeSpec, storage: StorageResource, docs: int) -> list[str]:
    """The demo's sample corpus under storage, generated if the recipe's own source is missing."""
    try:
        for s in load(spec.path, check_paths=False).recipe.sources:
            expand(s.spec())
        return []
    except SourceError:
        pass
    sample = join(storage.recipe_output(spec.name), DEMO_SAMPLE)
    if not exists(sample):
        try:
            from operators.sample_corpus import write_jsonl
        except ImportError as e:
            raise dg.Failure(
                f"the demo recipe's sample corpus is missing and cannot be generated ({e}); "
                "set `sources` in the raw documents asset's config"
            ) from e
        Path(sample).parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(Path(sample), docs, 0)
    return [sample]


def recipe_assets(spec: RecipeSpec) -> list[dg.AssetsDefinition]:
    """The five phase assets of one recipe."""
    keys = {noun: spec.asset_key(noun) for noun in PHASES}
    common: dict[str, Any] = {"group_name": spec.key, "owners": OWNERS}
    global_stages = [s for s in spec.stages if s in spec.global_stages]
    stream = [s for s in spec.stages if s not in spec.global_stages]

    def pipeline_for(state: RunState) -> Pipeline:
        # A later phase rebuilds the pipeline on the run's own output, so a run
        # started on overridden sources or storage finishes where it started.
        return build_pipeline(spec, state.output)

    @dg.asset(
        key=keys["raw_documents"],
        description=f"{spec.name}: source {spec.records} read into staged Parquet parts; malformed input is quarantined, not lost.",
        kinds={"ray", "parquet"},
        deps=[spec.asset_key("synthetic_records")] if spec.synth_work else None,
        **common,
    )
    def raw_documents(
        context: dg.AssetExecutionContext, config: RawDocumentsConfig, ray: RayResource, storage: StorageResource
    ) -> dg.Output[RunState]:
        sources = list(config.sources)
        if not sources and spec.name == DEMO_RECIPE:
            sources = _demo_sources(spec, storage, config.demo_docs)
        if not sources and spec.synth_work:
            from pipelines.synth_assets import records_path

            sources = [records_path(storage, spec.name, spec.synth_work)]
        output = config.output or storage.recipe_output(spec.name)
        pipeline = build_pipeline(spec, output, sources or None, keep_work=config.keep_work)
        context.log.info(f"run of {spec.name} on {ray.describe()}, output {pipeline.output}")
        executor = ray.executor(_progress(context))
        state = pipeline.read(executor, pipeline.start())
        tally = pipeline.tally(executor, state)
        return dg.Output(
            state,
            metadata={
                "run_id": state.run_id,
                "files": state.counts["read"]["files"],
                "parts": state.counts["read"]["parts"],
                "quarantine_reasons": md.reasons_table(tally["reasons"], state.read),
                "sample_records": md.samples_table(tally["samples"]["kept"]),
                "records": dg.MetadataValue.int(state.read),
                "quarantined": dg.MetadataValue.int(tally["quarantined"]),
                "sources": dg.MetadataValue.md("\n".join(f"- `{s.path}`" for s in pipeline.sources)),
            },
        )

    @dg.asset(
        key=keys["decided_documents"],
        ins={"raw": dg.AssetIn(keys["raw_documents"])},
        description=f"{spec.name}: {spec.records} scored and decided by the stream stages ({', '.join(stream) or 'none'}); "
        "every drop has a reason.",
        kinds={"ray", "parquet"},
        **common,
    )
    def decided_documents(context: dg.AssetExecutionContext, raw: RunState, ray: RayResource) -> dg.Output[RunState]:
        pipeline = pipeline_for(raw)
        executor = ray.executor(_progress(context))
        state = pipeline.decide(executor, raw)
        state.counts["tally:decide"] = tally = pipeline.tally(executor, state)
        return dg.Output(state, metadata={"run_id": state.run_id, **md.tally_metadata(tally, state.read)})

    @dg.asset(
        key=keys["deduplicated_documents"],
        ins={"decided": dg.AssetIn(keys["decided_documents"])},
        description=f"{spec.name}: {spec.records} after the global stages ({', '.join(global_stages) or 'none'}); "
        "one survivor per duplicate cluster.",
        kinds={"ray", "parquet"},
        **common,
    )
    def deduplicated_documents(
        context: dg.AssetExecutionContext, decided: RunState, ray: RayResource
    ) -> dg.Output[RunState]:
        pipeline = pipeline_for(decided)
        executor = ray.executor(_progress(context))
        state = pipeline.deduplicate(executor, decided)
        state.counts["tally:deduplicate"] = tally = pipeline.tally(executor, state)
        duplicates, candidates = duplicate_counts(state.counts, list(spec.dedup_stages))
        return dg.Output(
            state,
            metadata={
                "run_id": state.run_id,
                **md.tally_metadata(tally, state.read),
                "duplicates_removed": dg.MetadataValue.int(duplicates),
                "duplicate_rate": dg.MetadataValue.float(round(duplicates / candidates, 4) if candidates else 0.0),
            },
        )

    @dg.asset(
        key=keys["training_shards"],
        ins={"deduplicated": dg.AssetIn(keys["deduplicated_documents"])},
        description=f"{spec.name}: kept {spec.records} tokenized into Arrow IPC shards"
        + (" (caption tokens with the image bytes)" if spec.image_text else "")
        + " with per-shard manifests (sha256, counts, tokenizer).",
        kinds={"ray", "arrow"},
        **common,
    )
    def training_shards(
        context: dg.AssetExecutionContext, deduplicated: RunState, ray: RayResource
    ) -> dg.Output[RunState]:
        pipeline = pipeline_for(deduplicated)
        state = pipeline.write_shards(ray.executor(_progress(context)), deduplicated)
        counts = state.counts["write_shards"]
        return dg.Output(
            state,
            metadata={
                "run_id": state.run_id,
                "shards": dg.MetadataValue.int(counts["shards"]),
                "records": dg.MetadataValue.int(counts["kept"]),
                "tokens": dg.MetadataValue.int(counts["tokens"]),
                "shards_folder": dg.MetadataValue.path(join(state.output, "shards")),
                "manifest": dg.MetadataValue.path(state.manifest),
                "shard_list": md.shards_table(state.shards),
                "tokenizer": f"{pipeline.tokenizer.name} (vocab {pipeline.tokenizer.vocab_size:,})",
            },
        )

    @dg.asset(
        key=keys["lineage_ledger"],
        ins={"shards": dg.AssetIn(keys["training_shards"])},
        description=f"{spec.name}: one Parquet lineage row per input record (whatever its fate) and the rejects; "
        "query with DuckDB.",
        kinds={"ray", "parquet", "duckdb"},
        **common,
    )
    def lineage_ledger(context: dg.AssetExecutionContext, shards: RunState, ray: RayResource) -> dg.Output[RunState]:
        pipeline = pipeline_for(shards)
        state = pipeline.write_ledger(ray.executor(_progress(context)), shards)
        return dg.Output(state, metadata=run_metadata(RunResult(**state.summary)))

    phases = [raw_documents, decided_documents, deduplicated_documents, training_shards, lineage_ledger]
    if spec.synth_work:
        from pipelines.synth_assets import synthetic_records_asset

        return [synthetic_records_asset(spec), *phases]
    return phases


def run_metadata(result: RunResult) -> dict[str, Any]:
    """What a finished run reports: counts, reasons, timings and where its files are."""
    return {
        "run_id": result.run_id,
        "records": dg.MetadataValue.int(result.read),
        "kept": dg.MetadataValue.int(result.kept),
        "dropped": dg.MetadataValue.int(result.dropped),
        "quarantined": dg.MetadataValue.int(result.quarantined),
        "tokens": dg.MetadataValue.int(result.tokens),
        "balanced": result.balanced,
        "drop_reasons": md.reasons_table(result.drop_reasons, result.read),
        "quarantine_reasons": md.reasons_table(result.quarantine_reasons, result.read),
        "stage_seconds": md.timings_table(result.stage_seconds),
        "wall_seconds": dg.MetadataValue.float(result.wall_seconds),
        "ledger": dg.MetadataValue.path(result.ledger),
        "summary": dg.MetadataValue.path(join(result.output, "summary.json")),
        "manifest": dg.MetadataValue.path(result.manifest),
    }


def landing_partitions(spec: RecipeSpec) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"{spec.key}_landing_batches")


def landed_batch_asset(spec: RecipeSpec) -> dg.AssetsDefinition:
    """The whole recipe on one landed file (a dynamic partition per file), same phases as a full run."""

    @dg.asset(
        key=spec.asset_key("landed_batch"),
        partitions_def=landing_partitions(spec),
        description=f"{spec.name}: one file from the landing folder, run through every phase of the recipe; "
        "shards and ledger under <storage>/<recipe>/batches/<file>.",
        kinds={"ray", "arrow", "parquet"},
        group_name=spec.key,
        owners=OWNERS,
    )
    def landed_batch(context: dg.AssetExecutionContext, ray: RayResource, storage: StorageResource) -> dg.MaterializeResult:
        batch = context.partition_key
        source = join(storage.landing_folder(spec.name), batch)
        pipeline = build_pipeline(spec, storage.batch_output(spec.name, batch), [source])
        result = pipeline.run(ray.executor(_progress(context)))
        return dg.MaterializeResult(metadata={"source": dg.MetadataValue.path(source), **run_metadata(result)})

    return landed_batch


def recipe_definitions(path: Path) -> dg.Definitions:
    """Assets, checks, jobs, schedule and landing sensor of the recipe in ``path``."""
    from pipelines.sensors import landing_sensor, recipe_jobs, recipe_schedule

    spec = RecipeSpec.from_file(path)
    assets = recipe_assets(spec)
    checks = recipe_checks(
        {noun: spec.asset_key(key) for noun, key in
         (("deduplicated", "deduplicated_documents"), ("shards", "training_shards"), ("ledger", "lineage_ledger"))},
        list(spec.stages),
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

