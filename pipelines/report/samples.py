"""A report's sample records: a few dropped records per reason, their text only as the ``pii`` stage left it."""

from __future__ import annotations

from typing import Any

import duckdb

from lineage.store import parquet_files
from operators.core.io import filesystem, join

#: Sample records shown per drop reason, and the characters of text shown for each.
SAMPLES_PER_REASON = 3
SAMPLE_CHARS = 300

# A drop reason is ``<operator>:<reason>[:<detail>]`` (the detail names e.g. the duplicate's survivor): grouped
# without the detail, as the run summary groups them.
REASON_KEY = "array_to_string(string_split(coalesce({col}, ''), ':')[1:2], ':')"


def withheld_because(row: dict[str, Any], pii_stage: dict[str, Any] | None) -> str | None:
    """Why a rejected record's text may not be shown, or None when it left the ``pii`` stage scrubbed."""
    if pii_stage is None:
        return "the recipe has no pii stage"
    if not row.get("scrubbed"):
        return "dropped before the pii stage scrubbed it"
    languages = (pii_stage.get("config") or {}).get("languages")
    if languages and row.get("lang") not in languages:
        # Names and places are found by an NER model per language: in another language only
        # structured values (e-mail, phone, card...) were scrubbed.
        return f"the pii stage finds names in {', '.join(languages)} only; this record is {row.get('lang') or 'unlabelled'}"
    return None


def samples(output: str, run_id: str, recipe: dict[str, Any] | None,
            per_reason: int = SAMPLES_PER_REASON, chars: int = SAMPLE_CHARS) -> list[dict[str, Any]]:
    """A few dropped records per reason, from the run's rejects, their text as it left the ``pii`` stage.

    The text is withheld (``text`` None, ``withheld`` says why) unless the
    recipe has a ``pii`` stage, the record went through it, and the stage finds
    names in the record's language. Records whose text can be shown come first.
    """
    files = parquet_files(join(output, "rejects", f"run={run_id}"))
    if not files:
        return []
    pii_stage = next((s for s in (recipe or {}).get("stages", []) if s.get("name") == "pii"), None)
    con = duckdb.connect()
    try:
        fs, _ = filesystem(output)
        if "://" in output and not output.startswith("file://"):
            con.register_filesystem(fs)
        params = {"files": files}  # bound, not spliced into the SQL
        columns = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($files, union_by_name = true)",
                                             params).fetchall()}
        scrubbed = "pii IS NOT NULL" if "pii" in columns else "false"
        lang = "lang" if "lang" in columns else "NULL::VARCHAR"
        rows = con.sql(
            f"""
            SELECT id, source, drop_reason, {REASON_KEY.format(col='drop_reason')} AS reason, {lang} AS lang,
                   {scrubbed} AS scrubbed, left(text, {int(chars) + 1}) AS text
            FROM read_parquet($files, union_by_name = true)
            WHERE NOT quarantined
            QUALIFY row_number() OVER (PARTITION BY reason ORDER BY {scrubbed} DESC, id) <= {int(per_reason) * 4}
            ORDER BY reason, id
            """,
            params=params,
        ).to_arrow_table().to_pylist()
    finally:
        con.close()
    out: list[dict[str, Any]] = []
    taken: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: (r["reason"], withheld_because(r, pii_stage) is not None, r["id"])):
        if taken.get(row["reason"], 0) >= per_reason:
            continue
        taken[row["reason"]] = taken.get(row["reason"], 0) + 1
        why = withheld_because(row, pii_stage)
        text = row["text"] or ""
        out.append({
            "id": row["id"], "reason": row["reason"], "detail": row["drop_reason"], "lang": row["lang"],
            "text": None if why else text[:chars] + ("…" if len(text) > chars else ""), "withheld": why,
        })
    return out
