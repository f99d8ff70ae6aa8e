"""``assay lineage``: trace records, list a shard, find a person's data, erase it, report."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from pipelines.commands.common import console, fail


@click.group()
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
        fail(str(e))
    except (KeyError, ValueError) as e:
        fail(str(e).strip("'\""), "see `assay lineage COMMAND --help`")


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
        fail("forget needs --reason (it is recorded in the tombstone)", "or pass --dry-run to see the plan")
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
        fail("aborted; nothing changed")
    try:
        result = erase.execute(plan, actor=actor, reason=reason)
    except erase.ErasureError as e:
        fail(str(e))
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
