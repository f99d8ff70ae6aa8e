"""Near-duplicate removal: MinHash LSH, distributed connected components, one deterministic survivor.

Steps, each a map over hash partitions that the run engine executes and checkpoints, so
that no process holds every signature or every edge of the corpus and a killed run resumes
at the first unfinished step:

1. **sign** (one task per part): MinHash signatures of the kept rows
   (:mod:`operators.dedup.minhash`, bit-identical to datasketch), cut into ``bands`` bands of
   ``rows`` values; each band's hash goes to one of ``P`` bucket partitions (with the
   signature, for verification). The survivor-policy attributes of every row go to the
   partition that owns its node key.
2. **bucket** (one task per bucket partition): rows sharing a band hash are candidate
   pairs; with ``verify`` a pair becomes an edge only if its estimated Jaccard similarity
   reaches ``threshold`` less ``verify_margin`` standard errors of the estimate. Edges are contracted locally (connected components of the
   partition's edges) into stars, written to the owners of their end nodes.
3. **components**: alternating large-star / small-star rounds over node-owner partitions
   until the edge set stops changing (:mod:`operators.dedup.fuzzy.components`); then every
   node points at its component's smallest key.
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

The workers are in :mod:`operators.dedup.fuzzy.steps`, the settings in
:mod:`operators.dedup.fuzzy.config`.
"""

from __future__ import annotations

import json

from operators.core.base import Role
from operators.core.global_stage import GlobalOperator, Plan, StageContext, Step
from operators.core.io import atomic_open, exists, filesystem, is_absolute, join, makedirs
from operators.dedup.fuzzy.components import collect, components
from operators.dedup.fuzzy.config import FuzzyDedupConfig
from operators.dedup.fuzzy.steps import (
    PART_BITS,
    RUN_SHIFT,
    BucketWorker,
    CommitWorker,
    JoinWorker,
    SignWorker,
    SurvivorWorker,
)


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
    role = Role.DEDUP

    def index_folder(self, output: str) -> str:
        """The index folder: configured (relative to ``output``), else ``<output>/_index/fuzzy_dedup``."""
        path = self.config.index_path or join("_index", self.name)
        return path if is_absolute(path) else join(output, path)

    def _index_settings(self) -> dict:
        """The MinHash settings an incremental index is built with, and must be used with."""
        bands, rows = self.config.banding()
        c = self.config
        return {"num_perm": c.num_perm, "seed": c.seed, "bands": bands, "rows": rows, "shingle": c.shingle, "ngram": c.ngram}

    def _index_meta(self, index: str) -> dict | None:
        path = join(index, "meta.json")
        if not exists(path):
            return None
        meta = _read_json(path)
        want = self._index_settings()
        have = {k: meta.get(k) for k in want}
        if have != want:
            raise ValueError(
                f"fuzzy_dedup: the index at {index} was built with {have}, this recipe asks for {want}; "
                "use the same MinHash settings, or point index_path at a new folder"
            )
        return meta

    def plan(self, ctx: StageContext) -> Plan:
        cfg, work_dir, parts = self.config, ctx.work_dir, ctx.parts
        makedirs(work_dir)
        if len(parts) >= 1 << PART_BITS:
            raise ValueError(f"fuzzy_dedup: at most {1 << PART_BITS} parts per run; raise rows_per_part")
        meta = self._index_meta(self.index_folder(ctx.output)) if cfg.incremental else None
        n_parts = (meta or {}).get("partitions") or cfg.num_partitions or max(1, min(256, len(parts)))
        config = cfg.model_dump(mode="json")
        n_ranks = len(cfg.survivor) - 1
        signed = yield Step(
            "signatures", SignWorker, [{"part": p, "index": i} for i, p in enumerate(parts)],
            {"work_dir": work_dir, "config": config, "parts": n_parts},
        )
        by = collect(signed, ("bands", "attrs"), n_parts)
        index_files = self._index_files(ctx.output, meta, n_parts)
        bucketed = yield Step(
            "buckets", BucketWorker,
            [{"p": p, "files": by["bands"][p], "index_files": index_files["bands"][p]} for p in range(n_parts) if by["bands"][p]],
            {"work_dir": work_dir, "config": config, "parts": n_parts},
        )
        edges = collect(bucketed, ("edges", "old_attrs"), n_parts)
        self.stats = {
            "docs": sum(r["docs"] for r in signed),
            "candidates": sum(r["candidates"] for r in bucketed),
            "edges": sum(r["edges_verified"] for r in bucketed),
        }
        stage = {"n_parts": n_parts, "bands": by["bands"], "dropped": {p: [] for p in range(n_parts)}}
        if not any(edges["edges"].values()):
            self._save_stage(work_dir, stage)
            return {}
        assign = yield from components(edges["edges"], work_dir, n_parts, cfg.max_rounds, self.name)
        joined = yield Step(
            "join", JoinWorker,
            [
                {"p": p, "assign": assign[p], "attrs": by["attrs"][p], "old_attrs": edges["old_attrs"][p],
                 "index_dropped": index_files["dropped"][p]}
                for p in range(n_parts) if assign[p]
            ],
            {"work_dir": work_dir, "parts": n_parts, "n_ranks": n_ranks},
        )
        members = collect(joined, ("files",), n_parts)["files"]
        survived = yield Step(
            "survivors", SurvivorWorker, [{"p": p, "files": members[p]} for p in range(n_parts) if members[p]],
            {"work_dir": work_dir, "parts": n_parts, "n_ranks": n_ranks, "part_paths": list(parts)},
        )
        self.stats.update(clusters=sum(r["clusters"] for r in survived), drops=sum(r["drops"] for r in survived))
        stage["dropped"] = collect(survived, ("dropped",), n_parts)["dropped"]
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

    def _index_files(self, output: str, meta: dict | None, n_parts: int) -> dict[str, dict[int, list[str]]]:
        files: dict[str, dict[int, list[str]]] = {"bands": {p: [] for p in range(n_parts)}, "dropped": {p: [] for p in range(n_parts)}}
        if not meta:
            return files
        index = self.index_folder(output)
        for kind in files:
            for p in range(n_parts):
                for run_no in range(len(meta.get("runs", []))):
                    path = join(index, kind, f"p{p:05d}", f"run-{run_no:05d}.parquet")
                    if exists(path):
                        files[kind][p].append(path)
        return files

    def commit(self, ctx: StageContext):
        """Add this run's kept records (and the survivors of those it dropped) to the index.

        Runs once the run's output is final; until then the index is untouched, and a
        run that fails leaves it as it was (the files of an uncommitted run number are
        ignored and overwritten, since only ``meta.json`` lists runs). A run already
        listed is not added again (a resumed run replays this).
        """
        path = join(ctx.work_dir, "stage.json")
        if not self.config.incremental or not exists(path):
            return
        stage = _read_json(path)
        index = self.index_folder(ctx.output)
        meta = self._index_meta(index)
        if meta is None:
            meta = {**self._index_settings(), "partitions": stage["n_parts"], "runs": []}
        if ctx.run_id and any(r["run_id"] == ctx.run_id for r in meta["runs"]):
            return
        run_no = len(meta["runs"])
        if run_no >= 1 << (62 - RUN_SHIFT):
            raise ValueError(f"fuzzy_dedup: the index at {index} holds the most runs it can; start a new index")
        yield Step(
            "index", CommitWorker,
            [
                {"p": p, "bands": stage["bands"][str(p)], "dropped": stage["dropped"][str(p)]}
                for p in range(stage["n_parts"]) if stage["bands"][str(p)] or stage["dropped"][str(p)]
            ],
            {"index": index, "run_no": run_no},
        )
        meta["runs"].append({"run_id": ctx.run_id, "docs": stage["stats"].get("docs", 0)})
        makedirs(index)
        with atomic_open(join(index, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)


def _read_json(path: str) -> dict:
    fs, p = filesystem(path)
    with fs.open(p, "r") as f:
        return json.load(f)
