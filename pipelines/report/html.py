"""One self-contained HTML page: plotly.js inlined once, each figure a div, tables as HTML (escaped by Jinja2).

Each sample record sits between ``<!--sample:ID-->`` and ``<!--/sample:ID-->``
so that erasure (``lineage forget``) can cut it out of a report in place.
Record text is escaped, so it can never forge such a marker.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jinja2
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

PAGE = jinja2.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #212121; background: #fafafa; }
header { background: #263238; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; } header p { margin: 0; color: #cfd8dc; }
main { max-width: 1200px; margin: 0 auto; padding: 8px 24px 40px; }
section { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; margin: 16px 0; padding: 12px 16px; }
h2 { font-size: 17px; margin: 4px 0 8px; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { flex: 1 1 130px; background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: 10px 14px; }
.tile b { display: block; font-size: 22px; } .tile span { color: #616161; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eeeeee; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; max-height: 9em; overflow: auto; }
.note { color: #616161; } .warn { color: #b71c1c; }
.empty { color: #757575; font-style: italic; }
details summary { cursor: pointer; }
</style>
<script>{{ plotly_js }}</script>
</head><body>
<header><h1>{{ title }}</h1><p>{{ subtitle }}</p></header>
<main>
{% if tiles %}<div class="tiles">{% for label, value in tiles %}<div class="tile"><b>{{ value }}</b><span>{{ label }}</span></div>{% endfor %}</div>{% endif %}
{% for note in notes %}<p class="warn">{{ note }}</p>{% endfor %}
{% for s in sections %}<section id="{{ s.id }}"><h2>{{ s.title }}</h2>
{% if s.figure %}{{ s.figure }}{% elif s.empty %}<p class="empty">{{ s.empty }}</p>{% endif %}
{% if s.table %}<table><tr>{% for h in s.table.header %}<th{% if h.n %} class="n"{% endif %}>{{ h.label }}</th>{% endfor %}</tr>
{% for row in s.table.rows %}<tr>{% for cell in row %}<td{% if s.table.header[loop.index0].n %} class="n"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endif %}
{% if s.text %}<p class="note">{{ s.text }}</p>{% endif %}
{% if s.get("samples") is not none %}{% for reason, rows in s.samples %}<h3>{{ reason }}</h3><table>
<tr><th>record</th><th>language</th><th>text as it left the pii stage</th></tr>
{% for r in rows %}<!--sample:{{ r.id }}--><tr><td><code>{{ r.id }}</code></td><td>{{ r.lang or "" }}</td><td>{% if r.text is not none %}<pre>{{ r.text }}</pre>{% else %}<span class="empty">withheld: {{ r.withheld }}</span>{% endif %}</td></tr><!--/sample:{{ r.id }}-->
{% endfor %}</table>{% else %}<p class="empty">no dropped record</p>{% endfor %}{% endif %}
{% if s.recipe %}<details open><summary>stages and their fingerprints</summary><table>
<tr><th>#</th><th>operator</th><th>version</th><th>fingerprint</th><th>config</th></tr>
{% for st in s.recipe %}<tr><td>{{ st.stage_index }}</td><td>{{ st.name }}</td><td>{{ st.version }}</td><td><code>{{ st.fingerprint }}</code></td><td><details><summary>{{ st.config|length }} settings</summary><pre>{{ st.config_json }}</pre></details></td></tr>
{% endfor %}</table></details>{% endif %}
</section>{% endfor %}
<p class="note">Written by <code>assay report</code> at {{ now }}. Counts come from the lineage ledger; no personal
value is stored in it. Sample text is shown only as the recipe's pii stage left it.</p>
</main></body></html>
""",
    autoescape=True,
)

CONFIG = {"displaylogo": False, "responsive": True}


def figure_div(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG)


def table(header: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> dict[str, Any]:
    def cell(v: Any) -> str:
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else ("" if v is None else str(v))

    return {"header": [{"label": h, "n": i in numeric} for i, h in enumerate(header)],
            "rows": [[cell(v) for v in row] for row in rows]}


def recipe_rows(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**s, "config": s.get("config") or {}, "config_json": json.dumps(s.get("config") or {}, indent=1,
                                                                            sort_keys=True)} for s in stages]


def page(title: str, subtitle: str, tiles: list[tuple[str, str]], sections: list[dict[str, Any]],
         notes: list[str]) -> str:
    from markupsafe import Markup

    for s in sections:
        if s.get("figure") is not None:
            s["figure"] = Markup(s["figure"])  # plotly's own div and script
    return PAGE.render(title=title, subtitle=subtitle, tiles=tiles, sections=sections, notes=notes,
                       plotly_js=Markup(get_plotlyjs()), now=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
