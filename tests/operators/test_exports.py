"""Exports read back by the training frameworks' own readers: Megatron-Core's IndexedDataset, MosaicML's StreamingDataset."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.exports import ExportError, read_ids, read_sidecar, rewrite_without, sidecar_path, write_export
from operators.exports.megatron import dtype_for, read_index

SMALL_VOCAB = {"name": "test", "path": "/tok.json", "sha256": "ab" * 32, "vocab_size": 49152, "eos_token": "</s>",
               "eos_id": 2}
LARGE_VOCAB = {**SMALL_VOCAB, "vocab_size": 128_256}


def documents(n: int = 20, vocab: int = 49152, seed: int = 0) -> list[pa.Table]:
    """Two batches of documents of uneven lengths, EOS (2) last, as shard batches carry them."""
    rng = np.random.default_rng(seed)
    rows = [{"id": f"rec{i:03d}", "source": f"file:///data/{i % 3}.jsonl", "text": f"document {i} ünïcode",
             "input_ids": [*rng.integers(3, vocab, int(rng.integers(1, 40))).tolist(), 2]} for i in range(n)]
    schema = pa.schema([("id", pa.string()), ("source", pa.string()), ("text", pa.string()),
                        ("input_ids", pa.list_(pa.int32()))])
    return [pa.Table.from_pylist(rows[: n // 2], schema), pa.Table.from_pylist(rows[n // 2 :], schema)]


def meta(tokenizer=SMALL_VOCAB) -> dict:
    return {"run_id": "20260101T000000Z-abcdef12", "tokenizer": tokenizer, "dataset": "demo",
            "shards": [{"shard": "shard-00000-00000.arrow", "sha256": "cd" * 32, "rows": 20, "tokens": 1}]}


def expected(batches):
    return {r["id"]: r["input_ids"] for b in batches for r in b.to_pylist()}


def test_dtype_follows_megatrons_vocabulary_cutoff():
    assert dtype_for(49152) is np.uint16 and dtype_for(65499) is np.uint16
    assert dtype_for(65500) is np.int32 and dtype_for(128_256) is np.int32


@pytest.mark.slow  # importing megatron-core imports torch
@pytest.mark.parametrize("tokenizer", [SMALL_VOCAB, LARGE_VOCAB], ids=["uint16", "int32"])
def test_megatron_export_reads_back_through_megatron_core(tmp_path, tokenizer):
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset",
                                  reason="megatron-core is not installed (pip install 'assay[exports]')")
    batches = documents(vocab=tokenizer["vocab_size"])
    prefix = str(tmp_path / "demo_text_document")
    sidecar = write_export("megatron", batches, prefix, meta(tokenizer))
    ds = indexed.IndexedDataset(prefix)
    want = list(expected(batches).values())
    assert len(ds) == len(want) == sidecar["documents"] == 20
    assert ds.index.dtype == (np.uint16 if tokenizer is SMALL_VOCAB else np.int32)
    # One sequence per document: boundaries kept, EOS last in each.
    assert ds.document_indices.tolist() == list(range(21))
    for i, tokens in enumerate(want):
        assert ds[i].tolist() == tokens and ds[i][-1] == 2
    assert sidecar["tokens"] == sum(map(len, want)) and sidecar["dtype"] == np.dtype(ds.index.dtype).name
    # The sidecar carries the run and the tokenizer; the ids file maps each document index to its record.
    on_disk = read_sidecar("megatron", prefix)
    assert on_disk["run_id"] == "20260101T000000Z-abcdef12" and on_disk["tokenizer"]["sha256"] == "ab" * 32
    assert pq.read_table(prefix + ".ids.parquet").column("id").to_pylist() == list(expected(batches))


def test_token_ids_that_do_not_fit_the_dtype_are_refused(tmp_path):
    batches = documents(vocab=70_000)  # ids above 65535 with a tokenizer that claims a small vocabulary
    with pytest.raises(ExportError, match="does not fit uint16"):
        write_export("megatron", batches, str(tmp_path / "x"), meta(SMALL_VOCAB))


@pytest.mark.slow  # streaming imports torch
def test_mds_export_reads_back_through_streaming_dataset(tmp_path):
    streaming = pytest.importorskip("streaming", reason="mosaicml-streaming is not installed (make test installs it)")
    batches = documents()
    folder = str(tmp_path / "mds")
    write_export("mds", batches, folder, meta())
    ds = streaming.StreamingDataset(local=folder, remote=None, shuffle=False, batch_size=1)
    rows = {r["id"]: r for b in batches for r in b.to_pylist()}
    assert len(ds) == len(rows)
    for i, rid in enumerate(rows):
        sample = ds[i]
        assert sample["id"] == rid and sample["text"] == rows[rid]["text"] and sample["source"] == rows[rid]["source"]
        assert sample["tokens"].dtype == np.uint16 and sample["tokens"].tolist() == rows[rid]["input_ids"]
    index = json.loads((tmp_path / "mds" / "index.json").read_text())
    assert index["assay"]["run_id"] == "20260101T000000Z-abcdef12" and index["assay"]["tokenizer"]["vocab_size"] == 49152


@pytest.mark.slow
def test_mds_matches_what_mdswriter_writes(tmp_path):
    """Byte for byte the shard MosaicML's own MDSWriter writes for the same samples and columns."""
    streaming = pytest.importorskip("streaming", reason="mosaicml-streaming is not installed (make test installs it)")
    batches = documents(6)
    write_export("mds", batches, str(tmp_path / "ours"), meta())
    columns = {"id": "str", "source": "str", "text": "str", "tokens": "ndarray:uint16"}
    with streaming.MDSWriter(out=str(tmp_path / "theirs"), columns=columns) as writer:
        for r in (r for b in batches for r in b.to_pylist()):
            writer.write({**r, "tokens": np.array(r["input_ids"], np.uint16)})
    assert (tmp_path / "ours" / "shard.00000.mds").read_bytes() == (tmp_path / "theirs" / "shard.00000.mds").read_bytes()
    ours = json.loads((tmp_path / "ours" / "index.json").read_text())["shards"]
    theirs = json.loads((tmp_path / "theirs" / "index.json").read_text())["shards"]
    assert ours == theirs


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_text_exports_keep_ids_and_text(tmp_path, fmt):
    batches = documents()
    dest = str(tmp_path / f"demo.{fmt}")
    sidecar = write_export(fmt, batches, dest, meta())
    assert sidecar["documents"] == 20 and read_ids(fmt, dest) == list(expected(batches))
    if fmt == "jsonl":
        first = json.loads((tmp_path / "demo.jsonl").read_text(encoding="utf-8").splitlines()[0])
        assert first == {"id": "rec000", "source": "file:///data/0.jsonl", "text": "document 0 ünïcode"}
    else:
        table = pq.read_table(dest)
        assert table.column_names == ["id", "source", "text"]
        assert json.loads(table.schema.metadata[b"assay"])["run_id"] == "20260101T000000Z-abcdef12"


@pytest.mark.parametrize("fmt", ["megatron", "mds", "jsonl", "parquet"])
def test_rewrite_without_removes_only_the_erased_documents(tmp_path, fmt):
    batches = documents()
    dest = str(tmp_path / ("mds" if fmt == "mds" else f"demo.{fmt}"))
    write_export(fmt, batches, dest, meta())
    sidecar = rewrite_without(fmt, dest, ["rec003", "rec017", "not-there"], "20260102T000000Z-e1")
    want = {k: v for k, v in expected(batches).items() if k not in ("rec003", "rec017")}
    assert read_ids(fmt, dest) == list(want) and sidecar["documents"] == 18
    assert sidecar["erasures"] == ["20260102T000000Z-e1"] and read_sidecar(fmt, dest)["documents"] == 18
    if fmt in ("megatron", "mds"):
        from operators.exports import format_module

        got = {r["id"]: r["input_ids"] for b in format_module(fmt).read(dest) for r in b.to_pylist()}
        assert got == want
    # Nothing left under a temporary name.
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_a_damaged_megatron_export_is_reported_not_misread(tmp_path):
    prefix = str(tmp_path / "d")
    write_export("megatron", documents(), prefix, meta())
    with open(prefix + ".bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(ExportError, match="inconsistent"):
        read_ids("megatron", prefix)
    (tmp_path / "d.idx").write_bytes(b"garbage!")
    with pytest.raises(ExportError, match="not a Megatron indexed dataset"):
        read_index(prefix)
    assert sidecar_path("megatron", prefix) == prefix + ".assay.json"
