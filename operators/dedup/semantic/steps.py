"""The workers of semantic dedup's steps: embed, centroids, assign, clusters, patches; and the dedup of one cluster.

Each worker writes its outputs atomically under deterministic names in the stage's work
folder and returns their paths, so that the run engine can checkpoint every finished item
and no process holds the corpus.
"""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import pyarrow as pa

from operators.core.io import atomic_open, exists, filesystem, join, read_parquet, write_parquet_atomic
from operators.core.schema import kept_mask, text_hash
from operators.dedup.minhash import mix64
from operators.dedup.semantic.config import SemanticDedupConfig
from operators.dedup.survivor import check_columns, columns_needed, rank_columns, rank_names

_ROW_BLOCK = 1024  # rows of a cluster whose similarities are computed at once


def part_name(part: str) -> str:
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


class EmbedWorker:
    """Part -> ``emb/<part>.parquet``: id, float16 embedding, survivor ranks of the kept rows."""

    def __init__(self, work_dir: str, config: dict, cache: str | None, device: str):
        self.work_dir = work_dir
        self.config = SemanticDedupConfig(**config)
        self.cache = cache
        self.device = device
        self._embedder = None

    def _model(self):
        if self._embedder is None:
            from operators.dedup.semantic.embed import Embedder  # tokenizers and the model's runtime: in the worker

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
            from operators.dedup.semantic.embed import resolve

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


class FitWorker:
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
        with atomic_open(path) as f:
            np.save(f, centroids)
        return {"centroids": path, "k": int(k), "sample": len(sample)}


class AssignWorker:
    """Embedding file -> rows by cluster bucket: ``assign/b<bucket>/<part index>.parquet``."""

    def __init__(self, work_dir: str, centroids: str, buckets: int):
        self.work_dir = work_dir
        self.centroids_path = centroids
        self.buckets = buckets
        self._centroids: np.ndarray | None = None

    def __call__(self, item: dict) -> dict:
        if self._centroids is None:
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


class ClusterWorker:
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


class PatchWorker:
    """A part's decision files -> one patch, ``patch/<part>.parquet``."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def __call__(self, item: dict) -> dict:
        table = pa.concat_tables([read_parquet(f) for f in item["files"]]).sort_by("id")
        path = join(self.work_dir, "patch", f"{part_name(item['part'])}.parquet")
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
