"""The run's progress display: live bars on a terminal, one line per finished stage elsewhere."""

import io
import re

from rich.console import Console

from operators.execution.executor import LocalExecutor
from pipelines.progress import StageProgress, short_stage_name, summary_table
from pipelines.run import RunResult

LONG = "normalize+lang_id+gopher_quality+gopher_repetition+c4_fineweb+pii+toxicity"


class _Rows:
    def __call__(self, item):
        return {"rows": item["n"]}


class _Nothing:
    def __call__(self, item):
        return {}


def _feed(console: Console) -> None:
    """Two stages through a real executor: parts of 100, 200, 300 records; then a stage that reports no records."""
    with StageProgress(console) as progress:
        executor = LocalExecutor(progress)
        executor.map(_Rows, [{"n": 100}, {"n": 200}, {"n": 300}], desc=LONG)
        executor.map(_Nothing, [{}], desc="exact_dedup: cluster")


def test_without_a_terminal_each_stage_is_one_line_when_it_ends():
    buffer = io.StringIO()
    _feed(Console(file=buffer, force_terminal=False, width=80))
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2, lines
    # the whole stage name (no cut), parts, records, records/s, seconds
    assert re.fullmatch(rf"{re.escape(LONG)} done: 3 parts, 600 records, [\d,]+ records/s, \d+\.\d s", lines[0]), lines[0]
    assert re.fullmatch(r"exact_dedup: cluster done: 1 part, records not counted, \d+\.\d s", lines[1]), lines[1]


def test_on_a_terminal_live_bars_keep_the_counts_and_shorten_long_operator_lists():
    buffer = io.StringIO()
    _feed(Console(file=buffer, force_terminal=True, width=80, color_system=None))
    final = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buffer.getvalue()).splitlines()[-2:]  # the last frame
    first, second = final
    assert first.startswith("normalize+…+toxicity (7 ops)") and "3/3 parts" in first and "600 records" in first
    assert second.startswith("exact_dedup: cluster") and "1/1 parts" in second
    assert all(len(line) <= 80 for line in final)


def test_short_stage_name():
    assert short_stage_name("read", 20) == "read"
    assert short_stage_name(LONG, 40) == "normalize+…+toxicity (7 ops)"
    assert short_stage_name(LONG, len(LONG)) == LONG  # fits: untouched
    assert short_stage_name("fuzzy_dedup: components 3 (large star)", 20) == "fuzzy_dedup: compon…"


def test_the_summary_names_a_long_segment_on_one_line_at_80_columns():
    result = RunResult(
        run_id="r", output="o", read=10, kept=7, dropped=3, quarantined=0, tokens=100, shards=[],
        drop_reasons={"lang_id:low_lang_score": 3}, quarantine_reasons={}, stage_seconds={"read": 1.0, LONG: 2.5},
        wall_seconds=4.0, ledger="l", manifest="m",
    )
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=False, width=80).print(summary_table(result))
    lines = buffer.getvalue().splitlines()
    assert any("time normalize+…+toxicity (7 ops)" in line and "2.5s" in line for line in lines), lines
    assert all(len(line) <= 80 for line in lines)
