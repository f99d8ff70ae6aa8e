"""Adversarial and random input: every run ends balanced (read = kept + dropped + quarantined), never crashes.

Each case is a real file on disk fed through a real run (reader -> stages ->
dedup -> shards -> ledger, in-process), and the ledger, read back with DuckDB,
must hold exactly one row per record read.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import random

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from operators.execution.executor import LocalExecutor
from pipelines.recipe import load

PARAGRAPH = (
    "The river flows past the old mill where the miller used to grind wheat for the village bakers every "
    "morning. In the spring the water rises and the children watch the wheel turn faster than it ever does in "
    "summer. Their grandparents remember when the mill was the centre of the town and everyone came to trade. "
)
GOOD = [{"text": f"Story {i}. " + PARAGRAPH * 2, "n": i} for i in range(20)]
MAX_DOC = 64 * 1024  # small limit so the oversized cases stay cheap


def _lines(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _nested(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}\n"


def _cases(tmp) -> dict[str, str]:
    """name -> path of one adversarial file each."""
    good = _lines(GOOD)
    files: dict[str, bytes] = {
        "empty.jsonl": b"",
        "only-blank-lines.jsonl": b"\n\n   \n\t\n",
        "binary-garbage.jsonl": random.Random(1).randbytes(20_000),
        "garbage.jsonl.gz": random.Random(2).randbytes(5_000),  # not gzip at all
        "truncated.jsonl.gz": gzip.compress(good)[:-40],
        "truncated.jsonl.zst": zstandard.compress(good)[:-25],
        "truncated.jsonl.bz2": bz2.compress(good)[:-30],
        "truncated.jsonl.xz": lzma.compress(good)[:-30],
        "invalid-utf8.jsonl": good[:200] + b"\xff\xfe\xc3\x28" + good[200:],
        "lone-surrogate.jsonl": b'{"text": "half a pair \\ud800 here"}\n' + good,
        "deeply-nested.jsonl": _nested(20_000) + good,
        "wrong-schemas.jsonl": b"\n".join([
            b'{"text": 42}', b'{"text": null}', b'{"text": ["a", "b"]}', b'{"body": "no text field"}',
            b"[1, 2, 3]", b'"just a string"', b"17", b"null", b"{}", b'{"text": {"nested": "object"}}',
        ]) + b"\n" + good,
        "nul-bytes.jsonl": b'{"text": "nul \\u0000 inside"}\n\x00\x00\x00\n' + good,
        "no-final-newline.jsonl": good.rstrip(b"\n"),
        "crlf.jsonl": good.replace(b"\n", b"\r\n"),
        # A Windows tool's file: UTF-8 byte-order mark, CRLF; plain and in every compression.
        **{f"bom-crlf.jsonl{ext}": compress(b"\xef\xbb\xbf" + good.replace(b"\n", b"\r\n")) for ext, compress in (
            ("", bytes), (".gz", gzip.compress), (".zst", zstandard.compress), (".bz2", bz2.compress),
            (".xz", lzma.compress))},
        "bom-mid-file.jsonl": good + b"\xef\xbb\xbf" + good.splitlines(keepends=True)[0],
        "oversized-doc.jsonl": json.dumps({"text": "word " * (MAX_DOC // 2)}).encode() + b"\n" + good,
        # ~100 MB of one line inflated from ~100 kB: must be skipped without being held in memory.
        "bomb.jsonl.gz": gzip.compress(b'{"text": "' + b"0" * (100 * 1024 * 1024), compresslevel=9),
        "bomb-then-good.jsonl.zst": zstandard.compress(b'{"text": "' + b"A" * (50 * 1024 * 1024) + b'"}\n' + good),
    }
    paths = {}
    for name, data in files.items():
        path = tmp / name
        path.write_bytes(data)
        paths[name] = str(path)
    # Parquet: wrong column type, a missing text column, a corrupt file.
    pq.write_table(pa.table({"text": pa.array([1, 2, 3], pa.int64())}), tmp / "int-text.parquet")
    pq.write_table(pa.table({"body": ["no text column"]}), tmp / "no-text.parquet")
    (tmp / "corrupt.parquet").write_bytes(b"PAR1" + random.Random(3).randbytes(4000) + b"PAR1")
    for name in ("int-text.parquet", "no-text.parquet", "corrupt.parquet"):
        paths[name] = str(tmp / name)
    return paths


def _run(tmp_path, source: str):
    recipe = {
        "name": "fuzz",
        "sources": [{"path": source, "max_doc_bytes": MAX_DOC}],
        "stages": [{"op": "normalize"}, {"op": "gopher_quality"}, {"op": "exact_dedup"}],
        "output": str(tmp_path / "out"),
        "rows_per_part": 7,
    }
    result = load(recipe).pipeline().run(LocalExecutor())
    if result.read == 0:
        return result, (0, 0, 0)  # nothing read: no ledger part is written
    ledger = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT id), count(*) FILTER (status = 'quarantined') "
        f"FROM read_parquet('{result.ledger}/*.parquet')"
    ).fetchone()
    return result, ledger


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return _cases(tmp_path_factory.mktemp("fuzz-inputs"))


@pytest.mark.slow
def test_every_adversarial_file_alone_balances(cases, tmp_path):
    for name, path in cases.items():
        result, (rows, distinct, quarantined) = _run(tmp_path / name, path)
        assert result.balanced, name
        assert rows == distinct == result.read, name
        assert quarantined == result.quarantined, name
        if name not in ("empty.jsonl", "only-blank-lines.jsonl"):
            assert result.read > 0, f"{name}: a non-empty file yields at least one record or quarantine"


@pytest.mark.slow
def test_expected_quarantine_reasons(cases, tmp_path):
    expected = {
        "bomb.jsonl.gz": "too_large",
        "bomb-then-good.jsonl.zst": "too_large",
        "oversized-doc.jsonl": "too_large",
        "deeply-nested.jsonl": "bad_json",
        "invalid-utf8.jsonl": "invalid_utf8",
        "lone-surrogate.jsonl": "invalid_unicode",
        "truncated.jsonl.gz": "unreadable_rest_of_file",
        "truncated.jsonl.zst": "unreadable_rest_of_file",
        "truncated.jsonl.bz2": "unreadable_rest_of_file",
        "truncated.jsonl.xz": "unreadable_rest_of_file",
        "corrupt.parquet": "unreadable_parquet",
        "int-text.parquet": "wrong_type",
        "no-text.parquet": "missing_field",
    }
    for name, reason in expected.items():
        result, _ = _run(tmp_path / name, cases[name])
        assert reason in result.quarantine_reasons, (name, result.quarantine_reasons)
    # A leading byte-order mark costs no record, whatever the compression; one after the start is data.
    for name in [n for n in cases if n.startswith("bom-crlf")]:
        result, _ = _run(tmp_path / name, cases[name])
        assert (result.read, result.quarantined) == (len(GOOD), 0), (name, result.quarantine_reasons)
    result, _ = _run(tmp_path / "bom-mid", cases["bom-mid-file.jsonl"])
    assert (result.read, result.quarantined) == (len(GOOD) + 1, 1) and "bad_json" in result.quarantine_reasons
    # The good records after a skipped bomb line are still read.
    result, _ = _run(tmp_path / "again", cases["bomb-then-good.jsonl.zst"])
    assert result.read == len(GOOD) + 1 and result.quarantined == 1


@pytest.mark.slow
def test_all_adversarial_files_in_one_run_balance(cases, tmp_path):
    folder = tmp_path / "all"
    folder.mkdir()
    for name, path in cases.items():
        (folder / name).symlink_to(path)
    result, (rows, distinct, _) = _run(tmp_path, str(folder))
    assert result.balanced and rows == distinct == result.read
    assert result.kept > 0


def _mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.3 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)  # flip a byte
        elif op < 0.5:
            data[pos:pos] = rng.randbytes(rng.randint(1, 40))  # insert garbage
        elif op < 0.7:
            del data[pos : pos + rng.randint(1, 60)]  # delete a run
        elif op < 0.85:
            data[pos:pos] = rng.choice([b"\n", b"{", b'"', b"\\", b"\x00", b"\xc3", b"}\n{"])
        else:
            data = data[:pos]  # truncate
    return bytes(data)


@pytest.mark.slow
def test_random_mutations_of_valid_files_balance(tmp_path):
    rng = random.Random(20261123)
    good = _lines(GOOD)
    folder = tmp_path / "mutants"
    folder.mkdir()
    for i in range(40):
        raw = _mutate(good, rng)
        codec = rng.choice(["", ".gz", ".zst"])
        if codec == ".gz":
            raw = _mutate(gzip.compress(raw), rng) if rng.random() < 0.5 else gzip.compress(raw)
        elif codec == ".zst":
            raw = _mutate(zstandard.compress(raw), rng) if rng.random() < 0.5 else zstandard.compress(raw)
        (folder / f"m{i:02d}.jsonl{codec}").write_bytes(raw)
    result, (rows, distinct, _) = _run(tmp_path, str(folder))
    assert result.balanced and rows == distinct == result.read
    assert result.read >= 40  # every file yields at least one record or quarantine
