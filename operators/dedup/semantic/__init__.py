"""Semantic dedup (SemDeDup over sentence embeddings): see :mod:`operators.dedup.semantic.operator`."""

from operators.dedup.semantic.config import SemanticDedupConfig
from operators.dedup.semantic.operator import SemanticDedup

__all__ = ["SemanticDedup", "SemanticDedupConfig"]
