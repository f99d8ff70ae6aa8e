import io
import struct
import zlib

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from filters.image_hygiene import ImageHygiene, dhash
from operators.core.schema import record_id, records_table
from operators.dedup.image import ImageDedup
from tests.conftest import run_global_stage


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def photo(size=(96, 64), seed=0) -> Image.Image:
    """A smooth random picture (blobs of colour), so hashes and JPEG cuts are meaningful."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8))
    return small.resize(size, Image.Resampling.BICUBIC)


def png_claiming(width: int, height: int) -> bytes:
    """A real PNG whose header says ``width x height``: a decompression bomb's signature."""
    data = encode(Image.new("L", (8, 8)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return data[:8] + patched + data[8 + len(patched) :]


def pairs(images: list[bytes | None], source: str = "t") -> pa.Table:
    return records_table([f"caption {i}" for i in range(len(images))], source, images=images)

def reasons(table: pa.Table) -> list[str | None]:
    return table.column("drop_reason").to_pylist()


def test_every_hygiene_rule_with_a_real_broken_file():
    jpeg = encode(photo((128, 96)), "JPEG")
    cases = {
        "good_png": (encode(photo()), None),
        "good_jpeg": (jpeg, None),
        "zero_size": (b"", "image_hygiene:zero_size"),
        "not_an_image": (b"<html>404 not found</html>", "image_hygiene:undecodable"),
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "image_hygiene:truncated"),
        "truncated_png": (encode(photo((128, 96)))[:-200], "image_hygiene:truncated"),
        "bomb": (png_claiming(40_000, 40_000), "image_hygiene:decompression_bomb"),
        "tiny": (encode(Image.new("RGB", (16, 16), "red")), "image_hygiene:too_small"),
        "banner": (encode(Image.new("RGB", (700, 40), "blue")), "image_hygiene:aspect_ratio"),
    }
    table = ImageHygiene()(pairs([data for data, _ in cases.values()]))
    assert table.num_rows == len(cases)
    assert dict(zip(cases, reasons(table), strict=True)) == {k: r for k, (_, r) in cases.items()}
    rows = table.to_pylist()
    assert rows[0]["image_width"] == 96 and rows[0]["image_height"] == 64 and rows[0]["image_format"] == "PNG"
    assert rows[1]["image_format"] == "JPEG" and len(rows[1]["image_phash"]) == 16
    assert rows[6]["image_width"] == 40_000  # read from the header; no pixel decoded


def test_limits_come_from_the_config():
    image = encode(photo((120, 40)))  # 4800 pixels, aspect 3
    table = pairs([image, image, image])
    assert reasons(ImageHygiene(max_pixels=4000)(table))[0] == "image_hygiene:decompression_bomb"
    assert reasons(ImageHygiene(max_aspect_ratio=2.5)(table))[0] == "image_hygiene:aspect_ratio"
    assert reasons(ImageHygiene(min_side=41)(table))[0] == "image_hygiene:too_small"
    assert reasons(ImageHygiene()(table)) == [None, None, None]


def test_dhash_survives_reencoding_and_resizing_but_tells_pictures_apart():
    a = photo((200, 150), seed=0)
    same = dhash(Image.open(io.BytesIO(encode(a.resize((100, 75)), "JPEG"))))
    assert dhash(a) == same
    assert dhash(a) != dhash(photo((200, 150), seed=3))


@pytest.mark.parametrize("perceptual", [False, True])
def test_image_dedup_across_parts(tmp_path, perceptual):
    original = photo((160, 120))
    png_bytes = encode(original)
    resized_jpeg = encode(original.resize((80, 60)), "JPEG")
    other = encode(photo((160, 120), seed=2))
    hygiene = ImageHygiene(min_side=8)
    part_a = hygiene(pairs([png_bytes, other], source="a"))
    part_b = hygiene(pairs([png_bytes, resized_jpeg], source="b"))
    out = run_global_stage(ImageDedup(perceptual=perceptual), [part_a, part_b], tmp_path)
    kept = [r["keep"] for t in out for r in t.to_pylist()]
    # a/0 and b/0 are the same bytes; b/1 is the same picture re-encoded smaller.
    survivor = min(record_id("a", "0"), record_id("b", "0"), *( [record_id("b", "1")] if perceptual else []))
    ids = [r["id"] for t in out for r in t.to_pylist()]
    expected_dups = {record_id("a", "0"), record_id("b", "0")} | ({record_id("b", "1")} if perceptual else set())
    for rid, keep in zip(ids, kept, strict=True):
        assert keep == (rid not in expected_dups or rid == survivor), rid
    dropped = [r for t in out for r in t.to_pylist() if not r["keep"]]
    assert all(r["drop_reason"] == "image_dedup:duplicate" and r["dup_survivor"] == survivor for r in dropped)
