"""Dagster metadata from run states and tallies: counts, reason tables, histograms, samples.

A *tally* is what the assets report about the parts as they stand after a
phase: counts and reasons, a ``lang_score`` histogram and a few sample records
(withheld while a PII stage has not scrubbed them). It is one more map over the
parts, changing nothing, so it lives here and not in the run engine.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa

from operators.core.global_stage import GlobalOperator
from operators.core.schema import Status, statuses
from operators.execution.executor import Executor
from pipelines.run import Pipeline, RunState
from pipelines.run.accounting import fates, merge_fates
from pipelines.run.workers import by_stage, read_part

#: Equal-width bins of ``lang_score`` over [0, 1] in a tally.
SCORE_BINS = 10
#: Statuses a tally shows sample records of.
_SAMPLED = (Status.KEPT, Status.DROPPED)

_BAR = 30  # characters of the longest histogram bar


def reasons_table(reasons: dict[str, int], total: int) -> dg.MetadataValue:
    """A Markdown table of reasons, most frequent first, with their share of ``total``."""
    if not reasons:
        return dg.MetadataValue.md("_none_")
    lines = ["| reason | records | share |", "|---|---:|---:|"]
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        share = f"{100 * count / total:.1f}%" if total else "-"
        lines.append(f"| `{reason}` | {count:,} | {share} |")
    return dg.MetadataValue.md("\n".join(lines))


def histogram(counts: list[int], label: str = "lang_score") -> dg.MetadataValue:
    """Equal-width bins over [0, 1] as Markdown text bars."""
    if not any(counts):
        return dg.MetadataValue.md(f"_no {label} yet_")
    peak = max(counts)
    lines = [f"| {label} | records | |", "|---|---:|---|"]
    for i, count in enumerate(counts):
        low, high = i / SCORE_BINS, (i + 1) / SCORE_BINS
        bar = "█" * round(_BAR * count / peak) if count else ""
        lines.append(f"| {low:.1f}–{high:.1f} | {count:,} | `{bar}` |")
    return dg.MetadataValue.md("\n".join(lines))


def samples_table(rows: list[dict[str, Any]]) -> dg.MetadataValue:
    """A few records (text already truncated) as a Markdown table."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    columns = [c for c in ("id", "lang", "lang_score", "drop_reason", "text") if any(c in r for r in rows)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if isinstance(value, float):
                value = f"{value:.2f}"
            elif c == "id" and value:
                value = f"`{value[:12]}…`"
            cells.append(_md_cell(value))
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _md_cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def tally_metadata(tally: dict[str, Any], read: int) -> dict[str, Any]:
    """Counts, reasons, the lang_score histogram and samples of a tally."""
    return {
        "records": dg.MetadataValue.int(tally["rows"]),
        "kept": dg.MetadataValue.int(tally["kept"]),
        "dropped": dg.MetadataValue.int(tally["dropped"]),
        "quarantined": dg.MetadataValue.int(tally["quarantined"]),
        "reasons": reasons_table(tally["reasons"], read),
        "lang_score_histogram": histogram(tally["lang_score_histogram"]),
        "sample_kept": samples_table(tally["samples"]["kept"]),
        "sample_dropped": samples_table(tally["samples"]["dropped"]),
    }


def timings_table(seconds: dict[str, float]) -> dg.MetadataValue:
    lines = ["| stage | seconds |", "|---|---:|"]
    lines += [f"| `{stage}` | {s:.2f} |" for stage, s in seconds.items()]
    return dg.MetadataValue.md("\n".join(lines))


def shards_table(shards: list[dict[str, Any]], limit: int = 20) -> dg.MetadataValue:
    if not shards:
        return dg.MetadataValue.md("_no shards_")
    lines = ["| shard | rows | tokens | sha256 |", "|---|---:|---:|---|"]
    for s in shards[:limit]:
        lines.append(f"| `{s['shard']}` | {s['rows']:,} | {s['tokens']:,} | `{s['sha256'][:12]}…` |")
    if len(shards) > limit:
        lines.append(f"| … {len(shards) - limit} more | | | |")
    return dg.MetadataValue.md("\n".join(lines))


class TallyWorker:
    """Counts a part's fates and lang_score histogram and picks a few sample records."""

    def __init__(self, global_ops: list[GlobalOperator], samples: int, text_chars: int, withhold_unscrubbed: bool = False):
        self.global_ops = by_stage(global_ops)
        self.samples = samples
        self.text_chars = text_chars
        # With a PII stage in the recipe, reports show no text that stage has not scrubbed yet.
        self.withhold_unscrubbed = withhold_unscrubbed

    def __call__(self, item: dict) -> dict:
        table = read_part(item, self.global_ops)
        status = statuses(table)
        histogram = [0] * SCORE_BINS
        if "lang_score" in table.column_names:
            for score in table.column("lang_score").to_pylist():
                if score is not None:
                    histogram[min(SCORE_BINS - 1, max(0, int(score * SCORE_BINS)))] += 1
        columns = [c for c in ("id", "lang", "lang_score", "drop_reason", "text") if c in table.column_names]
        samples: dict[str, list[dict]] = {}
        for wanted in _SAMPLED:
            rows = [i for i, s in enumerate(status) if s == wanted][: self.samples]
            picked = table.select(columns).take(pa.array(rows, pa.int64())).to_pylist() if rows else []
            scrubbed = (
                table.column("pii").take(pa.array(rows, pa.int64())).is_valid().to_pylist()
                if rows and "pii" in table.column_names
                else [False] * len(picked)
            )
            for row, done in zip(picked, scrubbed, strict=True):
                text = row.get("text") or ""
                if self.withhold_unscrubbed and not done:
                    row["text"] = "(withheld: not yet scrubbed of personal data)"
                    continue
                row["text"] = text[: self.text_chars] + ("…" if len(text) > self.text_chars else "")
            samples[wanted.value] = picked
        return {**fates(table, status), "lang_score_histogram": histogram, "samples": samples}


def tally(pipeline: Pipeline, executor: Executor, state: RunState, samples: int = 3, text_chars: int = 160) -> dict[str, Any]:
    """Counts, reasons, a lang_score histogram and sample records of the parts as they stand after a phase."""
    empty = {s.value: [] for s in _SAMPLED}
    if not state.parts:
        return {**merge_fates([]), "lang_score_histogram": [0] * SCORE_BINS, "samples": empty}
    results = executor.map(
        TallyWorker,
        pipeline.items(state),
        {
            "global_ops": pipeline.global_ops,
            "samples": samples,
            "text_chars": text_chars,
            "withhold_unscrubbed": any(op.scrubs_pii for op in pipeline.stages),
        },
        desc="tally",
    )
    totals = merge_fates(results)
    totals["lang_score_histogram"] = [sum(col) for col in zip(*(r["lang_score_histogram"] for r in results), strict=True)]
    totals["samples"] = {s: [row for r in results for row in r["samples"][s]][:samples] for s in empty}
    return totals
