"""Generated records on the governance path: chat template, provenance in the ledger, CLI."""

from __future__ import annotations

import glob
import json

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from operators.core.schema import content_hash
from synth.loopback import LoopbackServer
from synth.operator import SynthRecord, chat_template
from tests.conftest import make_table


def _synth_table(metas):
    table = make_table(["plain"] * len(metas))
    return table.set_column(table.schema.get_field_index("meta"), "meta", pa.array([json.dumps(m) if m else None for m in metas], pa.string()))


def test_synth_record_renders_chat_template_and_lifts_provenance():
    gen = {"model": "m", "backend": "http", "method": "self_instruct", "template_version": "self_instruct/1", "params": "{}"}
    msgs = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]
    table = _synth_table([
        {"messages": msgs, "parents": ["si-1", "seed-003"], "generator": gen},
        None,  # scraped text in the same run passes unchanged
        {"messages": [{"role": "user"}], "parents": ["si-2"], "generator": gen},
    ])  # fmt: skip
    out = SynthRecord()(table)
    text = out.column("text")[0].as_py()
    assert "<|im_start|>user\nName a colour.<|im_end|>" in text and "<|im_start|>assistant\nBlue.<|im_end|>" in text
    assert out.column("content_hash")[0].as_py() == content_hash(text)
    assert out.column("text")[1].as_py() == "plain"
    assert out.column("parents").to_pylist() == [["si-1", "seed-003"], None, ["si-2"]]
    assert out.column("generator")[0].as_py() == gen
    assert out.column("keep").to_pylist() == [True, True, False]
    assert out.column("drop_reason")[2].as_py() == "synth_record:bad_messages"


def test_chat_template_from_a_model_folder(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{% for m in messages %}[{{m.role}}]{{m.content}}{% endfor %}"}))
    op = SynthRecord(tokenizer=str(tmp_path))
    op.setup()
    assert op.render([{"role": "user", "content": "hi"}]) == "[user]hi"
    assert "im_start" in chat_template("smollm2")


@pytest.mark.slow
def test_assay_synth_end_to_end_ledger_has_parents_and_generator(tmp_path):
    from pipelines.cli import main

    out = tmp_path / "out"
    with LoopbackServer() as server:
        args = ["synth", "--out", str(out), "--target", "6", "--max-rounds", "2", "--backend", "http",
                "--base-url", server.base_url, "--model", "loopback", "--local"]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        calls = server.requests
        # the same command again resumes: nothing left to call, the pipeline runs again
        again = CliRunner().invoke(main, args)
        assert again.exit_code == 0, again.output
        assert server.requests == calls
    records = [json.loads(x) for x in (out / "synth" / "records.jsonl").read_text().splitlines()]
    assert records
    ledger = pq.read_table(sorted(glob.glob(str(out / "ledger" / "run=*")))[-1]).to_pylist()
    assert len(ledger) == len(records)
    by_task = {r["task_id"]: r for r in records}
    for row in ledger:
        assert row["generator"]["model"] == "loopback" and row["generator"]["method"] == "self_instruct"
        assert row["parents"][0] in by_task and row["parents"] == by_task[row["parents"][0]]["parents"]
    kept = [r for r in ledger if r["status"] == "kept"]
    assert kept
    shard = sorted(glob.glob(str(out / "shards" / "*.arrow")))[0]
    with ipc.open_stream(shard) as f:
        texts = f.read_all().column("text").to_pylist()
    assert all(t.startswith("<|im_start|>") and "<|im_start|>assistant\n" in t for t in texts)
