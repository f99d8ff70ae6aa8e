"""An exact global rank by a score column: keep a fraction of the whole run's scored records.

A per-batch quantile is not a rank: a part of good pairs would lose half of
them. A global stage that keeps the top (or bottom) fraction of a run by a
score (``clip_score``'s and ``nsfw``'s ``keep_fraction``) declares three steps,
the last two from here:

1. its own ``score`` step writes each part's scores file (``id``, the score
   column, any column the patch should carry) with :meth:`TopFraction.scored`,
   which also returns the part's histogram of the scores;
2. ``rank``: the summed histograms give the bin holding the cutoff; only the
   records inside that bin are read again and ranked exactly, ties broken by id,
   so the same run keeps the same records whatever the parallelism;
3. ``decide``: each part's patch: above the cutoff bin kept, below it dropped,
   inside it as ranked.

No process holds every score::

    def plan(self, ctx):
        rank = TopFraction("my_score", self.config.keep_fraction)
        return (yield from rank.plan(ctx, MyScoreWorker, {"config": ...}, self.resources))

where ``MyScoreWorker(rank=..., work_dir=..., **args)`` is called with
``{"part", "name"}`` and returns ``rank.scored(...)``. An operator decided
either way, by a threshold or by a keep-fraction, is a
:class:`ThresholdOrFraction`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from operators.core.base import Resources
from operators.core.global_stage import Patches, Plan, StageContext, Step
from operators.core.io import join, makedirs, read_parquet, write_parquet_atomic

#: Equal-width bins over the score range for the global rank.
HIST_BINS = 4096


def cutoff(histogram: list[int], keep: int) -> tuple[int, int]:
    """``(bin, how many of that bin to keep)`` so that exactly ``keep`` records of the highest bins are kept."""
    above = 0
    for b in range(len(histogram) - 1, -1, -1):
        if above + histogram[b] >= keep:
            return b, keep - above
        above += histogram[b]
    return 0, histogram[0]


def _value(score: float | None) -> float | None:
    """A score as ranked: None for a missing or NaN one (the record was not scored)."""
    return None if score is None or math.isnan(score) else score


@dataclass(frozen=True)
class TopFraction:
    """How a global stage keeps a fraction of the run by one score column.

    Attributes:
        column: the score column of the scores files.
        keep_fraction: the share of the scored records kept (at least one record).
        lowest: keep the lowest scores (``nsfw``: the least unsafe) instead of the highest.
        low: the lowest score the histogram spans (lower ones count in its end bin).
        high: the highest score it spans.
        reason: the drop reason of a record ranked out.
        label_column: a column of the scores file whose value, where set, is appended to the
            reason (``unsafe:FEMALE_BREAST_EXPOSED``).
        unscored: the drop reason of a record without a score (its image did not decode).
    """

    column: str
    keep_fraction: float
    lowest: bool = False
    low: float = -1.0
    high: float = 1.0
    reason: str = "below_top_fraction"
    label_column: str | None = None
    unscored: str = "undecodable_image"

    def bin(self, score: float) -> int:
        """The histogram bin of ``score``, numbered so that higher bins are kept first."""
        b = min(HIST_BINS - 1, max(0, int((score - self.low) / (self.high - self.low) * HIST_BINS)))
        return HIST_BINS - 1 - b if self.lowest else b

    def order(self, score: float, rid: str) -> tuple[float, str]:
        """Sort key inside the cutoff bin: the records to keep first, ties by id."""
        return (score if self.lowest else -score, rid)

    def scored(self, scores: pa.Table, path: str) -> dict[str, Any]:
        """Write a part's scores file (``id``, ``column``, ...) to ``path``: the score step's result for the part."""
        write_parquet_atomic(scores, path)
        histogram = [0] * HIST_BINS
        for s in scores.column(self.column).to_pylist():
            if (s := _value(s)) is not None:
                histogram[self.bin(s)] += 1
        return {"scores": path, "histogram": histogram}

    def plan(self, ctx: StageContext, worker: type, args: dict[str, Any], resources: Resources) -> Plan:
        """The whole stage: a ``score`` step (``worker(rank=self, work_dir=..., **args)`` called on each part's
        ``{"part", "name"}``, returning :meth:`scored`'s result), then :meth:`steps`."""
        makedirs(ctx.work_dir)
        scored = yield Step(
            "score",
            worker,
            [{"part": p, "name": os.path.basename(p).removesuffix(".parquet")} for p in ctx.parts],
            {**args, "rank": self, "work_dir": ctx.work_dir},
            resources=resources,
        )
        return (yield from self.steps(ctx.work_dir, ctx.parts, scored))

    def steps(self, work_dir: str, parts: list[str], scored: list[dict[str, Any]]) -> Generator[Step, list, Patches]:
        """The ``rank`` and ``decide`` steps after a score step; returns the patches.

        Args:
            work_dir: the stage's folder (patches go under ``patch/``).
            parts: the stage's parts, in order.
            scored: the score step's result for each part: :meth:`scored`'s, or ``{"scores": None}``
                for a part with nothing to score.
        """
        names = {p: os.path.basename(p).removesuffix(".parquet") for p in parts}
        with_scores = [(p, r) for p, r in zip(parts, scored, strict=True) if r.get("scores")]
        histogram = [sum(col) for col in zip(*(r["histogram"] for _, r in with_scores), strict=True)]
        total = sum(histogram)
        if not total:
            cutoff_bin = HIST_BINS
            items = [{"scores": r["scores"], "name": names[p], "keep": []} for p, r in with_scores]
        else:
            cutoff_bin, take = cutoff(histogram, max(1, round(self.keep_fraction * total)))
            found = yield Step("rank", RankWorker, [{"scores": r["scores"]} for _, r in with_scores],
                               {"rank": self, "cutoff_bin": cutoff_bin})
            ranked = sorted((self.order(s, rid) for f in found for s, rid in f["candidates"]))
            chosen = {rid for _, rid in ranked[:take]}
            items = [
                {"scores": r["scores"], "name": names[p], "keep": [rid for _, rid in f["candidates"] if rid in chosen]}
                for (p, r), f in zip(with_scores, found, strict=True)
            ]
        decided = yield Step("decide", DecideWorker, items,
                             {"rank": self, "cutoff_bin": cutoff_bin, "work_dir": work_dir})
        return {p: [d["patch"]] for (p, _), d in zip(with_scores, decided, strict=True)}


class ThresholdOrFraction:
    """An operator decided by its score either way, as its configuration asks: ``threshold`` (a stream filter,
    the class's :attr:`by_threshold`) or ``keep_fraction`` of the whole run (a global stage, :attr:`by_fraction`).

    Mixed in before :class:`~operators.core.base.Operator`; ``Op(...)`` builds the class the configuration's
    ``threshold`` (set or not) picks. The two classes subclass ``Op`` and are named on it after their definition::

        Op.by_threshold, Op.by_fraction = OpThreshold, OpTopFraction
    """

    by_threshold: ClassVar[type]
    by_fraction: ClassVar[type]

    def __new__(cls, config: Any = None, **params: Any):
        if "by_threshold" in vars(cls):
            if isinstance(config, cls.Config):
                config = config.model_copy(update=params)
            else:
                config = cls.Config(**{**(config or {}), **params})
            cls = cls.by_threshold if config.threshold is not None else cls.by_fraction
        return super().__new__(cls)


class RankWorker:
    """The records of a part whose score falls in the cutoff bin: ``[[score, id], ...]``."""

    def __init__(self, rank: TopFraction, cutoff_bin: int):
        self.rank = rank
        self.cutoff_bin = cutoff_bin

    def __call__(self, item: dict) -> dict:
        table = read_parquet(item["scores"], columns=["id", self.rank.column])
        ids, scores = table.column("id").to_pylist(), table.column(self.rank.column).to_pylist()
        return {
            "candidates": [
                [s, rid]
                for rid, s in zip(ids, map(_value, scores), strict=True)
                if s is not None and self.rank.bin(s) == self.cutoff_bin
            ]
        }


class DecideWorker:
    """Writes a part's patch: its scores file with a ``drop_reason``, kept above the cutoff bin and as ranked in it."""

    def __init__(self, rank: TopFraction, cutoff_bin: int, work_dir: str):
        self.rank = rank
        self.cutoff_bin = cutoff_bin
        self.work_dir = work_dir

    def __call__(self, item: dict) -> dict:
        rank = self.rank
        table = read_parquet(item["scores"])
        keep_in_bin = set(item["keep"])
        labels = table.column(rank.label_column).to_pylist() if rank.label_column else [None] * table.num_rows
        reasons: list[str | None] = []
        for rid, s, label in zip(table.column("id").to_pylist(), table.column(rank.column).to_pylist(), labels,
                                 strict=True):
            if (s := _value(s)) is None:
                reasons.append(rank.unscored)
                continue
            b = rank.bin(s)
            kept = b > self.cutoff_bin or (b == self.cutoff_bin and rid in keep_in_bin)
            reasons.append(None if kept else f"{rank.reason}:{label}" if label else rank.reason)
        patch = table.append_column("drop_reason", pa.array(reasons, pa.string()))
        path = join(self.work_dir, "patch", f"{item['name']}.parquet")
        write_parquet_atomic(patch, path)
        return {"patch": path}
