import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from operators.core.schema import IMAGE_TEXT_SCHEMA, bytes_hash, record_id
from operators.formats.readers import SourceSpec, expand, infer_format, read_file


def png(colour=(200, 20, 20), size=(40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def write_tar(path, members: list[tuple[str, bytes]]) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def read_all(path, **kw):
    spec = SourceSpec(path, **kw)
    tables = list(read_file(path, spec, batch_rows=2))
    for t in tables:
        assert t.schema == IMAGE_TEXT_SCHEMA
    return {r["locator"]: r for r in pa.concat_tables(tables).to_pylist()}


def test_webdataset_pairs_from_txt_and_json_and_the_broken_ones_quarantined(tmp_path):
    red, blue = png(), png((0, 0, 200))
    path = write_tar(
        tmp_path / "shard-000.tar",
        [
            ("a/0001.jpg", red),
            ("a/0001.txt", b"a red square\n"),
            ("a/0002.png", blue),
            ("a/0002.json", json.dumps({"caption": "a blue square", "url": "http://x"}).encode()),
            ("a/0003.txt", b"caption without an image"),
            ("a/0004.png", red),  # image without a caption
            ("a/0005.png", red),
            ("a/0005.txt", b"bad \xff byte"),
            ("a/0006.png", b""),  # zero-size image: read; the hygiene stage drops it
            ("a/0006.txt", b"empty"),
        ],
    )
    assert infer_format(path) == ("webdataset", None)
    rows = read_all(path, text_field="caption")
    assert list(rows) == [f"key:a/000{i}" for i in range(1, 7)]
    first = rows["key:a/0001"]
    assert first["text"] == "a red square" and first["image"] == red and first["image_hash"] == bytes_hash(red)
    assert first["keep"] and first["id"] == record_id(path, "key:a/0001")
    second = rows["key:a/0002"]
    assert second["text"] == "a blue square" and second["image"] == blue
    assert json.loads(second["meta"]) == {"url": "http://x", "image_ext": "png"}
    assert rows["key:a/0003"]["drop_reason"].startswith("quarantine:missing_image")
    assert rows["key:a/0004"]["drop_reason"].startswith("quarantine:missing_caption")
    assert rows["key:a/0005"]["drop_reason"].startswith("quarantine:invalid_utf8")
    assert all(rows[k]["quarantined"] for k in ("key:a/0003", "key:a/0004", "key:a/0005"))
    assert rows["key:a/0006"]["keep"] and rows["key:a/0006"]["image"] == b""


@pytest.mark.parametrize("extra", [0, 100])  # cut at a member boundary, and inside a member
def test_truncated_tar_keeps_what_came_before_and_quarantines_the_rest(tmp_path, extra):
    members = [(f"{i:04d}.png", png((i * 40, 0, 0), (64, 64))) for i in range(4)]
    members = [m for i, (name, data) in enumerate(members) for m in ((name, data), (f"{i:04d}.txt", b"red"))]
    whole = write_tar(tmp_path / "whole.tar", members)
    data = Path(whole).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: 5120 + extra])
    rows = read_all(str(cut))
    good = [r for r in rows.values() if r["keep"]]
    bad = [r for r in rows.values() if r["quarantined"]]
    assert 1 <= len(good) < 4
    assert len(bad) == 1 and "unreadable_rest_of_file" in bad[0]["drop_reason"]


def test_parquet_with_bytes_structs_and_relative_paths(tmp_path):
    red = png()
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "b.png").write_bytes(png((0, 200, 0)))
    table = pa.table(
        {
            "caption": ["bytes", "struct", "path", "missing path", "no image", None],
            "image": [
                {"bytes": red, "path": None},
                {"bytes": red, "path": "ignored.png"},
                {"bytes": None, "path": "img/b.png"},
                {"bytes": None, "path": "img/nope.png"},
                None,
                {"bytes": red, "path": None},
            ],
            "width": [40, 40, 40, 40, 40, 40],
        }
    )
    path = str(tmp_path / "pairs.parquet")
    pq.write_table(table, path)
    [uri] = expand(SourceSpec(path))
    rows = read_all(uri, text_field="caption", image_field="image")
    assert rows["row:0"]["image"] == red and rows["row:0"]["text"] == "bytes"
    assert json.loads(rows["row:0"]["meta"]) == {"width": 40}
    assert rows["row:1"]["image"] == red
    assert rows["row:2"]["image"] == (tmp_path / "img" / "b.png").read_bytes()
    assert rows["row:3"]["drop_reason"].startswith("quarantine:unreadable_image_path")
    assert rows["row:4"]["drop_reason"].startswith("quarantine:missing_image")
    assert rows["row:5"]["drop_reason"].startswith("quarantine:missing_caption")


def test_parquet_image_paths_as_strings_and_a_missing_column(tmp_path):
    (tmp_path / "x.png").write_bytes(png())
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["a red square"], "file": ["x.png"]}), path)
    rows = read_all(str(path), image_field="file")
    assert rows["row:0"]["keep"] and json.loads(rows["row:0"]["meta"]) == {"image_path": "x.png"}
    rows = read_all(str(path), image_field="jpg")
    [only] = rows.values()
    assert only["quarantined"] and "no image column 'jpg'" in only["drop_reason"]


def test_fsspec_memory_url_webdataset():
    import fsspec

    fs = fsspec.filesystem("memory")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("k.png", png()), ("k.txt", b"a red square")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    fs.pipe("/wds/shard-0.tar", buf.getvalue())
    [uri] = expand(SourceSpec("memory://wds/*.tar"))
    rows = read_all(uri)
    assert rows["key:k"]["text"] == "a red square" and rows["key:k"]["keep"]


def test_an_oversized_caption_is_quarantined_like_an_oversized_document(tmp_path):
    path = write_tar(tmp_path / "a.tar", [("0.png", png()), ("0.txt", b"a red square"),
                                          ("1.png", png()), ("1.txt", b"x" * 500)])
    rows = read_all(path, format="webdataset", max_doc_bytes=100)
    assert not rows["key:0"]["quarantined"] and rows["key:0"]["text"] == "a red square"
    assert rows["key:1"]["quarantined"] and rows["key:1"]["drop_reason"].startswith("quarantine:too_large: caption")


def test_webdataset_caption_files_lose_a_leading_byte_order_mark(tmp_path):
    red = png()
    path = write_tar(tmp_path / "bom.tar", [
        ("0001.png", red), ("0001.txt", b"\xef\xbb\xbfa red square\r\n"),
        ("0002.png", red), ("0002.json", b'\xef\xbb\xbf{"caption": "a second square"}'),
    ])  # fmt: skip
    rows = read_all(path, text_field="caption")
    assert [r["text"] for r in rows.values()] == ["a red square", "a second square"]
