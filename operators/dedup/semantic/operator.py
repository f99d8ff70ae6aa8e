"""Semantic deduplication (SemDeDup, Abbas et al. 2023): k-means over sentence embeddings, then
pairwise cosine similarity within each cluster.

Steps, each a map over independent items that the run engine executes and checkpoints (their
outputs are files written atomically under deterministic names), so that no process holds the
corpus and a killed run resumes at the first unfinished item:

1. **embed** (one item per part, a model per Ray actor): unit-length embeddings of the kept
   rows (:mod:`operators.dedup.semantic.embed`), stored as float16 with the rows' survivor ranks. They are
   also kept beside the output (``_embeddings/<model key>/<part digest>.parquet``, keyed by the
   ids and texts of the part), so a later run over the same part, or another stage, reads
   them instead of embedding again.
2. **centroids** (one item): spherical k-means (scikit-learn's ``MiniBatchKMeans`` on unit
   vectors) fitted on a sample of at most ``sample_size`` rows, chosen by a hash of the
   record id, so the sample -- and the centroids -- do not depend on how the run is split
   into parts or in which order they come.
3. **assign** (one item per part): each row goes to its nearest centroid; rows are written to
   ``num_buckets`` cluster buckets (cluster number modulo the buckets).
4. **clusters** (one item per bucket): within each k-means cluster, rows are ordered by the
   survivor policy (e.g. ``[length desc, id asc]``) and taken greedily: a row whose cosine
   similarity to a row already kept exceeds ``1 - eps`` is dropped as a near-duplicate of the
   first (by policy) such row; otherwise it is kept. So every dropped row names a survivor
   that it really resembles, and no two survivors of a cluster resemble each other. Memory is
   bounded by one cluster: similarities are computed in blocks of rows, and a cluster larger
   than ``max_cluster_size`` is split by k-means on its own members (recursively), which
   keeps near-duplicates together while they are closer to each other than to other groups.
5. **patches** (one item per part): the part's decisions merged into one patch file.

Every member of a group (a survivor and the rows dropped in its favour) gets ``dup_cluster``
(``semantic-<smallest id of the group>``), ``dup_survivor`` and ``semantic_similarity`` (its
cosine similarity to the survivor; the ledger's score); dropped rows get
``semantic_dedup:near_duplicate_of:<survivor id>``.

The workers are in :mod:`operators.dedup.semantic.steps`, the settings in
:mod:`operators.dedup.semantic.config`.
"""

from __future__ import annotations

import math

from operators.core.base import Resources, Role
from operators.core.global_stage import GlobalOperator, Plan, StageContext, Step
from operators.core.io import is_absolute, join, makedirs
from operators.dedup.semantic.config import SemanticDedupConfig
from operators.dedup.semantic.steps import AssignWorker, ClusterWorker, EmbedWorker, FitWorker, PatchWorker


class SemanticDedup(GlobalOperator):
    """Keeps one record per group of semantic near-duplicates (drop reason ``semantic_dedup:near_duplicate_of:<id>``).

    SemDeDup: sentence embeddings, k-means, then cosine similarity within each cluster; a pair
    above ``1 - eps`` is a duplicate, and the survivor policy picks who stays. Members get
    ``dup_cluster`` (``semantic-<smallest id>``), ``dup_survivor`` and ``semantic_similarity``.
    Run it after ``exact_dedup``/``fuzzy_dedup``: those are cheaper and leave fewer rows to embed.
    """

    name = "semantic_dedup"
    version = "1"
    Config = SemanticDedupConfig
    role = Role.DEDUP
    score_column = "semantic_similarity"
    extra = "embeddings"
    extra_modules = ("onnxruntime", "sklearn", "all_minilm_l6_v2")

    @property
    def resources(self) -> Resources:
        """The embedding workers load the model, on a GPU when the cluster has one (unless the backend is ONNX)."""
        return Resources(gpus=0 if self.config.backend == "onnx" else 1, model=True)

    def embeddings_folder(self, output: str) -> str:
        """Where embeddings are kept: configured (relative to ``output``), else ``<output>/_embeddings``."""
        path = self.config.embeddings_path or "_embeddings"
        return path if is_absolute(path) else join(output, path)

    def plan(self, ctx: StageContext) -> Plan:
        cfg, work_dir, parts = self.config, ctx.work_dir, ctx.parts
        makedirs(work_dir)
        config = cfg.model_dump(mode="json")
        gpu = ctx.gpus > 0 and self.resources.gpus > 0
        embedded = yield Step(
            "embed", EmbedWorker, [{"part": p, "index": i} for i, p in enumerate(parts)],
            {"work_dir": work_dir, "config": config, "device": "cuda" if gpu else "cpu",
             "cache": self.embeddings_folder(ctx.output) if cfg.cache_embeddings else None},
            resources=self.resources,
        )
        total = sum(r["rows"] for r in embedded)
        self.stats = {"docs": total, "cached_parts": sum(r["cached"] for r in embedded), "drops": 0, "splits": 0}
        if total < 2:
            return {}
        files = [r["file"] for r in embedded if r["rows"]]
        k = cfg.clusters or math.ceil(total / cfg.rows_per_cluster)
        k = max(1, min(k, max(1, min(total, cfg.sample_size) // 4)))
        (fitted,) = yield Step(
            "centroids", FitWorker, [{"files": files, "k": k, "rate": cfg.sample_size / total}],
            {"work_dir": work_dir, "config": config},
        )
        buckets = cfg.num_buckets or max(1, min(1024, len(parts), fitted["k"]))
        assigned = yield Step(
            "assign", AssignWorker, [{"file": r["file"], "index": i} for i, r in enumerate(embedded) if r["rows"]],
            {"work_dir": work_dir, "centroids": fitted["centroids"], "buckets": buckets},
        )
        by_bucket = _collect(assigned)
        clustered = yield Step(
            "clusters", ClusterWorker, [{"bucket": b, "files": by_bucket[b]} for b in sorted(by_bucket)],
            {"work_dir": work_dir, "config": config},
        )
        by_part = _collect(clustered)
        patched = yield Step(
            "patches", PatchWorker, [{"part": parts[p], "files": by_part[p]} for p in sorted(by_part)],
            {"work_dir": work_dir},
        )
        self.stats.update(
            clusters=fitted["k"], sample=fitted["sample"], drops=sum(r["drops"] for r in clustered),
            splits=sum(r["splits"] for r in clustered),
        )
        return {parts[p]: [r["patch"]] for p, r in zip(sorted(by_part), patched, strict=True)}


def _collect(results: list[dict]) -> dict[int, list[str]]:
    """``{key: [paths]}`` from workers' ``files`` maps, in result order."""
    out: dict[int, list[str]] = {}
    for result in results:
        for key, path in result["files"].items():
            out.setdefault(int(key), []).append(path)
    return out
