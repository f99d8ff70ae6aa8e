"""Which chart shows what: plotly figures built from :mod:`pipelines.report.data` (no drawing code of our own)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from pipelines.report.data import RunData, ScoreHistogram

KEPT, DROPPED, QUARANTINED = "#2e7d32", "#c62828", "#ef6c00"
RUN_COLORS = ("#1565c0", "#ef6c00")
HEIGHT = 360


def _layout(fig: go.Figure, title: str, x: str = "", y: str = "", height: int = HEIGHT, **kwargs: Any) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01}, height=height, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      template="plotly_white", xaxis_title=x, yaxis_title=y, legend={"orientation": "h", "y": -0.2},
                      **kwargs)
    return fig


def funnel(data: RunData) -> go.Figure:
    steps = data.funnel
    fig = go.Figure(go.Funnel(y=[s["step"] for s in steps], x=[s["records"] for s in steps],
                              textinfo="value+percent initial", marker={"color": KEPT}))
    return _layout(fig, "Records left after each stage", height=max(HEIGHT, 40 * len(steps) + 80))


def drops(data: RunData) -> go.Figure:
    rows = [(f"{d['stage']}. {d['reason'] or d['name']}", d["records"]) for d in data.drops]
    rows += [(f"quarantine: {q['reason']}", q["records"]) for q in data.quarantine]
    rows.sort(key=lambda r: r[1])
    fig = go.Figure(go.Bar(x=[r[1] for r in rows], y=[r[0] for r in rows], orientation="h", text=[r[1] for r in rows],
                           marker={"color": [QUARANTINED if r[0].startswith("quarantine") else DROPPED for r in rows]}))
    return _layout(fig, "Drops by stage and reason", x="records", height=max(HEIGHT, 28 * len(rows) + 100))


def _side_text(h: ScoreHistogram) -> str:
    parts = []
    for side in ("below", "at or above"):
        s = h.sides.get(side)
        if s and s["records"]:
            parts.append(f"{side} {h.threshold:g}: {s['records']:,} scored, "
                         f"{100 * (s['records'] - s['dropped']) / s['records']:.0f}% kept / "
                         f"{100 * s['dropped'] / s['records']:.0f}% dropped")
    return " · ".join(parts)


def _threshold(fig: go.Figure, h: ScoreHistogram, label: str = "", color: str = "#212121") -> None:
    if h.threshold is None:
        return
    keeps = "kept ≥" if h.direction == "min" else "kept ≤"
    fig.add_vline(x=h.threshold, line={"color": color, "dash": "dash", "width": 2},
                  annotation={"text": f"{label}threshold {h.threshold:g} ({keeps})", "font": {"color": color}})


def score_histogram(h: ScoreHistogram) -> go.Figure:
    centres = [(a + b) / 2 for a, b in zip(h.edges, h.edges[1:], strict=False)]
    width = h.edges[1] - h.edges[0]
    fig = go.Figure([
        go.Bar(x=centres, y=h.kept, width=width, name="kept by this stage", marker={"color": KEPT}),
        go.Bar(x=centres, y=h.dropped, width=width, name="dropped by this stage", marker={"color": DROPPED}),
    ])
    _threshold(fig, h)
    title = f"Score: {h.stage}. {h.name} ({h.column})"
    fig = _layout(fig, title, x=h.column, y="records", barmode="stack", bargap=0.02)
    if h.sides:
        fig.add_annotation(text=_side_text(h), xref="paper", yref="paper", x=0, y=1.08, showarrow=False,
                           xanchor="left", font={"size": 12})
    return fig


def histogram(hist: dict[str, Any], title: str, x: str) -> go.Figure:
    edges = hist["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
    fig = go.Figure(go.Bar(x=centres, y=hist["counts"], width=edges[1] - edges[0], marker={"color": RUN_COLORS[0]}))
    fig.add_annotation(
        text=f"{hist['n']:,} records · median {hist['median']:,.0f} · mean {hist['mean']:,.0f} · max {hist['max']:,.0f}"
        f" (the last bar holds everything from {hist['clipped_at']:,.0f} up)",
        xref="paper", yref="paper", x=0, y=1.08, showarrow=False, xanchor="left", font={"size": 12})
    return _layout(fig, title, x=x, y="records", bargap=0.02)


def languages(data: RunData) -> go.Figure:
    langs = [r["lang"] for r in data.languages]
    fig = go.Figure([go.Bar(x=langs, y=[r[k] for r in data.languages], name=k, marker={"color": c})
                     for k, c in (("kept", KEPT), ("dropped", DROPPED), ("quarantined", QUARANTINED))])
    return _layout(fig, "Languages", y="records", barmode="stack")


def clusters(data: RunData) -> go.Figure:
    fig = go.Figure(go.Bar(x=[r["size"] for r in data.clusters], y=[r["clusters"] for r in data.clusters],
                           text=[r["clusters"] for r in data.clusters], marker={"color": RUN_COLORS[0]}))
    return _layout(fig, "Duplicate cluster sizes", x="records in the cluster (survivor included)", y="clusters")


def pii(data: RunData) -> go.Figure:
    fig = go.Figure([
        go.Bar(x=[r["type"] for r in data.pii], y=[r["findings"] for r in data.pii], name="findings",
               text=[r["findings"] for r in data.pii], marker={"color": RUN_COLORS[1]}),
        go.Bar(x=[r["type"] for r in data.pii], y=[r["records"] for r in data.pii], name="records",
               marker={"color": RUN_COLORS[0]}),
    ])
    return _layout(fig, "Personal data found (types and counts only)", y="count", barmode="group")


def synthetic(data: RunData) -> go.Figure:
    origins = sorted(data.synthetic)
    fig = go.Figure([go.Bar(x=origins, y=[data.synthetic[o][k] for o in origins], name=k, marker={"color": c})
                     for k, c in (("kept", KEPT), ("dropped", DROPPED), ("quarantined", QUARANTINED))])
    return _layout(fig, "Synthetic vs scraped", y="records", barmode="stack")


def timings(data: RunData) -> go.Figure:
    items = list(data.timings.items())
    fig = go.Figure(go.Bar(x=[s for _, s in items], y=[k for k, _ in items], orientation="h",
                           text=[f"{s:.1f}s" for _, s in items], marker={"color": RUN_COLORS[0]}))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Stage timings", x="seconds", height=max(HEIGHT, 30 * len(items) + 100))


def run_charts(data: RunData) -> list[tuple[str, go.Figure | None, str]]:
    """``(section, figure, why it is empty)`` in the report's order."""
    charts: list[tuple[str, go.Figure | None, str]] = [
        ("funnel", funnel(data), ""),
        ("drops", drops(data) if data.drops or data.quarantine else None, "no record was dropped or quarantined"),
    ]
    charts += [("scores", score_histogram(h), "") for h in data.scores]
    charts += [
        ("tokens", histogram(data.tokens, "Tokens per kept record", "tokens") if data.tokens else None,
         "no kept record"),
        ("lengths", histogram(data.lengths, "Characters per kept record", "characters") if data.lengths else None,
         "the shards now in the output folder are another run's"),
        ("languages", languages(data) if data.languages else None, "no language labels"),
        ("dedup", clusters(data) if data.clusters else None, "no duplicate cluster (or no dedup stage)"),
        ("pii", pii(data) if data.pii else None, "no personal data found (or no pii stage)"),
        ("synthetic", synthetic(data), ""),
        ("timings", timings(data) if data.timings else None, "stage timings not recorded"),
    ]
    return charts


# ---------------------------------------------------------------- two runs


def compare_drops(a: RunData, b: RunData) -> go.Figure:
    keys = sorted({f"{d['stage']}. {d['reason'] or d['name']}" for d in a.drops + b.drops})
    fig = go.Figure()
    for data, color in zip((a, b), RUN_COLORS, strict=True):
        counts = {f"{d['stage']}. {d['reason'] or d['name']}": d["records"] for d in data.drops}
        fig.add_bar(y=keys, x=[counts.get(k, 0) for k in keys], orientation="h", name=data.run_id,
                    text=[counts.get(k, 0) for k in keys], marker={"color": color})
    return _layout(fig, "Drops by stage and reason, run A vs run B", x="records", barmode="group",
                   height=max(HEIGHT, 40 * len(keys) + 100))


def compare_funnel(a: RunData, b: RunData) -> go.Figure:
    fig = go.Figure()
    for data, color in zip((a, b), RUN_COLORS, strict=True):
        fig.add_bar(x=[s["step"] for s in data.funnel], y=[s["records"] for s in data.funnel], name=data.run_id,
                    text=[s["records"] for s in data.funnel], marker={"color": color})
    return _layout(fig, "Records left after each stage, run A vs run B", y="records", barmode="group")


def compare_scores(ha: ScoreHistogram | None, hb: ScoreHistogram | None, a: RunData, b: RunData) -> go.Figure:
    fig = go.Figure()
    ref = ha or hb
    for h, data, color, label in ((ha, a, RUN_COLORS[0], "A "), (hb, b, RUN_COLORS[1], "B ")):
        if h is None:
            continue
        centres = [(x + y) / 2 for x, y in zip(h.edges, h.edges[1:], strict=False)]
        fig.add_bar(x=centres, y=[k + d for k, d in zip(h.kept, h.dropped, strict=True)], name=f"{label}{data.run_id}",
                    width=h.edges[1] - h.edges[0], marker={"color": color, "opacity": 0.55})
        _threshold(fig, h, label, color)
    return _layout(fig, f"Score: {ref.stage}. {ref.name} ({ref.column}), run A vs run B", x=ref.column,
                   y="records scored", barmode="overlay", bargap=0.02)
