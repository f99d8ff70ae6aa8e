"""Glue for ``assay synth``: a recipe's synth section -> records -> the recipe's stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synth.config import SynthConfig
from synth.engine import SynthResult


def synth_config(base: SynthConfig | None, overrides: dict[str, Any]) -> SynthConfig:
    """The recipe's synth section (or the defaults) with the command line's choices on top."""
    data = (base or SynthConfig()).model_dump()
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("base_url", "model", "api_key_env", "timeout"):
            http = dict(data["backend"].get("http") or {})
            http[key] = value
            data["backend"]["http"] = http
        elif key == "backend":
            data["backend"]["kind"] = value
        elif key == "model_path":
            data["backend"]["local"]["path"] = value
        elif key == "documents":
            data["backtranslate"]["documents"] = value
        else:
            data[key] = value
    return SynthConfig.model_validate(data)


def method_class(config: SynthConfig):
    """The engine of the configured method: Self-Instruct, Evol-Instruct or instruction backtranslation."""
    from synth.backtranslate import Backtranslate
    from synth.evol_instruct import EvolInstruct
    from synth.self_instruct import SelfInstruct

    return {"self_instruct": SelfInstruct, "evol_instruct": EvolInstruct, "backtranslate": Backtranslate}[config.method]


def synthesizer(config: SynthConfig, work_dir: str | Path, on_progress=None, on_segments=None):
    """The configured method's engine over ``work_dir``; backtranslation's segments are selected first."""
    if config.method == "backtranslate":
        from pipelines.backtranslate_input import prepare_segments

        summary = prepare_segments(config.backtranslate, Path(work_dir))
        if on_segments:
            on_segments(summary)
    return method_class(config)(config, work_dir, on_progress=on_progress)


def run_synthesis(config: SynthConfig, work_dir: Path, console: Console) -> SynthResult:
    """Run the configured method with progress bars; resumes what ``work_dir`` holds."""

    def segments(seg: dict[str, Any]) -> None:
        dropped = ", ".join(f"{k} {v}" for k, v in seg["dropped"].items()) or "none"
        console.print(f"{seg['segments']:,} segments from {seg['documents']:,} documents (dropped: {dropped})")

    progress = Progress(
        TextColumn("[bold]{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    )  # fmt: skip
    bars: dict[str, int] = {}
    pool_bar = progress.add_task("machine tasks accepted", total=config.target)

    def report(kind: str, info: dict[str, Any]) -> None:
        if kind == "call":
            bar = bars.get(info["label"])
            if bar is None:
                bar = bars[info["label"]] = progress.add_task(info["label"], total=info["total"])
            progress.update(bar, completed=info["done"])
        else:
            progress.update(pool_bar, completed=min(info["pool"], info["target"]))

    with progress:
        synth = synthesizer(config, work_dir, on_progress=report, on_segments=segments)
        progress.update(pool_bar, completed=min(len(synth.pool), config.target))
        return synth.run()


def rounds_table(result: SynthResult) -> Table:
    table = Table(title=f"{result.method}: {result.tasks} tasks, {result.record_count} records (stopped: {result.stop_reason})")
    for col in ("round", "requests", "answered", "candidates", "accepted", "acceptance", "tokens", "rejected (top)"):
        table.add_column(col, justify="right" if col != "rejected (top)" else "left")
    for r in result.rounds:
        top = ", ".join(f"{k} {v}" for k, v in sorted(r["rejected"].items(), key=lambda kv: -kv[1])[:4])
        table.add_row(
            str(r["round"]), str(r["requests"]), str(r["answered"]), str(r["candidates"]), str(r["accepted"]),
            f"{r['acceptance_rate']:.0%}", f"{r['tokens']:,}", top,
        )  # fmt: skip
    return table
