"""Shared fixtures: tiny tables, tiny corpora, and one Ray for the whole test run."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pytest

from operators.core.schema import records_table


def make_table(texts: list[str], lang: list[str] | None = None, source: str = "test") -> pa.Table:
    """A base-schema table of kept records with the given texts (and optional lang column)."""
    table = records_table(texts, source)
    if lang is not None:
        table = table.append_column("lang", pa.array(lang, pa.string()))
    return table


def stage_context(op, parts: list[str], folder, work: str | None = None, run_id: str = ""):
    """The context the run engine gives ``op``'s global stage: its work folder, with ``folder`` as the output."""
    from pathlib import Path

    from operators.core.global_stage import StageContext

    return StageContext(parts=parts, work_dir=work or str(Path(folder) / "work"), output=str(folder), run_id=run_id)


def run_global_stage(op, tables: list[pa.Table], folder, executor=None, work: str | None = None) -> list[pa.Table]:
    """Stage ``tables`` as Parquet parts under ``folder``, run ``op`` on them (a global stage's steps through the
    run engine, in-process unless an executor is given; a stream operator part by part) and apply the patches:
    the parts as a pipeline would carry them on."""
    from pathlib import Path

    from operators.core.global_stage import GlobalOperator
    from operators.core.io import read_parquet, write_parquet_atomic
    from operators.execution.executor import LocalExecutor
    from pipelines.run.stages import run_global_stage as run_stage

    if not isinstance(op, GlobalOperator):
        return [op(table) for table in tables]
    paths = []
    for i, table in enumerate(tables):
        path = str(Path(folder) / "parts" / f"part-{i:05d}.parquet")
        write_parquet_atomic(table, path)
        paths.append(path)
    patches = run_stage(op, stage_context(op, paths, folder, work), executor or LocalExecutor())
    return [
        op.apply_patch(table, pa.concat_tables([read_parquet(p) for p in patches[path]])) if patches.get(path) else table
        for path, table in zip(paths, tables, strict=True)
    ]


def commit_stage(op, work: str, executor, run_id: str) -> None:
    """Run ``op``'s commit steps (its index) as the run engine does once a run's shards are written."""
    from pathlib import Path

    from pipelines.run.stages import commit_global_stage

    commit_global_stage(op, stage_context(op, [], Path(work).parent, work, run_id), executor)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_jsonl(path, records, compress: bool = False) -> str:
    """Write records (dicts, or raw strings written as-is) as JSON lines."""
    opener = gzip.open if compress or str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return str(path)


@pytest.fixture(scope="session")
def ray_local():
    """One in-process Ray for every test that needs it (starting Ray takes seconds)."""
    import ray

    if not ray.is_initialized():
        # address="local": never a cluster that `ray start` recorded on this machine (it may be dead)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the converted tokenizer in one cache for the test session, not the user's."""
    cache = tmp_path_factory.getbasetemp() / "assay-cache"
    monkeypatch.setenv("ASSAY_CACHE", os.environ.get("ASSAY_TEST_CACHE", str(cache)))


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A tiny open_clip model trained on coloured shapes, once per test session (tens of seconds)."""
    from tests.clip_tiny import train_tiny_clip

    return train_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))
