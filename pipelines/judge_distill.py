"""``assay train-classifier --from-judge RUN --rubric NAME``: distil an LLM judge into fastText.

The options and the command's body for training on a judge's scores; the
``train-classifier`` command applies :func:`judge_options` and hands over to
:func:`train_from_judge` when ``--from-judge`` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

_OPTIONS = [
    click.option("--from-judge", "from_judge", default=None, type=click.Path(exists=True, file_okay=False),
                 help="Train on the llm_judge scores of the run that wrote this output folder (FineWeb-Edu recipe)."),
    click.option("--rubric", default=None, help="With --from-judge: the judged rubric to learn (edu, toxicity, ...)."),
    click.option("--threshold", type=float, default=None,
                 help="With --from-judge: score >= THRESHOLD is the positive class (default: the rubric's, edu: 3)."),
    click.option("--buckets", is_flag=True,
                 help="With --from-judge: learn every score bucket (ordinal, one-vs-all) instead of one binary split; "
                      "the expected score and any threshold are then available."),
    click.option("--holdout-source", "holdout_sources", multiple=True,
                 help="With --from-judge: hold out the judged documents of these sources (glob on the source URI) for "
                      "evaluation instead of a random share: agreement measured on text unlike the training text."),
]


def judge_options(fn):
    """The ``--from-judge`` options of ``train-classifier``."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def train_from_judge(
    output: Path,
    judge: dict[str, Any],
    params,
    *,
    test_fraction: float,
    lowercase: bool,
    languages: list[str] | None,
    console: Console,
    fail: Callable[..., None],
) -> None:
    """Read the run's judgments, train, print the agreement with the judge and how to use the model."""
    from filters.judge_labels import JudgeDistillation, read_judgments
    from filters.train_classifier import DataFile, TrainingDataError, train
    from operators.io import sha256_file

    if not judge["rubric"]:
        fail("--from-judge needs --rubric: the judged rubric to learn (e.g. --rubric edu)")
    try:
        with console.status("reading the judge's scores"):
            run = read_judgments(judge["from_judge"], judge["rubric"])
            hook = JudgeDistillation(run, "buckets" if judge["buckets"] else "binary", judge["threshold"],
                                     list(judge["holdout_sources"]))  # fmt: skip
            examples = hook.examples()
        ledger = Path(run.output) / "manifest.json"
        files = [DataFile(str(ledger.resolve()), sha256_file(str(ledger)), len(examples), None)]
        params.loss = hook.loss
        console.print(f"{len(examples):,} judged documents from run {run.run_id} "
                      f"(not scored: {run.not_scored or 'none'})")  # fmt: skip
        with console.status("training") as status:
            result = train(
                examples, files, output, mode="judge", params=params, test_fraction=test_fraction,
                lowercase=lowercase, languages=languages, label_field=None,
                status=lambda message: status.update(message), hook=hook,
            )  # fmt: skip
    except TrainingDataError as e:
        fail(str(e))
    card = result.card["judge"]
    a = card["agreement"]
    table = Table(title=f"agreement with the judge ({a['held_out']:,} held-out documents, {card['held_out']})")
    for column in ("Spearman", "precision", "recall", f"F1 at >= {card['threshold']:g}", "positive"):
        table.add_column(column, justify="right")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    table.add_row(fmt(a["spearman"]), fmt(a["precision"]), fmt(a["recall"]), fmt(a["f1"]), f"{a['held_out_positive']:,}")
    Console().print(table)
    if a["precision"] == 0 and a["recall"] == 0:
        console.print("[yellow]the classifier never predicts the positive class: with a few hundred judged documents "
                      "raise --epoch (e.g. 100) and --lr (e.g. 0.5), or judge more documents[/]")  # fmt: skip
    name = card["rubric"]["name"]
    console.print(f"model: {result.model_path}\ncard:  {result.card_json}, {result.card_md}")
    console.print(
        "filter everything with it:\n  - op: fasttext_classifier\n"
        f"    params: {{model_path: {result.model_path}, labels: {{{card['positive_label']}: {name}}}, "
        f"min_scores: {{{name}: 0.5}}}}"
    )
