import random

import pyarrow as pa
import pytest
from pydantic import ValidationError

from filters.clip import HIST_BINS, ClipModel, ClipScore, ClipScoreConfig, cutoff
from operators.core.schema import records_table
from tests.clip_tiny import auc, sample_pairs, swapped_caption
from tests.conftest import run_global_stage


def test_config_takes_threshold_or_fraction_and_a_local_checkpoint():
    with pytest.raises(ValidationError, match="exactly one of threshold"):
        ClipScoreConfig(checkpoint="x.pt")
    with pytest.raises(ValidationError, match="exactly one of threshold"):
        ClipScoreConfig(checkpoint="x.pt", threshold=0.2, keep_fraction=0.3)
    with pytest.raises(ValidationError, match="weights are never downloaded"):
        ClipScoreConfig(threshold=0.2)
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        ClipScoreConfig(checkpoint="x.pt", keep_fraction=1.5)
    with pytest.raises(ValidationError, match="architecture name"):
        ClipScoreConfig(model="hf-hub:laion/CLIP", checkpoint="x.pt", threshold=0.2)
    assert ClipScoreConfig(random_init=True, keep_fraction=0.3).keep_fraction == 0.3


def test_a_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="local open_clip checkpoint"):
        ClipModel(ClipScoreConfig(checkpoint=str(tmp_path / "nope.pt"), threshold=0.2))


def test_cutoff_keeps_exactly_k_from_the_top():
    histogram = [0] * HIST_BINS
    histogram[10], histogram[20], histogram[30] = 5, 4, 3
    assert cutoff(histogram, 3) == (30, 3)
    assert cutoff(histogram, 5) == (20, 2)
    assert cutoff(histogram, 12) == (10, 5)


def pair_table(images, captions, source) -> pa.Table:
    return records_table(captions, source, images=images)

def matched_and_swapped(n, seed):
    rng = random.Random(seed)
    pairs = sample_pairs(n, seed=seed)
    images = [p[0] for p in pairs]
    return images, [p[1] for p in pairs], [swapped_caption(p[2], rng) for p in pairs]


@pytest.mark.slow
def test_tiny_model_tells_matched_from_swapped_captions(tiny_clip, tmp_path, capsys):
    images, matched, swapped = matched_and_swapped(60, seed=11)
    op = ClipScore(model=tiny_clip.model, checkpoint=tiny_clip.checkpoint, threshold=0.4, batch_size=16)
    good, bad = run_global_stage(op, [pair_table(images, matched, "m"), pair_table(images, swapped, "s")], tmp_path)
    pos, neg = good.column("clip_score").to_pylist(), bad.column("clip_score").to_pylist()
    score = auc(pos, neg)
    with capsys.disabled():
        print(f"\ntiny CLIP ({tiny_clip.seconds:.0f}s to train): AUC matched vs swapped = {score:.3f}")
    assert score >= 0.9
    # The threshold keeps the matched pairs and drops the swapped ones.
    assert sum(good.column("keep").to_pylist()) >= 0.9 * len(pos)
    assert sum(bad.column("keep").to_pylist()) <= 0.1 * len(neg)
    assert set(bad.filter(pa.compute.invert(bad.column("keep"))).column("drop_reason").to_pylist()) == {
        "clip_score:below_threshold"
    }


@pytest.mark.slow
def test_keep_fraction_is_a_global_rank_across_parts(tiny_clip, tmp_path):
    images, matched, swapped = matched_and_swapped(36, seed=12)
    # Part 0 all matched, part 1 all swapped, part 2 half and half, plus an undecodable
    # image: a per-batch quantile would keep half of every part.
    tables = [
        pair_table(images[:12], matched[:12], "p0"),
        pair_table(images[12:24], swapped[12:24], "p1"),
        pair_table(images[24:] + [b"not an image"], matched[24:30] + swapped[30:] + ["a red circle"], "p2"),
    ]
    tables[2] = tables[2].set_column(
        tables[2].schema.get_field_index("keep"), "keep", pa.array([True] * 12 + [True])
    )
    op = ClipScore(model=tiny_clip.model, checkpoint=tiny_clip.checkpoint, keep_fraction=0.5, batch_size=5)
    out = run_global_stage(op, tables, tmp_path)
    rows = [r for t in out for r in t.to_pylist()]
    scored = [r for r in rows if r["clip_score"] is not None]
    assert len(scored) == 36
    kept = [r for r in rows if r["keep"]]
    assert len(kept) == 18  # exactly half of the scored pairs, over the whole run
    ranked = sorted(scored, key=lambda r: (-r["clip_score"], r["id"]))
    assert {r["id"] for r in kept} == {r["id"] for r in ranked[:18]}
    assert sum(r["keep"] for r in out[1].to_pylist()) <= 1  # swapped captions lose globally
    assert sum(r["keep"] for r in out[0].to_pylist()) >= 11
    reasons = {r["drop_reason"] for r in rows if not r["keep"]}
    assert reasons == {"clip_score:below_top_fraction", "clip_score:undecodable_image"}


@pytest.mark.slow
def test_ray_actor_pool_decides_like_the_local_loop(tiny_clip, tmp_path, ray_local):
    from operators.execution.executor import RayExecutor

    images, matched, swapped = matched_and_swapped(16, seed=13)
    tables = [pair_table(images[:8], matched[:8], "r0"), pair_table(images[8:], swapped[8:], "r1")]
    op = ClipScore(model=tiny_clip.model, checkpoint=tiny_clip.checkpoint, keep_fraction=0.25, batch_size=4)
    local = run_global_stage(op, tables, tmp_path / "local")
    executor = RayExecutor(concurrency=2)
    assert op.gpus_per_worker(executor) == 0  # no GPU here: CPU actors, fp32
    on_ray = run_global_stage(op, tables, tmp_path / "ray", executor)
    assert [t.column("keep").to_pylist() for t in on_ray] == [t.column("keep").to_pylist() for t in local]
    assert sum(r["keep"] for t in on_ray for r in t.to_pylist()) == 4


@pytest.mark.gpu
@pytest.mark.slow
def test_gpu_scores_in_half_precision_agree_with_the_cpu(tiny_clip):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    images, matched, _ = matched_and_swapped(32, seed=14)
    common = {"model": tiny_clip.model, "checkpoint": tiny_clip.checkpoint, "threshold": 0.0}
    cpu = ClipModel(ClipScoreConfig(device="cpu", **common))
    gpu = ClipModel(ClipScoreConfig(device="auto", **common))
    assert gpu.device == "cuda" and gpu.dtype == torch.float16
    for a, b in zip(cpu.score(images, matched, 8), gpu.score(images, matched, 8), strict=True):
        assert abs(a - b) < 0.02
