"""forget --no-near-duplicates on a dedup survivor: the best remaining member takes its row in the shard."""

from __future__ import annotations

import json

import pytest

from lineage import audit, erase
from lineage.standing import standing_orders
from tests.lineage.test_audit import ledger_rows, lineage
from tests.lineage.test_erase import assert_dataset_is_sound, snapshot


def fuzzy_survivor(rows: list[dict], before: dict) -> tuple[str, list[str]]:
    """A kept fuzzy survivor in the shards whose cluster others left only by fuzzy dedup (no exact copies)."""
    for r in rows:
        if r["status"] != "kept" or r["dup_survivor"] != r["id"] or r["id"] not in before["rows"]:
            continue
        members = [m for m in rows if m["dup_survivor"] == r["id"] and m["id"] != r["id"]]
        if len(members) >= 2 and all(m["reason"] == f"fuzzy_dedup:near_duplicate_of:{r['id']}" for m in members):
            return r["id"], [m["id"] for m in members]
    raise AssertionError("the demo run has no fuzzy cluster of three or more")


def best_by_length(ids: list[str], texts: dict[str, str]) -> str:
    """The demo recipe's survivor policy, [length desc, id asc], computed here from the rejects' texts."""
    return min(ids, key=lambda i: (-len(texts[i]), i))


@pytest.mark.slow
def test_erasing_a_survivor_alone_promotes_the_best_remaining_member(demo_copy):
    out = demo_copy.output
    before = snapshot(out)
    survivor, members = fuzzy_survivor(ledger_rows(out), before)
    expected = best_by_length(members, before["rejects"])
    row_of_survivor = next(i for i, r in enumerate(sorted(
        (r for r in before["rows"].values() if r["shard"] == before["rows"][survivor]["shard"]),
        key=lambda r: r["token_start"])) if r["id"] == survivor)

    code, output = lineage("forget", "--record", survivor, "--no-near-duplicates", "--dry-run", "--json", "-o", str(out))
    planned = json.loads(output)
    assert code == 0 and [(p["survivor"], p["record"], p["stage"]) for p in planned["promotions"]] == [
        (survivor, expected, "fuzzy_dedup")]
    assert planned["promotions"][0]["policy"] == ["length desc", "id asc"]
    code, output = lineage("forget", "--record", survivor, "--no-near-duplicates", "--dry-run", "-o", str(out))
    assert code == 0 and "promoted in place of an erased survivor" in output and "fuzzy_dedup" in output
    code, output = lineage("forget", "--record", survivor, "--no-near-duplicates", "--reason", "test", "--yes",
                           "-o", str(out))
    assert code == 0 and f"{expected} promoted in place of erased survivor {survivor}" in output

    after = snapshot(out)
    erasure_id = after["manifest"]["erasures"][-1]["erasure_id"]
    # The member is in the survivor's shard, at the survivor's row, with its text from the rejects, tokenized.
    placed = after["rows"][expected]
    assert placed["text"] == before["rejects"][expected] and survivor not in after["rows"]
    assert placed["shard"] == after["manifest"]["erasures"][-1]["shards"][before["rows"][survivor]["shard"]]
    assert audit.trace(str(out), expected)["runs"][0]["placement"]["row"] == row_of_survivor
    assert_dataset_is_sound(demo_copy, out)  # decodes to its text; ledger placement and manifest counts agree
    # It left the rejects; the other members stay dropped there; every other record is untouched.
    assert expected not in after["rejects"]
    assert all(after["rejects"][m] == before["rejects"][m] for m in members if m != expected)
    assert set(after["rows"]) == set(before["rows"]) - {survivor} | {expected}
    assert after["manifest"]["counts"]["promoted"] == 1
    # The ledger says so: kept now by promotion, dropped at the run; the tombstone names the replacement.
    t = audit.trace(str(out), expected)["runs"][0]
    assert (t["status"], t["reason"], t["promoted_by"]) == ("kept", f"promoted:{erasure_id}", erasure_id)
    assert (t["status_at_run"], t["reason_at_run"]) == ("dropped", f"fuzzy_dedup:near_duplicate_of:{survivor}")
    assert t["placement"]["current"]
    code, output = lineage("trace", expected, "-o", str(out))
    assert code == 0 and f"promoted:{erasure_id}" in output
    assert standing_orders(str(out)).erased().replacements == {survivor: expected}
    code, output = lineage("verify", "-o", str(out))
    assert code == 0, output
    # A later erasure that rewrites the same shard keeps the promotion on record.
    other = next(r["id"] for r in after["rows"].values() if r["shard"] == placed["shard"] and r["id"] != expected)
    erase.forget(str(out), audit.Selectors.build(records=[other]), reason="again", near_duplicates=False)
    assert audit.trace(str(out), expected)["runs"][0]["promoted_by"] == erasure_id


@pytest.mark.slow
def test_nothing_is_promoted_for_a_member_a_whole_cluster_or_a_recipe_that_changed_text_after_dedup(demo_copy):
    out = demo_copy.output
    before = snapshot(out)
    survivor, members = fuzzy_survivor(ledger_rows(out), before)
    # A member, not the survivor: the survivor stays, nothing is promoted.
    p = erase.plan(str(out), audit.Selectors.build(records=[members[0]]), near_duplicates=False)
    assert p.promotions == [] and p.warnings == []
    result = erase.execute(p, reason="member")
    assert result["promoted"] == {} and survivor in snapshot(out)["rows"]
    # The survivor with its near duplicates (the default): they all go, nothing takes its place.
    p = erase.plan(str(out), audit.Selectors.build(records=[survivor]))
    assert p.promotions == [] and set(members) <= {t.id for t in p.targets}
    erase.execute(p, reason="cluster")
    after = snapshot(out)
    assert not ({survivor, *members} & (set(after["rows"]) | set(after["rejects"])))
    assert set(after["rows"]) == set(before["rows"]) - {survivor}
    # A recipe with a text-changing stage after dedup: the rejects' text never went through it, so no promotion.
    second, others = fuzzy_survivor(ledger_rows(out), after)
    manifest = json.loads((out / "manifest.json").read_text())
    last = max(s["stage_index"] for s in manifest["stages"])
    manifest["stages"].append({**manifest["stages"][0], "stage_index": last + 1})  # normalize, again, after dedup
    (out / "manifest.json").write_text(json.dumps(manifest))
    p = erase.plan(str(out), audit.Selectors.build(records=[second]), near_duplicates=False)
    assert p.promotions == [] and any(second in w and "run the recipe again" in w for w in p.warnings)


@pytest.mark.slow
def test_placement_patches_written_before_promotions_still_read(demo_copy):
    """Outputs erased before placement patches had a ``reason`` column: the ledger view reads them as no promotion."""
    import pyarrow.parquet as pq

    out = demo_copy.output
    survivor, _ = fuzzy_survivor(ledger_rows(out), snapshot(out))
    erase.forget(str(out), audit.Selectors.build(records=[survivor]), reason="old")
    for f in (out / "ledger" / "placement").glob("*.parquet"):
        pq.write_table(pq.read_table(f).drop_columns(["reason"]), f)
    t = audit.trace(str(out), survivor)["runs"][0]
    assert t["status"] == "erased" and t["promoted_by"] is None
    code, output = lineage("verify", "-o", str(out))
    assert code == 0, output
