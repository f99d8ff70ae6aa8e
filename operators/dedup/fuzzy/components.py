"""Distributed connected components over hash-partitioned edge files, and the partition helpers.

Files of ``(u, v)`` int64 edges are spread over ``parts`` partitions by the
owner of their first node (:func:`owner`). Connected components alternate
large-star and small-star steps (Kiveris et al., "Connected Components in
MapReduce and Beyond", 2014), each a map over the partitions, until the edge
set stops changing; then every node points at its component's smallest node.
No process holds every edge. :func:`components` yields those steps for the run
engine to execute and checkpoint, one per round and kind
(``components-03-large``), so a resumed run continues at the unfinished round.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pyarrow as pa

from operators.core.global_stage import Step
from operators.core.io import join, read_parquet, write_parquet_atomic
from operators.dedup.minhash import mix64

EDGE_SCHEMA = pa.schema([("u", pa.int64()), ("v", pa.int64())])


def owner(keys: np.ndarray, parts: int) -> np.ndarray:
    return (mix64(keys) % np.uint64(parts)).astype(np.int64)


def write_partitioned(table: pa.Table, dest: np.ndarray, parts: int, path_of) -> dict[str, str]:
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


def read_all(paths: list[str], columns: list[str] | None = None) -> pa.Table | None:
    tables = [read_parquet(p, columns=columns) for p in paths]
    return pa.concat_tables(tables, promote_options="default") if tables else None


def edge_checksum(u: np.ndarray, v: np.ndarray) -> str:
    """Order-independent checksum of a set of (u, v) rows."""
    with np.errstate(over="ignore"):
        h = mix64(mix64(u) ^ v.astype(np.uint64))
        return f"{int(np.sum(h, dtype=np.uint64)):016x}:{len(u)}"


def unique_edges(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = u != v
    pairs = np.unique(np.stack([u[keep], v[keep]], axis=1), axis=0)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def edge_table(u: np.ndarray, v: np.ndarray) -> pa.Table:
    return pa.table({"u": pa.array(u, pa.int64()), "v": pa.array(v, pa.int64())}, schema=EDGE_SCHEMA)


def write_edges(u, v, parts, path_of) -> dict[str, str]:
    """Edges (u, v) to the owner of u, de-duplicated."""
    if not len(u):
        return {}
    u, v = unique_edges(u, v)
    return write_partitioned(edge_table(u, v), owner(u, parts), parts, path_of)


def both_ways(u, v):
    return np.concatenate([u, v]), np.concatenate([v, u])


def collect(results: list[dict], fields: tuple[str, ...], n_parts: int) -> dict[str, dict[int, list[str]]]:
    out = {f: {p: [] for p in range(n_parts)} for f in fields}
    for result in results:
        for f in fields:
            for p, path in result[f].items():
                out[f][int(p)].append(path)
    return out


def local_stars(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


class StarWorker:
    """One large-star or small-star step on the edges owned by one partition."""

    def __init__(self, work_dir: str, parts: int):
        self.work_dir = work_dir
        self.parts = parts

    def __call__(self, item: dict) -> dict:
        table = read_all(item["files"])
        p, step, rnd = item["p"], item["step"], item["round"]
        name = f"from-{p:05d}.parquet"
        nxt = join(self.work_dir, "cc", f"r{rnd + 1:03d}" if step == "small" else f"r{rnd:03d}s")
        if table is None or not table.num_rows:
            return {"edges": {}, "checksum": edge_checksum(np.zeros(0, np.int64), np.zeros(0, np.int64)), "assign": None}
        u, v = unique_edges(table.column("u").to_numpy(), table.column("v").to_numpy())
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
            checksum = edge_checksum(u[u < v], v[u < v])
            assign = join(self.work_dir, "cc", f"assign-r{rnd:03d}", f"p{p:05d}.parquet")
            write_parquet_atomic(edge_table(nodes, m_node), assign)
            big = v > u
            # Next: small star, which wants each edge at the owner of its larger end.
            edges = write_edges(v[big], m[big], self.parts, lambda d: join(nxt, f"p{d:05d}", name))
            return {"edges": edges, "checksum": checksum, "assign": assign}
        # Small star: the node and its smaller neighbours all point at the smallest of them.
        su = np.concatenate([v, nodes])
        sm = np.concatenate([m, m_node])
        su, sm = both_ways(su, sm)
        edges = write_edges(su, sm, self.parts, lambda d: join(nxt, f"p{d:05d}", name))
        return {"edges": edges, "checksum": "", "assign": None}


def components(
    edges: dict[int, list[str]], work_dir: str, n_parts: int, max_rounds: int, label: str
) -> Generator[Step, list[dict[str, Any]], dict[int, str | None]]:
    """Steps that turn the partitioned edge files into ``{partition: its (node, component) file or None}``.

    Raises:
        RuntimeError: the edge set still changed after ``max_rounds`` rounds.
    """
    previous = None
    for rnd in range(max_rounds):
        large = yield Step(
            f"components-{rnd:02d}-large",
            StarWorker,
            [{"p": p, "files": edges[p], "step": "large", "round": rnd} for p in range(n_parts)],
            {"work_dir": work_dir, "parts": n_parts},
        )
        checksums = [r["checksum"] for r in large]
        if checksums == previous:
            return {p: r["assign"] for p, r in enumerate(large)}
        previous = checksums
        small = yield Step(
            f"components-{rnd:02d}-small",
            StarWorker,
            [{"p": p, "files": f, "step": "small", "round": rnd} for p, f in collect(large, ("edges",), n_parts)["edges"].items()],
            {"work_dir": work_dir, "parts": n_parts},
        )
        edges = collect(small, ("edges",), n_parts)["edges"]
    raise RuntimeError(f"{label}: connected components did not converge in {max_rounds} rounds; raise max_rounds")
