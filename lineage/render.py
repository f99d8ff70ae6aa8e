"""Rich renderings of the audit and erasure results (``assay lineage ...`` without ``--json``)."""

from __future__ import annotations

import re
from typing import Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

#: The fewest characters of a record id a table shows (more where two shown ids share them): 10 hex
#: characters are 40 bits, so a prefix stays unique in a ledger of millions; the commands take it back.
MIN_ID_CHARS = 10


def short_ids(ids: list[str | None], min_chars: int = MIN_ID_CHARS) -> dict[str, str]:
    """Each id's shortest prefix (at least ``min_chars``) that no other of ``ids`` starts with."""
    distinct = sorted({i for i in ids if i})
    out = {}
    for k, current in enumerate(distinct):
        # In sorted order the longest prefix shared with any other id is shared with a neighbour.
        shared = max((_common_len(current, distinct[j]) for j in (k - 1, k + 1) if 0 <= j < len(distinct)), default=0)
        out[current] = current[: max(min_chars, shared + 1)]
    return out


def _common_len(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def common_folder(paths: list[str | None]) -> str:
    """The folder (ending in ``/``) that every path is under: ``file:///data/crawl/`` for two files in it."""
    values = [p for p in paths if p]
    if not values:
        return ""
    prefix = values[0][: _common_len(min(values), max(values))]
    return prefix[: prefix.rfind("/") + 1]


def _relative(paths: list[str | None]) -> tuple[str, dict[str, str]]:
    """(common folder, each path below it); nothing is cut from the part that tells paths apart."""
    folder = common_folder(paths)
    return folder, {p: p[len(folder):] for p in paths if p}


def _table(title: str, *columns: str, right: tuple[str, ...] = (), wrap: tuple[str, ...] = ()) -> Table:
    """A table that fits 80 columns: no outer border, two spaces between columns. Columns in ``wrap``
    (lists, reasons) give way first; the others (ids, names, counts) keep their width while they can
    and then fold: no value ever ends in an ellipsis that hides the part that tells it apart."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0))
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold",
                         no_wrap=column not in wrap)
    return table


def shard_name(name: str | None) -> str:
    """A shard's name as tables show it: without the ``.arrow`` every shard has (`lineage shard` takes it so)."""
    return (name or "").removesuffix(".arrow")


def _reason_kinds(reasons: dict[str, int]) -> dict[str, int]:
    """Drop reasons with the record a reason names cut off (``near_duplicate_of:<survivor id>``), counted together."""
    out: dict[str, int] = {}
    for reason, n in reasons.items():
        kind = re.sub(r":[0-9a-f]{16,}$", "", reason)
        out[kind] = out.get(kind, 0) + n
    return out


def _under(what: str, folder: str) -> Text | None:
    return Text(f"{what} under {folder}", style="dim") if folder else None


def _kv(rows: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # a long source folds: its end tells it apart
    for key, value in rows:
        table.add_row(key, "" if value is None else str(value))
    return table


def trace(result: dict[str, Any]) -> Group:
    if not result["found"]:
        return Group(Text(f"no ledger row for record {result['id']}", style="yellow"))
    parts: list[Any] = []
    for run in result["runs"]:
        head = [
            ("record", result["id"]),
            ("run", run["run_id"]),
            ("source", run["source"]),
            ("locator", run["locator"]),
            ("status", run["status"] + (f" ({run['reason']})" if run["reason"] else "")),
            ("lang", f"{run['lang']} ({run['lang_score']:.3f})" if run["lang_score"] is not None else run["lang"]),
            ("content hash", run["hashes"]["content"]),
        ]
        place = run["placement"]
        if place:
            head.append(
                (
                    "placement",
                    f"{place['shard']} row {place['row']}, tokens [{place['token_start']}, {place['token_end']})"
                    + ("" if place["current"] else "  (not in the current dataset)")
                    + (f"  (moved by erasure {place['rewritten_by']})" if place["rewritten_by"] else ""),
                )
            )
        elif run["erased"]:
            head.append(("placement", f"erased by {run['erased_by']}"))
        dedup = run["dedup"]
        if dedup:
            others = ", ".join(f"{m['id']} ({m['status']})" for m in dedup["members"])
            head.append(("dup cluster", f"{dedup['cluster']} ({dedup['size']} records)"))
            head.append(("survivor", dedup["survivor"] + ("  (this record)" if dedup["is_survivor"] else "")))
            head.append(("other members", others or "-"))
        pii = run["pii"]
        head.append(("personal data", ", ".join(f"{t} x{n}" for t, n in sorted(pii["types"].items())) or "none found"))
        if run["parents"]:
            head.append(("parents", ", ".join(run["parents"])))
        if run["children"]:
            head.append(("children", ", ".join(run["children"])))
        if run["generator"]:
            g = run["generator"]
            head.append(("generator", f"{g.get('model')} via {g.get('backend')} ({g.get('method')})"))
        ops = _table("operators", "stage", "operator", "config", "score", "decision", "reason", right=("score",),
                     wrap=("reason",))
        fingerprints = short_ids([op["fingerprint"] for op in run["ops"]], min_chars=8)
        for op in run["ops"]:
            style = {"drop": "red", "skipped": "dim", "not_scored": "dim"}.get(op["decision"], "")
            ops.add_row(
                str(op["stage"]), f"{op['name']} v{op['version']}", fingerprints.get(op["fingerprint"], ""),
                "" if op["score"] is None else f"{op['score']:.3f}", op["decision"],
                _reason(op["reason"], op["name"]), style=style,
            )
        parts.append(Panel(Group(_kv(head), ops), title=f"run {run['run_id']}", title_align="left"))
    for t in result["tombstones"]:
        parts.append(
            Text(f"tombstone: erased {t['erased_at']} by {t['actor']} ({t['cause']}): {t['reason']} "
                 f"[erasure {t['erasure_id']}]", style="yellow")
        )
    return Group(*parts)


def _reason(reason: str | None, operator: str) -> str:
    """A drop reason without its operator's name when the row already names the operator."""
    return (reason or "").removeprefix(f"{operator}:")


def shard(result: dict[str, Any]) -> Group:
    m = result["manifest"] or {}
    head = _kv(
        [
            ("shard", result["shard"] + (f"  (asked: {result['asked']})" if result["asked"] != result["shard"] else "")),
            ("run", result["run_id"]),
            ("current", "yes" if result["current"] else "no (an older run's shard; history only)"),
            ("records", f"{result['records']:,}"),
            ("tokens", f"{result['tokens']:,}"),
            ("manifest", f"{m.get('rows', '?')} rows, {m.get('tokens', '?')} tokens, sha256 {m.get('sha256', '?')[:16]}"
             if m else "-"),
            ("integrity", "ok" if result["verified"] else "; ".join(result["problems"])),
            ("fed by parts", ", ".join(result["parts"])),
        ]
    )
    folder, rel = _relative([r["source"] for r in result["by_source"]])
    sources = _table("records in the shard, by source", "source", "records", "tokens", right=("records", "tokens"))
    for r in result["by_source"]:
        sources.add_row(rel[r["source"]], f"{r['records']:,}", f"{r['tokens'] or 0:,}")
    numbers = ("keep", "drop", "skipped", "not scored", "mean score")
    stages = _table("stage decisions over the parts that fed it", "stage", "operator", *numbers, right=numbers)
    reasons = _table("their drop reasons", "stage", "operator", "reason", "records", right=("records",),
                     wrap=("reason",))
    for s in result["stages"]:
        stages.add_row(
            str(s["stage"]), f"{s['name']} v{s['version']}", f"{s['keep']:,}", f"{s['drop']:,}", f"{s['skipped']:,}",
            f"{s['not_scored']:,}",
            "" if s["mean_score"] is None else f"{s['mean_score']:.3f}",
        )
        for reason, n in _reason_kinds(s["reasons"]).items():
            reasons.add_row(str(s["stage"]), s["name"], _reason(reason, s["name"]), f"{n:,}")
    fed = result["fed_by"]
    summary = Text(
        f"the parts read {fed.get('read', 0):,} records: {fed.get('kept', 0):,} kept, {fed.get('dropped', 0):,} dropped, "
        f"{fed.get('quarantined', 0):,} quarantined, {fed.get('erased', 0):,} erased since"
    )
    extra = [Text(f"rewritten by erasure {e['erasure_id']} ({e['at']}): {e['reason']}", style="yellow")
             for e in result["erasures"]]
    return Group(*_present(head, _under("sources", folder), sources, stages, reasons if reasons.row_count else None,
                           summary, *extra))


def _present(*parts: Any) -> list[Any]:
    return [p for p in parts if p is not None]


def find(result: dict[str, Any]) -> Group:
    s = result["summary"]
    sel = result["selectors"]
    asked = "; ".join(
        [*(f"record {r}" for r in sel["records"]), *(f"source {g}" for g in sel["sources"]),
         *(f"subject hash {h}" for h in sel["subject_hashes"])]
    )
    head = Text(
        f"{asked}: {s['records']:,} record(s) in {s['runs']} run(s); {s['in_current_shards']:,} in current shards, "
        f"{s['kept']:,} kept / {s['dropped']:,} dropped / {s['quarantined']:,} quarantined when run, "
        f"{s['erased']:,} erased"
    )
    shards = _table("shards", "shard", "run", "current", "records", "tokens", right=("records", "tokens"))
    for r in result["shards"]:
        shards.add_row(shard_name(r["shard"]), r["run_id"], "yes" if r["current"] else "no", f"{r['records']:,}", f"{r['tokens'] or 0:,}")
    rows = result["records"]
    ids = short_ids([r["id"] for r in rows])
    folder, rel = _relative([r["source"] for r in rows])
    # A column with one value on every row is said once above the table.
    one_run = len({r["run_id"] for r in rows}) == 1
    one_source = len({r["source"] for r in rows}) == 1
    columns = ["id", *([] if one_run else ["run"]), *([] if one_source else ["source"]), "locator", "status",
               "shard:row", "matched by"]
    records = _table("records" + (" (first ones; --limit)" if result["truncated"] else ""), *columns,
                     wrap=("matched by",))
    for r in rows:
        status = "erased" if r["erased"] else r["status"]
        place = "" if r["shard"] is None else f"{shard_name(r['shard'])}:{r['shard_row']}"
        matched = ",".join(r["matched_by"]) + (f" ({','.join(r['subject_types'])})" if r["subject_types"] else "")
        records.add_row(ids[r["id"]], *([] if one_run else [r["run_id"]]),
                        *([] if one_source else [rel[r["source"]]]), r["locator"], status, place, matched)
    said = [f"run {rows[0]['run_id']}"] * one_run + [f"source {rows[0]['source']}"] * one_source
    return Group(*_present(head, shards, Text("; ".join(said), style="dim") if said else None,
                           None if one_source else _under("sources", folder), records))


def plan(p: dict[str, Any]) -> Group:
    causes = ", ".join(f"{n} {c.replace('_', ' ')}" for c, n in p["by_cause"].items()) or "none"
    head = Text(
        f"{p['records']} record(s) ({causes}): {p['to_erase']} to remove, {p['tombstone_only']} to tombstone only "
        f"(not in any shard or rejects file), {p['already_erased']} already erased"
    )
    files = _table("files to rewrite", "file", "rows removed", right=("rows removed",))
    for name, n in p["shards"].items():
        files.add_row(f"shards/{name}", str(n))
    for name, n in p["rejects"].items():
        files.add_row(name, str(n))
    targets = _table("records", "id", "cause", "via", "shards", "rejects", "tombstoned", right=("rejects",),
                     wrap=("shards",))
    shown = p["targets"][:200]
    ids = short_ids([t["id"] for t in shown] + [t["via"] for t in shown])
    for t in shown:
        targets.add_row(ids[t["id"]], t["cause"].replace("_", " "), ids.get(t["via"], t["via"] or ""),
                        ", ".join(shard_name(x) for x in t["shards"]), str(len(t["rejects"])),
                        "yes" if t["tombstoned"] else "")
    warnings = [Text(f"warning: {w}", style="yellow") for w in p["warnings"]]
    policy = Text(
        f"policy: near-duplicate cluster members {'included' if p['policy']['near_duplicates'] else 'not included'}, "
        f"synthetic descendants {'included' if p['policy']['descendants'] else 'not included'}", style="dim"
    )
    return Group(head, policy, files, targets, *warnings)


def report(r: dict[str, Any]) -> Group:
    parts: list[Any] = []
    if r["dp"]:
        dp = r["dp"]
        parts.append(Text(
            f"differentially private counts: Laplace noise, scale {dp['scale']:g} (sensitivity {dp['sensitivity']:g} "
            f"/ epsilon {dp['epsilon_per_count']:g}); total epsilon of this report <= {dp['total_epsilon']:g}",
            style="yellow",
        ))
    drops = _table("drops by stage and reason", "stage", "operator", "reason", "records", right=("records",),
                   wrap=("reason",))
    for d in r["drops_by_stage"]:
        drops.add_row(str(d["stage"]), d["name"], _reason(d["reason"], d["name"]), f"{d['records']:,}")
    for q in r["quarantine"]:
        drops.add_row("-", "quarantine", q["reason"], f"{q['records']:,}")
    parts.append(drops)
    counts = ("read", "kept", "dropped", "quarantined", "erased")
    for title, key, first in (("by source", "by_source", "source"), ("over runs", "over_runs", "run_id")):
        t = _table(title, first.replace("_id", ""), *counts, right=counts)
        folder, rel = _relative([row[first] for row in r[key]]) if first == "source" else ("", {})
        for row in r[key]:
            t.add_row(rel.get(row[first], row[first]), *(f"{row[c]:,}" for c in counts))
        parts.extend(_present(_under("sources", folder), t))
    if r["erasures"] is not None:
        parts.append(Text(f"erasures recorded: {r['erasures']}"))
    return Group(*parts)
