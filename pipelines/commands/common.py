"""What the commands share: the error exit, the run options, and running a loaded recipe (here or as Dagster assets)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

import click
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)

DEFAULT_DEMO_DOCS = 3000


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Print ``message`` (and what to do next) and exit with status 2."""
    console.print(f"[bold red]error:[/] {message}")
    if hint:
        console.print(f"[dim]{hint}[/]")
    sys.exit(2)


def verbose() -> bool:
    """Whether ``assay -v`` was given."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("verbose"))


def execute(
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
    """Run a loaded recipe here (resuming an unfinished run unless ``fresh``) or as Dagster assets; print a summary."""
    from operators.core.lock import OutputBusyError, OutputLock
    from operators.execution.executor import describe_executor
    from pipelines.progress import summary_table
    from pipelines.recipe import RecipeError
    from pipelines.runlog import log_path

    try:
        pipeline = loaded.pipeline(keep_work=keep_work)
    except RecipeError as e:
        fail(str(e))
    recipe = loaded.recipe
    address = address or recipe.ray.address
    concurrency = concurrency or recipe.ray.concurrency
    where = describe_executor(local, address)
    log = log_path(pipeline.output)  # named once: a second call later would stamp another second
    if dagster is None:
        dagster = bool(os.environ.get("DAGSTER_HOME"))
    # Before Ray starts: a second run on a busy output stops at once, naming the run that holds it.
    lock = OutputLock(pipeline.output)
    try:
        lock.acquire("(starting)")
    except OutputBusyError as e:
        fail(str(e), "two runs (or a run and an erasure) must not write one output folder at once")
    try:
        if dagster:
            result = execute_in_dagster(loaded, local, address, concurrency, keep_work, sources, where, fresh)
        else:
            console.print(f"[bold]assay[/] running recipe [cyan]{recipe.name}[/] ({where})")
            result = _execute_here(pipeline, log, local=local, address=address, concurrency=concurrency,
                                   fresh=fresh)
    finally:
        lock.release()  # the run gives it back when it ends; this covers a failure before its first phase
    Console().print(summary_table(result))
    console.print(f"shards:   {pipeline.output}/shards  (manifest: {result.manifest})")
    console.print(f"ledger:   {result.ledger}")
    console.print(f"rejects:  {pipeline.output}/rejects/run={result.run_id}")
    print_report(result)
    if not dagster and not local and not verbose():
        console.print(f"log:      {log}  (Ray's own messages)")
    return result


def print_report(result) -> None:
    """The run's HTML report: written here unless the Dagster ledger asset already wrote it."""
    from operators.core.io import exists
    from pipelines.report.build import report_path, write_report

    path = report_path(result.output, result.run_id)
    if not exists(path):
        try:
            path = write_report(result.output, result.run_id)
        except Exception as e:  # the run is done and sound; a report that fails must not hide that
            logging.getLogger("assay").debug("report failed", exc_info=True)
            console.print(f"report:   not written ({type(e).__name__}: {e}); try `assay report {result.output}`")
            return
    console.print(f"report:   {path}")


def _execute_here(pipeline, log, *, local: bool, address: str | None, concurrency: int | None, fresh: bool):
    """``pipeline.run`` on a local or Ray executor, each kind of failure turned into its message and next step."""
    from operators.execution.executor import RayUnreachableError, make_executor
    from pipelines.progress import StageProgress
    from pipelines.runlog import stderr_to_log

    unfinished = None if fresh else pipeline.resumable()
    if unfinished is not None:
        console.print(f"resuming run {unfinished.run_id} after its {unfinished.phase!r} phase "
                      "(finished parts and steps are not redone; --fresh starts over)")
    try:
        with stderr_to_log(log, console, verbose=verbose() or local), StageProgress(console) as progress:
            executor = make_executor(local=local, address=address, concurrency=concurrency, progress=progress,
                                     quiet=not verbose())
            try:
                return pipeline.run(executor, resume=not fresh)
            finally:
                executor.close()
    except RayUnreachableError as e:
        fail(str(e), "or drop --ray-address / RAY_ADDRESS to start Ray locally")
    except ConnectionError as e:
        fail(f"cannot reach the Ray cluster: {e}", "check RAY_ADDRESS / --ray-address, or drop it to start Ray locally")
    except OSError as e:
        fail(f"{e.strerror or e} ({e.filename or pipeline.output})",
             "check that the output folder exists, is writable and has free space; then run the same "
             "command again: it resumes where it stopped")
    except Exception as e:  # a worker's error arrives wrapped by Ray: show its last line, keep the trace in -v
        logging.getLogger("assay").debug("run failed", exc_info=True)
        last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        where = "" if local or verbose() else f"Ray's messages: {log}; "
        fail(f"the run failed: {last}", f"{where}run again with -v for the full traceback")


def execute_in_dagster(loaded, local, address, concurrency, keep_work, sources, where, fresh=False):
    """The recipe's Dagster assets and checks, recorded in the instance at $DAGSTER_HOME (the UI shows the run)."""
    from pipelines.orchestrate.materialize import DagsterRunError, materialize_recipe
    from pipelines.orchestrate.resources import RayResource

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
            fresh=fresh,
        )
    except DagsterRunError as e:
        fail(str(e), "open `dagster dev -w workspace.yaml` (same DAGSTER_HOME) to see the run, its logs and checks")
    console.print(f"dagster run: {run_id}")
    return result


#: The options of every command that runs a recipe.
RUN_OPTIONS = [
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


def stacked(options: list) -> Callable:
    """A decorator applying click ``options`` to a command, shown in ``--help`` in the order listed."""

    def apply(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


#: Decorator: the :data:`RUN_OPTIONS` of a command.
with_run_options = stacked(RUN_OPTIONS)


