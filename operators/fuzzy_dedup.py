"""Near-duplicate removal: MinHash LSH, distributed connected components, one deterministic survivor.

Stages, each a map through the executor over hash partitions, so that no process holds
every signature or every edge of the corpus:

1. **sign** (one task per part): MinHash signatures of the kept rows
   (:mod:`operators.minhash`, bit-identical to datasketch), cut into ``bands`` bands of
   ``rows`` values; each band's hash goes to one of ``P`` bucket partitions (with the
   signature, for verification). The survivor-policy attributes of every row go to the
   partition that owns its node key.
2. **bucket** (one task per bucket partition): rows sharing a band hash are candidate
   pairs; with ``verify`` a pair becomes an edge only if its estimated Jaccard similarity
   reaches ``threshold`` less ``verify_margin`` standard errors of the estimate. Edges are contracted locally (connected components of the
   partition's edges) into stars, written to the owners of their end nodes.
3. **components**: alternating large-star / small-star rounds (Kiveris et al., "Connected
   Components in MapReduce and Beyond", 2014) over node-owner partitions until the edge set
   stops changing; then every node points at its component's smallest key.
4. **survivors**: each node's attributes are joined to its component (by owner), moved to
   the partition of the component, and one survivor is picked by the ``survivor`` policy
   (e.g. ``[length desc, id asc]``): the same record whatever the order, parallelism or
   part size. The others get ``fuzzy_dedup:near_duplicate_of:<survivor id>``.

Incremental mode keeps an index (Parquet, partitioned by band-hash) of the band hashes,
signatures and ids of every record kept by earlier runs, plus the survivor of each record
it dropped. A new batch joins its buckets against it: a new record near an old one is
dropped in favour of the old record's survivor, so a grown corpus never re-emits an old
near-duplicate. The index is updated only when the run's shards are written
(:meth:`FuzzyDedup.commit`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from operators.base import GlobalOperator, OperatorConfig
from operators.io import atomic_open, exists, filesystem, join, makedirs, read_parquet, write_parquet_atomic
from operators.minhash import Signer, band_hashes, mix64
from operators.registry import register
from operators.schema import kept_mask
from operators.survivor import SurvivorPolicy, check_columns, columns_needed, rank_columns

# Node keys: part << 26 | row for this run's records; index records carry the flag bit and
# the number of the run that emitted them, so keys never collide across runs.
_ROW_BITS = 26
_PART_BITS = 20
_RUN_SHIFT = _ROW_BITS + _PART_BITS
_OLD = np.int64(1 << 62)

_EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64())])


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
        from datasketch.lsh import _optimal_param

        # With verification the banding leans to recall: verifying a candidate's estimated Jaccard removes the
        # false positives it lets in, while a pair that is never a candidate is lost for good
        # (benchmarks/dedup.py: at 0.8, 14x9 bands reach F1 0.95 where the balanced 9x13 stop at 0.91).
        fp_default, fn_default = (0.1, 0.9) if self.verify else (0.5, 0.5)
        fp = fp_default if self.false_positive_weight is None else self.false_positive_weight
        fn = fn_default if self.false_negative_weight is None else self.false_negative_weight
        return _optimal_param(self.threshold, self.num_perm, fp, fn)


def _owner(keys: np.ndarray, parts: int) -> np.ndarray:
    return (mix64(keys) % np.uint64(parts)).astype(np.int64)


def _write_partitioned(table: pa.Table, dest: np.ndarray, parts: int, path_of) -> dict[str, str]:
    """Write the rows of ``table`` to ``path_of(p)`` by destination partition ``dest``."""
    files = {}
    if not table.num_rows:
        return files
    order = np.argsort(dest, kind="stable")
    sorted_dest = dest[order]
    bounds = np.flatnonzero(np.diff(sorted_dest)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(order)]]), strict=True):
        p = int(sorted_dest[lo])
        path = path_of(p)
        write_parquet_atomic(table.take(pa.array(order[lo:hi])), path)
        files[str(p)] = path
    return files


def _read_all(paths: list[str], columns: list[str] | None = None) -> pa.Table | None:
    tables = [read_parquet(p, columns=columns) for p in paths]
    return pa.concat_tables(tables, promote_options="default") if tables else None


def _checksum(u: np.ndarray, v: np.ndarray) -> str:
    """Order-independent checksum of a set of (u, v) rows."""
    with np.errstate(over="ignore"):
        h = mix64(mix64(u) ^ v.astype(np.uint64))
        return f"{int(np.sum(h, dtype=np.uint64)):016x}:{len(u)}"


def _unique_edges(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = u != v
    pairs = np.unique(np.stack([u[keep], v[keep]], axis=1), axis=0)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _edge_table(u: np.ndarray, v: np.ndarray) -> pa.Table:
    return pa.table({"u": pa.array(u, pa.int64()), "v": pa.array(v, pa.int64())}, schema=_EDGE_SCHEMA)


def _write_edges(u, v, parts, path_of) -> dict[str, str]:
    """Edges (u, v) to the owner of u, de-duplicated."""
    if not len(u):
        return {}
    u, v = _unique_edges(u, v)
    return _write_partitioned(_edge_table(u, v), _owner(u, parts), parts, path_of)


def _both_ways(u, v):
    return np.concatenate([u, v]), np.concatenate([v, u])


# ---------------------------------------------------------------- workers


class _SignWorker:
    """Part -> band rows by bucket partition, and node attributes by owner partition."""

    def __init__(self, work_dir: str, config: dict, parts: int):
        self.work_dir = work_dir
        self.config = FuzzyDedupConfig(**config)
        self.parts = parts
        self._signer: Signer | None = None

    def __call__(self, item: dict) -> dict:
        cfg = self.config
        if self._signer is None:
            self._signer = Signer(cfg.num_perm, cfg.seed, cfg.shingle, cfg.ngram)
        wanted = {"id", "text", "keep"} | columns_needed(cfg.survivor)
        check_columns("fuzzy_dedup", item["part"], cfg.survivor, wanted)
        table = read_parquet(item["part"], columns=sorted(wanted))  # not the images, meta or scores
        rows = np.flatnonzero(kept_mask(table).to_numpy(zero_copy_only=False))
        if len(rows) >= 1 << _ROW_BITS:
            raise ValueError(f"fuzzy_dedup: a part holds at most {1 << _ROW_BITS} rows; lower rows_per_part")
        kept = table.take(pa.array(rows, pa.int64()))
        sig, has = self._signer.signatures(kept.column("text"))
        rows, kept, sig = rows[has], kept.filter(pa.array(has)), sig[has]
        keys = (np.int64(item["index"]) << np.int64(_ROW_BITS)) | rows.astype(np.int64)
        out = {"bands": {}, "attrs": {}, "docs": int(len(rows))}
        if not len(rows):
            return out
        bands, rows_per_band = cfg.banding()
        bh = band_hashes(sig, bands, rows_per_band)
        n = len(keys)
        band_col = np.repeat(np.arange(bands, dtype=np.int16)[None, :], n, axis=0).ravel()
        sig_bytes = pa.Array.from_buffers(
            pa.binary(4 * cfg.num_perm), n, [None, pa.py_buffer(np.ascontiguousarray(sig).tobytes())]
        )
        rep = pa.array(np.repeat(np.arange(n), bands))
        columns = {
            "band": pa.array(band_col),
            "bandhash": pa.array(bh.ravel()),
            "key": pa.array(keys).take(rep),
            "sig": sig_bytes.take(rep),
        }
        if cfg.incremental:  # the index names the records it holds
            columns["id"] = kept.column("id").take(rep)
        band_rows = pa.table(columns)
        dest = _owner(bh.ravel() ^ band_col.astype(np.uint64), self.parts)
        name = f"{item['index']:06d}.parquet"
        out["bands"] = _write_partitioned(
            band_rows, dest, self.parts, lambda p: join(self.work_dir, "bands", f"p{p:05d}", name)
        )
        attrs = {"key": pa.array(keys), "id": kept.column("id"), "old": pa.array(np.zeros(n, bool))}
        attrs.update(rank_columns(kept, cfg.survivor))
        out["attrs"] = _write_partitioned(
            pa.table(attrs), _owner(keys, self.parts), self.parts, lambda p: join(self.work_dir, "attrs", f"p{p:05d}", name)
        )
        return out


class _BucketWorker:
    """A bucket partition -> verified candidate edges, contracted to local stars."""

    def __init__(self, work_dir: str, config: dict, parts: int):
        self.work_dir = work_dir
        self.config = FuzzyDedupConfig(**config)
        self.parts = parts

    def __call__(self, item: dict) -> dict:
        cfg = self.config
        new = _read_all(item["files"], ["band", "bandhash", "key", "sig"])
        old = _read_all(item.get("index_files", []), ["band", "bandhash", "key", "sig", "id"])
        tables = [t for t in (new, old) if t is not None and t.num_rows]
        out = {"edges": {}, "old_attrs": {}, "candidates": 0, "edges_verified": 0}
        if not tables:
            return out
        table = pa.concat_tables([t.select(["band", "bandhash", "key", "sig"]) for t in tables])
        band = table.column("band").to_numpy()
        bh = table.column("bandhash").to_numpy()
        key = table.column("key").to_numpy()
        order = np.lexsort((key, bh, band))
        band, bh, key = band[order], bh[order], key[order]
        change = np.flatnonzero((band[1:] != band[:-1]) | (bh[1:] != bh[:-1])) + 1
        starts = np.concatenate([[0], change])
        sizes = np.diff(np.concatenate([starts, [len(key)]]))
        pa_, pb_ = [], []
        # Buckets of two, the common case, at once; larger ones one by one.
        two = starts[sizes == 2]
        pa_.append(key[two])
        pb_.append(key[two + 1])
        for s, size in zip(starts[sizes > 2], sizes[sizes > 2], strict=True):
            members = key[s : s + size]
            if size <= cfg.max_bucket_pairs:
                i, j = np.triu_indices(size, 1)
            else:
                # Each member against a few anchors and its neighbour: connected, linear size.
                anchors = min(4, size)
                i = np.concatenate([np.repeat(np.arange(anchors), size), np.arange(size - 1)])
                j = np.concatenate([np.tile(np.arange(size), anchors), np.arange(1, size)])
            pa_.append(members[i])
            pb_.append(members[j])
        a, b = np.concatenate(pa_), np.concatenate(pb_)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = (lo != hi) & (lo < _OLD)  # pairs of two old records were settled by earlier runs
        if not keep.any():
            return out
        lo, hi = _unique_edges(lo[keep], hi[keep])
        out["candidates"] = int(len(lo))
        if cfg.verify:
            bar = cfg.verify_bar()
            all_keys = table.column("key").to_numpy()
            uniq, first = np.unique(all_keys, return_index=True)
            sig_arr = table.column("sig").combine_chunks()
            sigs = np.frombuffer(sig_arr.buffers()[1], np.uint32)[
                sig_arr.offset * cfg.num_perm : (sig_arr.offset + len(sig_arr)) * cfg.num_perm
            ].reshape(-1, cfg.num_perm)
            rows_a = first[np.searchsorted(uniq, lo)]
            rows_b = first[np.searchsorted(uniq, hi)]
            similar = np.empty(len(lo), bool)
            step = 1 << 14
            for i in range(0, len(lo), step):
                sa, sb = sigs[rows_a[i : i + step]], sigs[rows_b[i : i + step]]
                similar[i : i + step] = (sa == sb).mean(axis=1) >= bar
            lo, hi = lo[similar], hi[similar]
        out["edges_verified"] = int(len(lo))
        if not len(lo):
            return out
        u, v = _local_stars(lo, hi)
        name = f"from-{item['p']:05d}.parquet"
        # For the first large-star round: each edge to the owners of both its ends.
        uu, vv = _both_ways(u, v)
        out["edges"] = _write_edges(uu, vv, self.parts, lambda p: join(self.work_dir, "cc", "r000", f"p{p:05d}", name))
        if old is not None and old.num_rows:
            nodes = np.unique(np.concatenate([u, v]))
            olds = old.select(["key", "id"])
            olds = olds.filter(pc.is_in(olds.column("key"), pa.array(nodes[nodes >= _OLD])))
            if olds.num_rows:
                olds = olds.group_by("key").aggregate([("id", "min")]).rename_columns(["key", "id"])
                okeys = olds.column("key").to_numpy()
                out["old_attrs"] = _write_partitioned(
                    olds, _owner(okeys, self.parts), self.parts,
                    lambda p: join(self.work_dir, "old_attrs", f"p{p:05d}", name),
                )
        return out


def _local_stars(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges -> (node, smallest node of its local component) for every non-smallest node."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes, inverse = np.unique(np.concatenate([lo, hi]), return_inverse=True)
    n = len(nodes)
    graph = coo_matrix((np.ones(len(lo), np.int8), (inverse[: len(lo)], inverse[len(lo) :])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    root = np.full(labels.max() + 1, n, np.int64)
    np.minimum.at(root, labels, np.arange(n))  # nodes are sorted: the smallest index is the smallest key
    roots = nodes[root[labels]]
    mask = roots != nodes
    return nodes[mask], roots[mask]


class _StarWorker:
    """One large-star or small-star step on the edges owned by one partition."""

    def __init__(self, work_dir: str, parts: int):
        self.work_dir = work_dir
        self.parts = parts

    def __call__(self, item: dict) -> dict:
        table = _read_all(item["files"])
        p, step, rnd = item["p"], item["step"], item["round"]
        name = f"from-{p:05d}.parquet"
        nxt = join(self.work_dir, "cc", f"r{rnd + 1:03d}" if step == "small" else f"r{rnd:03d}s")
        if table is None or not table.num_rows:
            return {"edges": {}, "checksum": _checksum(np.zeros(0, np.int64), np.zeros(0, np.int64)), "assign": None}
        u, v = _unique_edges(table.column("u").to_numpy(), table.column("v").to_numpy())
        order = np.argsort(u, kind="stable")
        u, v = u[order], v[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(u)) + 1])
        nodes = u[starts]
        counts = np.diff(np.concatenate([starts, [len(u)]]))
        m_node = np.minimum(np.minimum.reduceat(v, starts), nodes)
        m = np.repeat(m_node, counts)
        if step == "large":
            # Large star: connect every larger neighbour to the smallest of the neighbourhood.
            # Rows (u, v) arrive here both ways, so u < v rows name each edge once.
            checksum = _checksum(u[u < v], v[u < v])
            assign = join(self.work_dir, "cc", f"assign-r{rnd:03d}", f"p{p:05d}.parquet")
            write_parquet_atomic(_edge_table(nodes, m_node), assign)
            big = v > u
            # Next: small star, which wants each edge at the owner of its larger end.
            edges = _write_edges(v[big], m[big], self.parts, lambda d: join(nxt, f"p{d:05d}", name))
            return {"edges": edges, "checksum": checksum, "assign": assign}
        # Small star: the node and its smaller neighbours all point at the smallest of them.
        su = np.concatenate([v, nodes])
        sm = np.concatenate([m, m_node])
        su, sm = _both_ways(su, sm)
        edges = _write_edges(su, sm, self.parts, lambda d: join(nxt, f"p{d:05d}", name))
        return {"edges": edges, "checksum": "", "assign": None}


class _JoinWorker:
    """Owner partition: (node, component) + node attributes -> rows by component partition."""

    def __init__(self, work_dir: str, parts: int, n_ranks: int):
        self.work_dir = work_dir
        self.parts = parts
        self.n_ranks = n_ranks

    def __call__(self, item: dict) -> dict:
        assign = read_parquet(item["assign"]).rename_columns(["key", "root"])
        name = f"from-{item['p']:05d}.parquet"
        ranks = [f"r{i}" for i in range(self.n_ranks)]
        tables = []
        new = _read_all(item["attrs"])
        if new is not None:
            tables.append(assign.join(new, "key", join_type="inner"))
        old = _read_all(item["old_attrs"])
        if old is not None:
            old = old.group_by("key").aggregate([("id", "min")]).rename_columns(["key", "id"])
            dropped = _read_all(item["index_dropped"])
            if dropped is not None:
                dropped = dropped.group_by("key").aggregate([("survivor", "min")]).rename_columns(["key", "survivor"])
                old = old.join(dropped, "key", join_type="left outer")
                old = old.set_column(old.schema.get_field_index("id"), "id", pc.coalesce(old.column("survivor"), old.column("id")))
                old = old.drop_columns(["survivor"])
            old = old.append_column("old", pa.array(np.ones(old.num_rows, bool)))
            for r in ranks:
                old = old.append_column(r, pa.array(np.full(old.num_rows, np.inf)))
            tables.append(assign.join(old, "key", join_type="inner"))
        if not tables:
            return {"files": {}}
        cols = ["key", "root", "id", "old", *ranks]
        table = pa.concat_tables([t.select(cols) for t in tables])
        files = _write_partitioned(
            table, _owner(table.column("root").to_numpy(), self.parts), self.parts,
            lambda d: join(self.work_dir, "members", f"p{d:05d}", name),
        )
        return {"files": files}


class _SurvivorWorker:
    """Component partition -> one survivor per component; patches per part."""

    def __init__(self, work_dir: str, parts: int, n_ranks: int, part_paths: list[str]):
        self.work_dir = work_dir
        self.parts = parts
        self.n_ranks = n_ranks
        self.part_paths = part_paths

    def __call__(self, item: dict) -> dict:
        table = _read_all(item["files"])
        if table is None or not table.num_rows:
            return {"patches": {}, "dropped": {}, "clusters": 0, "drops": 0}
        # Earlier runs' records first (they are already out), then the policy, then id.
        sort = [("root", "ascending"), ("old", "descending")]
        sort += [(f"r{i}", "ascending") for i in range(self.n_ranks)] + [("id", "ascending")]
        table = table.sort_by(sort)
        root = table.column("root").to_numpy()
        ids = np.array(table.column("id").to_pylist(), dtype=object)
        keys = table.column("key").to_numpy()
        old = table.column("old").to_numpy(zero_copy_only=False)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(root)) + 1])
        counts = np.diff(np.concatenate([starts, [len(root)]]))
        survivor = np.repeat(ids[starts], counts)
        # The cluster is named by its smallest id, which does not depend on the policy.
        cluster = np.repeat(
            np.array([min(ids[s : s + c]) for s, c in zip(starts, counts, strict=True)], dtype=object), counts
        )
        is_survivor = np.zeros(len(root), bool)
        is_survivor[starts] = True
        new = ~old
        name = f"s{item['p']:05d}.parquet"
        patches = {}
        part_of = (keys >> _ROW_BITS).astype(np.int64)
        for part in np.unique(part_of[new]):
            sel = np.flatnonzero(new & (part_of == part))
            patch = pa.table(
                {
                    "id": pa.array(ids[sel].tolist(), pa.string()),
                    "dup_cluster": pa.array([f"fuzzy-{c}" for c in cluster[sel]], pa.string()),
                    "dup_survivor": pa.array(survivor[sel].tolist(), pa.string()),
                    "drop_reason": pa.array(
                        [None if s else f"near_duplicate_of:{sv}" for s, sv in zip(is_survivor[sel], survivor[sel], strict=True)],
                        pa.string(),
                    ),
                }
            )
            part_path = self.part_paths[int(part)]
            path = join(self.work_dir, "patch", os.path.basename(part_path).removesuffix(".parquet"), name)
            write_parquet_atomic(patch, path)
            patches[part_path] = path
        dropped_sel = np.flatnonzero(new & ~is_survivor)
        dropped = {}
        if len(dropped_sel):
            dtable = pa.table(
                {"key": pa.array(keys[dropped_sel]), "survivor": pa.array(survivor[dropped_sel].tolist(), pa.string())}
            )
            dropped = _write_partitioned(
                dtable, _owner(keys[dropped_sel], self.parts), self.parts,
                lambda d: join(self.work_dir, "dropped", f"p{d:05d}", name),
            )
        return {"patches": patches, "dropped": dropped, "clusters": int(len(starts)), "drops": int(len(dropped_sel))}


class _CommitWorker:
    """Copies one partition's staged band rows and drops into the index, under the run's number."""

    def __init__(self, index: str, run_no: int):
        self.index = index
        self.run_no = run_no

    def __call__(self, item: dict) -> dict:
        tag = np.int64(self.run_no) << np.int64(_RUN_SHIFT)
        for kind in ("bands", "dropped"):
            table = _read_all(item[kind])
            if table is None or not table.num_rows:
                continue
            keys = table.column("key").to_numpy() | _OLD | tag
            table = table.set_column(table.schema.get_field_index("key"), "key", pa.array(keys))
            write_parquet_atomic(table, join(self.index, kind, f"p{item['p']:05d}", f"run-{self.run_no:05d}.parquet"))
        return {}


# ---------------------------------------------------------------- the operator


@register
class FuzzyDedup(GlobalOperator):
    """Keeps one record per cluster of near-duplicates (drop reason ``fuzzy_dedup:near_duplicate_of:<id>``).

    Clusters are the connected components of the pairs whose MinHash signatures share a
    band (and, with ``verify``, whose estimated Jaccard similarity reaches ``threshold``).
    Every member gets ``dup_cluster`` (``fuzzy-<smallest id>``) and ``dup_survivor`` in the
    ledger. Run after ``exact_dedup``: it sees only the rows still kept, so exact copies
    name their exact survivor, which may itself name a fuzzy survivor.
    """

    name = "fuzzy_dedup"
    version = "2"  # 2: recall-leaning bands and the verification margin
    Config = FuzzyDedupConfig

    def index_folder(self, work_dir: str) -> str:
        """The index folder: configured, else ``<output>/_index/fuzzy_dedup``."""
        return self.output_folder(work_dir, self.config.index_path or join("_index", self.name))

    def _index_settings(self) -> dict:
        """The MinHash settings an incremental index is built with, and must be used with."""
        bands, rows = self.config.banding()
        c = self.config
        return {"num_perm": c.num_perm, "seed": c.seed, "bands": bands, "rows": rows, "shingle": c.shingle, "ngram": c.ngram}

    def _index_meta(self, index: str) -> dict | None:
        path = join(index, "meta.json")
        if not exists(path):
            return None
        fs, p = filesystem(path)
        with fs.open(p, "r") as f:
            meta = json.load(f)
        want = self._index_settings()
        have = {k: meta.get(k) for k in want}
        if have != want:
            raise ValueError(
                f"fuzzy_dedup: the index at {index} was built with {have}, this recipe asks for {want}; "
                "use the same MinHash settings, or point index_path at a new folder"
            )
        return meta

    def run_global(self, parts, work_dir, executor):
        cfg = self.config
        makedirs(work_dir)
        if len(parts) >= 1 << _PART_BITS:
            raise ValueError(f"fuzzy_dedup: at most {1 << _PART_BITS} parts per run; raise rows_per_part")
        meta = self._index_meta(self.index_folder(work_dir)) if cfg.incremental else None
        n_parts = (meta or {}).get("partitions") or cfg.num_partitions or max(1, min(256, len(parts)))
        config = cfg.model_dump(mode="json")
        n_ranks = len(cfg.survivor) - 1
        signed = executor.map(
            _SignWorker, [{"part": p, "index": i} for i, p in enumerate(parts)],
            {"work_dir": work_dir, "config": config, "parts": n_parts}, desc=f"{self.name}: signatures", stateful=False,
        )
        by = _collect(signed, ("bands", "attrs"), n_parts)
        index_files = self._index_files(work_dir, meta, n_parts)
        items = [
            {"p": p, "files": by["bands"][p], "index_files": index_files["bands"][p]}
            for p in range(n_parts) if by["bands"][p]
        ]
        bucketed = executor.map(
            _BucketWorker, items, {"work_dir": work_dir, "config": config, "parts": n_parts},
            desc=f"{self.name}: buckets", stateful=False,
        )
        edges = _collect(bucketed, ("edges", "old_attrs"), n_parts)
        self.stats = {
            "docs": sum(r["docs"] for r in signed),
            "candidates": sum(r["candidates"] for r in bucketed),
            "edges": sum(r["edges_verified"] for r in bucketed),
        }
        stage = {"n_parts": n_parts, "bands": by["bands"], "dropped": {p: [] for p in range(n_parts)}}
        if not any(edges["edges"].values()):
            self._save_stage(work_dir, stage)
            return {}
        assign = self._components(executor, work_dir, edges["edges"], n_parts)
        joined = executor.map(
            _JoinWorker,
            [
                {"p": p, "assign": assign[p], "attrs": by["attrs"][p], "old_attrs": edges["old_attrs"][p],
                 "index_dropped": index_files["dropped"][p]}
                for p in range(n_parts) if assign[p]
            ],
            {"work_dir": work_dir, "parts": n_parts, "n_ranks": n_ranks}, desc=f"{self.name}: join", stateful=False,
        )
        members = _collect(joined, ("files",), n_parts)["files"]
        survived = executor.map(
            _SurvivorWorker, [{"p": p, "files": members[p]} for p in range(n_parts) if members[p]],
            {"work_dir": work_dir, "parts": n_parts, "n_ranks": n_ranks, "part_paths": list(parts)},
            desc=f"{self.name}: survivors", stateful=False,
        )
        self.stats.update(clusters=sum(r["clusters"] for r in survived), drops=sum(r["drops"] for r in survived))
        stage["dropped"] = _collect(survived, ("dropped",), n_parts)["dropped"]
        self._save_stage(work_dir, stage)
        patches: dict[str, list[str]] = {}
        for result in survived:
            for part, path in result["patches"].items():
                patches.setdefault(part, []).append(path)
        return patches

    def _save_stage(self, work_dir: str, stage: dict) -> None:
        # For commit(), which may run in another process (Dagster runs phases as assets).
        stage = {**stage, "stats": self.stats}
        with atomic_open(join(work_dir, "stage.json"), "w") as f:
            json.dump(stage, f)

    def _components(self, executor, work_dir: str, edges: dict[int, list[str]], n_parts: int) -> dict[int, str | None]:
        """Alternate large-star and small-star until the edge set is a forest of stars."""
        previous = None
        for rnd in range(self.config.max_rounds):
            large = executor.map(
                _StarWorker, [{"p": p, "files": edges[p], "step": "large", "round": rnd} for p in range(n_parts)],
                {"work_dir": work_dir, "parts": n_parts}, desc=f"{self.name}: components {rnd + 1} (large star)",
                stateful=False,
            )
            checksum = [r["checksum"] for r in large]
            if checksum == previous:
                return {p: r["assign"] for p, r in enumerate(large)}
            previous = checksum
            small_in = _collect(large, ("edges",), n_parts)["edges"]
            small = executor.map(
                _StarWorker, [{"p": p, "files": small_in[p], "step": "small", "round": rnd} for p in range(n_parts)],
                {"work_dir": work_dir, "parts": n_parts}, desc=f"{self.name}: components {rnd + 1} (small star)",
                stateful=False,
            )
            edges = _collect(small, ("edges",), n_parts)["edges"]
        raise RuntimeError(
            f"fuzzy_dedup: connected components did not converge in {self.config.max_rounds} rounds; raise max_rounds"
        )

    def _index_files(self, work_dir: str, meta: dict | None, n_parts: int) -> dict[str, dict[int, list[str]]]:
        files: dict[str, dict[int, list[str]]] = {"bands": {p: [] for p in range(n_parts)}, "dropped": {p: [] for p in range(n_parts)}}
        if not meta:
            return files
        index = self.index_folder(work_dir)
        for kind in files:
            for p in range(n_parts):
                for run_no in range(len(meta.get("runs", []))):
                    path = join(index, kind, f"p{p:05d}", f"run-{run_no:05d}.parquet")
                    if exists(path):
                        files[kind][p].append(path)
        return files

    def commit(self, work_dir: str, executor, run_id: str = "") -> None:
        """Add this run's kept records (and the survivors of those it dropped) to the index.

        Called once the run's output is final; until then the index is untouched, and a
        run that fails leaves it as it was (the files of an uncommitted run number are
        ignored and overwritten, since only ``meta.json`` lists runs).
        """
        path = join(work_dir, "stage.json")
        if not self.config.incremental or not exists(path):
            return
        fs, p = filesystem(path)
        with fs.open(p, "r") as f:
            stage = json.load(f)
        index = self.index_folder(work_dir)
        meta = self._index_meta(index)
        if meta is None:
            meta = {**self._index_settings(), "partitions": stage["n_parts"], "runs": []}
        run_no = len(meta["runs"])
        if run_no >= 1 << (62 - _RUN_SHIFT):
            raise ValueError(f"fuzzy_dedup: the index at {index} holds the most runs it can; start a new index")
        items = [
            {"p": p, "bands": stage["bands"][str(p)], "dropped": stage["dropped"][str(p)]}
            for p in range(stage["n_parts"]) if stage["bands"][str(p)] or stage["dropped"][str(p)]
        ]
        executor.map(_CommitWorker, items, {"index": index, "run_no": run_no}, desc=f"{self.name}: index", stateful=False)
        meta["runs"].append({"run_id": run_id, "docs": stage["stats"].get("docs", 0)})
        makedirs(index)
        with atomic_open(join(index, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)


def _collect(results: list[dict], fields: tuple[str, ...], n_parts: int) -> dict[str, dict[int, list[str]]]:
    out = {f: {p: [] for p in range(n_parts)} for f in fields}
    for result in results:
        for f in fields:
            for p, path in result[f].items():
                out[f][int(p)].append(path)
    return out
