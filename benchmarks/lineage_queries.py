"""Lineage queries at scale: ``trace`` and ``find`` on a synthetic 10-million-record ledger.

Builds (once; reused when the parameters match) a ledger shaped like a real
run's: LEDGER_SCHEMA, 20-hex ids, 1,000 source files of 10,000 records,
line locators, hashes, 80% kept / 19.9% dropped / 0.1% quarantined with
reasons, seven operators per record with scores, 10% of records in duplicate
clusters, 7% with PII findings (1-6 salted hashes), a shard placement for
every kept record, and a dataset manifest listing the shards. Generated with
numpy and pyarrow compute, one Parquet file per million rows.

Then times, with DuckDB through :mod:`lineage.audit` (first call cold, then
the median of repeats):

- ``trace``: a record's whole story (the full function: its rows, its
  duplicate cluster, children, tombstones);
- ``find --subject-hash``: records whose PII findings hold a salted hash;
- ``find --source GLOB``: records from 10 of the 1,000 source files;

and, as the peer in the same run, the same id and source lookups with a
``pyarrow.dataset`` filtered scan (what one writes without DuckDB).

    python benchmarks/lineage_queries.py                 # 10,000,000 rows
    python benchmarks/lineage_queries.py --rows 1000000  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lineage import audit
from lineage.schema import LEDGER_SCHEMA, OP_STRUCT
from operators.core.schema import PII_STRUCT

RUN_ID = "20261101T000000Z-bench000"
ROWS_PER_FILE = 1_000_000
RECORDS_PER_SOURCE = 10_000
ROWS_PER_SHARD = 10_000
STAGES = [("normalize", None), ("lang_id", "lang_not_allowed"), ("gopher_quality", "word_count"),
          ("gopher_repetition", "top_2gram"), ("c4_fineweb", "lorem_ipsum"), ("pii", None),
          ("exact_dedup", "duplicate")]
PLANTED_SUBJECT = "feedc0ffee0000000000000000000001"
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def hex_strings(rng: np.random.Generator, n: int, chars: int) -> pa.Array:
    """``n`` random lowercase hex strings of ``chars`` characters, built as one Arrow buffer."""
    raw = rng.integers(0, 256, size=(n, chars // 2), dtype=np.uint8)
    out = np.empty((n, chars), np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 15]
    offsets = np.arange(0, n * chars + 1, chars, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))


def source_uri(i: np.ndarray) -> pa.Array:
    seg = pc.cast(pa.array(i // 100), pa.string())
    part = pc.cast(pa.array(i % 100), pa.string())
    return pc.binary_join_element_wise(
        "s3://crawl/CC-MAIN-2024-", pc.utf8_lpad(seg, 2, "0"), "/segment-", pc.utf8_lpad(part, 4, "0"),
        ".jsonl.zst", "",
    )


def chunk(rng: np.random.Generator, start: int, n: int, planted: int = 0) -> pa.Table:
    rows = np.arange(start, start + n, dtype=np.int64)
    ids = hex_strings(rng, n, 20)
    src_index = rows // RECORDS_PER_SOURCE
    # Fates: 80% kept, 19.9% dropped at one of the stages, 0.1% quarantined.
    u = rng.random(n)
    status_code = np.where(u < 0.80, 0, np.where(u < 0.999, 1, 2))
    drop_stage = np.where(status_code == 1, rng.choice([1, 2, 3, 4, 6], size=n, p=[.2, .3, .1, .1, .3]), 99)
    statuses = pa.array(["kept", "dropped", "quarantined"]).take(pa.array(status_code))
    reason_names = [f"{name}:{r}" if r else None for name, r in STAGES] + ["quarantine:bad_json"]
    reason_idx = np.where(status_code == 1, drop_stage, np.where(status_code == 2, len(STAGES), -1))
    reasons = pa.array(reason_names).take(pa.array(np.where(reason_idx < 0, 0, reason_idx)))
    reasons = pc.if_else(pa.array(reason_idx < 0), pa.scalar(None, pa.string()), reasons)
    # Seven operators per record: decision keep before the dropping stage, drop at it, skipped after.
    k = len(STAGES)
    stage_idx = np.tile(np.arange(k, dtype=np.int16), n)
    ds_rep = np.repeat(np.where(status_code == 2, -1, drop_stage), k)
    decision_code = np.where(ds_rep < 0, 2, np.where(stage_idx < ds_rep, 0, np.where(stage_idx == ds_rep, 1, 2)))
    names = pa.array([s for s, _ in STAGES]).take(pa.array(stage_idx.astype(np.int32)))
    fingerprints = pa.array([f"{hash(s) & 0xFFFFFFFFFFFFFFFF:016x}" for s, _ in STAGES]).take(
        pa.array(stage_idx.astype(np.int32)))
    decisions = pa.array(["keep", "drop", "skipped"]).take(pa.array(decision_code))
    op_reasons = pc.if_else(pa.array(decision_code == 1), pa.array(reason_names[:k]).take(
        pa.array(stage_idx.astype(np.int32))), pa.scalar(None, pa.string()))
    scores = pa.array(np.where(np.isin(stage_idx, [1, 2, 3, 4]), rng.random(n * k), np.nan), from_pandas=True)
    ops_values = pa.StructArray.from_arrays(
        [pa.array(stage_idx), names, pa.array(np.full(n * k, "1")), fingerprints, scores, decisions, op_reasons],
        fields=list(OP_STRUCT),
    )
    ops = pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), ops_values)
    # Duplicate clusters: 10% of records, clusters of 2 consecutive records.
    in_dup = (rows // 2) % 10 == 0
    pair_hash = hex_strings(rng, n // 2 + 1, 32).take(pa.array(np.arange(n) // 2))
    cluster = pc.if_else(pa.array(in_dup), pair_hash, pa.scalar(None, pa.string()))
    survivor_pos = np.where(in_dup, (np.arange(n) // 2) * 2, 0)
    survivor = pc.if_else(pa.array(in_dup), ids.take(pa.array(survivor_pos)), pa.scalar(None, pa.string()))
    # PII: 7% of records, 1-6 findings each.
    counts = np.where(rng.random(n) < 0.07, rng.integers(1, 7, size=n), 0)
    total = int(counts.sum())
    # A few findings carry the known subject's hash (as PII scrubbing would store it).
    planted_mask = np.zeros(total, bool)
    planted_mask[rng.choice(total, planted, replace=False)] = True
    hashes = pc.if_else(pa.array(planted_mask), pa.scalar(PLANTED_SUBJECT), hex_strings(rng, total, 32))
    pii_values = pa.StructArray.from_arrays(
        [pa.array(["EMAIL_ADDRESS", "PHONE_NUMBER", "PERSON", "IBAN_CODE"]).take(pa.array(rng.integers(0, 4, total))),
         pa.array(rng.integers(0, 5000, total).astype(np.int32)), pa.array(rng.integers(5000, 6000, total).astype(np.int32)),
         hashes],
        fields=list(PII_STRUCT),
    )
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    pii = pa.ListArray.from_arrays(pa.array(offsets), pii_values, mask=pa.array(counts == 0))
    # Placement of kept records: consecutive kept records fill shards of ROWS_PER_SHARD rows.
    kept = status_code == 0
    shard_no = rows // (ROWS_PER_SHARD * 5 // 4)
    shard_name = pc.binary_join_element_wise("shard-", pc.utf8_lpad(pc.cast(pa.array(shard_no), pa.string()), 6, "0"),
                                             ".arrow", "")
    tokens = rng.integers(50, 2000, n).astype(np.int32)
    null_str = pa.scalar(None, pa.string())
    columns = {
        "run_id": pa.array(np.full(n, RUN_ID)),
        "id": ids,
        "source": source_uri(src_index),
        "locator": pc.binary_join_element_wise("line:", pc.cast(pa.array(rows % RECORDS_PER_SOURCE + 1), pa.string()), ""),
        "status": statuses,
        "reason": reasons,
        "raw_hash": hex_strings(rng, n, 32),
        "content_hash": hex_strings(rng, n, 32),
        "output_hash": pc.if_else(pa.array(kept), hex_strings(rng, n, 32), null_str),
        "lang": pa.array(["en", "fr", "de", "es", "it", "pt"]).take(pa.array(rng.integers(0, 6, n))),
        "lang_score": pa.array(rng.random(n).astype(np.float32)),
        "ops": ops,
        "dup_cluster": cluster,
        "dup_survivor": survivor,
        "shard": pc.if_else(pa.array(kept), shard_name, null_str),
        "shard_row": pa.array(np.where(kept, rows % ROWS_PER_SHARD, 0), mask=~kept),
        "token_start": pa.array(np.where(kept, (rows % ROWS_PER_SHARD) * 1000, 0), mask=~kept),
        "token_count": pa.array(tokens, mask=~kept),
        "pii": pii,
        "parents": pa.nulls(n, pa.list_(pa.string())),
        "generator": pa.nulls(n, LEDGER_SCHEMA.field("generator").type),
    }
    return pa.table(columns, schema=LEDGER_SCHEMA)


def build(out: Path, rows: int, seed: int = 0) -> float:
    stamp = out / "bench.json"
    params = {"rows": rows, "seed": seed, "version": 1}
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return 0.0
    t0 = time.perf_counter()
    folder = out / "ledger" / f"run={RUN_ID}"
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.glob("*.parquet"):
        f.unlink()
    rng = np.random.default_rng(seed)
    shards = set()
    for i, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        n = min(ROWS_PER_FILE, rows - start)
        # The known subject: 3 findings in the first file, 2 in the last.
        table = chunk(rng, start, n, planted=(3 if i == 0 else 0) + (2 if start + n >= rows else 0))
        shards.update(pc.unique(table.column("shard").drop_null()).to_pylist())
        pq.write_table(table, folder / f"part-{i:05d}.parquet", compression="zstd", row_group_size=128 * 1024)
        print(f"  built {start + n:>12,} rows ({time.perf_counter() - t0:6.1f} s)", flush=True)
    manifest = {"format": "assay-dataset", "run_id": RUN_ID,
                "shards": [{"shard": s, "run_id": RUN_ID, "rows": ROWS_PER_SHARD, "tokens": 0} for s in sorted(shards)]}
    (out / "manifest.json").write_text(json.dumps(manifest))
    stamp.write_text(json.dumps(params))
    return time.perf_counter() - t0


def timed(fn, repeats: int) -> tuple[float, float, float, object]:
    """Cold wall seconds, median warm wall seconds, median warm CPU seconds (all threads), result.

    CPU seconds are reported too because wall time on a shared machine
    measures the neighbours as much as the query.
    """
    t0 = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - t0
    warm, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        warm.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return cold, statistics.median(warm or [cold]), statistics.median(cpu or [0.0]), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="Ledger rows to generate.")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "assay-bench-ledger"),
                        help="Where the synthetic ledger is built (reused when --rows matches).")
    parser.add_argument("--repeats", type=int, default=3, help="Warm repeats per query (median reported).")
    args = parser.parse_args()
    out = Path(args.dir)
    print(f"synthetic ledger: {args.rows:,} rows under {out}")
    seconds = build(out, args.rows)
    files = sorted((out / "ledger").rglob("*.parquet"))
    size = sum(f.stat().st_size for f in files)
    print(f"build: {seconds:.1f} s" if seconds else "build: reused", f"({len(files)} files, {size / 2**20:,.0f} MiB)")

    # A record to trace: one in a duplicate cluster, with PII, from the middle of the ledger.
    probe = pq.read_table(files[len(files) // 2], columns=["id", "dup_cluster", "pii", "source"])
    has = pc.and_(pc.is_valid(probe.column("dup_cluster")), pc.is_valid(probe.column("pii")))
    rid = probe.filter(has).column("id")[0].as_py()
    glob = "s3://crawl/CC-MAIN-2024-05/segment-001*"  # 10 of the 1,000 source files (with 10M rows)

    t0 = time.perf_counter()
    ledger = audit.Ledger(str(out))
    open_s = time.perf_counter() - t0
    results = []
    cold, warm, cpu, t = timed(lambda: audit.trace(str(out), rid, ledger=ledger), args.repeats)
    assert t["found"] and t["runs"][0]["dedup"]["size"] == 2
    results.append(("trace RECORD_ID", cold, warm, cpu, "1 record"))
    sel = audit.Selectors.build(subject_hashes=[PLANTED_SUBJECT])
    cold, warm, cpu, f = timed(lambda: audit.find(str(out), sel, ledger=ledger), args.repeats)
    assert f["rows"] == 5
    results.append(("find --subject-hash", cold, warm, cpu, f"{f['rows']} records"))
    sel = audit.Selectors.build(sources=[glob])
    cold, warm, cpu, f = timed(lambda: audit.find(str(out), sel, ledger=ledger), args.repeats)
    results.append(("find --source GLOB", cold, warm, cpu, f"{f['rows']:,} records, {len(f['shards'])} shards"))
    found_by_glob = f["rows"]

    # The peer: pyarrow.dataset filtered scans of the same files.
    dataset = ds.dataset([str(f) for f in files], format="parquet")
    cold, warm, cpu, tbl = timed(lambda: dataset.to_table(filter=ds.field("id") == rid,
                                                     columns=["run_id", "id", "source", "status", "shard"]),
                            args.repeats)
    assert tbl.num_rows == 1
    results.append(("pyarrow.dataset: id == X", cold, warm, cpu, "1 record (row only, no cluster/children)"))
    prefix = glob.rstrip("*")
    cold, warm, cpu, tbl = timed(lambda: dataset.to_table(filter=pc.starts_with(ds.field("source"), prefix),
                                                     columns=["run_id", "id", "source", "status", "shard"]),
                            args.repeats)
    assert tbl.num_rows == found_by_glob
    results.append(("pyarrow.dataset: source prefix", cold, warm, cpu, f"{tbl.num_rows:,} records (rows only)"))
    ledger.close()

    print(f"\nDuckDB {__import__('duckdb').__version__}, pyarrow {pa.__version__}, {os.cpu_count()} CPU(s); "
          f"opening the ledger views: {open_s * 1000:.0f} ms")
    print(f"load average {os.getloadavg()[0]:.1f} (wall times on a shared machine grow with it)")
    print(f"{'query':34} {'cold s':>8} {'warm s':>8} {'cpu s':>8}  result")
    for name, c, w, u, what in results:
        print(f"{name:34} {c:8.3f} {w:8.3f} {u:8.3f}  {what}")


if __name__ == "__main__":
    main()
