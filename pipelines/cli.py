"""The ``assay`` command line: one module per command group in :mod:`pipelines.commands`."""

from __future__ import annotations

import logging

import click

from pipelines.commands.doctor import doctor
from pipelines.commands.export import export
from pipelines.commands.lineage import lineage
from pipelines.commands.report import report
from pipelines.commands.run import demo, generate_corpus, operators, run, validate
from pipelines.commands.synth import synth
from pipelines.commands.train import train_classifier


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages (Ray and assay).")
def main(verbose: bool) -> None:
    """assay: prepare and govern training data for language and multimodal models.

    Reads text corpora, cleans, filters and deduplicates them on Ray, writes
    tokenized Arrow shards for training, and a lineage ledger with one row per
    input record.

    \b
    Start with:
      assay demo                 run the default recipe on the bundled sample
      assay run RECIPE.yaml      run your own recipe
      assay operators            list the operators a recipe can use
      assay lineage --help       trace records, find a person's data, erase it, report
      assay synth                generate instruction data (Self-Instruct, backtranslation...) and govern it
      assay report OUTPUT        an HTML page of a run: funnel, drops, score histograms, samples
      assay export OUTPUT DEST   the shards for Megatron, MosaicML streaming, or as plain text
      assay doctor               what this installation can do, what is missing, how to fix it
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


for command in (run, demo, validate, operators, generate_corpus, train_classifier, lineage, synth, report, export,
                doctor):
    main.add_command(command)


if __name__ == "__main__":
    main()
