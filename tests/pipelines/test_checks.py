"""Each quality gate passes on a good run and fails on data built to break it."""

import shutil
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from pipelines.checks import accounting_balances, duplicate_rate_within_bounds, no_residual_pii, shards_readable
from tests.pipelines.conftest import DUPLICATES, KEPT, READ, TINY_RECIPE, make_recipe, tiny_definitions


@pytest.fixture(scope="module")
def good(tiny_run):
    assert tiny_run["result"].success
    return tiny_run["result"].output_for_node("tiny_lineage_ledger")


@pytest.fixture
def ledger_copy(good, tmp_path):
    return Path(shutil.copytree(good.ledger, tmp_path / "ledger"))


@pytest.fixture
def shards_copy(good, tmp_path):
    folder = Path(shutil.copytree(Path(good.output) / "shards", tmp_path / "shards"))
    return [str(folder / s["shard"]) for s in good.shards]


# ---------------------------------------------------------------- accounting_balances


def test_accounting_passes_on_the_run_ledger(good):
    verdict = accounting_balances(good.ledger, READ)
    assert verdict.passed, verdict.description
    assert verdict.metadata["kept"] == KEPT and verdict.metadata["ledger_rows"] == READ


def test_accounting_fails_when_a_ledger_row_is_lost(ledger_copy):
    part = sorted(ledger_copy.glob("*.parquet"))[0]
    table = pq.read_table(part)
    pq.write_table(table.slice(1), part)  # one record's lineage row is gone
    verdict = accounting_balances(str(ledger_copy), READ)
    assert not verdict.passed and f"read {READ} !=" in verdict.description


def test_accounting_fails_when_a_record_has_two_rows(ledger_copy):
    part = sorted(ledger_copy.glob("*.parquet"))[0]
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 1), part)
    pq.write_table(table.slice(0, 1), ledger_copy / "part-extra.parquet")  # same count, one id twice
    verdict = accounting_balances(str(ledger_copy), READ)
    assert not verdict.passed and "more than one ledger row" in verdict.description


def test_accounting_fails_without_a_ledger(tmp_path):
    verdict = accounting_balances(str(tmp_path / "nowhere"), READ)
    assert not verdict.passed and "cannot read the ledger" in verdict.description


# ---------------------------------------------------------------- duplicate_rate_within_bounds


def test_duplicate_rate_bounds():
    assert duplicate_rate_within_bounds(DUPLICATES, KEPT + DUPLICATES).passed
    too_many = duplicate_rate_within_bounds(60, 100, max_rate=0.5)
    assert not too_many.passed and "60.0% outside" in too_many.description
    assert not duplicate_rate_within_bounds(0, 100, min_rate=0.01).passed
    assert duplicate_rate_within_bounds(0, 0).passed  # nothing reached dedup: nothing to judge


def test_failing_duplicate_gate_blocks_tokenization(tmp_path, tiny_cache):
    """A blocking check stops the run: no shards, no ledger, when dedup drops more than the recipe allows."""
    strict = TINY_RECIPE + "checks:\n  max_duplicate_rate: 0.05\n"
    defs = tiny_definitions(make_recipe(tmp_path / "recipes", strict), tmp_path)
    result = defs.resolve_job_def("tiny_full_run").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "duplicate_rate_within_bounds"]
    assert not evaluation.passed and evaluation.metadata["duplicates"].value == DUPLICATES
    materialized = {e.asset_key.path[0] for e in result.get_asset_materialization_events()}
    assert "tiny_deduplicated_documents" in materialized and "tiny_training_shards" not in materialized
    assert not (tmp_path / "tiny" / "shards").exists()


# ---------------------------------------------------------------- shards_readable


def test_shards_pass_on_the_run(good):
    verdict = shards_readable(good.shard_paths())
    assert verdict.passed, verdict.description
    assert verdict.metadata["rows"] == KEPT and verdict.metadata["tokens"] > 0


def test_shards_fail_when_a_byte_is_corrupted(shards_copy):
    path = Path(shards_copy[0])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    verdict = shards_readable(shards_copy)
    assert not verdict.passed and verdict.metadata["problems"] >= 1
    assert "sha256 does not match" in verdict.description or "does not open" in verdict.description


def test_shards_fail_when_truncated_missing_or_absent(shards_copy):
    Path(shards_copy[0]).write_bytes(Path(shards_copy[0]).read_bytes()[:100])
    Path(shards_copy[1]).unlink()
    verdict = shards_readable(shards_copy)
    assert not verdict.passed and verdict.metadata["problems"] >= 2
    assert not shards_readable([]).passed  # a run that kept nothing has nothing to train on


# ---------------------------------------------------------------- no_residual_pii


def test_residual_pii_is_skipped_without_a_pii_stage():
    verdict = no_residual_pii(["normalize", "lang_id", "exact_dedup"], ["mail me at jane.doe@example.com"])
    assert verdict.passed and verdict.metadata["skipped"] is True and "skipped" in verdict.description


def test_residual_pii_fails_when_a_pii_stage_left_an_address():
    stages = ["normalize", "pii_redact", "exact_dedup"]
    clean = no_residual_pii(stages, ["Write to <EMAIL> or call <PHONE>.", "Nothing personal here."])
    assert clean.passed and clean.metadata["documents"] == 2
    leaked = no_residual_pii(stages, ["Write to jane.doe@example.com today.", "Call +44 20 7946 0958 now.",
                                      "Card 4111 1111 1111 1111."])
    assert not leaked.passed
    assert (leaked.metadata["email"], leaked.metadata["phone"], leaked.metadata["credit_card"]) == (1, 1, 1)


@pytest.mark.slow
def test_residual_pii_passes_on_a_scrubbed_sample_corpus_and_fails_on_shards_holding_pii(tmp_path):
    """The demo's stages up to the PII stage on the sample corpus: its shards pass; shards written with PII fail."""
    import json as json_

    from operators.execution.executor import LocalExecutor
    from operators.formats.shards import build_shard_table, write_shard
    from operators.sample_corpus import write_jsonl as write_corpus
    from pipelines.checks import RESIDUAL_SAMPLE, shard_texts
    from pipelines.recipe import load

    write_corpus(tmp_path / "corpus.jsonl", 160, seed=3)
    records = [json_.loads(line) for line in (tmp_path / "corpus.jsonl").read_text().splitlines()]
    pii_texts = [r["text"] for r in records if r["kind"] == "pii"]
    assert len(pii_texts) >= 5
    demo = load("demo", check_paths=False).recipe
    pii_stage = next(s for s in demo.stages if s.op == "pii")
    recipe = {
        "name": "scrubbed",
        "sources": [{"path": str(tmp_path / "corpus.jsonl")}],
        "stages": [{"op": "normalize"}, pii_stage.model_dump(), {"op": "exact_dedup"}],
        "output": str(tmp_path / "out"),
    }
    loaded = load(recipe)
    stages = [op.name for op in loaded.operators]
    result = loaded.pipeline().run(LocalExecutor())
    shards = [str(tmp_path / "out" / "shards" / s["shard"]) for s in result.shards]
    verdict = no_residual_pii(stages, shard_texts(shards, RESIDUAL_SAMPLE))
    assert verdict.passed, verdict.description
    assert verdict.metadata["documents"] == result.kept

    # The same documents unscrubbed, written as a shard: the gate fails and names the kinds, not the values.
    table = build_shard_table([str(i) for i in range(len(pii_texts))], ["raw"] * len(pii_texts), pii_texts,
                              [[1, 2, 3]] * len(pii_texts))
    leaked_shard = str(tmp_path / "leaky" / "shard-00000.arrow")
    write_shard(table, leaked_shard, {"run_id": "leaky"})
    leaked = no_residual_pii(stages, shard_texts([leaked_shard], RESIDUAL_SAMPLE))
    assert not leaked.passed
    assert leaked.metadata["email"] == len(pii_texts) and leaked.metadata["credit_card"] >= 1
    assert "@" not in leaked.description
