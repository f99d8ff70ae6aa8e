"""One asset group per recipe: each phase of a run is an asset.

``<recipe>_raw_documents`` (read) -> ``<recipe>_decided_documents`` (stream
stages) -> ``<recipe>_deduplicated_documents`` (global stages) ->
``<recipe>_training_shards`` -> ``<recipe>_lineage_ledger``. Each asset calls
one phase of :class:`pipelines.run.Pipeline` and hands the run's
:class:`~pipelines.run.RunState` to the next; ``assay run`` calls the same
phases through ``Pipeline.run``. A ``<recipe>_landed_batch`` asset,
partitioned by the files that land in the recipe's landing folder, runs the
whole recipe on one such file.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from operators.core.io import exists, is_absolute, join
from operators.core.phases import Phase
from operators.formats.sources import SourceError, expand
from pipelines.checks import duplicate_counts
from pipelines.orchestrate import metadata as md
from pipelines.orchestrate.resources import RayResource, StorageResource
from pipelines.orchestrate.spec import OWNERS, RecipeSpec, landing_partitions
from pipelines.orchestrate.synth_assets import records_path, synthetic_records_asset
from pipelines.recipe import load
from pipelines.run import Pipeline, RunResult, RunState

#: The asset of each phase of a run: ``<recipe>_<noun>``.
ASSET_NOUNS = {
    Phase.READ: "raw_documents",
    Phase.DECIDE: "decided_documents",
    Phase.DEDUPLICATE: "deduplicated_documents",
    Phase.WRITE_SHARDS: "training_shards",
    Phase.WRITE_LEDGER: "lineage_ledger",
}
#: The phase assets' nouns, in order.
PHASES = tuple(ASSET_NOUNS[p] for p in Phase.ran())
# The packaged demo recipe reads a generated sample; `assay demo` makes it on
# the fly, and so does its raw documents asset when it is missing.
DEMO_RECIPE = "demo"
DEMO_SAMPLE = "sample/corpus.jsonl.gz"


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
    return path if is_absolute(path) else os.path.abspath(path)


def _progress(context: dg.AssetExecutionContext):
    def report(desc: str, done: int, total: int, records: int | None = None) -> None:
        if done == total:
            context.log.info(f"{desc}: {total} part(s) done" + ("" if records is None else f", {records:,} records"))

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
        from operators.sample_corpus import write_jsonl  # faker and the vocabularies: only when needed

        Path(sample).parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(Path(sample), docs, 0)
    return [sample]


def recipe_assets(spec: RecipeSpec) -> list[dg.AssetsDefinition]:
    """The five phase assets of one recipe."""
    keys = {noun: spec.asset_key(noun) for noun in ASSET_NOUNS.values()}
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
            sources = [records_path(storage, spec.name, spec.synth_work)]
        output = config.output or storage.recipe_output(spec.name)
        pipeline = build_pipeline(spec, output, sources or None, keep_work=config.keep_work)
        context.log.info(f"run of {spec.name} on {ray.describe()}, output {pipeline.output}")
        executor = ray.executor(_progress(context))
        state = pipeline.read(executor, pipeline.start())
        tally = md.tally(pipeline, executor, state)
        return dg.Output(
            state,
            metadata={
                "run_id": state.run_id,
                "files": state.counts[Phase.READ]["files"],
                "parts": state.counts[Phase.READ]["parts"],
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
        state.counts["tally:decide"] = tally = md.tally(pipeline, executor, state)
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
        state.counts["tally:deduplicate"] = tally = md.tally(pipeline, executor, state)
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
        counts = state.counts[Phase.WRITE_SHARDS]
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
