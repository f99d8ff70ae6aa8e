"""Erasure end to end on a real demo run: shards, manifests, rejects, ledger, idempotence."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lineage import audit, erase
from lineage.schema import LEDGER_SCHEMA
from operators.formats.shards import read_manifest, read_shard, verify_shard
from operators.formats.tokenize import Encoder
from tests.lineage.conftest import EMAIL
from tests.lineage.test_audit import email_record, ledger_rows, lineage


def snapshot(out) -> dict:
    """Everything a reader of the dataset sees: every listed shard's rows, every rejects row, the files' checksums."""
    manifest = json.loads((out / "manifest.json").read_text())
    rows = {}
    for entry in manifest["shards"]:
        for r in read_shard(str(out / "shards" / entry["shard"])).to_pylist():
            rows[r["id"]] = {**r, "shard": entry["shard"]}
    rejects = {}
    for f in sorted((out / "rejects").rglob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            rejects[r["id"]] = r["text"]
    files = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    return {"manifest": manifest, "rows": rows, "rejects": rejects, "files": files}


def assert_dataset_is_sound(demo, out) -> None:
    """Every listed shard verifies, decodes to its text, and matches the ledger's (patched) placement."""
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {e["shard"] for e in manifest["shards"]}
    assert {p.name for p in (out / "shards").glob("*.arrow")} == listed  # no leftover or missing files
    encoder = Encoder(demo.pipeline.tokenizer)
    db = audit.Ledger(str(out))
    placed = {
        (r["id"]): r
        for r in db.rows("SELECT id, shard, shard_row, token_start, token_count FROM ledger WHERE current")
    }
    total_rows = total_tokens = 0
    for entry in manifest["shards"]:
        path = str(out / "shards" / entry["shard"])
        assert verify_shard(path) == []
        assert read_manifest(path)["sha256"] == entry["sha256"]
        table = read_shard(path)
        start = 0
        for i, r in enumerate(table.to_pylist()):
            assert r["input_ids"][-1] == demo.pipeline.tokenizer.eos_id
            assert encoder.decode(r["input_ids"][:-1]) == r["text"]
            assert r["token_start"] == start and r["num_tokens"] == len(r["input_ids"])
            assert placed[r["id"]] == {"id": r["id"], "shard": entry["shard"], "shard_row": i, "token_start": start,
                                       "token_count": r["num_tokens"]}
            start += r["num_tokens"]
        total_rows += table.num_rows
        total_tokens += start
    assert len(placed) == total_rows  # the ledger places exactly the records the shards hold
    assert manifest["counts"]["kept"] == total_rows and manifest["counts"]["tokens"] == total_tokens


def check_erased(demo, out, before, erased_ids, secret) -> dict:
    after = snapshot(out)
    erased_texts = [before["rows"][i]["text"] for i in erased_ids if i in before["rows"]]
    erased_texts += [before["rejects"][i] for i in erased_ids if i in before["rejects"]]
    assert erased_texts
    # Nothing of the erased records is left in any shard or rejects file, decoded tokens included.
    encoder = Encoder(demo.pipeline.tokenizer)
    for entry in after["manifest"]["shards"]:
        table = read_shard(str(out / "shards" / entry["shard"]))
        decoded = "\n".join(encoder.decode(ids) for ids in table.column("input_ids").to_pylist())
        stored = "\n".join(table.column("text").to_pylist())
        assert secret not in decoded and secret not in stored
        assert not set(table.column("id").to_pylist()) & set(erased_ids)
        for text in erased_texts:
            assert text not in stored
    assert not set(after["rejects"]) & set(erased_ids)
    assert all(secret not in t for t in after["rejects"].values())
    # Every other record is intact: same text, same tokens.
    for rid, row in before["rows"].items():
        if rid not in erased_ids:
            assert after["rows"][rid]["text"] == row["text"] and after["rows"][rid]["input_ids"] == row["input_ids"]
    assert set(after["rows"]) == set(before["rows"]) - set(erased_ids)
    assert {k: v for k, v in before["rejects"].items() if k not in erased_ids} == after["rejects"]
    assert_dataset_is_sound(demo, out)
    return after


def assert_tombstoned(out, erased_ids, actor, reason, secret, erasure_id) -> None:
    tomb = erase.read_tombstones(str(out))
    rows = [r for r in tomb.to_pylist() if r["erasure_id"] == erasure_id]
    assert {r["id"] for r in rows} == set(erased_ids)
    assert all(r["actor"] == actor and r["reason"] == reason and r["erased_at"] is not None for r in rows)
    assert secret not in json.dumps(rows, default=str)  # hashes and ids, never the value
    for rid in erased_ids:
        t = audit.trace(str(out), rid)
        assert t["tombstones"][-1]["erasure_id"] == erasure_id
        assert all(run["status"] == "erased" and run["placement"] is None for run in t["runs"])


@pytest.mark.slow
def test_forget_a_subject_by_email_end_to_end(demo_copy):
    """The issue's acceptance test: forget a person by e-mail, prove it by re-reading every shard."""
    out = demo_copy.output
    row, email = email_record(out)
    before = snapshot(out)
    found = audit.find(str(out), audit.Selectors.build(subjects=[email]))
    assert row["id"] in {r["id"] for r in found["records"]}

    code, output = lineage("forget", "--subject", email, "--dry-run", "--json", "-o", str(out))
    plan = json.loads(output)
    assert code == 0 and plan["to_erase"] >= 1 and snapshot(out) == before  # a dry run changes nothing
    assert email not in output

    code, output = lineage("forget", "--subject", email, "--reason", "erasure request #17", "--actor", "dpo@corp",
                           "--yes", "--json", "-o", str(out))
    assert code == 0, output
    result = json.loads(output)["result"]
    erased = {t["id"] for t in json.loads(output)["plan"]["targets"]}
    assert row["id"] in erased and result["rows_removed_from_shards"] >= 1
    after = check_erased(demo_copy, out, before, erased, email)
    assert_tombstoned(out, erased, "dpo@corp", "erasure request #17", email, result["erasure_id"])
    assert audit.find(str(out), audit.Selectors.build(subjects=[email]))["summary"]["in_current_shards"] == 0

    # Again: nothing to do, nothing touched.
    code, output = lineage("forget", "--subject", email, "--reason", "again", "--yes", "-o", str(out))
    assert code == 0 and "nothing to do" in output and "already erased" in output
    assert snapshot(out) == after
    assert len({r["erasure_id"] for r in erase.read_tombstones(str(out)).to_pylist()}) == 1


def duplicates_of(rows: list[dict], start: str) -> set[str]:
    """Every record linked to ``start`` by a shared dedup cluster or a survivor link, transitively."""
    found, frontier = {start}, [start]
    while frontier:
        now = {r["id"]: r for r in rows if r["id"] in frontier}
        clusters = {r["dup_cluster"] for r in now.values()} - {None}
        new = {r["id"] for r in rows if r["dup_cluster"] in clusters or r["dup_survivor"] in now}
        new |= {r["dup_survivor"] for r in now.values()} - {None}
        frontier = list(new - found)
        found |= new
    return found


def kept_exact_survivor(rows: list[dict]) -> tuple[dict, str]:
    """An exact duplicate whose survivor is in the shards (some survivors are dropped later by fuzzy dedup)."""
    status = {r["id"]: r["status"] for r in rows}
    dup = next(r for r in rows if r["reason"] == "exact_dedup:duplicate" and status[r["dup_survivor"]] == "kept")
    return dup, dup["dup_survivor"]


@pytest.mark.slow
def test_forget_a_record_takes_its_duplicates_out_of_rejects(demo_copy):
    out = demo_copy.output
    rows = ledger_rows(out)
    dup, survivor = kept_exact_survivor(rows)
    members = duplicates_of(rows, survivor)
    before = snapshot(out)
    assert dup["id"] in before["rejects"] and survivor in before["rows"]
    secret = before["rows"][survivor]["text"]

    p = erase.plan(str(out), audit.Selectors.build(records=[survivor]))
    assert {t.id: t.cause for t in p.targets} == {m: ("selected" if m == survivor else "near_duplicate") for m in members}
    code, output = lineage("forget", "--record", survivor, "--reason", "test", "--actor", "tester", "--yes", "-o", str(out))
    assert code == 0 and "erasure" in output and "tombstoned" in output
    result = {"erasure_id": erase.read_tombstones(str(out)).column("erasure_id")[0].as_py()}
    result["shards"] = json.loads((out / "manifest.json").read_text())["erasures"][0]["shards"]
    check_erased(demo_copy, out, before, members, secret)
    assert_tombstoned(out, members, "tester", "test", secret, result["erasure_id"])
    # The shard was renamed; asking for it by its old name finds the new one.
    old = next(iter(result["shards"]))
    s = audit.shard(str(out), old)
    assert s["shard"] == result["shards"][old] and s["verified"] and s["erasures"][0]["erasure_id"] == result["erasure_id"]
    # A cluster can span parts: the parts that fed this shard hold some of its members.
    part_of = {r["id"]: r["filename"].rsplit("/", 1)[-1] for r in audit.Ledger(str(out)).rows(
        "SELECT id, filename FROM ledger_raw WHERE id IN (SELECT unnest(?::VARCHAR[]))", [sorted(members)])}
    assert s["fed_by"]["erased"] == sum(part_of[m] in s["parts"] for m in members) >= 1
    assert audit.report(str(out))["over_runs"][0]["erased"] == len(members)
    after = snapshot(out)
    code, output = lineage("forget", "--record", survivor, "--reason", "again", "--yes", "-o", str(out))
    assert code == 0 and "nothing to do" in output and snapshot(out) == after


@pytest.mark.slow
def test_forget_policy_flags_and_synthetic_descendants(demo_copy):
    out = demo_copy.output
    rows = ledger_rows(out)
    dup, survivor = kept_exact_survivor(rows)
    # A later synthesis run derived two generations of records from the survivor.
    synth = []
    for i, parent in enumerate([survivor, "synth-gen1"]):
        synth.append({**{n: None for n in LEDGER_SCHEMA.names}, "run_id": "20990101T000000Z-synth",
                      "id": f"synth-gen{i + 1}", "source": "synth://evol", "locator": str(i), "status": "dropped",
                      "parents": [parent]})
    folder = out / "ledger" / "run=20990101T000000Z-synth"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(synth, schema=LEDGER_SCHEMA), folder / "part-00000.parquet")

    narrow = erase.plan(str(out), audit.Selectors.build(records=[survivor]), near_duplicates=False, descendants=False)
    assert [t.id for t in narrow.targets] == [survivor]
    wide = erase.plan(str(out), audit.Selectors.build(records=[survivor]))
    causes = {t.id: (t.cause, t.via) for t in wide.targets}
    assert causes["synth-gen1"] == ("descendant", survivor) and causes["synth-gen2"] == ("descendant", "synth-gen1")
    assert causes[dup["id"]] == ("near_duplicate", survivor)
    # The synthetic records are in no shard or rejects file: tombstoned only.
    assert {t.id for t in wide.tombstone_only} == {"synth-gen1", "synth-gen2"}
    result = erase.execute(wide, actor="tester", reason="test")
    tomb = {r["id"]: r["cause"] for r in erase.read_tombstones(str(out)).to_pylist()}
    assert tomb["synth-gen2"] == "descendant" and result["records"] == len(wide.targets)
    assert audit.trace(str(out), "synth-gen2")["runs"][0]["status"] == "erased"
    assert erase.plan(str(out), audit.Selectors.build(records=[survivor])).noop


def test_forget_follows_an_exact_survivor_that_fuzzy_dedup_dropped(tmp_path):
    """Exact dedup keeps S over its copy D; fuzzy dedup then drops S for F. S's ledger row carries only
    the fuzzy cluster, yet forgetting any of the three must reach the other two (D holds S's very text)."""
    run = "20990101T000000Z-demo"
    ledger = [
        ("D", "dropped", "exact_dedup:duplicate", "h-exact", "S"),
        ("S", "dropped", "fuzzy_dedup:near_duplicate_of:F", "fuzzy-F", "F"),
        ("F", "kept", None, "fuzzy-F", "F"),
        ("X", "kept", None, None, None),
    ]
    rows = [{**{n: None for n in LEDGER_SCHEMA.names}, "run_id": run, "id": rid, "source": "file:///c.jsonl",
             "locator": str(i), "status": status, "reason": reason, "dup_cluster": cluster, "dup_survivor": survivor}
            for i, (rid, status, reason, cluster, survivor) in enumerate(ledger)]
    folder = tmp_path / "ledger" / f"run={run}"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA), folder / "part-00000.parquet")
    out = str(tmp_path)

    def reached(rid):
        return {t.id: (t.cause, t.via) for t in erase.plan(out, audit.Selectors.build(records=[rid])).targets}

    assert reached("S") == {"S": ("selected", None), "D": ("near_duplicate", "S"), "F": ("near_duplicate", "S")}
    assert reached("D") == {"D": ("selected", None), "S": ("near_duplicate", "D"), "F": ("near_duplicate", "S")}
    assert reached("F") == {"F": ("selected", None), "S": ("near_duplicate", "F"), "D": ("near_duplicate", "S")}
    assert set(reached("F")) == duplicates_of(rows, "F")
    assert [m["id"] for m in audit.trace(out, "S")["runs"][0]["dedup"]["members"]] == ["D", "F"]


def test_forget_refuses_without_reason_and_matches_nothing_quietly(demo_copy):
    out = demo_copy.output
    code, output = lineage("forget", "--record", "x", "-o", str(out))
    assert code == 2 and "--reason" in output
    code, output = lineage("forget", "--subject", "nobody@nowhere.example", "--reason", "r", "--yes", "-o", str(out))
    assert code == 0 and "matched no" in output
    assert erase.read_tombstones(str(out)).num_rows == 0


def test_a_lock_held_by_another_erasure_stops_this_one(demo_copy):
    out = demo_copy.output
    row, _ = email_record(out)
    (out / "ledger" / ".erasure.lock").write_text("12345")
    p = erase.plan(str(out), audit.Selectors.build(records=[row["id"]]))
    with pytest.raises(erase.ErasureError, match="another erasure"):
        erase.execute(p, reason="r")
    assert row["id"] in snapshot(out)["rows"]


def test_email_pattern_finds_the_corpus_addresses():
    assert EMAIL.search("write to jane.doe+x@mail.example.co.uk today").group() == "jane.doe+x@mail.example.co.uk"
