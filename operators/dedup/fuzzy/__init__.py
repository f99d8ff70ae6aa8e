"""Fuzzy dedup (MinHash LSH, distributed connected components): see :mod:`operators.dedup.fuzzy.operator`."""

from operators.dedup.fuzzy.config import FuzzyDedupConfig
from operators.dedup.fuzzy.operator import FuzzyDedup

__all__ = ["FuzzyDedup", "FuzzyDedupConfig"]
