"""Recipe validation: every error names the file, the line and the field."""

import os
import textwrap

import pytest

from pipelines.recipe import RecipeError, load
from tests.conftest import write_jsonl


def write_recipe(tmp_path, body: str):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}])
    path = tmp_path / "recipe.yaml"
    path.write_text(body)
    return path


GOOD = textwrap.dedent("""\
    name: t
    sources:
      - path: in.jsonl
    stages:
      - op: normalize
      - op: lang_id
        params:
          min_score: 0.5
    output: out
""")


def test_good_recipe_resolves_relative_paths(tmp_path):
    loaded = load(write_recipe(tmp_path, GOOD))
    assert loaded.recipe.sources[0].path == str(tmp_path / "in.jsonl")
    assert loaded.recipe.output == str(tmp_path / "out")
    assert [op.name for op in loaded.operators] == ["normalize", "lang_id"]
    assert loaded.operators[1].config.min_score == 0.5


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  - op: lang_id", "  - op: lang_idd", r"recipe.yaml:6: stages\[1\].op: unknown operator 'lang_idd'; registered operators: .*lang_id"),
        ("min_score: 0.5", "min_score: high", r"recipe.yaml:8: stages\[1\].params.min_score: Input should be a valid number"),
        ("min_score: 0.5", "min_scor: 0.5", r"recipe.yaml:8: stages\[1\].params.min_scor: Extra inputs are not permitted"),
        ("path: in.jsonl", "path: missing-*.jsonl", r"recipe.yaml:3: sources\[0\].path: source .* matched no files"),
        ("name: t\n", "", r"recipe.yaml:1: name: Field required"),
        ("output: out", "output: out\nrows_per_part: -1", r"recipe.yaml:10: rows_per_part: Input should be greater than or equal to 1"),
    ],
)
def test_errors_name_line_and_field(tmp_path, old, new, expected):
    path = write_recipe(tmp_path, GOOD.replace(old, new) if old in GOOD else GOOD)
    assert old.strip() in GOOD
    with pytest.raises(RecipeError, match=expected):
        load(path)


def test_output_folder_not_writable(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/assay-cannot-write-here"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = str(locked / "out")
    path = write_recipe(tmp_path, GOOD.replace("output: out", f"output: {target}"))
    with pytest.raises(RecipeError, match=r"recipe.yaml:\d+: output: output folder .* is not writable"):
        load(path)


def test_not_yaml_and_not_a_mapping(tmp_path):
    with pytest.raises(RecipeError, match="not valid YAML"):
        load(write_recipe(tmp_path, "name: [unclosed\n"))
    with pytest.raises(RecipeError, match="is a YAML mapping"):
        load(write_recipe(tmp_path, "- just a list\n"))


def test_bad_tokenizer_path_is_reported(tmp_path):
    loaded = load(write_recipe(tmp_path, GOOD + "tokenizer: /nowhere/tokenizer.json\n"))
    with pytest.raises(RecipeError, match="tokenizer.*does not exist"):
        loaded.pipeline()


def test_packaged_demo_recipe_validates(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": "x"}])
    loaded = load("demo", overrides={"sources": [{"path": corpus}], "output": str(tmp_path / "o")})
    assert [op.name for op in loaded.operators] == [
        "normalize", "lang_id", "toxicity", "gopher_quality", "gopher_repetition", "c4_fineweb", "pii", "exact_dedup", "fuzzy_dedup"
    ]


def test_operator_whose_extra_is_missing_fails_validation_naming_the_extra(tmp_path, monkeypatch):
    from operators.core import registry
    from operators.core.base import Mapper

    class NeedsExtra(Mapper):
        name = "test_needs_missing_extra"
        extra = "images"
        extra_modules = ("assay_no_such_module_for_tests", "json")

        def transform(self, texts):
            return texts

    monkeypatch.setitem(registry._REGISTRY, NeedsExtra.name, NeedsExtra)
    path = write_recipe(tmp_path, GOOD.replace("  - op: normalize", "  - op: test_needs_missing_extra"))
    with pytest.raises(RecipeError) as e:
        load(path)
    message = str(e.value)
    assert "recipe.yaml:5: stages[0].op:" in message
    assert "'images' extra (missing: assay_no_such_module_for_tests)" in message
    assert "pip install 'assay[images]'" in message
    # The same operator with its modules present validates.
    monkeypatch.setattr(NeedsExtra, "extra_modules", ("json",))
    assert [op.name for op in load(path).operators][0] == "test_needs_missing_extra"
