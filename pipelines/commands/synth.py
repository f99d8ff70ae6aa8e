"""``assay synth``: generate instruction data, then govern it like any source."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from pipelines.commands.common import console, execute, fail, with_run_options


@click.command()
@click.argument("recipe", default="synth", required=False)
@click.option("--out", "output", default=None, help="Override the recipe's output folder (synthesis work goes to OUT/synth).")
@click.option("--method", type=click.Choice(["self_instruct", "evol_instruct", "backtranslate"]), default=None,
              help="Synthesis method.")
@click.option("--documents", default=None,
              help="backtranslate: documents whose segments become answers (JSONL/Parquet file, folder, glob, "
                   "or a finished run's output folder).")
@click.option("--target", type=click.IntRange(min=1), default=None, help="Machine tasks to accept before stopping.")
@click.option("--max-rounds", type=click.IntRange(min=1), default=None, help="Rounds before stopping.")
@click.option("--budget-tokens", type=click.IntRange(min=1), default=None, help="Token budget (prompt + completion) of the run.")
@click.option("--seeds", type=click.Path(dir_okay=False, exists=True), default=None, help="Seed tasks JSONL (default: the packaged set).")
@click.option("--backend", type=click.Choice(["local", "http"]), default=None, help="In-process model or an OpenAI-compatible server.")
@click.option("--base-url", default=None, help="Server root with /v1 (http backend), e.g. http://127.0.0.1:8000/v1.")
@click.option("--model", default=None, help="Model name the server expects (http backend).")
@click.option("--api-key-env", default=None, help="Name of the environment variable holding the API key (never the key).")
@click.option("--model-path", default=None, help="Local model folder or .gguf (local backend; default: packaged SmolLM2).")
@click.option("--synth-concurrency", type=click.IntRange(min=1), default=None, help="Requests in flight to the model.")
@click.option("--only-synth", is_flag=True, help="Stop after writing the records; do not run the recipe's stages.")
@with_run_options
def synth(recipe: str, output: str | None, method, documents, target, max_rounds, budget_tokens, seeds, backend, base_url, model,
          api_key_env, model_path, synth_concurrency, only_synth: bool, local: bool, ray_address: str | None,
          concurrency: int | None, keep_work: bool, fresh: bool, dagster: bool | None) -> None:
    """Generate instruction data (Self-Instruct, Evol-Instruct, backtranslation), then govern it like any source.

    RECIPE (default: the packaged `synth` recipe) has a `synth:` section: method, seeds,
    backend, target, budget. Records land in OUT/synth/records.jsonl with their parents and
    generator; the recipe's stages then render them with the tokenizer's chat template,
    filter, deduplicate, tokenize and write the ledger. Running the same command again
    resumes: finished rounds and completed calls are not repeated.

    \b
    Examples:
      assay synth --out out/synth --target 10 --local
      assay synth --backend http --base-url http://127.0.0.1:8000/v1 --model smollm2 --api-key-env OPENAI_API_KEY
      assay synth backtranslate --documents docs.jsonl --out out/bt --local
    """
    from pipelines.backtranslate_input import DocumentsError
    from pipelines.recipe import RecipeError, load, option_path
    from pipelines.synth_run import rounds_table, run_synthesis, synth_config
    from synth.backends import BackendError
    from synth.pool import SeedError

    try:
        loaded = load(recipe, overrides={"output": output} if output else None, check_paths=False)
    except RecipeError as e:
        fail(str(e), "fix the recipe and run again")
    out = Path(loaded.recipe.output)
    try:
        config = synth_config(loaded.recipe.synth, {
            "method": method, "target": target, "max_rounds": max_rounds, "budget_tokens": budget_tokens,
            "seeds": option_path(seeds) if seeds else None, "backend": backend, "base_url": base_url,
            "model": model, "api_key_env": api_key_env, "model_path": option_path(model_path) if model_path else None,
            "concurrency": synth_concurrency, "documents": option_path(documents) if documents else None,
        })
    except Exception as e:  # pydantic's message names the field
        fail(f"synth settings: {e}", "check the recipe's synth section and the options")
    work = out / config.work_dir
    console.print(f"[bold]assay[/] synthesising with {config.method} ({config.backend.kind} backend) -> {work}")
    try:
        result = run_synthesis(config, work, console)
    except (BackendError, SeedError, DocumentsError, ValueError) as e:
        fail(str(e))
    Console().print(rounds_table(result))
    console.print(f"records:  {result.records}  ({result.calls_made} calls made, {result.calls_cached} from the cache)")
    if only_synth:
        return
    if not result.record_count:
        fail("no records were generated, so there is nothing to govern",
              "raise --max-rounds / --budget-tokens, or use a stronger model (--backend http)")
    try:
        loaded = load(recipe, overrides={"output": str(out), "sources": [{"path": result.records, "name": "synth"}]})
    except RecipeError as e:
        fail(str(e))
    execute(loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster,
             sources=[result.records], fresh=fresh)

