"""Erased stays erased: a tombstone binds every later run, derived data goes too, and `verify` proves it."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from filters.pii import Pii
from lineage import audit, erase
from lineage.verify import verify
from operators.core.base import ErasedSubject
from operators.core.subject import subject_hash
from operators.execution.executor import LocalExecutor
from operators.formats.shards import read_shard
from operators.sample_corpus import generate_with_origins
from pipelines.cli import main
from pipelines.recipe import RecipeError, load
from pipelines.recipes import __file__ as recipes_init
from pipelines.run import erasures
from tests.conftest import make_table, write_jsonl
from tests.lineage.test_audit import email_record, lineage

DEMO_RECIPE = open(recipes_init.replace("__init__.py", "demo.yaml")).read()  # noqa: SIM115


def _recipe(folder, sources: list[str], output, stages: str | None = None):
    """The demo recipe (or other stages) over ``sources``, writing to ``output``."""
    body = DEMO_RECIPE.split("sources:")[0] + "sources:\n" + "".join(
        f"  - path: {s}\n    name: sample{i}\n" for i, s in enumerate(sources)
    )
    body += "stages:" + (stages or DEMO_RECIPE.split("stages:")[1].split("tokenizer:")[0])
    body += f"tokenizer: smollm2\noutput: {output}\nrows_per_part: 100\n"
    path = folder / "recipe.yaml"
    path.write_text(body)
    return path


def _shard_texts(out) -> str:
    manifest = json.loads((out / "manifest.json").read_text())
    return "\n".join(
        t or "" for e in manifest["shards"] for t in read_shard(str(out / "shards" / e["shard"])).column("text").to_pylist()
    )


def _rejects(out) -> list[dict]:
    return [r for f in sorted((out / "rejects").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]


@pytest.mark.slow
def test_forget_then_assay_run_keeps_the_person_out_and_verify_proves_it(demo_copy, tmp_path):
    """The issue's acceptance test, `assay run` side: forget by e-mail, run the recipe again, plant a copy."""
    out = demo_copy.output
    row, email = email_record(out)
    kept_before = {r["id"]: r for e in json.loads((out / "manifest.json").read_text())["shards"]
                   for r in read_shard(str(out / "shards" / e["shard"])).to_pylist()}
    code, output = lineage("forget", "--subject", email, "--reason", "request #18", "--yes", "--json", "-o", str(out))
    assert code == 0, output
    erasure = json.loads(output)["result"]["erasure_id"]
    erased = {t["id"] for t in json.loads(output)["plan"]["targets"]}
    assert lineage("verify", "-o", str(out))[0] == 0

    # The same corpus again, plus a new document that holds the erased person's e-mail, and one that does not.
    fresh = [r["text"] for r, _ in generate_with_origins(200, seed=99) if r["kind"] == "clean" and r["lang"] == "en"]
    new = write_jsonl(tmp_path / "new.jsonl", [
        {"text": fresh[0] + f" Questions about this can be sent to {email} at any time."},
        {"text": fresh[1]},
    ])
    recipe = _recipe(tmp_path, [str(demo_copy.corpus), new], out)
    result = CliRunner().invoke(main, ["run", str(recipe), "--local", "--no-dagster"], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    assert email not in _shard_texts(out)
    assert not erased & set(kept_before) - erased  # (sanity: the erased were kept before)
    assert all(email not in (r["text"] or "") and r["id"] not in erased for r in _rejects(out))
    run_id = json.loads((out / "summary.json").read_text())["run_id"]
    rows = [r for r in audit.Ledger(str(out)).rows("SELECT id, source, reason FROM ledger_raw WHERE run_id = ?", [run_id])]
    by_id = {r["id"]: r for r in rows}
    # Re-read erased records are dropped by the standing order, before any stage...
    assert {i for i in erased if i in by_id} and all(by_id[i]["reason"] == f"erased:{erasure}" for i in erased if i in by_id)
    # ...and the new document holding the erased e-mail by the pii stage under the order's drop policy.
    newcomers = [r for r in rows if r["source"].endswith("new.jsonl")]
    assert sorted(r["reason"] or "kept" for r in newcomers) == sorted([f"erased:{erasure}", "kept"])
    assert not any(r["reason"] == f"erased:{erasure}" for r in rows if r["id"] not in erased and r not in newcomers)

    code, output = lineage("verify", "-o", str(out), "--json")
    assert code == 0 and json.loads(output)["passed"], output

    # A planted copy of an erased record (a rejects file restored from a backup) is found and named.
    planted = out / "rejects" / "run=restored" / "part-x.parquet"
    planted.parent.mkdir(parents=True)
    victim = next(i for i in erased if i in kept_before)
    pq.write_table(pa.table({"id": [victim], "text": [kept_before[victim]["text"]]}), planted)
    code, output = lineage("verify", "-o", str(out))
    assert code == 1 and "part-x.parquet" in output and victim[:16] in output


def _pii(**params) -> Pii:
    op = Pii(**params)
    op.setup()
    op._ready = True
    return op


def test_pii_drops_or_scrubs_an_erased_persons_value_whatever_the_mode(monkeypatch):
    monkeypatch.setenv("ASSAY_PII_SALT", "s")
    gone, other = "jane.doe@example.com", "bob.roe@example.org"
    texts = [f"Write to {gone} today.", f"Write to {other} today.", f"Ask {gone} or {other}."]
    op = _pii(entities={"EMAIL_ADDRESS": {"mode": "hash"}})
    op.erased_subjects = {subject_hash(gone): ErasedSubject("E1", "scrub")}
    t = op.process(make_table(texts))
    assert t.column("keep").to_pylist() == [True, True, True]
    scrubbed = t.column("text").to_pylist()
    assert scrubbed[0] == "Write to <EMAIL> today."  # the tag, not the recipe's hash mode
    assert "<EMAIL>" not in scrubbed[1] and other not in scrubbed[1]  # another person: the recipe's mode
    assert [e["hash"] for e in t.column("pii").to_pylist()[2]] == ["erased:E1", subject_hash(other)]

    op.erased_subjects = {subject_hash(gone): ErasedSubject("E1", "drop")}
    t = op.process(make_table(texts))
    assert t.column("keep").to_pylist() == [False, True, False]
    assert t.column("drop_reason").to_pylist() == ["erased:E1", None, "erased:E1"]
    assert t.column("text").to_pylist()[0] is None  # nothing of it travels further


def test_drop_erased_matches_ids_and_content_hashes_only():
    table = make_table(["a text", "another text", "a third"])
    ids, hashes = table.column("id").to_pylist(), table.column("content_hash").to_pylist()
    out = erasures.drop_erased(table, {ids[0]: "E1"}, {hashes[2]: "E2"})
    assert out.column("drop_reason").to_pylist() == ["erased:E1", None, "erased:E2"]
    assert out.column("text").to_pylist() == [None, "another text", None]
    assert out.column("keep").to_pylist() == [False, True, False]
    assert erasures.drop_erased(table, {}, {}) is table


def test_a_recipe_without_pii_is_refused_on_an_output_with_erased_people(demo_copy, tmp_path):
    out = demo_copy.output
    _, email = email_record(out)
    assert lineage("forget", "--subject", email, "--reason", "r", "--yes", "-o", str(out))[0] == 0
    no_pii = "\n  - op: normalize\n  - op: exact_dedup\n"
    with pytest.raises(RecipeError, match="needs a `pii`"):
        load(_recipe(tmp_path, [str(demo_copy.corpus)], out, stages=no_pii))
    # An erasure by record id (no person named) binds the records, and needs no pii stage.
    other = tmp_path / "other"
    other.mkdir()
    loaded = load(_recipe(other, [str(demo_copy.corpus)], tmp_path / "fresh-out", stages=no_pii))
    assert loaded.pipeline().run(LocalExecutor()).balanced


def test_verify_passes_on_a_clean_output_and_reports_no_erasure(demo):
    result = verify(str(demo.output))
    assert result["passed"] and result["erasures"] == []
    code, output = lineage("verify", "-o", str(demo.output))
    assert code == 0 and "nothing to verify" in output


def test_forget_records_the_subject_policy_and_a_scrub_order_is_read_back(demo_copy):
    out = demo_copy.output
    _, email = email_record(out)
    assert lineage("forget", "--subject", email, "--subject-policy", "scrub", "--reason", "r", "--yes",
                   "-o", str(out))[0] == 0
    orders = erasures.orders(str(out))
    assert orders.subjects[subject_hash(email)].policy == "scrub"
    assert {r["policy"] for r in erase.read_tombstones(str(out)).to_pylist()} == {"scrub"}
