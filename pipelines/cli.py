"""The ``assay`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)

DEFAULT_DEMO_DOCS = 3000


def _fail(message: str, hint: str | None = None) -> None:
    console.print(f"[bold red]error:[/] {message}")
    if hint:
        console.print(f"[dim]{hint}[/]")
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages (Ray and assay).")
def main(verbose: bool) -> None:
    """assay: prepare and govern training data for language and multimodal models.

    Reads text corpora, cleans, filters and deduplicates them on Ray, writes
    tokenized Arrow shards for training, and a lineage ledger with one row per
    input record.

    \b
    Start with:
      assay demo                 run the default recipe on the bundled sample
      assay run RECIPE.yaml      run your own recipe
      assay operators            list the operators a recipe can use
      assay synth                generate instruction data (Self-Instruct) and govern it
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _execute(
    loaded,
    *,
    local: bool,
    address: str | None,
    concurrency: int | None,
    keep_work: bool,
    dagster: bool | None = None,
    sources: list[str] | None = None,
):
    from operators.executor import make_executor
    from pipelines.progress import StageProgress, summary_table
    from pipelines.recipe import RecipeError

    try:
        pipeline = loaded.pipeline(keep_work=keep_work)
    except RecipeError as e:
        _fail(str(e))
    recipe = loaded.recipe
    address = address or recipe.ray.address
    concurrency = concurrency or recipe.ray.concurrency
    where = "in-process" if local else f"Ray at {address or os.environ.get('RAY_ADDRESS') or 'a local Ray'}"
    if dagster is None:
        dagster = bool(os.environ.get("DAGSTER_HOME"))
    if dagster:
        result = _execute_in_dagster(loaded, local, address, concurrency, keep_work, sources, where)
    else:
        console.print(f"[bold]assay[/] running recipe [cyan]{recipe.name}[/] ({where})")
        try:
            with StageProgress(console) as progress:
                executor = make_executor(local=local, address=address, concurrency=concurrency, progress=progress)
                result = pipeline.run(executor)
        except ConnectionError as e:
            _fail(f"cannot reach the Ray cluster: {e}", "check RAY_ADDRESS / --ray-address, or drop it to start Ray locally")
        except OSError as e:
            _fail(f"{e.strerror or e} ({e.filename or pipeline.output})",
                  "check that the output folder exists, is writable and has free space; then run again")
        except Exception as e:  # a worker's error arrives wrapped by Ray: show its last line, keep the trace in -v
            logging.getLogger("assay").debug("run failed", exc_info=True)
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            _fail(f"the run failed: {last}", "run again with -v for the full traceback")
    Console().print(summary_table(result))
    console.print(f"shards:   {pipeline.output}/shards  (manifest: {result.manifest})")
    console.print(f"ledger:   {result.ledger}")
    console.print(f"rejects:  {pipeline.output}/rejects/run={result.run_id}")
    return result


def _execute_in_dagster(loaded, local, address, concurrency, keep_work, sources, where):
    """The recipe's Dagster assets and checks, recorded in the instance at $DAGSTER_HOME (the UI shows the run)."""
    from pipelines.materialize import DagsterRunError, materialize_recipe
    from pipelines.resources import RayResource

    recipe = loaded.recipe
    console.print(
        f"[bold]assay[/] running recipe [cyan]{recipe.name}[/] as Dagster assets ({where}); "
        f"recorded in DAGSTER_HOME={os.environ.get('DAGSTER_HOME', '')}"
    )
    try:
        result, run_id = materialize_recipe(
            loaded.path,
            RayResource(local=local, address=address, concurrency=concurrency),
            sources=sources,
            output=recipe.output,
            keep_work=keep_work,
        )
    except DagsterRunError as e:
        _fail(str(e), "open `dagster dev -w workspace.yaml` (same DAGSTER_HOME) to see the run, its logs and checks")
    console.print(f"dagster run: {run_id}")
    return result

_run_options = [
    click.option("--local", is_flag=True, help="Run in this process without Ray (small inputs, debugging)."),
    click.option("--ray-address", default=None, help="Ray cluster to use (default: $RAY_ADDRESS, else start Ray locally)."),
    click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Parallel workers per stage."),
    click.option("--keep-work", is_flag=True, help="Keep the staged parts under OUTPUT/_work for inspection."),
    click.option("--dagster/--no-dagster", default=None,
                 help="Run as Dagster assets recorded in $DAGSTER_HOME, so `dagster dev` shows the run "
                      "(default: on when DAGSTER_HOME is set)."),
]


def _with_run_options(fn):
    for option in reversed(_run_options):
        fn = option(fn)
    return fn


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", default=None, help="Override the recipe's output folder or URL.")
@_with_run_options
def run(
    recipe: Path,
    output: str | None,
    local: bool,
    ray_address: str | None,
    concurrency: int | None,
    keep_work: bool,
    dagster: bool | None,
) -> None:
    """Run RECIPE (a YAML file) and print a summary of what happened to every record.

    Exits non-zero, with the file, line and field, if the recipe is invalid.
    """
    from pipelines.recipe import RecipeError, load

    try:
        loaded = load(recipe, overrides={"output": output} if output else None)
    except RecipeError as e:
        _fail(str(e), "fix the recipe and run again; `assay validate RECIPE` checks it without running")
    _execute(loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster)


@main.command()
@click.option("--out", "out", default="out/demo", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the sample corpus, shards, ledger and rejects.")
@click.option("--docs", default=DEFAULT_DEMO_DOCS, show_default=True, type=click.IntRange(min=1),
              help="Documents in the generated sample corpus.")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample corpus generator.")
@_with_run_options
def demo(
    out: Path,
    docs: int,
    seed: int,
    local: bool,
    ray_address: str | None,
    concurrency: int | None,
    keep_work: bool,
    dagster: bool | None,
) -> None:
    """Run the default recipe on the bundled sample corpus.

    The sample (multilingual web-like text with duplicates, boilerplate,
    junk, personal data and abusive lines) is generated deterministically
    into OUT/sample, then the demo recipe writes shards, rejects and the
    ledger under OUT.
    """
    from operators.sample_corpus import write_jsonl
    from pipelines.recipe import RecipeError, load

    out = out.resolve()
    corpus = out / "sample" / "corpus.jsonl.gz"
    stamp = out / "sample" / "corpus.params.json"
    params = {"docs": docs, "seed": seed}
    if not corpus.exists() or not stamp.exists() or json.loads(stamp.read_text()) != params:
        corpus.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"generating the sample corpus: {docs:,} documents -> {corpus}")
        write_jsonl(corpus, docs, seed)
        stamp.write_text(json.dumps(params))
    try:
        loaded = load(
            "demo",
            overrides={"sources": [{"path": str(corpus), "name": "sample"}], "output": str(out)},
        )
    except RecipeError as e:
        _fail(str(e))
    result = _execute(
        loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster,
        sources=[str(corpus)],
    )
    if result.shards:
        first = out / "shards" / result.shards[0]["shard"]
        console.print(f"\nread the shards:  python -c \"import datasets; print(datasets.Dataset.from_file('{first}'))\"")


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
def validate(recipe: Path) -> None:
    """Check RECIPE without running it: fields, operators, parameters, paths, tokenizer."""
    from pipelines.recipe import RecipeError, load

    try:
        loaded = load(recipe)
        loaded.pipeline()
    except RecipeError as e:
        _fail(str(e))
    names = ", ".join(op.name for op in loaded.operators)
    console.print(f"[green]ok[/] {recipe}: {len(loaded.recipe.sources)} source(s); stages: {names}")


@main.command()
def operators() -> None:
    """List the registered operators with their parameters."""
    from operators import registry

    for name in registry.names():
        cls = registry.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        click.echo(f"{name} (v{cls.version}, {cls.kind}): {doc}")
        for field_name, field in cls.Config.model_fields.items():
            default = field.default if field.default is not None else "null"
            click.echo(f"    {field_name} = {default!r}: {field.description or ''}")


@main.command("generate-corpus")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--docs", default=DEFAULT_DEMO_DOCS, show_default=True, type=click.IntRange(min=1), help="Number of documents.")
@click.option("--seed", default=0, show_default=True, help="Generator seed (same seed, same corpus).")
def generate_corpus(out: Path, docs: int, seed: int) -> None:
    """Write a synthetic multilingual corpus (JSONL; .gz/.zst by extension) for tests and benchmarks."""
    from operators.sample_corpus import write_jsonl

    out.parent.mkdir(parents=True, exist_ok=True)
    n = write_jsonl(out, docs, seed)
    console.print(f"wrote {n:,} documents to {out}")


@main.command()
@click.argument("recipe", default="synth", required=False)
@click.option("--out", "output", default=None, help="Override the recipe's output folder (synthesis work goes to OUT/synth).")
@click.option("--method", type=click.Choice(["self_instruct", "evol_instruct"]), default=None, help="Synthesis method.")
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
@_with_run_options
def synth(recipe: str, output: str | None, method, target, max_rounds, budget_tokens, seeds, backend, base_url, model,
          api_key_env, model_path, synth_concurrency, only_synth: bool, local: bool, ray_address: str | None,
          concurrency: int | None, keep_work: bool, dagster: bool | None) -> None:
    """Generate instruction data (Self-Instruct or Evol-Instruct), then govern it like any source.

    RECIPE (default: the packaged `synth` recipe) has a `synth:` section: method, seeds,
    backend, target, budget. Records land in OUT/synth/records.jsonl with their parents and
    generator; the recipe's stages then render them with the tokenizer's chat template,
    filter, deduplicate, tokenize and write the ledger. Running the same command again
    resumes: finished rounds and completed calls are not repeated.

    \b
    Examples:
      assay synth --out out/synth --target 10 --local
      assay synth --backend http --base-url http://127.0.0.1:8000/v1 --model smollm2 --api-key-env OPENAI_API_KEY
    """
    from pipelines.recipe import RecipeError, load
    from pipelines.synth_run import rounds_table, run_synthesis, synth_config
    from synth.backends import BackendError
    from synth.pool import SeedError

    if not Path(recipe).is_file():
        packaged = Path(__file__).parent / "recipes" / f"{recipe}.yaml"
        if packaged.is_file():
            recipe = str(packaged)
            # a packaged recipe writes under ./out, not into the package
            output = output or str(Path("out", packaged.stem).resolve())
    try:
        loaded = load(recipe, overrides={"output": output} if output else None, check_paths=False)
    except RecipeError as e:
        _fail(str(e), "fix the recipe and run again")
    out = Path(loaded.recipe.output)
    try:
        config = synth_config(loaded.recipe.synth, {
            "method": method, "target": target, "max_rounds": max_rounds, "budget_tokens": budget_tokens,
            "seeds": str(Path(seeds).resolve()) if seeds else None, "backend": backend, "base_url": base_url,
            "model": model, "api_key_env": api_key_env, "model_path": model_path, "concurrency": synth_concurrency,
        })
    except Exception as e:  # pydantic's message names the field
        _fail(f"synth settings: {e}", "check the recipe's synth section and the options")
    if config.seeds and loaded.path is not None and not Path(config.seeds).is_absolute():
        config = config.model_copy(update={"seeds": str((loaded.path.parent / config.seeds).resolve())})
    work = out / config.work_dir
    console.print(f"[bold]assay[/] synthesising with {config.method} ({config.backend.kind} backend) -> {work}")
    try:
        result = run_synthesis(config, work, console)
    except (BackendError, SeedError, ValueError) as e:
        _fail(str(e))
    Console().print(rounds_table(result))
    console.print(f"records:  {result.records}  ({result.calls_made} calls made, {result.calls_cached} from the cache)")
    if only_synth:
        return
    if not result.record_count:
        _fail("no records were generated, so there is nothing to govern",
              "raise --max-rounds / --budget-tokens, or use a stronger model (--backend http)")
    try:
        loaded = load(recipe, overrides={"output": str(out), "sources": [{"path": result.records, "name": "synth"}]})
    except RecipeError as e:
        _fail(str(e))
    _execute(loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster,
             sources=[result.records])


if __name__ == "__main__":
    main()
