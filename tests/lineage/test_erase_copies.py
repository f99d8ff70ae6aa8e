"""Erasure reaches the copies outside the shards: exports (rewritten, or the erasure refuses) and report samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lineage import erase
from lineage.store import Selectors
from operators.exports import export, read_ids, read_index
from operators.formats.shards import read_shard


def current_shard_rows(out) -> dict[str, list[int]]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {r["id"]: r["input_ids"] for e in manifest["shards"]
            for r in read_shard(str(out / "shards" / e["shard"])).select(["id", "input_ids"]).to_pylist()}


def a_kept_record(out) -> str:
    return sorted(current_shard_rows(out))[5]


@pytest.mark.slow  # megatron-core and streaming import torch
def test_forget_rewrites_megatron_and_mds_exports(demo_copy, tmp_path):
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset", reason="megatron-core is not installed")
    streaming = pytest.importorskip("streaming", reason="mosaicml-streaming is not installed")
    out = demo_copy.output
    prefix, mds, jsonl = str(tmp_path / "m" / "demo_text_document"), str(tmp_path / "mds"), str(tmp_path / "t.jsonl")
    for fmt, dest in (("megatron", prefix), ("mds", mds), ("jsonl", jsonl)):
        export(str(out), fmt, dest)
    assert {e["path"] for e in read_index(str(out))} == {prefix, mds, jsonl}
    victim = a_kept_record(out)
    before = len(read_ids("megatron", prefix))

    plan = erase.plan(str(out), Selectors.build(records=[victim]), near_duplicates=False, descendants=False)
    assert plan.to_dict()["copies"]["exports"] == {prefix: 1, mds: 1, jsonl: 1}
    result = erase.execute(plan, actor="test", reason="test: exports")
    assert result["exports"] == {prefix: 1, mds: 1, jsonl: 1}

    # Read back through the frameworks' own readers: the record is gone, every other document is intact
    # and in the same order, and equals the rewritten shards.
    survivors = current_shard_rows(out)
    assert victim not in survivors
    ids = read_ids("megatron", prefix)
    assert victim not in ids and len(ids) == before - 1 == len(survivors)
    ds = indexed.IndexedDataset(prefix)
    assert len(ds) == len(ids)
    for i, rid in enumerate(ids):
        assert ds[i].tolist() == survivors[rid]
    sd = streaming.StreamingDataset(local=mds, remote=None, shuffle=False, batch_size=1)
    assert [sd[i]["id"] for i in range(len(sd))] == ids
    assert all(np.array_equal(sd[i]["tokens"], survivors[sd[i]["id"]]) for i in range(len(sd)))
    assert victim not in read_ids("jsonl", jsonl)
    sidecar = json.loads((tmp_path / "mds" / "assay.json").read_text())
    assert sidecar["erasures"] == [result["erasure_id"]] and sidecar["documents"] == len(ids)

    # The same request again: nothing left anywhere, a no-op.
    again = erase.plan(str(out), Selectors.build(records=[victim]), near_duplicates=False, descendants=False)
    assert again.noop


def test_forget_refuses_when_an_export_cannot_be_checked_and_changes_nothing(demo_copy, tmp_path):
    out = demo_copy.output
    prefix = str(tmp_path / "demo_text_document")
    export(str(out), "megatron", prefix)
    with open(prefix + ".bin", "r+b") as f:  # damaged after it was made
        f.truncate(100)
    manifest = (out / "manifest.json").read_text()
    victim = a_kept_record(out)
    plan = erase.plan(str(out), Selectors.build(records=[victim]), near_duplicates=False, descendants=False)
    assert plan.copies.blocked and prefix in plan.copies.blocked[0]
    with pytest.raises(erase.ErasureError, match="nothing was erased") as e:
        erase.execute(plan, actor="test", reason="test: refusal")
    assert prefix in str(e.value)
    assert (out / "manifest.json").read_text() == manifest and victim in current_shard_rows(out)
    assert not (out / "ledger" / "tombstones").exists()


def test_forget_cuts_erased_samples_out_of_reports(demo_copy):
    from pipelines.report.build import write_report

    out = demo_copy.output
    page = Path(write_report(str(out)))
    snapshot = json.loads(page.with_suffix(".json").read_text())
    shown = snapshot["sample_ids"]
    assert shown, "the demo run's report shows scrubbed samples"
    victim = shown[0]
    html = page.read_text()
    assert f"<!--sample:{victim}-->" in html
    result = erase.forget(str(out), Selectors.build(records=[victim]), actor="test", reason="test: report",
                          near_duplicates=False, descendants=False)
    html = page.read_text()
    assert victim not in html and f"erasure {result['erasure_id']}" in html
    assert all(f"<!--sample:{other}-->" in html for other in shown[1:])  # only the erased sample went
    assert victim not in json.loads(page.with_suffix(".json").read_text())["sample_ids"]


def test_export_command_writes_lists_and_names_what_it_wrote(demo_copy, tmp_path):
    """`assay export` on a run's output: the file, its sidecar, the index entry; an output with no run says so."""
    from click.testing import CliRunner

    from pipelines.cli import main

    out, dest = demo_copy.output, tmp_path / "demo.jsonl"
    result = CliRunner().invoke(main, ["export", str(out), str(dest), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    kept = current_shard_rows(out)
    assert sorted(read_ids("jsonl", str(dest))) == sorted(kept)
    assert f"exported {len(kept):,} documents" in result.output and str(dest) in result.output
    assert [e["path"] for e in read_index(str(out))] == [str(dest)]

    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["export", str(empty), str(tmp_path / "x.jsonl"), "--format", "jsonl"])
    assert result.exit_code != 0 and "run a recipe into" in result.output
