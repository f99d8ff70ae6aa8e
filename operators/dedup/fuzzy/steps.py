"""The workers of fuzzy dedup's steps: sign, buckets, join, survivors, and the index commit.

Node keys are ``part << 26 | row`` for this run's records; records of the
incremental index carry the flag bit and the number of the run that added them,
so keys never collide across runs.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.core.io import filesystem, join, read_parquet, write_parquet_atomic
from operators.core.schema import kept_mask
from operators.dedup.fuzzy.components import (
    both_ways,
    local_stars,
    owner,
    read_all,
    unique_edges,
    write_edges,
    write_partitioned,
)
from operators.dedup.fuzzy.config import FuzzyDedupConfig
from operators.dedup.minhash import Signer, band_hashes

ROW_BITS = 26
PART_BITS = 20
RUN_SHIFT = ROW_BITS + PART_BITS
OLD = np.int64(1 << 62)


class SignWorker:
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
        policy = [k.split() for k in cfg.survivor[:-1]]
        wanted = {"id", "text", "keep"} | {c for c, _ in policy if c != "length"}
        fs, path = filesystem(item["part"])
        with fs.open(path, "rb") as f:
            missing = wanted - set(pq.read_schema(f).names)
        if missing:
            raise ValueError(
                f"fuzzy_dedup: survivor policy names column(s) {sorted(missing)} that part {item['part']} lacks; "
                "use columns an earlier stage adds (e.g. a quality score) or 'length'"
            )
        table = read_parquet(item["part"], columns=sorted(wanted))  # not the images, meta or scores
        rows = np.flatnonzero(kept_mask(table).to_numpy(zero_copy_only=False))
        if len(rows) >= 1 << ROW_BITS:
            raise ValueError(f"fuzzy_dedup: a part holds at most {1 << ROW_BITS} rows; lower rows_per_part")
        kept = table.take(pa.array(rows, pa.int64()))
        sig, has = self._signer.signatures(kept.column("text"))
        rows, kept, sig = rows[has], kept.filter(pa.array(has)), sig[has]
        keys = (np.int64(item["index"]) << np.int64(ROW_BITS)) | rows.astype(np.int64)
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
        dest = owner(bh.ravel() ^ band_col.astype(np.uint64), self.parts)
        name = f"{item['index']:06d}.parquet"
        out["bands"] = write_partitioned(
            band_rows, dest, self.parts, lambda p: join(self.work_dir, "bands", f"p{p:05d}", name)
        )
        attrs = {"key": pa.array(keys), "id": kept.column("id"), "old": pa.array(np.zeros(n, bool))}
        for i, (column, direction) in enumerate(policy):
            if column == "length":
                values = pc.utf8_length(pc.fill_null(kept.column("text"), "")).to_numpy().astype(np.float64)
            else:
                values = pc.cast(kept.column(column), pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
            values = np.where(np.isnan(values), np.inf, -values if direction == "desc" else values)
            attrs[f"r{i}"] = pa.array(values, pa.float64())
        out["attrs"] = write_partitioned(
            pa.table(attrs), owner(keys, self.parts), self.parts, lambda p: join(self.work_dir, "attrs", f"p{p:05d}", name)
        )
        return out


class BucketWorker:
    """A bucket partition -> verified candidate edges, contracted to local stars."""

    def __init__(self, work_dir: str, config: dict, parts: int):
        self.work_dir = work_dir
        self.config = FuzzyDedupConfig(**config)
        self.parts = parts

    def __call__(self, item: dict) -> dict:
        cfg = self.config
        new = read_all(item["files"], ["band", "bandhash", "key", "sig"])
        old = read_all(item.get("index_files", []), ["band", "bandhash", "key", "sig", "id"])
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
        keep = (lo != hi) & (lo < OLD)  # pairs of two old records were settled by earlier runs
        if not keep.any():
            return out
        lo, hi = unique_edges(lo[keep], hi[keep])
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
        u, v = local_stars(lo, hi)
        name = f"from-{item['p']:05d}.parquet"
        # For the first large-star round: each edge to the owners of both its ends.
        uu, vv = both_ways(u, v)
        out["edges"] = write_edges(uu, vv, self.parts, lambda p: join(self.work_dir, "cc", "r000", f"p{p:05d}", name))
        if old is not None and old.num_rows:
            nodes = np.unique(np.concatenate([u, v]))
            olds = old.select(["key", "id"])
            olds = olds.filter(pc.is_in(olds.column("key"), pa.array(nodes[nodes >= OLD])))
            if olds.num_rows:
                olds = olds.group_by("key").aggregate([("id", "min")]).rename_columns(["key", "id"])
                okeys = olds.column("key").to_numpy()
                out["old_attrs"] = write_partitioned(
                    olds, owner(okeys, self.parts), self.parts,
                    lambda p: join(self.work_dir, "old_attrs", f"p{p:05d}", name),
                )
        return out


class JoinWorker:
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
        new = read_all(item["attrs"])
        if new is not None:
            tables.append(assign.join(new, "key", join_type="inner"))
        old = read_all(item["old_attrs"])
        if old is not None:
            old = old.group_by("key").aggregate([("id", "min")]).rename_columns(["key", "id"])
            dropped = read_all(item["index_dropped"])
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
        files = write_partitioned(
            table, owner(table.column("root").to_numpy(), self.parts), self.parts,
            lambda d: join(self.work_dir, "members", f"p{d:05d}", name),
        )
        return {"files": files}


class SurvivorWorker:
    """Component partition -> one survivor per component; patches per part."""

    def __init__(self, work_dir: str, parts: int, n_ranks: int, part_paths: list[str]):
        self.work_dir = work_dir
        self.parts = parts
        self.n_ranks = n_ranks
        self.part_paths = part_paths

    def __call__(self, item: dict) -> dict:
        table = read_all(item["files"])
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
        part_of = (keys >> ROW_BITS).astype(np.int64)
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
            dropped = write_partitioned(
                dtable, owner(keys[dropped_sel], self.parts), self.parts,
                lambda d: join(self.work_dir, "dropped", f"p{d:05d}", name),
            )
        return {"patches": patches, "dropped": dropped, "clusters": int(len(starts)), "drops": int(len(dropped_sel))}


class CommitWorker:
    """Copies one partition's staged band rows and drops into the index, under the run's number."""

    def __init__(self, index: str, run_no: int):
        self.index = index
        self.run_no = run_no

    def __call__(self, item: dict) -> dict:
        tag = np.int64(self.run_no) << np.int64(RUN_SHIFT)
        for kind in ("bands", "dropped"):
            table = read_all(item[kind])
            if table is None or not table.num_rows:
                continue
            keys = table.column("key").to_numpy() | OLD | tag
            table = table.set_column(table.schema.get_field_index("key"), "key", pa.array(keys))
            write_parquet_atomic(table, join(self.index, kind, f"p{item['p']:05d}", f"run-{self.run_no:05d}.parquet"))
        return {}
