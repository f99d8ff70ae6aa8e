"""Semantic dedup's configuration: the similarity bar, the embedding model, k-means, the survivor policy, the cache."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from operators.core.base import OperatorConfig
from operators.dedup.semantic.embed import DEFAULT_MODEL
from operators.dedup.survivor import SurvivorPolicy


class SemanticDedupConfig(OperatorConfig):
    eps: float = Field(
        0.22, gt=0, lt=1,
        description="Two records are near-duplicates when the cosine similarity of their embeddings exceeds 1 - eps "
        "(0.22: the F1-best on benchmarks/semdedup.py's tuning pairs, for all-MiniLM-L6-v2).",
    )
    model: str = Field(DEFAULT_MODEL, description="Embedding model: 'all-minilm-l6-v2' (packaged) or a local sentence-transformers / ONNX folder.")
    backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="Embedding backend: 'auto' (torch fp16 on a GPU, else ONNX Runtime), 'onnx' or 'torch'."
    )
    batch_size: int = Field(
        16, ge=1, le=4096,
        description="Texts per forward pass (texts are batched by length; on CPUs 16 wastes less on padding than 64).",
    )
    threads: int = Field(0, ge=0, description="CPU threads per embedding worker; 0 = the CPUs the worker was given.")
    clusters: int = Field(0, ge=0, description="k-means clusters; 0 = one per rows_per_cluster kept records.")
    rows_per_cluster: int = Field(1000, ge=2, description="Mean cluster size aimed at when clusters is 0.")
    sample_size: int = Field(50_000, ge=100, description="At most this many embeddings (a hash sample of ids) fit the centroids.")
    max_cluster_size: int = Field(
        10_000, ge=2, description="A k-means cluster larger than this is split by k-means on its members before comparing pairs."
    )
    num_buckets: int = Field(0, ge=0, description="Cluster buckets (one task each); 0 = one per part, at most 1024.")
    seed: int = Field(0, description="Seed of k-means (the sample is chosen by record id, not by seed).")
    survivor: SurvivorPolicy
    cache_embeddings: bool = Field(True, description="Keep each part's embeddings beside the output for later runs.")
    embeddings_path: str | None = Field(
        None, description="Folder of kept embeddings; relative paths are under the output folder. Default: <output>/_embeddings."
    )

    def threshold(self) -> float:
        return 1.0 - self.eps
