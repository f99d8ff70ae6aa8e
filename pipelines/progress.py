"""Terminal progress and the end-of-run summary (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.run import RunResult


class StageProgress:
    """One progress bar per stage, fed by the executor's (desc, done, total) callbacks."""

    def __init__(self, console: Console):
        self._progress = Progress(
            TextColumn("[bold]{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("parts"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def __call__(self, desc: str, done: int, total: int) -> None:
        task = self._tasks.get(desc)
        if task is None:
            task = self._tasks[desc] = self._progress.add_task(desc, total=total)
        self._progress.update(task, completed=done, total=total)


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
        table.add_row(f"  time {stage}", f"{seconds:.1f}s", "")
    table.add_row("wall time", f"{result.wall_seconds:.1f}s", "")
    return table
