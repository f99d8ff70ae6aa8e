"""nsfw: NudeNet's packaged detector, scores per label, threshold or a global keep-fraction, labels in the reason."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from tests.conftest import require_extra, run_global_stage

require_extra("images", "onnxruntime", "nudenet", "cv2")

from filters.nsfw import LABELS, UNSAFE, Nsfw, NsfwConfig, NudeNet  # noqa: E402
from operators.core.schema import records_table  # noqa: E402
from tests import privacy_samples as samples  # noqa: E402

PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "flower")


@pytest.fixture(scope="module")
def photos():
    return {name: samples.jpeg(samples.photo(name)) for name in PHOTOS}


def table(photos, names, source="p"):
    return records_table(list(names), source, images=[photos[n] for n in names])


def test_config_takes_one_decision_and_known_labels():
    with pytest.raises(ValidationError, match="exactly one of threshold"):
        NsfwConfig()
    with pytest.raises(ValidationError, match="exactly one of threshold"):
        NsfwConfig(threshold=0.5, keep_fraction=0.5)
    with pytest.raises(ValidationError, match="unknown label"):
        NsfwConfig(threshold=0.5, labels=["NUDE"])
    assert set(UNSAFE) <= set(LABELS) and NsfwConfig(threshold=0.5).labels == list(UNSAFE)


def test_threshold_is_a_stream_filter_and_keep_fraction_a_global_stage_of_three_steps(tmp_path):
    from operators.core.base import Filter, Role
    from operators.core.global_stage import GlobalOperator, StageContext

    by_threshold, by_fraction = Nsfw(threshold=0.5), Nsfw(keep_fraction=0.5)
    assert isinstance(by_threshold, Filter) and not isinstance(by_threshold, GlobalOperator)
    assert isinstance(by_fraction, GlobalOperator) and not isinstance(by_fraction, Filter)
    assert by_threshold.role is by_fraction.role is Role.FILTER and by_fraction.resources.model
    assert by_threshold.resources.gpus == 0 and Nsfw(threshold=0.5, device="cuda").resources.gpus == 1
    first = next(by_fraction.plan(StageContext(parts=[], work_dir=str(tmp_path), output=str(tmp_path))))
    assert first.name == "score" and first.resources.model


def test_scores_are_nudenets_own(photos):
    """The same preparation and model as nudenet's NudeDetector: its boxes' scores are our label scores."""
    import cv2
    import numpy as np
    from nudenet import NudeDetector

    ours = NudeNet().label_scores([photos["astronaut"], photos["camera"]], batch_size=2)
    theirs = NudeDetector()
    for data, scores in zip([photos["astronaut"], photos["camera"]], ours, strict=True):
        for box in theirs.detect(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)):
            assert scores[box["class"]] >= box["score"] - 1e-4
        best = max(theirs.detect(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)), key=lambda b: b["score"])
        assert scores[best["class"]] == pytest.approx(best["score"], abs=1e-4)


def test_safe_photographs_pass_the_default_labels(photos, tmp_path):
    (out,) = run_global_stage(Nsfw(threshold=0.5), [table(photos, PHOTOS)], tmp_path)
    assert out.column("keep").to_pylist() == [True] * len(PHOTOS)
    assert all(0 <= s < 0.5 for s in out.column("nsfw_score").to_pylist())


def test_threshold_drops_by_the_chosen_labels_and_names_them(photos, tmp_path):
    """No NSFW picture is used here: the detector's face labels stand in, on real portraits."""
    op = Nsfw(threshold=0.5, labels=["FACE_FEMALE"])
    names = ("astronaut", "camera", "coffee")
    (out,) = run_global_stage(op, [table(photos, names).append_column("x", pa.array([1, 2, 3]))], tmp_path)
    assert out.column("drop_reason").to_pylist() == ["nsfw:unsafe:FACE_FEMALE", None, None]
    assert out.column("nsfw_labels").to_pylist() == ["FACE_FEMALE", None, None]


def test_keep_fraction_keeps_the_least_unsafe_across_parts(photos, tmp_path):
    op = Nsfw(keep_fraction=0.6, labels=["FACE_FEMALE", "FACE_MALE"], label_score=0.3)
    parts = [table(photos, ("astronaut", "coffee", "chelsea"), "a"),
             records_table(["camera", "rocket", "broken"], "b", images=[photos["camera"], photos["rocket"], b"nope"])]
    out = run_global_stage(op, parts, tmp_path)
    scores = {t: s for o in out for t, s in zip(o.column("text").to_pylist(), o.column("nsfw_score").to_pylist(), strict=True)}
    kept = {t for o in out for t, k in zip(o.column("text").to_pylist(), o.column("keep").to_pylist(), strict=True) if k}
    ranked = sorted((s, t) for t, s in scores.items() if s is not None)
    assert kept == {t for _, t in ranked[:3]}  # 0.6 of the five scored: the three least unsafe
    reasons = {t: r for o in out for t, r in zip(o.column("text").to_pylist(), o.column("drop_reason").to_pylist(), strict=True)}
    assert reasons["astronaut"] == "nsfw:unsafe:FACE_FEMALE,FACE_MALE" and reasons["camera"] == "nsfw:unsafe:FACE_MALE"
    assert reasons["broken"] == "nsfw:undecodable_image"
