"""Semantic deduplication (SemDeDup, Abbas et al. 2023): k-means over sentence embeddings, then
pairwise cosine similarity within each cluster.

Steps, each one ``executor.map`` over independent items whose outputs are files written
atomically under deterministic names, so that no process holds the corpus:

1. **embed** (one item per part, a model per Ray actor): unit-length embeddings of the kept
   rows (:mod:`operators.embed`), stored as float16 with the rows' survivor ranks. They are
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
"""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.base import GlobalOperator, OperatorConfig
from operators.embed import BACKENDS, DEFAULT_MODEL
from operators.io import exists, join, makedirs, read_parquet, write_parquet_atomic
from operators.minhash import mix64
from operators.registry import register
from operators.schema import kept_mask, text_hash
from operators.survivor import SurvivorPolicy, check_columns, columns_needed, rank_columns, rank_names

_ROW_BLOCK = 1024  # rows of a cluster whose similarities are computed at once


class SemanticDedupConfig(OperatorConfig):
    eps: float = Field(
        0.22, gt=0, lt=1,
        description="Two records are near-duplicates when the cosine similarity of their embeddings exceeds 1 - eps "
        "(0.22: the F1-best on benchmarks/semdedup.py's tuning pairs, for all-MiniLM-L6-v2).",
    )
    model: str = Field(DEFAULT_MODEL, description="Embedding model: 'all-minilm-l6-v2' (packaged) or a local sentence-transformers / ONNX folder.")
    backend: str = Field("auto", description="Embedding backend: 'auto' (torch fp16 on a GPU, else ONNX Runtime), 'onnx' or 'torch'.")
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


def _part_name(part: str) -> str:
    return os.path.basename(part).removesuffix(".parquet")


def _embedding_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(vectors, np.float16).ravel(), pa.float16())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])


def _vectors(table: pa.Table) -> np.ndarray:
    """float32 matrix of a table's ``embedding`` column."""
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size
    if not len(column):
        return np.zeros((0, dim), np.float32)
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)


def _id_hash(ids: list[str]) -> np.ndarray:
    """A uniform 64-bit hash of each id (the sample is the ids whose hash falls below a rate)."""
    raw = np.array([int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little") for i in ids], np.uint64)
    return mix64(raw)


# ---------------------------------------------------------------- workers


class _EmbedWorker:
    """Part -> ``emb/<part>.parquet``: id, float16 embedding, survivor ranks of the kept rows."""

    def __init__(self, work_dir: str, config: dict, cache: str | None, device: str):
        self.work_dir = work_dir
        self.config = SemanticDedupConfig(**config)
        self.cache = cache
        self.device = device
        self._embedder = None

    def _model(self):
        if self._embedder is None:
            from operators.embed import Embedder

            cfg = self.config
            self._embedder = Embedder(cfg.model, cfg.backend, cfg.batch_size, cfg.threads, self.device)
        return self._embedder

    def __call__(self, item: dict) -> dict:
        cfg = self.config
        part = item["part"]
        check_columns("semantic_dedup", part, cfg.survivor, {"id", "text", "keep"})
        table = read_parquet(part, columns=sorted({"id", "text", "keep"} | columns_needed(cfg.survivor)))
        kept = table.filter(kept_mask(table))
        ids = kept.column("id").to_pylist()
        texts = [t or "" for t in kept.column("text").to_pylist()]
        vectors, cached = None, False
        cache_file = None
        if self.cache is not None and ids:
            from operators.embed import resolve

            digest = hashlib.sha256()
            for rid, text in zip(ids, texts, strict=True):
                digest.update(f"{rid}\x00{text_hash(text)}\x00".encode())
            cache_file = join(self.cache, resolve(cfg.model).key(), f"{digest.hexdigest()[:32]}.parquet")
            if exists(cache_file):
                stored = read_parquet(cache_file)
                if stored.column("id").to_pylist() == ids:
                    vectors, cached = _vectors(stored), True
        if vectors is None:
            vectors = self._model().encode(texts) if ids else np.zeros((0, 1), np.float32)
            if cache_file is not None:
                write_parquet_atomic(pa.table({"id": pa.array(ids, pa.string()), "embedding": _embedding_array(vectors)}), cache_file)
        out = {"id": pa.array(ids, pa.string()), "embedding": _embedding_array(vectors), **rank_columns(kept, cfg.survivor)}
        path = join(self.work_dir, "emb", f"{item['index']:06d}.parquet")
        write_parquet_atomic(pa.table(out), path)
        return {"file": path, "rows": len(ids), "cached": cached}


class _FitWorker:
    """Embedding files -> ``centroids.npy``: spherical k-means on a hash sample of the rows."""

    def __init__(self, work_dir: str, config: dict):
        self.work_dir = work_dir
        self.config = SemanticDedupConfig(**config)

    def __call__(self, item: dict) -> dict:
        from sklearn.cluster import MiniBatchKMeans

        bar = np.uint64(min(item["rate"], 1.0) * float(np.iinfo(np.uint64).max)) if item["rate"] < 1 else None
        ids, chunks = [], []
        for path in item["files"]:
            table = read_parquet(path, columns=["id", "embedding"])
            if bar is not None:
                table = table.filter(pa.array(_id_hash(table.column("id").to_pylist()) <= bar))
            ids += table.column("id").to_pylist()
            chunks.append(_vectors(table))
        sample = np.concatenate(chunks)[np.argsort(np.array(ids, dtype=object), kind="stable")]  # order-free
        k = max(1, min(item["k"], len(sample)))
        kmeans = MiniBatchKMeans(
            n_clusters=k, random_state=self.config.seed, n_init=3, batch_size=min(4096, len(sample)), max_iter=100
        ).fit(sample)
        centroids = kmeans.cluster_centers_.astype(np.float32)
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        path = join(self.work_dir, "centroids.npy")
        from operators.io import atomic_open

        with atomic_open(path) as f:
            np.save(f, centroids)
        return {"centroids": path, "k": int(k), "sample": len(sample)}


class _AssignWorker:
    """Embedding file -> rows by cluster bucket: ``assign/b<bucket>/<part index>.parquet``."""

    def __init__(self, work_dir: str, centroids: str, buckets: int):
        self.work_dir = work_dir
        self.centroids_path = centroids
        self.buckets = buckets
        self._centroids: np.ndarray | None = None

    def __call__(self, item: dict) -> dict:
        if self._centroids is None:
            from operators.io import filesystem

            fs, p = filesystem(self.centroids_path)
            with fs.open(p, "rb") as f:
                self._centroids = np.load(f)
        table = read_parquet(item["file"])
        vectors = _vectors(table)
        cluster = np.empty(len(vectors), np.int32)
        for lo in range(0, len(vectors), 8192):
            cluster[lo : lo + 8192] = np.argmax(vectors[lo : lo + 8192] @ self._centroids.T, axis=1)
        table = table.append_column("cluster", pa.array(cluster)).append_column(
            "part", pa.array(np.full(len(vectors), item["index"], np.int32))
        )
        bucket = cluster % self.buckets
        files = {}
        for b in np.unique(bucket):
            path = join(self.work_dir, "assign", f"b{int(b):05d}", f"{item['index']:06d}.parquet")
            write_parquet_atomic(table.filter(pa.array(bucket == b)), path)
            files[str(int(b))] = path
        return {"files": files}


class _ClusterWorker:
    """A cluster bucket -> per-part decisions: ``decisions/p<part index>/b<bucket>.parquet``."""

    def __init__(self, work_dir: str, config: dict):
        self.work_dir = work_dir
        self.config = SemanticDedupConfig(**config)

    def __call__(self, item: dict) -> dict:
        cfg = self.config
        table = pa.concat_tables([read_parquet(f) for f in item["files"]])
        ranks = rank_names(cfg.survivor)
        table = table.sort_by([("cluster", "ascending"), *[(r, "ascending") for r in ranks], ("id", "ascending")])
        cluster = table.column("cluster").to_numpy()
        vectors = _vectors(table)
        survivor = np.full(len(cluster), -1, np.int64)  # row index of the survivor, -1 for a row kept
        similarity = np.zeros(len(cluster), np.float32)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(cluster)) + 1, [len(cluster)]])
        splits = 0
        for lo, hi in zip(starts[:-1], starts[1:], strict=True):
            splits += _dedup(vectors, np.arange(lo, hi), cfg, survivor, similarity)
        return {"files": self._write(table, survivor, similarity, item["bucket"]), "splits": splits,
                "drops": int((survivor >= 0).sum())}

    def _write(self, table: pa.Table, survivor: np.ndarray, similarity: np.ndarray, bucket: int) -> dict[str, str]:
        dropped = np.flatnonzero(survivor >= 0)
        if not len(dropped):
            return {}
        ids = np.array(table.column("id").to_pylist(), dtype=object)
        # A group: its survivor and the rows dropped in the survivor's favour.
        heads = np.unique(survivor[dropped])
        members = np.concatenate([heads, dropped])
        head_of = np.concatenate([heads, survivor[dropped]])
        group_name = {}
        for h, m in zip(head_of, members, strict=True):
            group_name[h] = min(group_name.get(h, ids[m]), ids[m])
        best = {}
        for d in dropped:  # a survivor's score: its most similar duplicate
            best[survivor[d]] = max(best.get(survivor[d], 0.0), float(similarity[d]))
        part = table.column("part").to_numpy()[members]
        columns = {
            "id": ids[members],
            "dup_cluster": np.array([f"semantic-{group_name[h]}" for h in head_of], dtype=object),
            "dup_survivor": ids[head_of],
            "semantic_similarity": np.concatenate([[best[h] for h in heads], similarity[dropped]]).astype(np.float32),
            "drop_reason": np.array([None] * len(heads) + [f"near_duplicate_of:{ids[s]}" for s in survivor[dropped]], dtype=object),
        }
        files = {}
        for p in np.unique(part):
            sel = part == p
            patch = pa.table(
                {
                    "id": pa.array(columns["id"][sel].tolist(), pa.string()),
                    "dup_cluster": pa.array(columns["dup_cluster"][sel].tolist(), pa.string()),
                    "dup_survivor": pa.array(columns["dup_survivor"][sel].tolist(), pa.string()),
                    "semantic_similarity": pa.array(columns["semantic_similarity"][sel], pa.float32()),
                    "drop_reason": pa.array(columns["drop_reason"][sel].tolist(), pa.string()),
                }
            )
            path = join(self.work_dir, "decisions", f"p{int(p):06d}", f"b{bucket:05d}.parquet")
            write_parquet_atomic(patch, path)
            files[str(int(p))] = path
        return files


class _PatchWorker:
    """A part's decision files -> one patch, ``patch/<part>.parquet``."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def __call__(self, item: dict) -> dict:
        table = pa.concat_tables([read_parquet(f) for f in item["files"]]).sort_by("id")
        path = join(self.work_dir, "patch", f"{_part_name(item['part'])}.parquet")
        write_parquet_atomic(table, path)
        return {"patch": path, "rows": table.num_rows}


# ---------------------------------------------------------------- the dedup of one cluster


def _dedup(vectors: np.ndarray, rows: np.ndarray, cfg: SemanticDedupConfig, survivor: np.ndarray,
           similarity: np.ndarray, depth: int = 0) -> int:
    """Greedy SemDeDup over ``rows`` (in survivor-policy order); returns the number of splits made."""
    if len(rows) < 2:
        return 0
    if len(rows) > cfg.max_cluster_size and depth < 8:
        from sklearn.cluster import KMeans

        k = math.ceil(2 * len(rows) / cfg.max_cluster_size)
        labels = KMeans(n_clusters=k, n_init=1, random_state=cfg.seed + depth + 1).fit_predict(vectors[rows])
        splits = 1
        for label in range(k):
            splits += _dedup(vectors, rows[labels == label], cfg, survivor, similarity, depth + 1)
        return splits
    threshold = np.float32(cfg.threshold())
    x = vectors[rows]
    kept = np.zeros(len(rows), bool)
    for lo in range(0, len(rows), _ROW_BLOCK):
        hi = min(lo + _ROW_BLOCK, len(rows))
        sims = x[lo:hi] @ x[:hi].T
        # Only earlier rows (better by the policy) can be survivors of a row.
        sims[np.triu_indices(hi - lo, k=lo, m=hi)] = -np.inf
        candidates = np.flatnonzero((sims > threshold).any(axis=1))
        kept[lo:hi] = True
        for r in candidates:
            i = lo + r
            hit = np.flatnonzero(kept[:i] & (sims[r, :i] > threshold))
            if len(hit):
                kept[i] = False
                survivor[rows[i]] = rows[hit[0]]
                similarity[rows[i]] = sims[r, hit[0]]
    return 0


# ---------------------------------------------------------------- the operator


@register
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
    score_column = "semantic_similarity"
    extra = "embeddings"
    extra_modules = ("onnxruntime", "sklearn", "all_minilm_l6_v2")

    def run_global(self, parts, work_dir, executor):
        cfg = self.config
        if cfg.backend not in BACKENDS:
            raise ValueError(f"semantic_dedup: backend {cfg.backend!r}: choose one of {', '.join(BACKENDS)}")
        makedirs(work_dir)
        config = cfg.model_dump(mode="json")
        gpu = cfg.backend != "onnx" and executor.gpus > 0
        cache = self.output_folder(work_dir, cfg.embeddings_path or "_embeddings") if cfg.cache_embeddings else None
        embedded = executor.map(
            _EmbedWorker, [{"part": p, "index": i} for i, p in enumerate(parts)],
            {"work_dir": work_dir, "config": config, "cache": cache, "device": "cuda" if gpu else "cpu"},
            desc=f"{self.name}: embed", stateful=True, num_gpus=1 if gpu else 0,
        )
        total = sum(r["rows"] for r in embedded)
        self.stats = {"docs": total, "cached_parts": sum(r["cached"] for r in embedded), "drops": 0, "splits": 0}
        if total < 2:
            return {}
        files = [r["file"] for r in embedded if r["rows"]]
        k = cfg.clusters or math.ceil(total / cfg.rows_per_cluster)
        k = max(1, min(k, max(1, min(total, cfg.sample_size) // 4)))
        (fitted,) = executor.map(
            _FitWorker, [{"files": files, "k": k, "rate": cfg.sample_size / total}],
            {"work_dir": work_dir, "config": config}, desc=f"{self.name}: centroids", stateful=False,
        )
        buckets = cfg.num_buckets or max(1, min(1024, len(parts), fitted["k"]))
        assigned = executor.map(
            _AssignWorker, [{"file": r["file"], "index": i} for i, r in enumerate(embedded) if r["rows"]],
            {"work_dir": work_dir, "centroids": fitted["centroids"], "buckets": buckets},
            desc=f"{self.name}: assign", stateful=False,
        )
        by_bucket = _collect(assigned)
        clustered = executor.map(
            _ClusterWorker, [{"bucket": b, "files": by_bucket[b]} for b in sorted(by_bucket)],
            {"work_dir": work_dir, "config": config}, desc=f"{self.name}: clusters", stateful=False,
        )
        by_part = _collect(clustered)
        patched = executor.map(
            _PatchWorker, [{"part": parts[p], "files": by_part[p]} for p in sorted(by_part)],
            {"work_dir": work_dir}, desc=f"{self.name}: patches", stateful=False,
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
