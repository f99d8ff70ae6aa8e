"""trace / shard / find / report on a real demo run, through the API and the CLI."""

from __future__ import annotations

import gzip
import json
import re

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lineage import audit
from lineage.schema import LEDGER_SCHEMA
from operators.core.subject import subject_hash
from operators.formats.shards import read_shard
from pipelines.cli import main
from tests.lineage.conftest import EMAIL


def ledger_rows(out) -> list[dict]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{out}/ledger/run=*/*.parquet') ORDER BY run_id, id").arrow().read_all().to_pylist()


def shard_rows(out, name) -> list[dict]:
    return read_shard(f"{out}/shards/{name}").to_pylist()


def email_record(out) -> tuple[dict, str]:
    """A kept record whose text *as read* holds an e-mail address (its ledger row), and that address.

    Read from the source corpus, not the shards, so the pick does not depend on
    whether a PII stage redacted the address in the kept text.
    """
    kept = {(r["source"], r["locator"]): r for r in ledger_rows(out) if r["status"] == "kept"}
    sources = sorted({source for source, _ in kept})
    for source in sources:
        with gzip.open(source.removeprefix("file://"), "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                row = kept.get((source, f"line:{line_no}"))
                m = EMAIL.search(json.loads(line).get("text", "")) if row else None
                if m:
                    return row, m.group()
    raise AssertionError("the demo corpus has no kept record with an e-mail address")


def lineage(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["lineage", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_trace_tells_a_kept_records_whole_story(demo):
    out = demo.output
    rows = ledger_rows(out)
    # A kept survivor of a duplicate cluster whose other member was dropped.
    dropped_dups = {r["dup_survivor"] for r in rows if r["reason"] == "exact_dedup:duplicate"}
    row = next(r for r in rows if r["id"] in dropped_dups and r["status"] == "kept")
    t = audit.trace(str(out), row["id"])
    assert t["found"] and len(t["runs"]) == 1
    run = t["runs"][0]
    assert (run["source"], run["locator"], run["status"]) == (row["source"], row["locator"], "kept")
    described = [op.describe() for op in demo.pipeline.stages]
    assert [(o["name"], o["version"], o["fingerprint"]) for o in run["ops"]] == [
        (d["name"], d["version"], d["fingerprint"]) for d in described
    ]
    assert all(o["decision"] in ("keep", "not_scored") for o in run["ops"])
    assert run["ops"][1]["score"] == pytest.approx(row["lang_score"])
    dedup = run["dedup"]
    assert dedup["is_survivor"] and dedup["survivor"] == row["id"]
    members = {r["id"] for r in rows if r["dup_cluster"] == row["dup_cluster"] and r["id"] != row["id"]}
    assert {m["id"] for m in dedup["members"]} == members and dedup["size"] == len(members) + 1
    # The placement points at the record's own row and token span in the shard.
    place = run["placement"]
    assert place["current"]
    shard_row = shard_rows(out, place["shard"])[place["row"]]
    assert shard_row["id"] == row["id"] and shard_row["token_start"] == place["token_start"]
    assert place["token_end"] - place["token_start"] == len(shard_row["input_ids"])
    # ... and the dropped member's story says who dropped it and why, with later stages skipped.
    reasons = {r["id"]: r["reason"] for r in rows}
    exact_member = next(m for m in sorted(members) if reasons[m] == "exact_dedup:duplicate")
    other = audit.trace(str(out), exact_member)["runs"][0]
    assert other["status"] == "dropped" and other["reason"] == "exact_dedup:duplicate"
    decisions = {o["name"]: o["decision"] for o in other["ops"]}
    assert decisions["exact_dedup"] == "drop" and other["placement"] is None
    later = [o["decision"] for o in other["ops"][[o["name"] for o in other["ops"]].index("exact_dedup") + 1 :]]
    assert all(d == "skipped" for d in later)
    assert other["dedup"]["survivor"] == row["id"] and not other["dedup"]["is_survivor"]


def test_trace_shows_pii_types_and_counts_never_values(demo):
    row, email = email_record(demo.output)
    t = audit.trace(str(demo.output), row["id"])
    pii = t["runs"][0]["pii"]
    assert pii["types"].get("EMAIL_ADDRESS", 0) >= 1 and pii["count"] == sum(pii["types"].values())
    text = json.dumps(t)
    assert email not in text and subject_hash(email) not in text
    code, output = lineage("trace", row["id"], "-o", str(demo.output))
    assert code == 0 and "EMAIL_ADDRESS" in output and email not in output and t["runs"][0]["locator"] in output


def test_trace_unknown_record_exits_1(demo):
    code, output = lineage("trace", "nosuchrecord", "-o", str(demo.output))
    assert code == 1 and "no ledger row" in output


def test_trace_and_find_follow_synthetic_parents_and_children(demo_copy):
    out = demo_copy.output
    parent = next(r for r in ledger_rows(out) if r["status"] == "kept")
    child = {
        **{name: None for name in LEDGER_SCHEMA.names},
        "run_id": "20990101T000000Z-synth", "id": "synthchild0001", "source": "synth://self_instruct",
        "locator": "0", "status": "dropped", "reason": "rouge:too_similar", "parents": [parent["id"]],
        "generator": {"model": "smollm2-135m", "backend": "transformers", "method": "self_instruct",
                      "template_version": "1", "params": "{}"},
    }
    folder = out / "ledger" / "run=20990101T000000Z-synth"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([child], schema=LEDGER_SCHEMA), folder / "part-00000.parquet")
    assert audit.trace(str(out), parent["id"])["runs"][0]["children"] == []  # children are per run
    t = audit.trace(str(out), "synthchild0001")["runs"][0]
    assert t["parents"] == [parent["id"]] and t["generator"]["method"] == "self_instruct"
    found = audit.find(str(out), audit.Selectors.build(sources=["synth://*"]))
    assert [r["id"] for r in found["records"]] == ["synthchild0001"]


def test_shard_reports_what_went_in(demo):
    out = demo.output
    rows = ledger_rows(out)
    name = demo.result.shards[1]["shard"]
    s = audit.shard(str(out), name)
    in_shard = [r for r in rows if r["shard"] == name]
    assert s["current"] and s["verified"] and s["problems"] == []
    assert s["records"] == len(in_shard) == demo.result.shards[1]["rows"]
    assert s["tokens"] == demo.result.shards[1]["tokens"]
    assert {r["source"]: r["records"] for r in s["by_source"]} == {in_shard[0]["source"]: len(in_shard)}
    # The part that fed it: 100 records read, each stage's decisions as in the ledger.
    assert s["fed_by"]["read"] == 100 and s["fed_by"]["kept"] == len(in_shard)
    fed_ids = {r["id"] for r in pq.read_table(out / "ledger" / f"run={demo.result.run_id}" / s["parts"][0]).to_pylist()}
    fed = [r for r in rows if r["id"] in fed_ids]
    for stage in s["stages"]:
        decisions = [r["ops"][stage["stage"]]["decision"] for r in fed]
        assert (stage["keep"], stage["drop"], stage["skipped"], stage["not_scored"]) == tuple(
            decisions.count(d) for d in ("keep", "drop", "skipped", "not_scored"))
    code, output = lineage("shard", f"{out}/shards/{name}", "-o", str(out))
    assert code == 0 and "integrity" in output and "ok" in output
    code, output = lineage("shard", "shard-nope.arrow", "-o", str(out))
    assert code == 2 and "no ledger row places a record in shard" in output


def test_find_by_subject_source_and_record(demo):
    out = demo.output
    row, email = email_record(out)
    # Every ledger row whose text had that address (the stand-in or real PII stage hashed it).
    by_subject = audit.find(str(out), audit.Selectors.build(subjects=[email.upper()]))  # normalised: case-folded
    ids = {r["id"] for r in by_subject["records"]}
    assert row["id"] in ids
    assert all(r["matched_by"] == ["subject"] and "EMAIL_ADDRESS" in r["subject_types"] for r in by_subject["records"])
    assert {s["shard"] for s in by_subject["shards"]} >= {next(
        r["shard"] for r in ledger_rows(out) if r["id"] == row["id"])}
    assert email not in json.dumps(by_subject, default=str)
    # The same through the CLI, JSON.
    code, output = lineage("find", "--subject", email, "--json", "-o", str(out))
    assert code == 0 and {r["id"] for r in json.loads(output)["records"]} == ids
    # Source: exact URI and glob; record id.
    source = row["source"]
    exact = audit.find(str(out), audit.Selectors.build(sources=[source]), limit=None)
    glob = audit.find(str(out), audit.Selectors.build(sources=[re.sub(r"corpus.*$", "*.jsonl.gz", source)]), limit=None)
    as_path = audit.find(str(out), audit.Selectors.build(sources=[str(demo.corpus)]), limit=10)
    assert exact["rows"] == glob["rows"] == as_path["rows"] == 300 and len(exact["records"]) == 300
    assert len(as_path["records"]) == 10 and as_path["truncated"]
    assert exact["summary"]["in_current_shards"] == demo.result.kept
    assert audit.find(str(out), audit.Selectors.build(sources=["file:///elsewhere/*"]))["rows"] == 0
    one = audit.find(str(out), audit.Selectors.build(records=[row["id"]]))
    assert [r["id"] for r in one["records"]] == [row["id"]] and one["records"][0]["matched_by"] == ["record"]
    code, output = lineage("find", "-o", str(out))
    assert code == 2 and "nothing to find" in output


def test_report_counts_match_the_run(demo):
    out = demo.output
    r = audit.report(str(out))
    res = demo.result
    assert r["over_runs"] == [{"run_id": res.run_id, "read": res.read, "kept": res.kept, "dropped": res.dropped,
                               "quarantined": res.quarantined, "erased": 0}]
    assert {d["reason"]: d["records"] for d in r["drops_by_stage"]} == res.drop_reasons
    assert [d["stage"] for d in r["drops_by_stage"]] == sorted(d["stage"] for d in r["drops_by_stage"])
    assert sum(s["read"] for s in r["by_source"]) == res.read and r["dp"] is None
    code, output = lineage("report", "--json", "-o", str(out))
    assert code == 0 and json.loads(output)["over_runs"] == r["over_runs"]
    code, output = lineage("report", "-o", str(out))
    assert code == 0 and "drops by stage and reason" in output and re.search(r"exact_dedup +duplicate ", output)


def test_report_with_epsilon_adds_seeded_laplace_noise(demo):
    out = str(demo.output)
    exact = audit.report(out)
    a = audit.report(out, epsilon=0.5, seed=7)
    assert a == audit.report(out, epsilon=0.5, seed=7)  # seedable
    assert a["dp"]["scale"] == 2.0 and a["dp"]["total_epsilon"] == pytest.approx(0.5 * 5)
    assert a["drops_by_stage"] != exact["drops_by_stage"] or a["by_source"] != exact["by_source"]
    assert all(isinstance(d["records"], int) and d["records"] >= 0 for d in a["drops_by_stage"])
    code, output = lineage("report", "--epsilon", "0.5", "--seed", "7", "--json", "-o", out)
    assert code == 0 and json.loads(output)["by_source"] == a["by_source"]
    code, output = lineage("report", "--epsilon", "0", "-o", out)
    assert code == 2


@pytest.mark.parametrize("epsilon,sensitivity", [(0.5, 1.0), (2.0, 1.0), (1.0, 3.0)])
def test_laplace_noise_has_the_mechanisms_variance(epsilon, sensitivity):
    draws = audit.laplace_noise(400_000, epsilon, sensitivity, np.random.default_rng(1))
    b = sensitivity / epsilon
    assert abs(draws.mean()) < 0.02 * b
    assert draws.var() == pytest.approx(2 * b * b, rel=0.03)
    # The median absolute deviation of Laplace(0, b) is b ln 2.
    assert np.median(np.abs(draws)) == pytest.approx(b * np.log(2), rel=0.02)
    with pytest.raises(ValueError):
        audit.laplace_noise(1, 0.0)


def test_commands_explain_a_missing_ledger(tmp_path):
    code, output = lineage("report", "-o", str(tmp_path))
    assert code == 2 and "no ledger under" in output and "assay demo" in output
