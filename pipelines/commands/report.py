"""``assay report``: one self-contained HTML page about a run, or about what changed between two runs."""

from __future__ import annotations

import click

from pipelines.commands.common import console, fail


@click.command("report")
@click.argument("output", default="out/demo", required=False, type=click.Path(file_okay=False))
@click.option("--run", "run_id", default=None, help="The run to report on (default: the latest in the ledger).")
@click.option("--compare", nargs=2, metavar="RUN_A RUN_B", default=None,
              help="Instead: what changed from RUN_A to RUN_B (drops per reason, funnels, shifted score histograms).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
def report(output: str, run_id: str | None, compare: tuple[str, str] | None, open_browser: bool) -> None:
    """Write one self-contained HTML page about a run of OUTPUT (default: out/demo) under OUTPUT/reports/.

    \b
    The page works offline (scripts and styles inline): the funnel from read to
    kept, drops by stage and reason, each scored stage's histogram with its
    threshold, token and length distributions, languages, duplicate clusters,
    personal-data types (counts only), synthetic vs scraped, sources, stage
    timings, the recipe with its fingerprints, and a few dropped records per
    reason with their text as the pii stage left it (withheld otherwise).
    `assay run` writes the report of each run it finishes.

    \b
      assay report out/demo
      assay report out/demo --compare 20261201T090000Z-1a2b3c4d 20261202T090000Z-5e6f7a8b
    """
    from lineage.store import LedgerNotFoundError
    from pipelines.report.build import write_compare, write_report

    try:
        path = write_compare(output, *compare) if compare else write_report(output, run_id)
    except LedgerNotFoundError as e:
        fail(str(e))
    except KeyError as e:
        fail(str(e).strip("'\""), "list the runs with `assay lineage report --out OUTPUT`")
    console.print(f"report: {path}")
    if open_browser:
        import webbrowser

        webbrowser.open(f"file://{path}")
