"""``assay train-classifier``: a fastText classifier and its model card, for the fasttext_classifier operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from pipelines.commands.common import console, fail, stacked

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


#: The ``--from-judge`` options of ``train-classifier`` (FineWeb-Edu's recipe: an LLM judge distilled into fastText).
judge_options = stacked(_OPTIONS)


def train_from_judge(
    output: Path,
    judge: dict[str, Any],
    params,
    *,
    test_fraction: float,
    lowercase: bool,
    languages: list[str] | None,
) -> None:
    """Read the run's judgments, train, print the agreement with the judge and how to use the model."""
    from rich.table import Table

    from filters.classifiers.train import DataFile, TrainingDataError, train
    from filters.judge_labels import JudgeDistillation, read_judgments
    from operators.core.io import sha256_file

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


@click.command("train-classifier")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Labelled JSONL/Parquet (text and label fields). Repeat for more files.")
@click.option("--positive", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A corpus of documents to keep (DCLM-style, with --negative). Repeatable.")
@click.option("--negative", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A corpus of documents not to keep. Repeatable.")
@click.option("--text-field", default="text", show_default=True, help="The records' text field.")
@click.option("--label-field", default="label", show_default=True, help="The label field (with --data).")
@click.option("--positive-label", default="positive", show_default=True, help="Label of --positive records.")
@click.option("--negative-label", default="negative", show_default=True, help="Label of --negative records.")
@click.option("--language", "languages", multiple=True,
              help="A language the model is for (ISO 639, as lang_id writes it); repeatable. Others are not scored.")
@click.option("--test-fraction", default=0.1, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of each label held out for precision/recall/F1.")
@click.option("--lowercase", is_flag=True, help="Lowercase text for training and scoring (recorded in the card).")
@click.option("--epoch", default=10, show_default=True, type=click.IntRange(min=1), help="fastText epochs.")
@click.option("--lr", default=0.1, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Learning rate.")
@click.option("--word-ngrams", default=2, show_default=True, type=click.IntRange(min=1), help="Word n-gram length.")
@click.option("--dim", default=64, show_default=True, type=click.IntRange(min=1), help="Vector size.")
@click.option("--min-count", default=1, show_default=True, type=click.IntRange(min=1), help="Minimum word count.")
@click.option("--bucket", default=250_000, show_default=True, type=click.IntRange(min=0),
              help="Hash buckets for word n-grams (model size grows with it).")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(min=1), help="Training threads.")
@click.option("--seed", default=0, show_default=True, help="Seed of the split and of fastText.")
@judge_options
def train_classifier(output: Path, data, positive, negative, text_field, label_field, positive_label, negative_label,
                     languages, test_fraction, lowercase, epoch, lr, word_ngrams, dim, min_count, bucket, threads,
                     seed, **judge) -> None:
    """Train a fastText classifier into OUTPUT (.bin; .ftz quantizes) with a model card beside it.

    \b
    From labelled records:
      assay train-classifier toxic.bin --data labelled.jsonl --language en
    From two corpora (DCLM-style quality classifier):
      assay train-classifier quality.bin --positive good.jsonl.gz --negative crawl.jsonl.gz
    From an LLM judge's scores (a run with an llm_judge stage; FineWeb-Edu's recipe):
      assay train-classifier edu.bin --from-judge out/judge --rubric edu

    Prints held-out precision/recall/F1 and writes OUTPUT's card as .card.json and
    .card.md (data files and hashes, parameters, metrics, date, fastText version).
    Score with it in a recipe through the fasttext_classifier operator.
    """
    from rich.table import Table

    from filters.classifiers.train import Params, TrainingDataError, read_corpora, read_labelled, train

    params = Params(epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, minCount=min_count, bucket=bucket,
                    thread=threads, seed=seed)
    if judge["from_judge"]:
        if data or positive or negative:
            fail("--from-judge trains on the judge's scores: give it without --data/--positive/--negative")
        return train_from_judge(output, judge, params, test_fraction=test_fraction, lowercase=lowercase,
                                languages=list(languages) or None)
    if bool(data) == bool(positive or negative):
        fail("give either --data (labelled records), --positive and --negative (two corpora), or --from-judge",
              "see `assay train-classifier --help`")
    if not data and not (positive and negative):
        fail("two-corpora training needs both --positive and --negative files")
    try:
        with console.status("reading the training data"):
            if data:
                examples, files = read_labelled(list(data), text_field, label_field)
            else:
                examples, files = read_corpora(list(positive), list(negative), text_field, positive_label, negative_label)
        with console.status("training") as status:
            result = train(
                examples, files, output,
                mode="labelled" if data else "corpora",
                params=params,
                test_fraction=test_fraction, lowercase=lowercase, languages=list(languages) or None,
                text_field=text_field, label_field=label_field,
                status=lambda message: status.update(message),
            )
    except TrainingDataError as e:
        fail(str(e))
    metrics = result.card["metrics"]
    table = Table(title=f"held-out metrics ({metrics['held_out']:,} examples)")
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, m in metrics["labels"].items():
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{m['support']:,}")
    console.print(table)
    if metrics["accuracy"] is not None:
        console.print(f"accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}")
    console.print(f"model: {result.model_path}\ncard:  {result.card_json}, {result.card_md}")
    if data:
        labels = ", ".join(f"{lab}: {lab}" for lab in result.card["labels"])
        thresholds = "max_scores or min_scores on those columns"
    else:
        labels = f"{positive_label}: {positive_label}"
        thresholds = f"min_scores: {{{positive_label}: 0.5}}"
    console.print(
        "use it in a recipe:\n  - op: fasttext_classifier\n"
        f"    params: {{model_path: {result.model_path}, labels: {{{labels}}}}}  # then add {thresholds}"
    )


