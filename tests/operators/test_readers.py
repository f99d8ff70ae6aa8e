import bz2
import gzip
import json
import lzma
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from operators.core.schema import record_id
from operators.formats.readers import SourceError, SourceSpec, expand, read_file
from tests.conftest import write_jsonl


def read_all(path, **kw):
    tables = list(read_file(path, SourceSpec(path, **kw), batch_rows=2))
    return pa.concat_tables(tables).to_pylist() if tables else []


def test_jsonl_good_and_bad_lines_are_all_accounted_for(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"text": "hello", "url": "u1"}),
        "{not json",
        json.dumps({"body": "no text field"}),
        json.dumps({"text": 7}),
        json.dumps(["a", "list"]),
        "",
        json.dumps({"text": "second good", "n": 1}),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "bad \xff byte"}\n')
    rows = read_all(str(path))
    by_loc = {r["locator"]: r for r in rows}
    assert list(by_loc) == ["line:1", "line:2", "line:3", "line:4", "line:5", "line:7", "line:8"]
    assert by_loc["line:1"]["text"] == "hello" and json.loads(by_loc["line:1"]["meta"]) == {"url": "u1"}
    assert by_loc["line:1"]["keep"] and not by_loc["line:1"]["quarantined"]
    expected = {
        "line:2": "quarantine:bad_json",
        "line:3": "quarantine:missing_field",
        "line:4": "quarantine:wrong_type",
        "line:5": "quarantine:not_an_object",
        "line:8": "quarantine:invalid_utf8",
    }
    for loc, reason in expected.items():
        assert by_loc[loc]["quarantined"] and not by_loc[loc]["keep"]
        assert by_loc[loc]["drop_reason"].startswith(reason), by_loc[loc]["drop_reason"]
    source = by_loc["line:1"]["source"]
    assert source == str(path)  # the pipeline passes file:// URIs from expand()
    assert by_loc["line:7"]["id"] == record_id(source, "line:7")


def test_ids_are_stable_across_reads(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "x"}, {"text": "y"}])
    assert [r["id"] for r in read_all(path)] == [r["id"] for r in read_all(path)]


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_jsonl(tmp_path, suffix):
    data = b"".join(json.dumps({"text": f"doc {i}"}).encode() + b"\n" for i in range(5))
    path = tmp_path / f"in{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else zstandard.ZstdCompressor().compress(data))
    assert [r["text"] for r in read_all(str(path))] == [f"doc {i}" for i in range(5)]


_COMPRESS = {"": bytes, ".gz": gzip.compress, ".zst": zstandard.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@pytest.mark.parametrize("suffix", list(_COMPRESS))
def test_a_leading_byte_order_mark_and_crlf_cost_no_record(tmp_path, suffix):
    # A Windows tool's JSONL: UTF-8 BOM, then CRLF line ends.
    data = b"\xef\xbb\xbf" + b"".join(json.dumps({"text": f"doc {i}"}).encode() + b"\r\n" for i in range(3))
    path = tmp_path / f"win.jsonl{suffix}"
    path.write_bytes(_COMPRESS[suffix](data))
    rows = read_all(str(path))
    assert [(r["locator"], r["text"], r["quarantined"]) for r in rows] == [
        ("line:1", "doc 0", False), ("line:2", "doc 1", False), ("line:3", "doc 2", False)
    ]


def test_a_byte_order_mark_after_the_start_is_data(tmp_path):
    path = tmp_path / "mid.jsonl"
    bom = "\ufeff".encode()
    path.write_bytes(b'{"text": "first"}\n' + bom + b'{"text": "second"}\n' + b'{"text": "in' + bom + b'side"}\n')
    rows = read_all(str(path))
    assert rows[0]["text"] == "first"
    assert rows[1]["quarantined"] and rows[1]["drop_reason"].startswith("quarantine:bad_json")  # only line 1 loses it
    assert rows[2]["text"] == "in\ufeffside"


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_truncated_stream_keeps_what_was_read_and_quarantines_the_rest(tmp_path, suffix):
    # zstd decodes whole blocks (up to 128 kB): enough varied data for several.
    rng = random.Random(0)
    docs = [" ".join(f"w{rng.randrange(100_000)}" for _ in range(60)) for _ in range(3000)]
    data = b"".join(json.dumps({"text": d}).encode() + b"\n" for d in docs)
    blob = gzip.compress(data) if suffix.endswith(".gz") else zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(blob[: len(blob) // 2])
    rows = read_all(str(path))
    good = [r for r in rows if not r["quarantined"]]
    bad = [r for r in rows if r["quarantined"]]
    assert 0 < len(good) < 3000
    assert len(bad) == 1
    assert bad[0]["locator"] == f"line:{len(good) + 1}+"
    assert bad[0]["drop_reason"].startswith("quarantine:unreadable_rest_of_file")


def test_parquet_rows_and_wrong_types(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"content": ["a", None, "c"], "lang": ["en", "fr", "de"]}), path)
    rows = read_all(str(path), text_field="content")
    assert [r["locator"] for r in rows] == ["row:0", "row:1", "row:2"]
    assert [r["quarantined"] for r in rows] == [False, True, False]
    assert rows[1]["drop_reason"] == "quarantine:wrong_type: 'content' is NoneType, expected string"
    assert json.loads(rows[2]["meta"]) == {"lang": "de"}


def test_corrupt_parquet_is_one_quarantined_record(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    rows = read_all(str(path))
    assert len(rows) == 1 and rows[0]["quarantined"]
    assert rows[0]["drop_reason"].startswith("quarantine:unreadable_parquet")


def test_expand_glob_and_missing(tmp_path):
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        (tmp_path / name).write_text("")
    files = expand(SourceSpec(str(tmp_path / "*.jsonl")))
    assert [f.rsplit("/", 1)[1] for f in files] == ["a.jsonl", "b.jsonl"]
    with pytest.raises(SourceError, match="matched no files"):
        expand(SourceSpec(str(tmp_path / "nothing-*.jsonl")))


def test_fsspec_urls(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/bucket/corpus/a.jsonl", "wb") as f:
        f.write(b'{"text": "from memory"}\n{"text": 1}\n')
    files = expand(SourceSpec("memory://bucket/corpus/*.jsonl"))
    assert len(files) == 1 and files[0].startswith("memory://") and files[0].endswith("/bucket/corpus/a.jsonl")
    rows = read_all(files[0])
    assert [r["text"] for r in rows] == ["from memory", None]
    assert rows[0]["source"] == files[0] and rows[1]["quarantined"]
