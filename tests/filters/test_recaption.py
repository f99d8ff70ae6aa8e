"""recaption: a local captioner folder on the CPU (a tiny one trained here), three policies, failures dropped."""

import json
import os
import random

import pyarrow as pa
import pytest
from pydantic import ValidationError

from filters.recaption import Recaption, RecaptionConfig
from operators.core.schema import content_hash, records_table
from tests.clip_tiny import sample_pairs, swapped_caption


def test_the_clip_policy_needs_a_local_clip():
    with pytest.raises(ValidationError, match="clip_model and clip_checkpoint"):
        RecaptionConfig(model="m", policy="keep_if_clip_higher")


def test_a_model_backed_mapper_on_gpus_unless_told_cpu():
    from operators.core.base import Role

    assert Recaption(model="m").role is Role.MAPPER
    assert Recaption(model="m").resources.gpus == 1 and Recaption(model="m").resources.model
    assert Recaption(model="m", device="cpu").resources.gpus == 0


def test_a_missing_model_folder_says_what_to_do(tmp_path):
    op = Recaption(model=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        op(records_table(["x"], images=[b"x"]))


@pytest.fixture(scope="module")
def pairs():
    rng = random.Random(5)
    found = sample_pairs(24, seed=21)
    return [p[0] for p in found], [p[1] for p in found], [swapped_caption(p[2], rng) for p in found]


@pytest.mark.slow
def test_replace_writes_the_models_caption_and_keeps_the_original_in_meta(tiny_captioner, pairs):
    images, right, _ = pairs
    table = records_table(["an old caption"] * len(images), "r", images=images)
    table = table.set_column(table.schema.get_field_index("meta"), "meta", pa.array(['{"url": "u"}'] * len(images)))
    out = Recaption(model=tiny_captioner.path, device="cpu")(table)
    texts = out.column("text").to_pylist()
    assert texts == out.column("caption_generated").to_pylist()
    assert sum(t == r for t, r in zip(texts, right, strict=True)) >= 0.5 * len(right)  # it learnt the shapes
    assert all(json.loads(m) == {"url": "u", "original_caption": "an old caption"} for m in out.column("meta").to_pylist())
    assert out.column("content_hash").to_pylist() == [content_hash(t) for t in texts]


@pytest.mark.slow
def test_add_appends_and_bad_images_are_dropped(tiny_captioner, pairs):
    images, _, wrong = pairs
    out = Recaption(model=tiny_captioner.path, policy="add", device="cpu")(
        records_table([wrong[0], wrong[1]], "a", images=[images[0], b"not an image"])
    )
    generated = out.column("caption_generated")[0].as_py()
    assert out.column("text")[0].as_py() == f"{wrong[0]}\n\n{generated}"
    assert out.column("drop_reason").to_pylist() == [None, "recaption:undecodable_image"]


@pytest.mark.slow
def test_keep_if_clip_higher_fixes_wrong_captions_and_keeps_right_ones(tiny_captioner, tiny_clip, pairs):
    images, right, wrong = pairs
    op = Recaption(model=tiny_captioner.path, policy="keep_if_clip_higher", device="cpu",
                   clip_model=tiny_clip.model, clip_checkpoint=tiny_clip.checkpoint)
    fixed = op(records_table(wrong, "w", images=images))
    kept = op(records_table(right, "r", images=images))
    replaced = [t != w for t, w in zip(fixed.column("text").to_pylist(), wrong, strict=True)]
    assert sum(replaced) >= 0.7 * len(wrong)  # a swapped caption loses to the model's
    assert all(g > 0 for g, r in zip(fixed.column("recaption_gain").to_pylist(), replaced, strict=True) if r)
    # A right caption stays unless the model's says the same or CLIP prefers it: never a worse one.
    for text, original, gain in zip(kept.column("text").to_pylist(), right, kept.column("recaption_gain").to_pylist(), strict=True):
        assert text == original or gain > 0


@pytest.mark.gpu
def test_a_real_captioner_on_the_gpu():
    """A real small captioner (e.g. a ViT-GPT2 or BLIP folder) on a GPU: ASSAY_CAPTIONER names its local folder.

    None can be had offline here (no captioning model ships in a PyPI wheel), so this runs only where one
    has been copied in.
    """
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    folder = os.environ.get("ASSAY_CAPTIONER")
    if not folder or not os.path.isdir(folder):
        pytest.skip("set ASSAY_CAPTIONER to a local image-to-text model folder: none can be downloaded here")
    from tests import privacy_samples as samples

    out = Recaption(model=folder, device="cuda")(
        records_table(["x", "y"], "g", images=[samples.jpeg(samples.photo("coffee")), samples.jpeg(samples.photo("chelsea"))])
    )
    coffee, cat = (t.lower() for t in out.column("text").to_pylist())
    assert any(w in coffee for w in ("coffee", "cup", "mug")) and any(w in cat for w in ("cat", "kitten"))
