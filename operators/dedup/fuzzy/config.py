"""Fuzzy dedup's configuration: threshold, MinHash and banding, survivor policy, partitions, index."""

from __future__ import annotations

import functools

import numpy as np
from pydantic import Field, field_validator, model_validator

from operators.core.base import OperatorConfig
from operators.dedup.survivor import SurvivorPolicy


class FuzzyDedupConfig(OperatorConfig):
    threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity at which two records are near-duplicates.")
    num_perm: int = Field(128, ge=2, le=1024, description="MinHash permutations (signature length).")
    bands: int = Field(0, ge=0, description="LSH bands; 0 derives bands and rows from the threshold (datasketch).")
    rows: int = Field(0, ge=0, description="Signature values per band; 0 derives it with bands.")
    false_positive_weight: float | None = Field(
        None, ge=0, le=1, description="Weight of false positives when deriving bands; default 0.1 with verify, else 0.5."
    )
    false_negative_weight: float | None = Field(
        None, ge=0, le=1, description="Weight of false negatives when deriving bands; default 0.9 with verify, else 0.5."
    )
    shingle: str = Field("word", description="Shingle unit: 'word' or 'char' n-grams of the normalised text.")
    ngram: int = Field(5, ge=1, le=64, description="Shingle length in words or characters.")
    seed: int = Field(1, description="Seed of the MinHash permutations (an index must be built with the same).")
    verify: bool = Field(True, description="Keep a candidate pair only if its estimated Jaccard reaches the bar.")
    verify_margin: float = Field(
        2.0, ge=0, le=10,
        description="Verification bar = threshold - margin x the estimate's standard error, sqrt(t(1-t)/num_perm): "
        "at 0 a pair right at the threshold fails half the time.",
    )
    max_bucket_pairs: int = Field(
        64, ge=2, description="Buckets larger than this compare members with a few anchors instead of all pairs."
    )
    survivor: SurvivorPolicy
    num_partitions: int = Field(0, ge=0, description="Hash partitions of the shuffles; 0 picks one per part, at most 256.")
    max_rounds: int = Field(64, ge=1, description="Connected-components rounds before giving up.")
    incremental: bool = Field(False, description="Deduplicate against (and add to) the persisted index of earlier runs.")
    index_path: str | None = Field(
        None, description="Folder of the incremental index; relative paths are under the output folder. Default: <output>/_index/fuzzy_dedup."
    )

    @field_validator("shingle")
    @classmethod
    def _shingle_kind(cls, v: str) -> str:
        if v not in ("word", "char"):
            raise ValueError("shingle must be 'word' or 'char'")
        return v

    @model_validator(mode="after")
    def _banding(self) -> FuzzyDedupConfig:
        if (self.bands == 0) != (self.rows == 0):
            raise ValueError("set both bands and rows, or neither (to derive them from the threshold)")
        if self.bands and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    def verify_bar(self) -> float:
        """Estimated Jaccard a candidate must reach: the estimate of a pair at exactly ``threshold`` has standard
        error sqrt(t(1-t)/num_perm) (0.035 at 0.8 and 128 permutations), so the bar sits ``verify_margin`` of
        them lower; chance collisions of unrelated texts score far below it."""
        t = self.threshold
        return t - self.verify_margin * float(np.sqrt(t * (1 - t) / self.num_perm))

    def banding(self) -> tuple[int, int]:
        """(bands, rows): as configured, or datasketch's optimum for the threshold and weights."""
        if self.bands:
            return self.bands, self.rows
        # With verification the banding leans to recall: verifying a candidate's estimated Jaccard removes the
        # false positives it lets in, while a pair that is never a candidate is lost for good
        # (benchmarks/dedup.py: at 0.8, 14x9 bands reach F1 0.95 where the balanced 9x13 stop at 0.91).
        fp_default, fn_default = (0.1, 0.9) if self.verify else (0.5, 0.5)
        fp = fp_default if self.false_positive_weight is None else self.false_positive_weight
        fn = fn_default if self.false_negative_weight is None else self.false_negative_weight
        return _optimal_banding(self.threshold, self.num_perm, fp, fn)


@functools.cache
def _optimal_banding(threshold: float, num_perm: int, fp: float, fn: float) -> tuple[int, int]:
    """datasketch's optimum, once per process: it integrates numerically (~0.15 CPU-s), and every part asks."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, fp, fn)
