"""Paths typed on the command line are read from the current folder; paths in a recipe from the recipe's folder.

Every command runs here from a folder other than its recipe's, and nothing may be written under the
installed package (its packaged recipes live there).
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipelines
from pipelines.cli import main
from tests.conftest import write_jsonl

PACKAGE = Path(pipelines.__file__).parent


def _package_files() -> set[Path]:
    return {p for p in PACKAGE.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A recipe in tmp/recipes (reading its data by a path relative to itself), the command run from tmp/here."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    write_jsonl(recipes / "docs.jsonl", [{"text": f"Document number {i} about the mill by the river."} for i in range(12)])
    (recipes / "recipe.yaml").write_text(
        "name: tiny\nsources:\n  - path: docs.jsonl\nstages:\n  - op: normalize\n  - op: exact_dedup\noutput: out\n"
    )
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = _package_files()
    yield recipes, here
    assert _package_files() == before, "a command wrote under the installed package"


def _ok(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


def test_run_output_and_lineage_out_are_read_from_the_current_folder(elsewhere):
    recipes, here = elsewhere
    _ok(["run", str(recipes / "recipe.yaml"), "--output", "rel-out", "--local"])
    assert json.loads((here / "rel-out" / "summary.json").read_text())["read"] == 12  # the recipe's own data
    assert not (recipes / "rel-out").exists() and not (recipes / "out").exists()
    report = _ok(["lineage", "report", "-o", "rel-out", "--json"])
    assert json.loads(report.output)["by_source"][0]["read"] == 12
    # without --output, the recipe's own `output: out` is relative to the recipe
    _ok(["run", str(recipes / "recipe.yaml"), "--local"])
    assert (recipes / "out" / "summary.json").exists() and not (here / "out").exists()


def test_generate_corpus_and_train_classifier_write_where_they_are_told(elsewhere):
    _, here = elsewhere
    _ok(["generate-corpus", "corpora/c.jsonl.gz", "--docs", "30"])
    assert (here / "corpora" / "c.jsonl.gz").exists()
    sport = "the coach trained the team for the match and the players scored a late goal"
    food = "the cook seasoned the sauce with garlic and baked the bread in a hot oven"
    write_jsonl(here / "labelled.jsonl", [{"text": " ".join(w[i % 5:] + w[: i % 5]), "label": label}
                                          for i in range(30) for label, w in (("sport", sport.split()), ("food", food.split()))])
    _ok(["train-classifier", "models/m.bin", "--data", "labelled.jsonl", "--epoch", "10", "--dim", "16", "--threads", "1"])
    assert (here / "models" / "m.bin").exists() and (here / "models" / "m.card.json").exists()


@pytest.mark.slow
def test_synth_with_the_packaged_recipe_writes_under_the_current_folder(elsewhere):
    """`assay synth --out out/synth` (the packaged recipe, whose folder is inside the package) and a relative --seeds."""
    from synth.loopback import LoopbackServer

    _, here = elsewhere
    seeds = [json.loads(line) for line in (Path(pipelines.__file__).parents[1] / "synth" / "seeds" / "default.jsonl")
             .read_text().splitlines()[:12]]
    write_jsonl(here / "my-seeds.jsonl", [{**s, "id": f"mine-{i:03d}"} for i, s in enumerate(seeds)])
    with LoopbackServer() as server:
        _ok(["synth", "--out", "out/synth", "--seeds", "my-seeds.jsonl", "--target", "2", "--max-rounds", "1",
             "--backend", "http", "--base-url", server.base_url, "--model", "loopback", "--only-synth"])
    assert (here / "out" / "synth" / "synth" / "records.jsonl").exists()
    parents = {p for line in (here / "out" / "synth" / "synth" / "records.jsonl").read_text().splitlines()
               for p in json.loads(line)["parents"]}
    assert parents and any(p.startswith("mine-") for p in parents)  # prompted with the seeds given, read from here


@pytest.mark.slow
def test_demo_out_is_read_from_the_current_folder(elsewhere):
    _, here = elsewhere
    _ok(["demo", "--out", "demo-out", "--docs", "30", "--local"])
    assert json.loads((here / "demo-out" / "summary.json").read_text())["read"] == 30
