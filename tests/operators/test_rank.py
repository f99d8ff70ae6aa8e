"""The exact global rank by a score column (operators.core.rank), as clip_score and nsfw use it: no model needed."""

import pyarrow as pa
import pytest

from operators.core.io import read_parquet
from operators.core.rank import HIST_BINS, TopFraction, cutoff
from operators.execution.executor import LocalExecutor
from pipelines.run.stages import run_steps


def test_cutoff_keeps_exactly_k_from_the_top():
    histogram = [0] * HIST_BINS
    histogram[10], histogram[20], histogram[30] = 5, 4, 3
    assert cutoff(histogram, 3) == (30, 3)
    assert cutoff(histogram, 5) == (20, 2)
    assert cutoff(histogram, 12) == (10, 5)


def rank_run(rank: TopFraction, parts: list[list[tuple[str, float | None, str | None]]], tmp_path) -> dict:
    """Write each part's scores (id, score, label), run the rank and decide steps; ``{id: drop reason}``."""
    paths = [str(tmp_path / f"part-{i:05d}.parquet") for i in range(len(parts))]
    scored = []
    for i, rows in enumerate(parts):
        if not rows:
            scored.append({"scores": None})
            continue
        table = pa.table({
            "id": [r[0] for r in rows],
            rank.column: pa.array([r[1] for r in rows], pa.float32()),
            "labels": pa.array([r[2] for r in rows], pa.string()),
        })
        scored.append(rank.scored(table, str(tmp_path / "scores" / f"{i}.parquet")))
    patches = run_steps(rank.steps(str(tmp_path / "work"), paths, scored), LocalExecutor(), str(tmp_path / "done"), "t")
    reasons = {}
    for files in patches.values():
        for f in files:
            patch = read_parquet(f)
            reasons.update(zip(patch.column("id").to_pylist(), patch.column("drop_reason").to_pylist(), strict=True))
    return reasons


def test_the_top_fraction_of_the_whole_run_not_of_each_part(tmp_path):
    # Part a holds only high scores, part b only low ones: a per-part quantile would keep half of each.
    a = [(f"a{i}", 0.9 - i * 0.01, None) for i in range(4)]
    b = [(f"b{i}", -0.5 - i * 0.01, None) for i in range(4)]
    reasons = rank_run(TopFraction("s", 0.5), [a, [], b], tmp_path)
    assert {rid for rid, r in reasons.items() if r is None} == {"a0", "a1", "a2", "a3"}
    assert {reasons[f"b{i}"] for i in range(4)} == {"below_top_fraction"}


def test_ties_inside_the_cutoff_bin_are_broken_by_id_and_unscored_records_named(tmp_path):
    # Six equal scores (one bin) across two parts; keep 0.5 of the six scored: the three smallest ids.
    a = [("id5", 0.25, None), ("id1", 0.25, None), ("id3", 0.25, None), ("broken", None, None)]
    b = [("id4", 0.25, None), ("id0", 0.25, None), ("id2", 0.25, None), ("nan", float("nan"), None)]
    reasons = rank_run(TopFraction("s", 0.5), [a, b], tmp_path)
    assert {rid for rid, r in reasons.items() if r is None} == {"id0", "id1", "id2"}
    assert reasons["broken"] == reasons["nan"] == "undecodable_image"


def test_close_scores_in_one_bin_are_ranked_exactly(tmp_path):
    step = 2.0 / HIST_BINS / 10  # ten scores per histogram bin
    rows = [(f"r{i}", 0.1 + i * step, None) for i in range(10)]
    reasons = rank_run(TopFraction("s", 0.3), [rows[:5], rows[5:]], tmp_path)
    assert {rid for rid, r in reasons.items() if r is None} == {"r9", "r8", "r7"}


def test_lowest_keeps_the_least_and_names_the_label_in_the_reason(tmp_path):
    rows = [("safe", 0.02, None), ("mild", 0.2, None), ("bad", 0.8, "BUTTOCKS_EXPOSED"), ("worse", 0.95, "A,B")]
    rank = TopFraction("s", 0.5, lowest=True, low=0.0, high=1.0, reason="unsafe", label_column="labels")
    reasons = rank_run(rank, [rows[:2], rows[2:]], tmp_path)
    assert reasons == {"safe": None, "mild": None, "bad": "unsafe:BUTTOCKS_EXPOSED", "worse": "unsafe:A,B"}
    assert rank.bin(0.0) > rank.bin(0.5) > rank.bin(1.0)  # the kept end is the high bins


@pytest.mark.parametrize("fraction, kept", [(0.01, 1), (1.0, 5)])
def test_at_least_one_and_at_most_all_are_kept(tmp_path, fraction, kept):
    rows = [(f"r{i}", i / 10, None) for i in range(5)]
    reasons = rank_run(TopFraction("s", fraction), [rows], tmp_path)
    assert sum(r is None for r in reasons.values()) == kept


def test_the_configuration_picks_threshold_or_fraction():
    from pydantic import model_validator

    from operators.core.base import Operator, OperatorConfig
    from operators.core.rank import ThresholdOrFraction

    class Decision(OperatorConfig):
        threshold: float | None = None
        keep_fraction: float | None = None

        @model_validator(mode="after")
        def _one(self):
            assert (self.threshold is None) != (self.keep_fraction is None)
            return self

    class Op(ThresholdOrFraction, Operator):
        name, Config = "op", Decision

        def process(self, table):
            return table

    class ByThreshold(Op):
        pass

    class ByFraction(Op):
        pass

    Op.by_threshold, Op.by_fraction = ByThreshold, ByFraction
    assert type(Op(threshold=0.5)) is ByThreshold and type(Op({"keep_fraction": 0.5})) is ByFraction
    # Parameters override a given configuration before the class is picked.
    op = Op(Decision(threshold=0.5), threshold=None, keep_fraction=0.2)
    assert type(op) is ByFraction and op.config.keep_fraction == 0.2
    assert type(ByThreshold(threshold=0.1)) is ByThreshold  # a concrete class is built as itself
