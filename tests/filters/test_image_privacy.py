"""image_privacy on real photographs: faces and personal text hidden, metadata gone, one re-encode, failures dropped."""

import io
import random

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import require_extra, set_up

require_extra("images", "cv2", "rapidocr_onnxruntime", "onnxruntime", "facenet_pytorch")

from PIL import Image  # noqa: E402

from filters.image_metadata import metadata_kinds  # noqa: E402
from filters.image_privacy import ImagePrivacy  # noqa: E402
from filters.image_regions import HaarFaces, MtcnnFaces, TextLines, name_shaped, number_kind  # noqa: E402
from operators.core.schema import bytes_hash, records_table  # noqa: E402
from tests import privacy_samples as samples  # noqa: E402


@pytest.fixture(scope="module")
def privacy():
    """The operator with its models loaded once for the module (MTCNN, PP-OCRv4, spaCy)."""
    return set_up(ImagePrivacy())


def sharing(base: ImagePrivacy, **params) -> ImagePrivacy:
    """Another configuration of the operator that reuses ``base``'s loaded detectors (same detection settings)."""
    op = ImagePrivacy(**params)
    op.__dict__.update({k: v for k, v in base.__dict__.items() if k.startswith("_model")})
    if op.config.faces == "keep":
        op._model_faces = None
    if op.config.text == "keep":
        op._model_text = op._model_pii = None
    op._ready = True
    return op


def run(op, images: list[bytes | None], captions=None) -> pa.Table:
    return op(records_table(captions or [f"pair {i}" for i in range(len(images))], "t", images=images))


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def faces_pictures():
    rng = random.Random(7)
    crops = samples.lfw_faces()
    return [samples.astronaut()] + [samples.face_picture("tune", rng, crops) for _ in range(3)]


@pytest.mark.parametrize("mode", ["blur", "pixelate", "box"])
def test_a_hidden_face_is_no_longer_detected(privacy, faces_pictures, mode):
    if mode != "blur":  # the other modes on fewer pictures: the suite stays quick
        faces_pictures = faces_pictures[:2]
    op = sharing(privacy, faces=mode, text="keep")
    out = run(op, [samples.jpeg(p.image) for p in faces_pictures])
    detectors = [MtcnnFaces(), HaarFaces(min_neighbors=3)]
    truth = [box for p in faces_pictures for box in p.of("face")]
    before = [b for p in faces_pictures for d in detectors for b in d.find(np.asarray(p.image))]
    assert sum(any(overlaps(t, b) for b in before) for t in truth) >= len(truth) - 1  # the detectors do see them
    for picture, data in zip(faces_pictures, out.column("image").to_pylist(), strict=True):
        after = [b for d in detectors for b in d.find(decoded(data))]
        assert not any(overlaps(t, b) for t in picture.of("face") for b in after), (mode, picture.source, after)
    assert out.column("keep").to_pylist() == [True] * len(faces_pictures)
    regions = out.column("image_regions").to_pylist()
    assert all({"kind": "face", "count": r[0]["count"], "action": mode} == r[0] for r in regions)


def test_a_hidden_name_is_no_longer_read_by_ocr_and_a_shop_sign_still_is(privacy):
    image = samples.photo("coffee")
    from PIL import ImageDraw

    pen = ImageDraw.Draw(image)
    bold = samples.font(samples.font_files("tune")[0], 30)
    pen.rectangle((30, 30, 330, 140), fill=(250, 250, 250))
    pen.text((45, 40), "Anna Keller", font=bold, fill=(10, 10, 10))
    pen.text((45, 90), "+1 415 555 0132", font=bold, fill=(10, 10, 10))
    pen.rectangle((330, 300, 560, 360), fill=(20, 90, 50))
    pen.text((345, 310), "Fresh Coffee", font=bold, fill=(255, 255, 255))
    ocr = TextLines()
    before = " ".join(line.text for line in ocr.find(np.asarray(image)))
    assert "Keller" in before and "Coffee" in before

    out = run(privacy, [samples.jpeg(image)])
    after = " ".join(line.text for line in ocr.find(decoded(out.column("image")[0].as_py())))
    assert "Anna" not in after and "Keller" not in after and "415" not in after and "0132" not in after
    assert "Fresh Coffee" in after  # not personal: kept under the default policy
    kinds = {r["kind"]: r for r in out.column("image_regions")[0].as_py()}
    assert kinds["text:PERSON"]["action"] == "blur" and kinds["text:PHONE_NUMBER"]["action"] == "blur"
    assert kinds["text"] == {"kind": "text", "count": 1, "action": "keep"}
    assert out.column("image_regions_hidden").to_pylist() == [2]


def test_policy_all_hides_every_line(privacy):
    rng = random.Random(3)
    picture = samples.text_picture("tune", rng, kinds=("sign", "plate"))
    op = sharing(privacy, text_policy="all", faces="keep")
    op._model_text = TextLines(recognise=False)
    out = run(op, [samples.jpeg(picture.image)])
    after = " ".join(line.text for line in TextLines().find(decoded(out.column("image")[0].as_py())))
    for _, _, text, _ in picture.boxes:
        assert text not in after
    assert {r["kind"] for r in out.column("image_regions")[0].as_py()} == {"text:any"}


@pytest.mark.parametrize(
    "line", ["+33 (0)3 87 17 77 63", "ID 4481902", "TSA 3555", "PA-907-MN", "YO31PUM", "B-AK 4821", "7ABC123", "36-RL-DL", "KABB402"]
)
def test_numbers_and_plates_are_personal(line):
    assert number_kind(line, 5) == "number"


@pytest.mark.parametrize(
    "line", ["Since 1985", "EXIT 25", "ROUTE 66", "A4 PAPER", "OPEN", "Fresh Coffee", "Platform 9", "COVID-19", "GATE B12"]
)
def test_ordinary_words_and_short_numbers_are_not(line):
    assert number_kind(line, 5) is None


@pytest.mark.parametrize("row", ["Sonia Rybus", "Maya van Luinenburg", "Hedvika Kolarova", "Eunan Lyne", "Jan Kowalski-Nowak"])
def test_names_english_ner_does_not_know_are_name_shaped(row):
    assert name_shaped(row, 3.0)


@pytest.mark.parametrize(
    "row", ["Fresh Coffee", "Main Street", "Sales Manager", "Hello my name is", "Library", "Rybus", "Open 24 Hours",
            "Welcome to the Museum of Modern Art"]
)
def test_signs_titles_and_single_words_are_not(row):
    assert not name_shaped(row, 3.0)


def test_a_plate_or_name_cut_in_two_lines_is_read_as_its_row():
    from filters.image_regions import TextLine, line_kinds

    def no_pii(texts):
        return [[] for _ in texts]

    page = [TextLine((10, 10, 60, 40), "KUQ", 1.0), TextLine((70, 11, 120, 41), "182", 1.0),
            TextLine((10, 80, 90, 100), "Sonia", 1.0), TextLine((100, 80, 180, 101), "Rybus", 1.0),
            TextLine((10, 140, 200, 160), "Fresh Coffee", 1.0)]
    assert line_kinds([page], no_pii, 5, 3.0) == [["text:number", "text:number", "text:name", "text:name", "text"]]


def test_metadata_is_removed_orientation_applied_and_quality_kept(privacy):
    image = samples.photo("chelsea")  # a cat: nothing to hide but the metadata
    data = samples.with_metadata(image, quality=83, orientation=6)  # 6: shown turned 90 degrees clockwise
    source = Image.open(io.BytesIO(data))
    assert {"gps", "serial", "owner", "xmp", "iptc"} <= set(metadata_kinds(source))

    out = run(privacy, [data])
    result = out.column("image")[0].as_py()
    for marker in (b"Exif\x00\x00", b"ns.adobe.com/xap", b"Photoshop 3.0", samples.OWNER.encode(), samples.SERIAL.encode()):
        assert marker not in result
    shown = Image.open(io.BytesIO(result))
    assert metadata_kinds(shown) == [] and shown.format == "JPEG"
    assert shown.size == (image.height, image.width)  # turned as the EXIF orientation said
    assert shown.quantization == source.quantization  # the same quality, re-encoded once
    assert out.column("image_hash")[0].as_py() == bytes_hash(data)  # the input's hash stays beside
    assert out.column("image_output_hash")[0].as_py() == bytes_hash(result)
    removed = {r["kind"] for r in out.column("image_regions")[0].as_py() if r["action"] == "removed"}
    assert {"exif", "gps", "serial", "owner", "xmp", "iptc"} <= removed


def test_a_clean_image_passes_through_byte_for_byte_and_png_text_is_stripped(privacy):
    from PIL import PngImagePlugin

    clean = io.BytesIO()
    samples.photo("flower").save(clean, "PNG")
    tagged = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", samples.OWNER)
    samples.photo("flower").save(tagged, "PNG", pnginfo=info)
    out = run(privacy, [clean.getvalue(), tagged.getvalue()])
    first, second = out.column("image").to_pylist()
    assert first == clean.getvalue() and out.column("image_output_hash")[0].as_py() == bytes_hash(first)
    assert samples.OWNER.encode() not in second and Image.open(io.BytesIO(second)).format == "PNG"
    assert np.array_equal(decoded(second), decoded(tagged.getvalue()))  # PNG stays lossless


def test_drop_mode_drops_the_pair_with_the_kind_as_reason(privacy, faces_pictures):
    op = sharing(privacy, faces="drop", text="keep")
    out = run(op, [samples.jpeg(faces_pictures[0].image), samples.jpeg(samples.photo("coffee"))])
    assert out.column("keep").to_pylist() == [False, True]
    assert out.column("drop_reason").to_pylist() == ["image_privacy:face", None]


def test_bad_images_and_detector_failures_are_dropped_with_a_reason_not_raised(privacy, monkeypatch):
    good = samples.jpeg(samples.photo("coffee"))
    broken = [b"", b"not an image at all", good[: len(good) // 3]]
    animated = io.BytesIO()
    frames = [samples.photo("moon", 64), samples.photo("coffee", 64)]
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:])
    op = sharing(privacy)
    faces = op._model_faces

    class Exploding:
        def find(self, rgb):
            if rgb.shape[1] == 333:  # only the picture made to trip it
                raise RuntimeError("detector bug")
            return faces.find(rgb)

    op._model_faces = Exploding()
    trip = samples.jpeg(samples.photo("coffee").resize((333, 222)))
    out = run(op, [*broken, animated.getvalue(), trip, good])
    assert out.num_rows == 6
    assert out.column("drop_reason").to_pylist() == [
        "image_privacy:undecodable", "image_privacy:undecodable", "image_privacy:undecodable",
        "image_privacy:animated", "image_privacy:failed", None,
    ]


def test_only_kept_rows_are_touched_and_text_records_are_refused(privacy):
    table = records_table(["a", "b"], "t", images=[samples.jpeg(samples.astronaut().image)] * 2)
    table = table.set_column(table.schema.get_field_index("keep"), "keep", pa.array([False, True]))
    out = privacy(table)
    assert out.column("image")[0].as_py() == table.column("image")[0].as_py()
    assert out.column("image")[1].as_py() != table.column("image")[1].as_py()
    assert out.column("image_regions")[0].as_py() is None
    with pytest.raises(TypeError, match="image-text pairs"):
        privacy(records_table(["text only"]))


def test_before_and_after_pictures_for_the_readme(privacy, tmp_path):
    """Real photographs before and after the stage's defaults; ASSAY_SAVE_SCREENSHOT=1 refreshes docs/image-privacy.jpg."""
    import os
    from pathlib import Path

    rng = random.Random(1)  # a seed whose text picture has a badge, a card and a shop sign, over a flower
    pictures = [samples.astronaut(), samples.text_picture("heldout", rng, kinds=("badge", "card", "sign", "plate")),
                samples.face_picture("heldout", rng)]
    befores = [samples.with_metadata(p.image) for p in pictures]
    out = run(privacy, befores)
    afters = out.column("image").to_pylist()
    assert all(metadata_kinds(Image.open(io.BytesIO(a))) == [] for a in afters)
    assert all(any(r["action"] == "blur" for r in regions) for regions in out.column("image_regions").to_pylist())
    height = 300
    tiles = []
    for data in [*befores, *afters]:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        tiles.append(image.resize((round(image.width * height / image.height), height), Image.Resampling.LANCZOS))
    width = sum(t.width for t in tiles[: len(befores)]) + 8 * (len(befores) - 1)
    sheet = Image.new("RGB", (width, 2 * height + 8), "white")
    for row in range(2):
        x = 0
        for tile in tiles[row * len(befores) : (row + 1) * len(befores)]:
            sheet.paste(tile, (x, row * (height + 8)))
            x += tile.width + 8
    path = tmp_path / "image-privacy.jpg"
    sheet.save(path, "JPEG", quality=85)
    if os.environ.get("ASSAY_SAVE_SCREENSHOT"):
        (Path(__file__).resolve().parents[2] / "docs" / "image-privacy.jpg").write_bytes(path.read_bytes())


def test_gpus_only_where_mtcnn_looks_for_faces():
    from operators.core.base import Role

    assert ImagePrivacy.role is Role.MAPPER and ImagePrivacy().resources.model
    assert ImagePrivacy().resources.gpus == 1 and ImagePrivacy(num_gpus=0.25).resources.gpus == 0.25
    for cpu_only in (ImagePrivacy(device="cpu"), ImagePrivacy(face_detector="haar"), ImagePrivacy(faces="keep")):
        assert cpu_only.resources.gpus == 0


def test_personal_text_is_found_by_the_registered_pii_operator():
    """The coupling to pii is its public face: the registry name, ``entities``, the ``pii`` column."""
    from filters.image_regions import PersonalText

    found = PersonalText(["PERSON", "PHONE_NUMBER"])(["Call Anna Keller on +1 415 555 0132", "Fresh Coffee", ""])
    assert {f["type"] for f in found[0]} == {"PERSON", "PHONE_NUMBER"} and found[1:] == [[], []]
    assert {f["type"] for f in PersonalText(["PHONE_NUMBER"])(["Anna Keller, +1 415 555 0132"])[0]} == {"PHONE_NUMBER"}


def test_a_missing_mtcnn_says_how_to_install_it_without_downgrading_torch(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "facenet_pytorch" else real(name, *a))
    message = ImagePrivacy.missing_extra()
    assert "'images' extra" in message and "pip install --no-deps facenet-pytorch==2.6.0" in message
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert ImagePrivacy.missing_extra() is None
