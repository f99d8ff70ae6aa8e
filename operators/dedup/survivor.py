"""The survivor policy of the dedup operators: which member of a duplicate cluster is kept.

A policy is a list of ``'<column> asc|desc'`` keys ending in ``'id asc'`` (``length`` is the
text's length in characters), e.g. ``['length desc', 'id asc']`` or ``['quality desc', 'id asc']``.
Each key becomes a rank column ``r0, r1, ...`` (smaller ranks first; a missing value ranks
last), so a survivor is the row with the smallest ``(r0, r1, ..., id)``: the same record
whatever the order, the parallelism or the part sizes of the run.
"""

from __future__ import annotations

import re
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import AfterValidator, Field

from operators.core.io import filesystem

_KEY_RE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(asc|desc)?\s*$")


def parse_policy(keys: list[str]) -> list[str]:
    """Canonical keys (``'<column> asc|desc'``); raises ValueError on a policy that is not total."""
    out = []
    for item in keys:
        m = _KEY_RE.match(item)
        if not m:
            raise ValueError(f"survivor key {item!r} must look like 'length desc' or 'id asc'")
        out.append(f"{m.group(1)} {m.group(2) or 'asc'}")
    if not out or out[-1] != "id asc" or any(k.startswith("id ") for k in out[:-1]):
        raise ValueError("the survivor policy must end in 'id asc' (and name id only there), so ties break the same way every run")
    return out


SurvivorPolicy = Annotated[
    list[str],
    AfterValidator(parse_policy),
    Field(
        ["length desc", "id asc"],
        description="Survivor policy: '<column> asc|desc' keys in order ('length' = characters of text), ending in 'id asc'.",
    ),
]


def rank_keys(policy: list[str]) -> list[tuple[str, str]]:
    """``(column, direction)`` of every key before the final ``id asc``."""
    return [tuple(k.split()) for k in policy[:-1]]  # type: ignore[misc]


def columns_needed(policy: list[str]) -> set[str]:
    """The part columns the policy reads (besides ``text``, which ``length`` reads)."""
    return {column for column, _ in rank_keys(policy) if column != "length"}


def check_columns(op_name: str, part: str, policy: list[str], also: set[str]) -> None:
    """Fail, naming the part, when it lacks a column the policy (or the operator, ``also``) reads."""
    fs, path = filesystem(part)
    with fs.open(path, "rb") as f:
        missing = (columns_needed(policy) | also) - set(pq.read_schema(f).names)
    if missing:
        raise ValueError(
            f"{op_name}: survivor policy names column(s) {sorted(missing)} that part {part} lacks; "
            "use columns an earlier stage adds (e.g. a quality score) or 'length'"
        )


def rank_columns(table: pa.Table, policy: list[str]) -> dict[str, pa.Array]:
    """Rank columns ``r0, r1, ...`` of ``table``'s rows: ascending order = survivor first."""
    out = {}
    for i, (column, direction) in enumerate(rank_keys(policy)):
        if column == "length":
            values = pc.utf8_length(pc.fill_null(table.column("text"), "")).to_numpy().astype(np.float64)
        else:
            values = pc.cast(table.column(column), pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        values = np.where(np.isnan(values), np.inf, -values if direction == "desc" else values)
        out[f"r{i}"] = pa.array(values, pa.float64())
    return out


def rank_names(policy: list[str]) -> list[str]:
    return [f"r{i}" for i in range(len(policy) - 1)]
