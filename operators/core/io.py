"""File helpers shared by readers and writers: fsspec paths and atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq


def cache_dir() -> Path:
    """assay's cache on this machine (converted tokenizers, the local PII salt): ``$ASSAY_CACHE`` or ~/.cache/assay."""
    root = os.environ.get("ASSAY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "assay")
    return Path(root)


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of ``path`` and the path within it."""
    fs, _, paths = fsspec.get_fs_token_paths(path)
    return fs, paths[0]


def is_url(path: str) -> bool:
    """Whether ``path`` names its scheme (``s3://``, ``https://``, ``file://``, ...)."""
    return "://" in str(path)


def is_local(path: str) -> bool:
    """Whether ``path`` is on this machine's file system: no scheme, or ``file://``."""
    return not is_url(path) or str(path).startswith("file://")


def is_absolute(path: str) -> bool:
    """Whether ``path`` stands on its own: a URL, or an absolute local path (not relative to a folder)."""
    return is_url(path) or os.path.isabs(str(path))


def local_path(path: str) -> str:
    """The local file system path of a local ``path`` (``file://`` removed)."""
    return str(path).removeprefix("file://")


def remove(path: str) -> None:
    """Remove a file or a folder tree, local or remote; nothing if it is not there."""
    if is_local(path):
        target = local_path(path)
        if os.path.isdir(target):
            shutil.rmtree(target, ignore_errors=True)
        elif os.path.lexists(target):
            os.remove(target)
        return
    fs, p = filesystem(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def join(base: str, *parts: str) -> str:
    base = str(base)
    return "/".join([base.rstrip("/"), *parts]) if not is_local(base) else os.path.join(base, *parts)


def makedirs(path: str) -> None:
    fs, p = filesystem(path)
    fs.makedirs(p, exist_ok=True)


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    return fs.exists(p)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it into place on success.

    A reader never sees a half-written file under the final name: a crash
    leaves only a ``.tmp-*`` file, which the next run ignores and overwrites.
    """
    path = str(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    if is_local(path):
        local = local_path(path)
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        tmp_local = local_path(tmp)
        try:
            with open(tmp_local, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_local, local)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp_local)
            raise
        return
    fs, tmp_p = filesystem(tmp)
    _, final_p = filesystem(path)
    try:
        with fs.open(tmp_p, mode) as f:
            yield f
        fs.mv(tmp_p, final_p)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(tmp_p)
        raise


def write_parquet_atomic(table: pa.Table, path: str) -> None:
    with atomic_open(path) as f:
        pq.write_table(table, f, compression="zstd")


def read_parquet(path: str, columns: list[str] | None = None) -> pa.Table:
    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        return pq.read_table(f, columns=columns)


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    fs, p = filesystem(path)
    digest = hashlib.sha256()
    with fs.open(p, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
