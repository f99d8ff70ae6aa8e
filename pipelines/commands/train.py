"""``assay train-classifier``: a fastText classifier and its model card, for the fasttext_classifier operator."""

from __future__ import annotations

from pathlib import Path

import click

from pipelines.commands.common import console, fail


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
def train_classifier(output: Path, data, positive, negative, text_field, label_field, positive_label, negative_label,
                     languages, test_fraction, lowercase, epoch, lr, word_ngrams, dim, min_count, bucket, threads,
                     seed) -> None:
    """Train a fastText classifier into OUTPUT (.bin; .ftz quantizes) with a model card beside it.

    \b
    From labelled records:
      assay train-classifier toxic.bin --data labelled.jsonl --language en
    From two corpora (DCLM-style quality classifier):
      assay train-classifier quality.bin --positive good.jsonl.gz --negative crawl.jsonl.gz

    Prints held-out precision/recall/F1 and writes OUTPUT's card as .card.json and
    .card.md (data files and hashes, parameters, metrics, date, fastText version).
    Score with it in a recipe through the fasttext_classifier operator.
    """
    from rich.table import Table

    from filters.classifiers.train import Params, TrainingDataError, read_corpora, read_labelled, train

    if bool(data) == bool(positive or negative):
        fail("give either --data (labelled records) or --positive and --negative (two corpora)",
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
                params=Params(epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim, minCount=min_count,
                              bucket=bucket, thread=threads, seed=seed),
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


