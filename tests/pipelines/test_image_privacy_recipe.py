"""The packaged image_privacy recipe end to end on real photographs (in-process), and as a Dagster asset group."""

import io
import random

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import yaml

from tests.conftest import require_extra

require_extra("images", "cv2", "rapidocr_onnxruntime", "onnxruntime", "nudenet", "facenet_pytorch")

from PIL import Image  # noqa: E402

from filters.clip import ClipModel, ClipScoreConfig  # noqa: E402
from filters.image_metadata import metadata_kinds  # noqa: E402
from filters.image_regions import MtcnnFaces  # noqa: E402
from operators.core.schema import bytes_hash  # noqa: E402
from operators.execution.executor import LocalExecutor  # noqa: E402
from operators.formats.shards import read_shard  # noqa: E402
from pipelines.orchestrate.definitions import recipe_definitions  # noqa: E402
from pipelines.orchestrate.spec import RecipeSpec, recipe_files  # noqa: E402
from pipelines.recipe import RecipeError, load  # noqa: E402
from tests import privacy_samples as samples  # noqa: E402
from tests.clip_tiny import write_webdataset  # noqa: E402


def packaged():
    return next(p for p in recipe_files() if p.stem == "image_privacy")


def test_the_recipe_hides_before_clip_scores_and_is_a_dagster_group():
    spec = RecipeSpec.from_file(packaged())
    stages = list(spec.stages)
    assert stages.index("image_hygiene") < stages.index("nsfw") < stages.index("image_privacy") < stages.index("clip_score")
    assert spec.image_text and spec.dedup_stages == ("image_dedup",)
    # nsfw by threshold is a stream filter; clip_score by keep_fraction ranks the whole run.
    assert spec.global_stages == ("clip_score", "image_dedup")
    defs = recipe_definitions(packaged())
    assert {a.key.path[0] for a in defs.assets} >= {"image_privacy_raw_documents", "image_privacy_training_shards"}
    assert {a.group_names_by_key[a.key] for a in defs.assets} == {"image_privacy"}


def test_without_the_extra_the_group_is_drawn_and_a_run_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    assert RecipeSpec.from_file(packaged()).key == "image_privacy"  # the code location still loads
    with pytest.raises(RecipeError, match=r"stages\[2\]\.op: operator 'image_privacy' needs .*'images' extra.*pip install 'assay\[images\]'"):
        load(packaged(), check_paths=False)


def pictures() -> list[tuple[str, bytes, str]]:
    """``(key, jpeg with EXIF GPS etc., caption)``: faces, a badge and a card, clean photos, and broken files."""
    rng = random.Random(4)
    crops = samples.lfw_faces()
    out = [("astronaut", samples.with_metadata(samples.astronaut().image), "an astronaut in an orange suit")]
    for i in range(2):
        out.append((f"face{i}", samples.with_metadata(samples.face_picture("tune", rng, crops).image), "people outdoors"))
    text = samples.text_picture("tune", rng, kinds=("badge", "card"))
    out.append(("badge", samples.with_metadata(text.image), "a name badge; call Anna Keller at +1 415 555 0132"))
    for name in ("coffee", "chelsea"):
        out.append((name, samples.with_metadata(samples.photo(name)), f"a photo of {name}"))
    good = out[-1][1]
    out += [("empty", b"", "nothing"), ("cut", good[: len(good) // 2], "half a file")]
    return out


@pytest.mark.slow
def test_shards_hold_the_hidden_images_without_metadata_and_clip_scored_them(tmp_path, tiny_clip):
    given = pictures()
    write_webdataset(tmp_path / "in" / "pairs-00000.tar",
                     [(k, {"jpg": data, "txt": caption.encode()}) for k, data, caption in given])
    recipe = yaml.safe_load(packaged().read_text())
    for stage in recipe["stages"]:
        if stage["op"] == "clip_score":
            stage["params"].update(model=tiny_clip.model, checkpoint=tiny_clip.checkpoint, keep_fraction=1.0)
    recipe.update(sources=[{"path": str(tmp_path / "in" / "*.tar")}], output=str(tmp_path / "out"), rows_per_part=4)
    result = load(recipe).pipeline().run(LocalExecutor())

    assert result.balanced and result.read == len(given)
    assert result.drop_reasons == {"image_hygiene:zero_size": 1, "image_hygiene:truncated": 1}
    shards = pa.concat_tables([read_shard(f"{result.output}/shards/{s['shard']}") for s in result.shards])
    assert shards.num_rows == len(given) - 2
    ledger = duckdb.sql(f"SELECT * FROM read_parquet('{result.ledger}/*.parquet')").fetch_arrow_table()
    by_id = {r["id"]: r for r in ledger.to_pylist()}
    clip = ClipModel(ClipScoreConfig(model=tiny_clip.model, checkpoint=tiny_clip.checkpoint, threshold=0.0))
    finder = MtcnnFaces()
    for row in shards.to_pylist():
        image, entry = row["image"], by_id[row["id"]]
        # No EXIF, GPS, XMP or IPTC in any shard image; the shard holds the output the ledger hashed.
        assert b"Exif\x00\x00" not in image and b"Photoshop 3.0" not in image and samples.OWNER.encode() not in image
        assert metadata_kinds(Image.open(io.BytesIO(image))) == []
        assert entry["image_output_hash"] == bytes_hash(image) != entry["image_hash"]
        removed = {r["kind"] for r in entry["image_regions"] if r["action"] == "removed"}
        assert {"gps", "serial", "owner", "xmp", "iptc"} <= removed
        # CLIP scored the image the shard holds, not the one read.
        (again,) = clip.score([image], [row["text"]], 1)
        assert row["clip_score"] == pytest.approx(again, abs=1e-5)
    faces = [r for r in shards.to_pylist() if any(k["kind"] == "face" for k in by_id[r["id"]]["image_regions"])]
    assert len(faces) >= 3
    for row in faces:
        assert finder.find(np.asarray(Image.open(io.BytesIO(row["image"])).convert("RGB"))) == []
        original = next(data for k, data, c in given if bytes_hash(data) == by_id[row["id"]]["image_hash"])
        (before,) = clip.score([original], [row["text"]], 1)
        assert row["clip_score"] != pytest.approx(before, abs=1e-5)
    badge = next(r for r in shards.to_pylist() if "badge" in r["text"])
    assert "Anna Keller" not in badge["text"] and "415 555" not in badge["text"]  # the pii stage scrubbed the caption
    kinds = {k["kind"] for k in by_id[badge["id"]]["image_regions"] if k["action"] == "blur"}
    assert "text:PERSON" in kinds
