"""An erased dedup survivor's place: the best remaining member of its cluster is promoted into the shard.

``forget --no-near-duplicates`` erases a record but not the duplicates dedup
dropped in its favour. When the erased record was a survivor, the cluster would
vanish from the data; instead the member the recipe's survivor policy ranks
best among those left takes the survivor's row in the rewritten shard,
tokenized with the run's tokenizer.

A dropped member's text is in the rejects (``rejects/run=<run>/part-*.parquet``)
as it was when dedup dropped it, so it went through every stage before that
dedup stage and none after. A member is promoted only when every later stage is
itself a dedup stage (the member text is then what that run would have
written); otherwise, or when the text, a policy column or the tokenizer is not
there, the plan says why and nothing is promoted: no text is made up.

Members dropped by several dedup stages (exact copies of the survivor, then near
duplicates) are ranked as a run without the survivor would: each stage's
members, with the previous stage's winner, by that stage's policy (exact dedup:
the smallest id).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lineage.store import Ledger
from operators.core.base import Role
from operators.core.io import exists, join, read_parquet
from operators.dedup.survivor import rank_columns, rank_names
from operators.formats.shards import SHARD_SCHEMA, read_manifest
from operators.formats.tokenize import Encoder, TokenizerError, TokenizerInfo, resolve

#: A stage without a survivor policy in its config (exact dedup) keeps the smallest id.
DEFAULT_POLICY = ["id asc"]


@dataclass
class Promotion:
    """A dropped duplicate that takes an erased survivor's row in a shard."""

    survivor: str  # the erased survivor
    record: str  # the member promoted in its place
    run_id: str
    shard: str  # the current shard that held the survivor
    rejects: str  # the rejects file holding the member's text
    stage: str  # the dedup stage that had dropped it
    policy: list[str] = field(default_factory=list)


def _role(name: str) -> Role | None:
    from operators.core import registry

    try:
        return registry.get(name).role
    except (registry.UnknownOperatorError, AttributeError):
        return None


def run_tokenizer(shard_path: str) -> TokenizerInfo:
    """The tokenizer that wrote a shard (its manifest), loadable and with the same checksum, or TokenizerError."""
    info = read_manifest(shard_path).get("tokenizer")
    if not info:
        raise TokenizerError(f"{shard_path}: its manifest names no tokenizer")
    recorded = TokenizerInfo(**info)
    path = Path(recorded.path)
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == recorded.sha256:
        return recorded
    found = resolve(recorded.name, recorded.eos_token)  # a cleared cache: the packaged tokenizer is rebuilt
    if found.sha256 != recorded.sha256:
        raise TokenizerError(f"tokenizer {recorded.name!r} is not the one that wrote {shard_path} (checksum differs)")
    return found


def _best(table: pa.Table, policy: list[str]) -> str:
    ranks = rank_columns(table, policy)
    ranked = pa.table({**ranks, "id": table.column("id")})
    order = [(name, "ascending") for name in rank_names(policy)] + [("id", "ascending")]
    return ranked.sort_by(order).column("id")[0].as_py()


def plan_promotions(
    db: Ledger, output: str, manifest: dict[str, Any], shards: dict[str, list[str]], erasing: set[str],
    forbidden_subjects: set[str], forbidden: set[str],
) -> tuple[list[Promotion], list[str]]:
    """Promotions for the survivors being erased from ``shards`` (shard -> ids), and why any could not be made.

    ``erasing``: every id the erasure removes; ``forbidden``: ids and content hashes erased before;
    ``forbidden_subjects``: subject hashes erased now or before. A member holding any of them stays out.
    """
    in_shard = {i: name for name, ids in shards.items() for i in ids}
    if not in_shard:
        return [], []
    survivors = db.rows(
        "SELECT run_id, id FROM ledger WHERE id IN (SELECT unnest(?::VARCHAR[])) AND dup_survivor = id AND current"
        " ORDER BY id",
        [sorted(in_shard)],
    )
    stages = {s.get("stage_index"): s for s in manifest.get("stages", [])}
    promotions, warnings = [], []
    for s in survivors:
        members = db.rows(
            """
            SELECT id, content_hash, filename, list_transform(coalesce(pii, []), lambda x: x.hash) AS subjects,
                   list_filter(ops, lambda o: o.decision = 'drop')[1] AS op
            FROM ledger WHERE run_id = ? AND dup_survivor = ? AND id <> ? AND status_at_run = 'dropped' AND NOT erased
            ORDER BY id
            """,
            [s["run_id"], s["id"], s["id"]],
        )
        members = [
            m for m in members
            if m["id"] not in erasing and m["content_hash"] not in forbidden and m["id"] not in forbidden
            and not forbidden_subjects & set(m["subjects"])
        ]
        if not members:
            continue  # every member goes too (or there was none): nothing to promote
        why_not = _refusal(members, stages)
        if why_not:
            warnings.append(f"{s['id']}: no member promoted in its place: {why_not}")
            continue
        promotion, why_not = _pick(output, s, members, stages, in_shard[s["id"]])
        if promotion is None:
            warnings.append(f"{s['id']}: no member promoted in its place: {why_not}")
        else:
            promotions.append(promotion)
    return promotions, warnings


def _refusal(members: list[dict[str, Any]], stages: dict[Any, dict[str, Any]]) -> str | None:
    for m in members:
        op = m["op"]
        if op is None or op["stage"] not in stages or _role(op["name"]) is not Role.DEDUP:
            return f"member {m['id']} was not dropped by a dedup stage of the current run's recipe"
    first = min(m["op"]["stage"] for m in members)
    later = [st["name"] for i, st in stages.items() if i is not None and i > first and _role(st["name"]) is not Role.DEDUP]
    if later:
        return (f"stage(s) {', '.join(later)} ran after the dedup stage that dropped the members, and their text in "
                "the rejects never went through them; run the recipe again to choose a new survivor")
    return None


def _pick(
    output: str, survivor: dict[str, Any], members: list[dict[str, Any]], stages: dict[Any, dict[str, Any]], shard: str
) -> tuple[Promotion | None, str]:
    run_id = survivor["run_id"]
    files = sorted({join(output, "rejects", f"run={run_id}", os.path.basename(m["filename"])) for m in members})
    ids = pa.array([m["id"] for m in members], pa.string())
    tables = []
    for path in files:
        if exists(path):
            table = read_parquet(path)
            table = table.filter(pc.is_in(table.column("id"), value_set=ids))
            tables.append(table.append_column("_rejects", pa.array([path] * table.num_rows, pa.string())))
    rows = pa.concat_tables(tables, promote_options="default") if tables else None
    missing = sorted(set(ids.to_pylist()) - set(rows.column("id").to_pylist() if rows is not None else []))
    if missing:
        return None, f"the text of member(s) {', '.join(missing)} is not in the run's rejects"
    if "image" in rows.column_names:
        return None, "promoting image-text pairs is not supported; run the recipe again"
    try:
        run_tokenizer(join(output, "shards", shard))
    except (TokenizerError, OSError) as e:
        return None, str(e)
    by_stage: dict[int, list[str]] = {}
    stage_of = {}
    for m in members:
        by_stage.setdefault(m["op"]["stage"], []).append(m["id"])
        stage_of[m["id"]] = m["op"]["name"]
    winner, policy = None, DEFAULT_POLICY
    for index in sorted(by_stage):
        policy = stages[index].get("config", {}).get("survivor") or DEFAULT_POLICY
        pool = [*by_stage[index], *([winner] if winner else [])]
        table = rows.filter(pc.is_in(rows.column("id"), value_set=pa.array(pool, pa.string())))
        try:
            winner = _best(table, policy)
        except KeyError as e:
            return None, f"survivor policy {policy} of stage {stages[index]['name']} names column {e} the rejects lack"
    path = rows.filter(pc.equal(rows.column("id"), winner)).column("_rejects")[0].as_py()
    return Promotion(survivor["id"], winner, run_id, shard, path, stage_of[winner], list(policy)), ""


def promoted_rows(promotions: list[Promotion], shard_path: str) -> dict[str, pa.Table]:
    """Survivor id -> the promoted member's shard row (``token_start`` 0), tokenized with the run's tokenizer."""
    if not promotions:
        return {}
    encoder = Encoder(run_tokenizer(shard_path))
    out = {}
    for p in promotions:
        table = read_parquet(p.rejects)
        row = table.filter(pc.equal(table.column("id"), p.record)).slice(0, 1)
        text = row.column("text")[0].as_py()
        tokens = encoder.encode([text])[0]
        out[p.survivor] = pa.table(
            {"id": [p.record], "source": row.column("source").cast(pa.string()), "text": [text],
             "input_ids": pa.array([tokens], pa.list_(pa.int32())), "num_tokens": pa.array([len(tokens)], pa.int32()),
             "token_start": pa.array([0], pa.int64())},
            schema=SHARD_SCHEMA,
        )
    return out
