"""Dagster metadata from run states and tallies: counts, reason tables, histograms, samples."""

from __future__ import annotations

from typing import Any

import dagster as dg

from operators.pipeline import SCORE_BINS

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
