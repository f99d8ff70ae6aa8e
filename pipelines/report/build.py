"""Building the pages: one self-contained HTML file per run (and per pair of runs) under ``OUTPUT/reports/``.

:func:`write_report` gathers a run's data (:mod:`.data`), picks its charts
(:mod:`.charts`) and writes the page (:mod:`.html`), plus a small JSON
snapshot beside it (recipe, timings, the ids of the sample records shown) so a
later report or comparison of that run has them after the next run replaces
``manifest.json`` and ``summary.json``, and erasure knows which reports show
which records.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from lineage.store import Ledger
from operators.core.io import atomic_open, join
from pipelines.report import charts, html
from pipelines.report.data import RunData, gather, score_histograms, snapshot_path, threshold_of

REPORTS = "reports"


def report_path(output: str, run_id: str) -> str:
    return join(output, REPORTS, f"run={run_id}.html")


def compare_path(output: str, run_a: str, run_b: str) -> str:
    return join(output, REPORTS, f"compare-{run_a}-vs-{run_b}.html")


def _tiles(d: RunData) -> list[tuple[str, str]]:
    c = d.counts

    def share(n: int) -> str:
        return f" ({100 * n / c['read']:.1f}%)" if c["read"] else ""

    tiles = [("records read", f"{c['read']:,}"), ("kept", f"{c['kept']:,}{share(c['kept'])}"),
             ("dropped", f"{c['dropped']:,}{share(c['dropped'])}"),
             ("quarantined", f"{c['quarantined']:,}{share(c['quarantined'])}"), ("tokens kept", f"{c['tokens']:,}")]
    if c["erased"]:
        tiles.append(("erased since", f"{c['erased']:,}"))
    return tiles


def _sections(d: RunData) -> list[dict[str, Any]]:
    titles = {"funnel": "Funnel: read → kept, stage by stage", "drops": "Drops by stage and reason",
              "scores": "Scores and thresholds", "tokens": "Tokens per kept record",
              "lengths": "Characters per kept record", "languages": "Languages",
              "dedup": "Duplicate clusters", "pii": "Personal data found",
              "synthetic": "Synthetic vs scraped", "timings": "Stage timings"}
    sections = []
    for i, (key, fig, empty) in enumerate(charts.run_charts(d)):
        title = fig.layout.title.text if key == "scores" and fig is not None else titles[key]
        sections.append({"id": f"{key}-{i}", "title": title,
                         "figure": html.figure_div(fig, f"chart-{key}-{i}") if fig is not None else None,
                         "empty": empty})
    drops = next(s for s in sections if s["id"].startswith("drops"))
    drops["table"] = html.table(["stage", "operator", "reason", "records"],
                                [[x["stage"], x["name"], x["reason"], x["records"]] for x in d.drops]
                                + [["", "quarantine", q["reason"], q["records"]] for q in d.quarantine], {0, 3})
    if not any(s["id"].startswith("scores") for s in sections):
        sections.insert(2, {"id": "scores", "title": titles["scores"], "empty": "no stage recorded a score"})
    sections.append({
        "id": "sources", "title": "Sources",
        "table": html.table(["source", "read", "kept", "dropped", "quarantined", "tokens kept"],
                            [[s["source"], s["read"], s["kept"], s["dropped"], s["quarantined"], s["tokens"]]
                             for s in d.sources], {1, 2, 3, 4, 5}),
    })
    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in d.samples:
        by_reason[s["reason"]].append(s)
    sections.append({
        "id": "samples", "title": "Sample dropped records, by reason", "samples": sorted(by_reason.items()),
        "text": "Text as it left the recipe's pii stage, cut at 300 characters; withheld where personal data "
                "could remain (no pii stage, dropped before it ran, or a language whose names it does not find).",
    })
    recipe = d.recipe or {}
    tok = recipe.get("tokenizer") or {}
    sections.append({
        "id": "recipe", "title": f"Recipe {recipe.get('name') or ''}".strip(),
        "text": (f"recipe fingerprint {recipe.get('recipe_fingerprint')}; tokenizer {tok.get('name')} "
                 f"(vocab {tok.get('vocab_size')}, sha256 {str(tok.get('sha256'))[:16]}…)") if recipe else
                "the recipe of this run was not recorded",
        "recipe": html.recipe_rows(recipe.get("stages") or []),
    })
    return sections


def write_snapshot(d: RunData) -> str:
    path = snapshot_path(d.output, d.run_id)
    with atomic_open(path, "w") as f:
        json.dump({"format": "assay-report", "run_id": d.run_id, "recipe": d.recipe, "stage_seconds": d.timings,
                   "counts": d.counts, "sample_ids": d.sample_ids()},
                  f, indent=2, sort_keys=True, default=str)
    return path


def write_report(output: str, run_id: str | None = None) -> str:
    """Write the run's report (default: the latest run); returns its path."""
    d = gather(str(output), run_id)
    path = report_path(d.output, d.run_id)
    page = html.page(f"assay run {d.run_id}", f"{d.output} · {len(d.runs)} run(s) in the ledger",
                     _tiles(d), _sections(d), d.notes)
    with atomic_open(path, "w") as f:
        f.write(page)
    write_snapshot(d)
    return path


def write_compare(output: str, run_a: str, run_b: str) -> str:
    """Write a page on what changed from ``run_a`` to ``run_b``: counts per reason, funnels, shifted histograms."""
    output = str(output)
    db = Ledger(output)
    try:
        a, b = gather(output, run_a, db), gather(output, run_b, db)
        stages = {s["stage_index"]: s for d in (b, a) for s in (d.recipe or {}).get("stages", [])}
        # Histograms on shared bins; each run's own threshold.
        shared = score_histograms(db, [run_a, run_b], stages)
        for d, recipe in ((a, a.recipe), (b, b.recipe)):
            own = {s["stage_index"]: s for s in (recipe or {}).get("stages", [])}
            for h in shared[d.run_id]:
                h.threshold, h.direction = threshold_of(own.get(h.stage, {}))
    finally:
        db.close()
    sections = [
        {"id": "drops", "title": "Drops by stage and reason", "figure": html.figure_div(charts.compare_drops(a, b), "chart-drops")},
        {"id": "funnel", "title": "Funnel", "figure": html.figure_div(charts.compare_funnel(a, b), "chart-funnel")},
    ]
    keys = {f"{x['stage']}. {x['reason']}" for x in a.drops + b.drops}
    count_a = {f"{x['stage']}. {x['reason']}": x["records"] for x in a.drops}
    count_b = {f"{x['stage']}. {x['reason']}": x["records"] for x in b.drops}
    sections[0]["table"] = html.table(
        ["stage. reason", "run A", "run B", "change"],
        [[k, count_a.get(k, 0), count_b.get(k, 0), f"{count_b.get(k, 0) - count_a.get(k, 0):+,}"]
         for k in sorted(keys, key=lambda k: -abs(count_b.get(k, 0) - count_a.get(k, 0)))], {1, 2, 3})
    by_stage_a = {h.stage: h for h in shared[run_a]}
    by_stage_b = {h.stage: h for h in shared[run_b]}
    for i, stage in enumerate(sorted(set(by_stage_a) | set(by_stage_b))):
        fig = charts.compare_scores(by_stage_a.get(stage), by_stage_b.get(stage), a, b)
        sections.append({"id": f"scores-{i}", "title": fig.layout.title.text, "figure": html.figure_div(fig, f"chart-scores-{i}")})
    tiles = []
    for key in ("read", "kept", "dropped", "quarantined", "tokens"):
        tiles.append((f"{key}: A → B", f"{a.counts[key]:,} → {b.counts[key]:,} ({b.counts[key] - a.counts[key]:+,})"))
    fingerprints = []
    for d in (a, b):
        fingerprints.append({s["stage_index"]: s["fingerprint"] for s in (d.recipe or {}).get("stages", [])})
    changed = sorted(i for i in set(fingerprints[0]) | set(fingerprints[1]) if fingerprints[0].get(i) != fingerprints[1].get(i))
    names = {s["stage_index"]: s["name"] for d in (a, b) for s in (d.recipe or {}).get("stages", [])}
    sections.append({"id": "recipe", "title": "What changed in the recipe",
                     "text": ("stages whose config fingerprint differs: " + ", ".join(f"{i}. {names.get(i)}" for i in changed))
                     if changed else "no stage's config fingerprint differs (or a run's recipe was not recorded)"})
    page = html.page(f"assay: run {run_a} vs run {run_b}", f"{output} · A = {run_a}, B = {run_b}", tiles, sections,
                     a.notes + b.notes)
    path = compare_path(output, run_a, run_b)
    with atomic_open(path, "w") as f:
        f.write(page)
    return path
