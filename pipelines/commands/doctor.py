"""``assay doctor``: what this installation can do and what is missing (the checks are :mod:`pipelines.doctor`)."""

from __future__ import annotations

import sys

import click

from pipelines.commands.common import console
from pipelines.doctor import CHECK_NAMES


@click.command()
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
