"""Shards for training: find them (a file, a glob, a folder, a run's output) and check their tokenizer."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from operators.core.io import is_local, local_path
from operators.formats.shards import MANIFEST_SUFFIX, read_manifest

IGNORE_INDEX = -100
_TOKENIZER_FIELDS = ("sha256", "vocab_size", "eos_id")


class ShardError(ValueError):
    """Shards that cannot be loaded: missing, incomplete, or not what their manifest says."""


class TokenizerMismatch(ValueError):
    """The shards were tokenized with another tokenizer than the trainer expects."""


class Shard:
    """One shard file and its manifest; memory-mapped on first use, in each process."""

    def __init__(self, path: str, manifest: dict[str, Any]):
        self.path = path
        self.manifest = manifest
        self.tokens = int(manifest["tokens"])
        self._segments: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Workers map the file themselves; a memory map is not sent through a pipe.
        return {"path": self.path, "manifest": self.manifest, "tokens": self.tokens, "_segments": None}

    @property
    def segments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per record batch: (int32 token view into the map, document starts within it)."""
        if self._segments is None:
            self._open()
        return self._segments  # type: ignore[return-value]

    def _open(self) -> None:
        mapped = pa.memory_map(self.path, "r")
        batches = list(pa.ipc.open_stream(mapped))
        # The buffers keep the mapping alive; the file descriptor is not needed
        # (thousands of shards in several workers would exhaust the limit).
        mapped.close()
        segments, total = [], 0
        for batch in batches:
            column = batch.column("input_ids")
            offsets = column.offsets.to_numpy()
            # zero_copy_only: a copy here would mean the shard is not what the loader assumes.
            values = column.values.to_numpy(zero_copy_only=True)[offsets[0] : offsets[-1]]
            if len(values) == 0:
                continue
            segments.append((values, (offsets[:-1] - offsets[0]).astype(np.int64)))
            total += len(values)
        if total != self.tokens:
            raise ShardError(
                f"{self.path}: {total} tokens, its manifest says {self.tokens}; the shard is damaged, rerun the pipeline"
            )
        self._segments = segments


def find_shards(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Shard]:
    """The shards a spec names: a shard file, a glob, a folder of shards, a run's output folder, or a list.

    Every shard must have its manifest (written last, so a shard without one
    is an incomplete write).
    """
    specs = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    paths: list[str] = []
    for s in specs:
        s = os.fspath(s)
        if not is_local(s):
            raise ShardError(f"{s}: the loader memory-maps local files; copy the shards to local disk first")
        s = local_path(s)
        if os.path.isdir(s):
            folder = os.path.join(s, "shards") if os.path.isdir(os.path.join(s, "shards")) else s
            found = sorted(glob.glob(os.path.join(folder, "*.arrow")))
        elif any(c in s for c in "*?["):
            found = sorted(p for p in glob.glob(s) if p.endswith(".arrow"))
        elif os.path.isfile(s):
            found = [s]
        else:
            raise ShardError(f"{s} does not exist; give a shard file, a folder of shards or a run's output folder")
        if not found:
            raise ShardError(f"no *.arrow shards in {s}; run `assay run` (or `assay demo`) to write some")
        paths.extend(found)
    shards = []
    for p in paths:
        if not os.path.exists(p + MANIFEST_SUFFIX):
            raise ShardError(f"{p}: no manifest (an incomplete write?); rerun the pipeline or remove the file")
        shards.append(Shard(p, read_manifest(p)))
    return shards


def tokenizer_of(shards: list[Shard]) -> dict[str, Any]:
    """The one tokenizer all shards were written with."""
    first = shards[0].manifest.get("tokenizer")
    if not first:
        raise ShardError(f"{shards[0].path}: its manifest records no tokenizer; rerun the pipeline to rewrite it")
    for s in shards[1:]:
        other = s.manifest.get("tokenizer") or {}
        if any(other.get(f) != first.get(f) for f in _TOKENIZER_FIELDS):
            raise TokenizerMismatch(
                f"{shards[0].path} and {s.path} were tokenized differently "
                f"({describe_tokenizer(first)} vs {describe_tokenizer(other)}); load shards of one tokenizer together"
            )
    return first


def describe_tokenizer(tok: dict[str, Any]) -> str:
    sha = str(tok.get("sha256", "?"))[:12]
    return f"{tok.get('name', '?')}, sha256 {sha}…, vocab {tok.get('vocab_size', '?')}, eos id {tok.get('eos_id', '?')}"


def check_tokenizer(found: dict[str, Any], expected: Any, where: str) -> None:
    """Raise :class:`TokenizerMismatch` unless ``found`` (a manifest's tokenizer) is ``expected``.

    ``expected`` is a ``TokenizerInfo``, a dict with any of ``name``,
    ``sha256``, ``vocab_size``, ``eos_id``, or a tokenizer name/path that
    ``operators.formats.tokenize.resolve`` understands. The file hash decides when
    both sides have one; otherwise the name.
    """
    if expected is None:
        return
    if isinstance(expected, str | os.PathLike):
        from operators.formats.tokenize import resolve

        expected = resolve(os.fspath(expected))
    if hasattr(expected, "to_dict"):
        expected = expected.to_dict()
    fields = [f for f in _TOKENIZER_FIELDS if expected.get(f) is not None]
    if "sha256" not in fields and expected.get("name") is not None:
        fields.append("name")
    if not fields:
        raise ValueError("expect_tokenizer names nothing to compare: give sha256, vocab_size, eos_id or name")
    wrong = [f for f in fields if found.get(f) != expected[f]]
    if wrong:
        detail = ", ".join(f"{f} {found.get(f)!r} != expected {expected[f]!r}" for f in wrong)
        raise TokenizerMismatch(
            f"{where} were tokenized with {describe_tokenizer(found)}, not the tokenizer the trainer expects ({detail}). "
            "Re-run the recipe with the model's tokenizer (recipe `tokenizer:`), or train a model built for this one."
        )
