"""The ``assay`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from pipelines.doctor import CHECK_NAMES
from pipelines.judge_distill import judge_options, train_from_judge

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
      assay lineage --help       trace records, find a person's data, erase it, report
      assay synth                generate instruction data (Self-Instruct, backtranslation...) and govern it
      assay doctor               what this installation can do, what is missing, how to fix it
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _verbose() -> bool:
    """Whether ``assay -v`` was given."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("verbose"))


def _execute(
    loaded,
    *,
    local: bool,
    address: str | None,
    concurrency: int | None,
    keep_work: bool,
    dagster: bool | None = None,
    sources: list[str] | None = None,
    fresh: bool = False,
):
    from operators.executor import RayUnreachableError, make_executor
    from pipelines.progress import StageProgress, summary_table
    from pipelines.recipe import RecipeError
    from pipelines.runlog import log_path, stderr_to_log

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
        unfinished = None if fresh else pipeline.resumable()
        if unfinished is not None:
            console.print(f"resuming run {unfinished.run_id} after its {unfinished.phase!r} phase "
                          "(finished parts are not redone; --fresh starts over)")
        log = log_path(pipeline.output)
        try:
            with stderr_to_log(log, console, verbose=_verbose() or local), StageProgress(console) as progress:
                executor = make_executor(local=local, address=address, concurrency=concurrency, progress=progress,
                                         quiet=not _verbose())
                try:
                    result = pipeline.run(executor, resume=not fresh)
                finally:
                    executor.close()
        except RayUnreachableError as e:
            _fail(str(e), "or drop --ray-address / RAY_ADDRESS to start Ray locally")
        except ConnectionError as e:
            _fail(f"cannot reach the Ray cluster: {e}", "check RAY_ADDRESS / --ray-address, or drop it to start Ray locally")
        except OSError as e:
            _fail(f"{e.strerror or e} ({e.filename or pipeline.output})",
                  "check that the output folder exists, is writable and has free space; then run the same "
                  "command again: it resumes where it stopped")
        except Exception as e:  # a worker's error arrives wrapped by Ray: show its last line, keep the trace in -v
            logging.getLogger("assay").debug("run failed", exc_info=True)
            last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            where = "" if local or _verbose() else f"Ray's messages: {log}; "
            _fail(f"the run failed: {last}", f"{where}run again with -v for the full traceback")
    Console().print(summary_table(result))
    console.print(f"shards:   {pipeline.output}/shards  (manifest: {result.manifest})")
    console.print(f"ledger:   {result.ledger}")
    console.print(f"rejects:  {pipeline.output}/rejects/run={result.run_id}")
    if not dagster and not local and not _verbose():
        console.print(f"log:      {log}  (Ray's own messages)")
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
    click.option("--fresh", is_flag=True,
                 help="Start a new run even if an unfinished run of this recipe (killed, preempted, out of disk) "
                      "can be resumed; by default it is resumed from its last checkpoint."),
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
        _fail(str(e), "fix the recipe and run again; `assay validate RECIPE` checks it without running")
    _execute(loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster,
             fresh=fresh)


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
        _fail(str(e))
    result = _execute(
        loaded, local=local, address=ray_address, concurrency=concurrency, keep_work=keep_work, dagster=dagster,
        sources=[str(corpus)], fresh=fresh,
    )
    if result.shards:
        first = out / "shards" / result.shards[0]["shard"]
        console.print(f"\nread the shards:  python -c \"import datasets; print(datasets.Dataset.from_file('{first}'))\"")


@main.command()
@click.option("--skip", multiple=True, type=click.Choice(CHECK_NAMES),
              help="Leave out a check (repeatable); `ray` and `llama` start processes and take the longest.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(skip: tuple[str, ...], as_json: bool) -> None:
    """What this installation can do and what is missing, each with its fix.

    Python and package versions, a local Ray, the packaged models (lid.176, the
    SmolLM2 tokenizer and GGUF, the spaCy pipeline, the name and place lists, the
    toxicity model), chromium for the UI screenshot test, the llama.cpp server (a
    real one-token completion) and a GPU with CUDA torch. Exits 1 when something
    the default recipe needs is missing.
    """
    from pipelines.doctor import failed_required, render, run_checks, to_json

    if not as_json:
        console.print("[bold]assay doctor[/]: checking what this installation can do (about a minute)")
    checks = run_checks(skip)
    if as_json:
        click.echo(to_json(checks))
    else:
        render(checks, console.print)
    if failed_required(checks):
        sys.exit(1)


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
            default = "(required)" if field.is_required() else field.get_default(call_default_factory=True)
            default = "null" if default is None else default
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


@main.command("train-classifier")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Labelled JSONL/Parquet (text and label fields). Repeat for more files.")
@click.option("--positive", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A corpus of documents to keep (DCLM-style, with --negative). Repeatable.")
@click.option("--negative", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A corpus of documents not to keep. Repeatable.")
@click.option("--text-field", default="text", show_default=True, help="The records' text field.")
@click.option("--label-field", default="label", show_default=True, help="The label field (with --data).")
@click.option("--positive-label", default="positive", show_default=True, help="Label of --positive records.")
@click.option("--negative-label", default="negative", show_default=True, help="Label of --negative records.")
@click.option("--language", "languages", multiple=True,
              help="A language the model is for (ISO 639, as lang_id writes it); repeatable. Others are not scored.")
@click.option("--test-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of each label held out for precision/recall/F1.")
@click.option("--lowercase", is_flag=True, help="Lowercase text for training and scoring (recorded in the card).")
@click.option("--epoch", default=10, show_default=True, type=click.IntRange(min=1), help="fastText epochs.")
@click.option("--lr", default=0.1, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Learning rate.")
@click.option("--word-ngrams", default=2, show_default=True, type=click.IntRange(min=1), help="Word n-gram length.")
@click.option("--dim", default=64, show_default=True, type=click.IntRange(min=1), help="Vector size.")
@click.option("--min-count", default=1, show_default=True, type=click.IntRange(min=1), help="Minimum word count.")
@click.option("--bucket", default=250_000, show_default=True, type=click.IntRange(min=0),
              help="Hash buckets for word n-grams (model size grows with it).")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(min=1), help="Training threads.")
@click.option("--seed", default=0, show_default=True, help="Seed of the split and of fastText.")
@judge_options
def train_classifier(output: Path, data, positive, negative, text_field, label_field, positive_label, negative_label,
                     languages, test_fraction, lowercase, epoch, lr, word_ngrams, dim, min_count, bucket, threads,
                     seed, **judge) -> None:
    """Train a fastText classifier into OUTPUT (.bin; .ftz quantizes) with a model card beside it.

    \b
    From labelled records:
      assay train-classifier toxic.bin --data labelled.jsonl --language en
    From two corpora (DCLM-style quality classifier):
      assay train-classifier quality.bin --positive good.jsonl.gz --negative crawl.jsonl.gz
    From an LLM judge's scores (a run with an llm_judge stage; FineWeb-Edu's recipe):
      assay train-classifier edu.bin --from-judge out/judge --rubric edu

    Prints held-out precision/recall/F1 and writes OUTPUT's card as .card.json and
    .card.md (data files and hashes, parameters, metrics, date, fastText version).
    Score with it in a recipe through the fasttext_classifier operator.
    """
    from rich.table import Table

    from filters.train_classifier import Params, TrainingDataError, read_corpora, read_labelled, train

    params = Params(epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, minCount=min_count, bucket=bucket,
                    thread=threads, seed=seed)
    if judge["from_judge"]:
        if data or positive or negative:
            _fail("--from-judge trains on the judge's scores: give it without --data/--positive/--negative")
        return train_from_judge(output, judge, params, test_fraction=test_fraction, lowercase=lowercase,
                                languages=list(languages) or None, console=console, fail=_fail)
    if bool(data) == bool(positive or negative):
        _fail("give either --data (labelled records), --positive and --negative (two corpora), or --from-judge",
              "see `assay train-classifier --help`")
    if not data and not (positive and negative):
        _fail("two-corpora training needs both --positive and --negative files")
    try:
        with console.status("reading the training data"):
            if data:
                examples, files = read_labelled(list(data), text_field, label_field)
            else:
                examples, files = read_corpora(list(positive), list(negative), text_field, positive_label, negative_label)
        with console.status("training") as status:
            result = train(
                examples, files, output,
                mode="labelled" if data else "corpora",
                params=params,
                test_fraction=test_fraction, lowercase=lowercase, languages=list(languages) or None,
                text_field=text_field, label_field=label_field,
                status=lambda message: status.update(message),
            )
    except TrainingDataError as e:
        _fail(str(e))
    metrics = result.card["metrics"]
    table = Table(title=f"held-out metrics ({metrics['held_out']:,} examples)")
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, m in metrics["labels"].items():
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{m['support']:,}")
    console.print(table)
    if metrics["accuracy"] is not None:
        console.print(f"accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}")
    console.print(f"model: {result.model_path}\ncard:  {result.card_json}, {result.card_md}")
    if data:
        labels = ", ".join(f"{lab}: {lab}" for lab in result.card["labels"])
        thresholds = "max_scores or min_scores on those columns"
    else:
        labels = f"{positive_label}: {positive_label}"
        thresholds = f"min_scores: {{{positive_label}: 0.5}}"
    console.print(
        "use it in a recipe:\n  - op: fasttext_classifier\n"
        f"    params: {{model_path: {result.model_path}, labels: {{{labels}}}}}  # then add {thresholds}"
    )


# ---------------------------------------------------------------- lineage


@main.group()
def lineage() -> None:
    """Audit the lineage ledger and erase records from the shards.

    \b
      assay lineage trace RECORD_ID           a record's whole story
      assay lineage shard SHARD               what went into a shard
      assay lineage find --subject VALUE      records and shards holding someone's data
      assay lineage forget --subject VALUE --reason "GDPR art. 17 request #123"
      assay lineage report [--epsilon 1]      drops by stage, source and run (optionally DP)

    Every command reads OUTPUT/ledger (default: out/demo, where `assay demo` writes) and takes --json.
    """


def _lineage_options(fn):
    fn = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of tables.")(fn)
    return click.option("-o", "--out", "out", default="out/demo", show_default=True,
                        help="The run's output folder (holding ledger/, shards/, manifest.json).")(fn)


def _selector_options(fn):
    for option in reversed([
        click.option("--record", "records", multiple=True, help="A record id (repeatable)."),
        click.option("--source", "sources", multiple=True,
                     help="A source URI as in the ledger, or a glob (`file:///data/crawl-*/*.jsonl.gz`; repeatable)."),
        click.option("--subject", "subjects", multiple=True,
                     help="A personal value (e-mail, phone, name...) to match against the salted hashes that PII "
                          "scrubbing stored; the value itself is never stored or printed (repeatable)."),
        click.option("--subject-hash", "subject_hashes", multiple=True,
                     help="A subject hash already computed with the same salt (repeatable)."),
    ]):
        fn = option(fn)
    return fn


def _emit(as_json: bool, data, renderer) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        Console().print(renderer(data))


def _lineage_call(fn, *args, **kwargs):
    from lineage.audit import LedgerNotFoundError

    try:
        return fn(*args, **kwargs)
    except LedgerNotFoundError as e:
        _fail(str(e))
    except (KeyError, ValueError) as e:
        _fail(str(e).strip("'\""), "see `assay lineage COMMAND --help`")


@lineage.command("trace")
@click.argument("record_id")
@_lineage_options
def lineage_trace(record_id: str, out: str, as_json: bool) -> None:
    """RECORD_ID's whole story: source, every operator's decision, dedup, personal data, shard and tokens."""
    from lineage import audit, render

    result = _lineage_call(audit.trace, out, record_id)
    _emit(as_json, result, render.trace)
    if not result["found"]:
        sys.exit(1)


@lineage.command("shard")
@click.argument("shard")
@_lineage_options
def lineage_shard(shard: str, out: str, as_json: bool) -> None:
    """What went into SHARD (file name or path): records by source, stage decisions, integrity."""
    from lineage import audit, render

    _emit(as_json, _lineage_call(audit.shard, out, shard), render.shard)


@lineage.command("find")
@_selector_options
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Records to list (0: all); counts are always complete.")
@_lineage_options
def lineage_find(records, sources, subjects, subject_hashes, limit: int, out: str, as_json: bool) -> None:
    """Every record (in every run) and every shard that the selectors match."""
    from lineage import audit, render

    selectors = audit.Selectors.build(records, sources, subjects, subject_hashes)
    _emit(as_json, _lineage_call(audit.find, out, selectors, limit or None), render.find)


@lineage.command("forget")
@_selector_options
@click.option("--reason", default="", help="Why (recorded in the tombstone); required unless --dry-run.")
@click.option("--actor", default=None, help="Who asked (recorded in the tombstone; default: $USER).")
@click.option("--near-duplicates/--no-near-duplicates", default=True, show_default=True,
              help="Also erase the other members of each erased record's duplicate cluster.")
@click.option("--descendants/--no-descendants", default=True, show_default=True,
              help="Also erase synthetic records derived from an erased record (transitively).")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@_lineage_options
def lineage_forget(records, sources, subjects, subject_hashes, reason, actor, near_duplicates, descendants,
                   dry_run, yes, out, as_json) -> None:
    """Erase records from the shards and rejects, and record a tombstone in the ledger.

    Each affected shard is rewritten without the erased records under a new name, verified, swapped into
    manifest.json, and only then is the old file removed. Running the same request again does nothing.
    """
    from lineage import audit, erase, render

    selectors = audit.Selectors.build(records, sources, subjects, subject_hashes)
    if not dry_run and not reason.strip():
        _fail("forget needs --reason (it is recorded in the tombstone)", "or pass --dry-run to see the plan")
    plan = _lineage_call(erase.plan, out, selectors, near_duplicates, descendants)
    if dry_run or not as_json:
        _emit(as_json, plan.to_dict(), render.plan)
    if dry_run:
        return
    if plan.noop:
        message = erase.execute(plan, actor=actor, reason=reason)["message"]
        if as_json:
            click.echo(json.dumps({"plan": plan.to_dict(), "result": {"noop": True, "message": message}}, indent=2))
        else:
            console.print(f"[green]{message}[/]")
        return
    if not yes and not click.confirm(f"erase {len(plan.to_erase) + len(plan.tombstone_only)} record(s)?", err=True):
        _fail("aborted; nothing changed")
    try:
        result = erase.execute(plan, actor=actor, reason=reason)
    except erase.ErasureError as e:
        _fail(str(e))
    if as_json:
        click.echo(json.dumps({"plan": plan.to_dict(), "result": result}, indent=2, default=str))
    else:
        console.print(
            f"[green]erasure {result['erasure_id']}[/]: {result['records']} record(s) tombstoned, "
            f"{result['rows_removed_from_shards']} row(s) / {result['tokens_removed']:,} tokens removed from "
            f"{len(result['shards'])} shard(s), {sum(result['rejects'].values())} from rejects"
        )
        for old, new in result["shards"].items():
            console.print(f"  shards/{old} -> {new or '(removed: no record left)'}")
        console.print(f"  tombstone: {result['tombstone']}")


@lineage.command("report")
@click.option("--run", "runs", multiple=True, help="Only these run ids (repeatable; default: every run).")
@click.option("--epsilon", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Release differentially private counts: Laplace noise of scale SENSITIVITY/EPSILON per count.")
@click.option("--sensitivity", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="How much one record can change one count (1: each record is counted once per cell).")
@click.option("--seed", type=int, default=None, help="Seed of the noise (reproducible reports; keep it secret).")
@_lineage_options
def lineage_report(runs, epsilon, sensitivity, seed, out, as_json) -> None:
    """Drops by stage and reason, fates by source and over runs; optionally with differentially private counts."""
    from lineage import audit, render

    _emit(as_json, _lineage_call(audit.report, out, list(runs) or None, epsilon, sensitivity, seed), render.report)
@main.command()
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
@_with_run_options
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
        _fail(str(e), "fix the recipe and run again")
    out = Path(loaded.recipe.output)
    try:
        config = synth_config(loaded.recipe.synth, {
            "method": method, "target": target, "max_rounds": max_rounds, "budget_tokens": budget_tokens,
            "seeds": option_path(seeds) if seeds else None, "backend": backend, "base_url": base_url,
            "model": model, "api_key_env": api_key_env, "model_path": option_path(model_path) if model_path else None,
            "concurrency": synth_concurrency, "documents": option_path(documents) if documents else None,
        })
    except Exception as e:  # pydantic's message names the field
        _fail(f"synth settings: {e}", "check the recipe's synth section and the options")
    work = out / config.work_dir
    console.print(f"[bold]assay[/] synthesising with {config.method} ({config.backend.kind} backend) -> {work}")
    try:
        result = run_synthesis(config, work, console)
    except (BackendError, SeedError, DocumentsError, ValueError) as e:
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
             sources=[result.records], fresh=fresh)


if __name__ == "__main__":
    main()
