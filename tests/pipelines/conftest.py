"""A tiny recipe and corpus, its Dagster definitions, and one materialized run shared by the check tests."""

import os
import textwrap

import dagster as dg
import pytest

from operators.sample_corpus import generate_with_origins
from pipelines.orchestrate.definitions import recipe_definitions
from pipelines.orchestrate.resources import RayResource, StorageResource
from pipelines.orchestrate.spec import RecipeSpec
from tests.conftest import write_jsonl

# Clean English documents from the sample corpus generator: distinct prose, so no two are exact or near
# duplicates by accident (the demo recipe's fuzzy dedup would otherwise cluster templated texts).
ENGLISH = [
    record["text"]
    for record, _ in generate_with_origins(400, seed=11)
    if record["kind"] == "clean" and record["lang"] == "en"
][:24]
FRENCH = [
    "Le marché du samedi attire les habitants du quartier qui viennent acheter des légumes frais et du fromage.",
    "La bibliothèque municipale propose des ateliers de lecture pour les enfants chaque mercredi après-midi.",
]
DUPLICATES = 3  # exact copies of the first English documents (after normalisation)
BROKEN = 2  # lines that are not JSON

TINY_RECIPE = textwrap.dedent("""\
    name: tiny
    description: A tiny recipe for tests.
    sources:
      - path: corpus.jsonl
        name: tiny
    stages:
      - op: normalize
      - op: lang_id
        params: {languages: [en], min_score: 0.5}
      - op: exact_dedup
    output: out
    rows_per_part: 8
""")


def corpus_records() -> list:
    records = [{"text": t, "url": f"en-{i}"} for i, t in enumerate(ENGLISH)]
    records += [{"text": t.replace(" ", "  "), "url": f"copy-{i}"} for i, t in enumerate(ENGLISH[:DUPLICATES])]
    records += [{"text": t, "url": f"fr-{i}"} for i, t in enumerate(FRENCH)]
    records += ["{not json", "[1, 2"]
    return records


READ = len(ENGLISH) + DUPLICATES + len(FRENCH) + BROKEN  # 31
KEPT = len(ENGLISH)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """The tokenizer cache the root conftest uses, also for module-scoped runs (set before its autouse fixture)."""
    cache = os.environ.get("ASSAY_TEST_CACHE", str(tmp_path_factory.getbasetemp() / "assay-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSAY_CACHE", cache)
        yield cache


def make_recipe(folder, body: str = TINY_RECIPE):
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "corpus.jsonl", corpus_records())
    path = folder / "tiny.yaml"
    path.write_text(body)
    return path


def resources(root) -> dict:
    return {"ray": RayResource(local=True), "storage": StorageResource(root=str(root), landing=str(root / "landing"))}


def tiny_definitions(recipe_path, root) -> dg.Definitions:
    return dg.Definitions.merge(recipe_definitions(recipe_path), dg.Definitions(resources=resources(root)))


@pytest.fixture
def tiny_recipe(tmp_path):
    return make_recipe(tmp_path / "recipes")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_cache):
    """The tiny recipe's full run job, materialized once per module in local mode."""
    root = tmp_path_factory.mktemp("storage")
    path = make_recipe(root / "recipes")
    defs = tiny_definitions(path, root)
    result = defs.resolve_job_def("tiny_full_run").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    spec = RecipeSpec.from_file(path)
    return {"result": result, "root": root, "spec": spec, "defs": defs}
