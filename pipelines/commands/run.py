"""``assay run``, ``demo``, ``validate``, ``operators`` and ``generate-corpus``: running recipes and what they use."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipelines.commands.common import DEFAULT_DEMO_DOCS, console, execute, fail, with_run_options


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", default=None, help="Override the recipe's output folder or URL.")
@with_run_options
def run(
    recipe: Path,
    output: str | None,
    local: bool,
    ray_address: str | None,
    concurrency: int | None,
    keep_work: bool,
    fresh: bool,
    dagster: bool | None,
) -> None:
    """Run RECIPE (a YAML file) and print a summary of what happened to every record.

    Exits non-zero, with the file, line and field, if the recipe is invalid.
    """
    from pipelines.recipe import RecipeError, load

    try:
        loaded = load(recipe, overrides={"output": output} if output else None)
    except RecipeError as e:
        fail(str(e), "fix the recipe and run again; `assay validate RECIPE` checks it without running")
    execute(loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster,
             fresh=fresh)


@click.command()
@click.option("--out", "out", default="out/demo", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the sample corpus, shards, ledger and rejects.")
@click.option("--docs", default=DEFAULT_DEMO_DOCS, show_default=True, type=click.IntRange(min=1),
              help="Documents in the generated sample corpus.")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample corpus generator.")
@with_run_options
def demo(
    out: Path,
    docs: int,
    seed: int,
    local: bool,
    ray_address: str | None,
    concurrency: int | None,
    keep_work: bool,
    fresh: bool,
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
        fail(str(e))
    result = execute(
        loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster,
        sources=[str(corpus)], fresh=fresh,
    )
    if result.shards:
        first = out / "shards" / result.shards[0]["shard"]
        console.print(f"\nread the shards:  python -c \"import datasets; print(datasets.Dataset.from_file('{first}'))\"")


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
def validate(recipe: Path) -> None:
    """Check RECIPE without running it: fields, operators, parameters, paths, tokenizer."""
    from pipelines.recipe import RecipeError, load

    try:
        loaded = load(recipe)
        loaded.pipeline()
    except RecipeError as e:
        fail(str(e))
    names = ", ".join(op.name for op in loaded.operators)
    console.print(f"[green]ok[/] {recipe}: {len(loaded.recipe.sources)} source(s); stages: {names}")


@click.command()
def operators() -> None:
    """List the registered operators with their parameters."""
    from operators.core import registry

    for name in registry.names():
        cls = registry.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        click.echo(f"{name} (v{cls.version}, {cls.kind}): {doc}")
        for field_name, field in cls.Config.model_fields.items():
            default = "(required)" if field.is_required() else field.get_default(call_default_factory=True)
            default = "null" if default is None else default
            click.echo(f"    {field_name} = {default!r}: {field.description or ''}")


@click.command("generate-corpus")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--docs", default=DEFAULT_DEMO_DOCS, show_default=True, type=click.IntRange(min=1), help="Number of documents.")
@click.option("--seed", default=0, show_default=True, help="Generator seed (same seed, same corpus).")
def generate_corpus(out: Path, docs: int, seed: int) -> None:
    """Write a synthetic multilingual corpus (JSONL; .gz/.zst by extension) for tests and benchmarks."""
    from operators.sample_corpus import write_jsonl

    out.parent.mkdir(parents=True, exist_ok=True)
    n = write_jsonl(out, docs, seed)
    console.print(f"wrote {n:,} documents to {out}")


