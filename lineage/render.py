"""Rich renderings of the audit and erasure results (``assay lineage ...`` without ``--json``)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def _kv(rows: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
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
        ops = Table(title="operators", title_justify="left", expand=False)
        for col in ("stage", "operator", "version", "fingerprint", "score", "decision", "reason"):
            ops.add_column(col)
        for op in run["ops"]:
            style = {"drop": "red", "skipped": "dim", "not_scored": "dim"}.get(op["decision"], "")
            ops.add_row(
                str(op["stage"]), op["name"], op["version"], op["fingerprint"],
                "" if op["score"] is None else f"{op['score']:.3f}", op["decision"], op["reason"] or "", style=style,
            )
        parts.append(Panel(Group(_kv(head), ops), title=f"run {run['run_id']}", title_align="left"))
    for t in result["tombstones"]:
        parts.append(
            Text(f"tombstone: erased {t['erased_at']} by {t['actor']} ({t['cause']}): {t['reason']} "
                 f"[erasure {t['erasure_id']}]", style="yellow")
        )
    return Group(*parts)


def shard(result: dict[str, Any]) -> Group:
    m = result["manifest"] or {}
    head = _kv(
        [
            ("shard", result["shard"] + (f"  (asked: {result['asked']})" if result["asked"] != result["shard"] else "")),
            ("run", result["run_id"]),
            ("current", "yes" if result["current"] else "no (an older run's shard; history only)"),
            ("records", f"{result['records']:,}"),
            ("tokens", f"{result['tokens']:,}"),
            ("manifest", f"{m.get('rows', '?')} rows, {m.get('tokens', '?')} tokens, sha256 {m.get('sha256', '?')[:16]}…"
             if m else "-"),
            ("integrity", "ok" if result["verified"] else "; ".join(result["problems"])),
            ("fed by parts", ", ".join(result["parts"])),
        ]
    )
    sources = Table(title="records in the shard, by source", title_justify="left")
    sources.add_column("source")
    sources.add_column("records", justify="right")
    sources.add_column("tokens", justify="right")
    for r in result["by_source"]:
        sources.add_row(r["source"], f"{r['records']:,}", f"{r['tokens'] or 0:,}")
    stages = Table(title="stage decisions over the parts that fed it", title_justify="left")
    for col in ("stage", "operator", "version", "keep", "drop", "skipped", "not scored", "mean score", "drop reasons"):
        stages.add_column(col, justify="right" if col in ("keep", "drop", "skipped", "not scored", "mean score")
                          else "left")
    for s in result["stages"]:
        stages.add_row(
            str(s["stage"]), s["name"], s["version"], str(s["keep"]), str(s["drop"]), str(s["skipped"]),
            str(s["not_scored"]),
            "" if s["mean_score"] is None else f"{s['mean_score']:.3f}",
            ", ".join(f"{k} {v}" for k, v in s["reasons"].items()),
        )
    fed = result["fed_by"]
    summary = Text(
        f"the parts read {fed.get('read', 0):,} records: {fed.get('kept', 0):,} kept, {fed.get('dropped', 0):,} dropped, "
        f"{fed.get('quarantined', 0):,} quarantined, {fed.get('erased', 0):,} erased since"
    )
    extra = [Text(f"rewritten by erasure {e['erasure_id']} ({e['at']}): {e['reason']}", style="yellow")
             for e in result["erasures"]]
    return Group(head, sources, stages, summary, *extra)


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
    shards = Table(title="shards", title_justify="left")
    for col in ("shard", "run", "current", "records", "tokens"):
        shards.add_column(col)
    for r in result["shards"]:
        shards.add_row(r["shard"], r["run_id"], "yes" if r["current"] else "no", f"{r['records']:,}", f"{r['tokens'] or 0:,}")
    records = Table(title="records" + (" (first ones; --limit)" if result["truncated"] else ""), title_justify="left")
    for col in ("id", "run", "source", "locator", "status", "shard", "row", "matched by"):
        records.add_column(col)
    for r in result["records"]:
        status = "erased" if r["erased"] else r["status"]
        records.add_row(
            r["id"], r["run_id"], r["source"], r["locator"], status, r["shard"] or "", "" if r["shard_row"] is None
            else str(r["shard_row"]), ",".join(r["matched_by"]) + (f" ({','.join(r['subject_types'])})"
                                                                   if r["subject_types"] else ""),
        )
    return Group(head, shards, records)


def plan(p: dict[str, Any]) -> Group:
    causes = ", ".join(f"{n} {c.replace('_', ' ')}" for c, n in p["by_cause"].items()) or "none"
    head = Text(
        f"{p['records']} record(s) ({causes}): {p['to_erase']} to remove, {p['tombstone_only']} to tombstone only "
        f"(not in any shard or rejects file), {p['already_erased']} already erased"
    )
    files = Table(title="files to rewrite", title_justify="left")
    files.add_column("file")
    files.add_column("rows removed", justify="right")
    for name, n in p["shards"].items():
        files.add_row(f"shards/{name}", str(n))
    for name, n in p["rejects"].items():
        files.add_row(name, str(n))
    copies = p.get("copies", {})
    for name, n in copies.get("exports", {}).items():
        files.add_row(f"export {name}", str(n))
    for name, n in copies.get("reports", {}).items():
        files.add_row(f"report {name}", f"{n} sample(s)")
    targets = Table(title="records", title_justify="left")
    for col in ("id", "cause", "via", "shards", "rejects", "tombstoned"):
        targets.add_column(col)
    for t in p["targets"][:200]:
        targets.add_row(t["id"], t["cause"], t["via"] or "", ", ".join(t["shards"]), str(len(t["rejects"])),
                        "yes" if t["tombstoned"] else "")
    warnings = [Text(f"warning: {w}", style="yellow") for w in p["warnings"]]
    warnings += [Text(f"blocks the erasure: export {b}", style="red") for b in copies.get("blocked", [])]
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
    drops = Table(title="drops by stage and reason", title_justify="left")
    for col in ("stage", "operator", "reason", "records"):
        drops.add_column(col, justify="right" if col == "records" else "left")
    for d in r["drops_by_stage"]:
        drops.add_row(str(d["stage"]), d["name"], d["reason"], f"{d['records']:,}")
    for q in r["quarantine"]:
        drops.add_row("-", "quarantine", q["reason"], f"{q['records']:,}")
    parts.append(drops)
    for title, key, first in (("by source", "by_source", "source"), ("over runs", "over_runs", "run_id")):
        t = Table(title=title, title_justify="left")
        t.add_column(first.replace("_id", ""))
        for col in ("read", "kept", "dropped", "quarantined", "erased"):
            t.add_column(col, justify="right")
        for row in r[key]:
            t.add_row(row[first], *(f"{row[c]:,}" for c in ("read", "kept", "dropped", "quarantined", "erased")))
        parts.append(t)
    if r["erasures"] is not None:
        parts.append(Text(f"erasures recorded: {r['erasures']}"))
    return Group(*parts)
