"""Every `assay lineage` table at 80 columns: sources told apart, ids short but enough, nothing cut."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from rich.console import Console

from lineage import audit, render
from pipelines.cli import main
from tests.lineage.test_audit import email_record, ledger_rows

DEEP = "file:///home/someone/projects/training-data/2026/crawl-december/out/demo/sample/"


def _text(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def _fits(text: str) -> None:
    assert all(len(line.rstrip()) <= 80 for line in text.splitlines()), text
    assert "…" not in text, text  # folded, never cut


def test_short_ids_are_the_shortest_unique_prefixes_of_at_least_ten_characters():
    ids = ["438d521c17cb46756b14", "438d521c17cb4aaaaaaa", "0123456789abcdef0123", None]
    short = render.short_ids(ids)
    # the first two share 13 characters: each needs one more
    assert short["438d521c17cb46756b14"] == "438d521c17cb46" and short["438d521c17cb4aaaaaaa"] == "438d521c17cb4a"
    assert short["0123456789abcdef0123"] == "0123456789"
    assert len(set(short.values())) == 3


def test_common_folder_stops_at_a_folder():
    assert render.common_folder([DEEP + "a.jsonl.gz", DEEP + "ab.jsonl.gz"]) == DEEP
    assert render.common_folder([DEEP + "x/1.jsonl", DEEP + "y/2.jsonl"]) == DEEP
    assert render.common_folder(["s3://a/1.jsonl", "file:///b/2.jsonl"]) == ""


def test_report_by_source_at_80_columns_tells_deep_sources_apart():
    names = ["part-0001.jsonl.gz", "part-0002.jsonl.gz", "extra/part-0003.jsonl.gz"]
    counts = {"read": 1000, "kept": 700, "dropped": 290, "quarantined": 10, "erased": 0}
    report = {
        "dp": None, "erasures": None,
        "drops_by_stage": [{"stage": 8, "name": "fuzzy_dedup", "reason": "fuzzy_dedup:near_duplicate_of", "records": 51}],
        "quarantine": [],
        "by_source": [{"source": DEEP + n, **counts} for n in names],
        "over_runs": [{"run_id": "20261205T091618Z-004b3646", **counts}],
    }
    text = _text(render.report(report))
    _fits(text)
    flat = "".join(line.rstrip() for line in text.splitlines())  # the long prefix line folds at 80
    assert flat.count(DEEP) == 1 and "sources under" in text  # the prefix, once, above the table
    for n in names:
        assert re.search(rf"^{re.escape(n)}\s+1,000\s+700\s+290\s+10\s+0$", text, re.M), text
    assert "near_duplicate_of" in text and "fuzzy_dedup:near" not in text  # the operator is its own column


def test_every_lineage_command_fits_80_columns_and_takes_back_the_ids_it_prints(demo, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = str(demo.output)
    row, email = email_record(out)
    runner = CliRunner()

    def lineage(*args):
        result = runner.invoke(main, ["lineage", *args, "-o", out], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        _fits(result.output)
        return result.output

    lineage("report")
    lineage("shard", demo.result.shards[0]["shard"])
    found = lineage("find", "--subject", email)
    lineage("forget", "--subject", email, "--dry-run")
    # the table shows the shortest unique prefix of each id, at least ten characters ...
    short = render.short_ids([r["id"] for r in audit.find(out, audit.Selectors.build(subjects=[email]))["records"]])
    assert short[row["id"]] in found.split() and row["id"] not in found
    # ... and trace, find and forget take it back
    traced = lineage("trace", short[row["id"]])
    assert row["locator"] in traced and row["id"] in traced
    assert audit.find(out, audit.Selectors.build(records=[short[row["id"]]]))["records"][0]["id"] == row["id"]
    # a prefix several ids start with is refused, naming them
    ids = sorted(r["id"] for r in ledger_rows(out))
    first = next(a[:3] for a, b in zip(ids, ids[1:], strict=False) if a[:3] == b[:3])
    with pytest.raises(ValueError, match="is the start of several ids"):
        audit.trace(out, first)
