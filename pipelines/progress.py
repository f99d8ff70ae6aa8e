"""Terminal progress and the end-of-run summary (rich)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from pipelines.run import RunResult


def short_stage_name(desc: str, width: int) -> str:
    """``desc`` in at most ``width`` characters: a long operator list keeps its first and last operator.

    ``normalize+lang_id+gopher_quality+c4_fineweb+pii`` becomes ``normalize+…+pii (5 ops)``; a name
    still too long is cut at the end.
    """
    if len(desc) <= width:
        return desc
    ops = desc.split("+")
    if len(ops) > 2:
        short = f"{ops[0]}+…+{ops[-1]} ({len(ops)} ops)"
        if len(short) <= width:
            return short
    return desc[: max(1, width - 1)] + "…"


class StageProgress:
    """Progress of a run's stages, fed by the executor's ``(desc, done, total, records)`` callbacks.

    On a terminal, one live bar per stage (parts done, records, elapsed time),
    long operator lists abbreviated so the counts always fit. Elsewhere (CI
    logs, ``| tee``, a file), one line per stage when it ends: a live display
    written to a file is unreadable, and the line keeps what matters.
    """

    def __init__(self, console: Console):
        self._console = console
        self._live = console.is_terminal
        self._started: dict[str, float] = {}
        self._ended: set[str] = set()
        self._tasks: dict[str, int] = {}
        if self._live:
            name_width = max(16, min(40, console.width - 52))
            self._name_width = name_width
            self._progress = Progress(
                TextColumn("[bold]{task.description}", table_column=Column(width=name_width, no_wrap=True)),
                BarColumn(bar_width=max(10, min(30, console.width - name_width - 42))),
                MofNCompleteColumn(),
                TextColumn("parts"),
                TextColumn("{task.fields[records]}", table_column=Column(justify="right", no_wrap=True)),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )

    def __enter__(self):
        if self._live:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live:
            return self._progress.__exit__(*exc)
        return None

    def __call__(self, desc: str, done: int, total: int, records: int | None = None) -> None:
        now = time.monotonic()
        start = self._started.setdefault(desc, now)
        if self._live:
            count = "" if records is None else f"{records:,} records"
            task = self._tasks.get(desc)
            if task is None:
                name = short_stage_name(desc, self._name_width)
                task = self._tasks[desc] = self._progress.add_task(name, total=total, records=count)
            self._progress.update(task, completed=done, total=total, records=count)
        elif done >= total and desc not in self._ended:
            self._ended.add(desc)
            self._console.print(stage_line(desc, total, records, now - start), highlight=False, soft_wrap=True)


def stage_line(desc: str, parts: int, records: int | None, seconds: float) -> str:
    """One finished stage as a log line: ``lang_id done: 3 parts, 3,000 records, 1,250 records/s, 2.4 s``."""
    if records is None:
        counted = "records not counted"
    else:
        rate = f"{records / seconds:,.0f} records/s" if seconds > 0 else "- records/s"
        counted = f"{records:,} records, {rate}"
    return f"{desc} done: {parts:,} part{'s' if parts != 1 else ''}, {counted}, {seconds:.1f} s"


def summary_table(result: RunResult) -> Table:
    table = Table(title=f"assay run {result.run_id}", show_header=True, header_style="bold")
    table.add_column("", style="bold")
    table.add_column("records", justify="right")
    table.add_column("share", justify="right")

    def share(n: int) -> str:
        return f"{100 * n / result.read:.1f}%" if result.read else "-"

    table.add_row("read", f"{result.read:,}", "100%")
    table.add_row("kept", f"{result.kept:,}", share(result.kept), style="green")
    table.add_row("dropped", f"{result.dropped:,}", share(result.dropped), style="yellow")
    for reason, count in result.drop_reasons.items():
        table.add_row(f"  {reason}", f"{count:,}", share(count))
    table.add_row("quarantined", f"{result.quarantined:,}", share(result.quarantined), style="red")
    for reason, count in result.quarantine_reasons.items():
        table.add_row(f"  {reason}", f"{count:,}", share(count))
    table.add_section()
    balance = "ok" if result.balanced else "MISMATCH"
    table.add_row("read = kept + dropped + quarantined", balance, "")
    table.add_row("tokens", f"{result.tokens:,}", "")
    table.add_row("shards", f"{len(result.shards):,}", "")
    for stage, seconds in result.stage_seconds.items():
        # A stream segment is named by its operators: at 80 columns the whole list would fold the row.
        table.add_row(f"  time {short_stage_name(stage, 40)}", f"{seconds:.1f}s", "")
    table.add_row("wall time", f"{result.wall_seconds:.1f}s", "")
    return table
