"""Quality gates: plain predicates over a run's outputs, and the Dagster asset checks that call them.

Each predicate returns a :class:`Verdict` and knows nothing about Dagster, so it
is tested (and reusable) on its own; :func:`recipe_checks` wraps them as asset
checks. Checks are blocking where a failure should stop the work after them:
there is no point tokenizing a corpus whose dedup went wrong, or publishing a
ledger for shards that do not open.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from lineage.schema import STATUSES
from operators.io import exists, filesystem, is_local
from operators.pipeline import RunState
from operators.shards import read_shard, verify_shard


@dataclass
class Verdict:
    """The outcome of a gate: passed or not, why, and numbers for the UI."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_result(self) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=self.passed, description=self.description, metadata=self.metadata)


# ---------------------------------------------------------------- predicates


def accounting_balances(ledger: str, read: int) -> Verdict:
    """Every record read has exactly one ledger row: ``read = kept + dropped + quarantined``.

    Counted from the ledger files with DuckDB, not from the run's own totals,
    so a lost or duplicated ledger row fails the gate.
    """
    import duckdb

    try:
        con = duckdb.connect()
        relation = _ledger_relation(con, ledger)
        counts = dict(con.execute(f"SELECT status, count(*) FROM {relation} GROUP BY status").fetchall())
        rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {relation}").fetchone()
    except Exception as e:  # unreadable or missing ledger: the gate fails, saying why
        return Verdict(False, f"cannot read the ledger at {ledger}: {e}", {"ledger": ledger})
    by_status = {s: int(counts.get(s, 0)) for s in STATUSES}
    unknown = {s: n for s, n in counts.items() if s not in STATUSES}
    metadata = {"read": read, **by_status, "ledger_rows": int(rows), "distinct_ids": int(distinct)}
    problems = []
    if sum(by_status.values()) != read:
        problems.append(
            f"read {read} != kept {by_status['kept']} + dropped {by_status['dropped']} "
            f"+ quarantined {by_status['quarantined']}"
        )
    if distinct != rows:
        problems.append(f"{rows - distinct} records have more than one ledger row")
    if unknown:
        problems.append(f"unknown statuses {unknown}")
    if problems:
        return Verdict(False, "; ".join(problems), metadata)
    return Verdict(True, f"all {read} records accounted for", metadata)


def _ledger_relation(con, ledger: str) -> str:
    """A DuckDB relation over the ledger's Parquet files: scanned in place when local."""
    fs, folder = filesystem(ledger)
    files = sorted(p for p in fs.ls(folder, detail=False) if p.endswith(".parquet"))
    if not files:
        raise FileNotFoundError(f"no ledger files under {ledger}")
    if is_local(ledger):
        quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return f"read_parquet([{quoted}])"
    import pyarrow.parquet as pq

    con.register("ledger", pq.read_table(files, filesystem=fs, columns=["id", "status"]))
    return "ledger"


def duplicate_rate_within_bounds(duplicates: int, candidates: int, max_rate: float = 0.5, min_rate: float = 0.0) -> Verdict:
    """The share of records dedup dropped is within the recipe's bounds.

    A rate above ``max_rate`` usually means a broken normaliser or a source
    read twice; below ``min_rate``, a dedup that finds nothing.
    """
    rate = duplicates / candidates if candidates else 0.0
    metadata = {
        "duplicates": duplicates,
        "candidates": candidates,
        "duplicate_rate": round(rate, 4),
        "min_rate": min_rate,
        "max_rate": max_rate,
    }
    if not min_rate <= rate <= max_rate:
        return Verdict(False, f"duplicate rate {rate:.1%} outside [{min_rate:.1%}, {max_rate:.1%}]", metadata)
    return Verdict(True, f"duplicate rate {rate:.1%} within [{min_rate:.1%}, {max_rate:.1%}]", metadata)


def duplicate_counts(counts: dict[str, dict[str, Any]], dedup_stages: list[str]) -> tuple[int, int]:
    """``(duplicates, candidates)`` from a run state's tallies: drops by dedup stages, records reaching them."""
    after = counts.get("tally:deduplicate", {})
    before = counts.get("tally:decide", {})
    duplicates = sum(n for reason, n in after.get("reasons", {}).items() if (reason or "").split(":")[0] in dedup_stages)
    return duplicates, int(before.get("kept", 0))


def shards_readable(shards: list[str]) -> Verdict:
    """Every shard opens, holds tokens, and matches its manifest (checksum and row count)."""
    problems: list[str] = []
    rows = tokens = 0
    for path in shards:
        if not exists(path):
            problems.append(f"{path}: missing")
            continue
        try:
            found = verify_shard(path)
            table = read_shard(path)
        except Exception as e:  # a corrupt file fails to open: report it, check the rest
            problems.append(f"{path}: does not open: {e}")
            continue
        problems += found
        shard_tokens = int(table.column("num_tokens").to_numpy().sum()) if table.num_rows else 0
        if shard_tokens <= 0:
            problems.append(f"{path}: no tokens")
        rows += table.num_rows
        tokens += shard_tokens
    if not shards:
        problems.append("the run wrote no shards (no record was kept)")
    metadata = {"shards": len(shards), "rows": rows, "tokens": tokens, "problems": len(problems)}
    if problems:
        metadata["first_problems"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:10]))
        return Verdict(False, f"{len(problems)} problem(s): {problems[0]}", metadata)
    return Verdict(True, f"{len(shards)} shard(s), {tokens:,} tokens, checksums match", metadata)


#: Stage names that scrub personal data; a recipe without one has nothing to verify.
PII_STAGE_PATTERN = re.compile(r"pii|redact|scrub", re.IGNORECASE)
# A cheap backstop for what a PII stage must have removed (not a PII detector).
# Scanned in this order, each kind's matches removed before the next (a card number is not also a phone).
_RESIDUAL_PII = {
    "email": re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"),
    "credit_card": re.compile(r"(?<!\d)(?:\d{4}[ -]){3}\d{4}(?!\d)"),
    "phone": re.compile(r"(?<!\d)(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3,4}[ .-]\d{3,4}[ .-]?\d{0,4}(?!\d)"),
}


def no_residual_pii(stages: list[str], texts: Iterable[str], max_examples: int = 5) -> Verdict:
    """Kept text carries no e-mail address, phone or card number left behind by the PII stage.

    Passes, saying it was skipped, when the recipe has no PII stage: there is
    nothing the recipe promised to remove.
    """
    pii_stages = [s for s in stages if PII_STAGE_PATTERN.search(s)]
    if not pii_stages:
        return Verdict(True, "skipped: the recipe has no PII stage", {"skipped": True, "pii_stages": ""})
    hits: dict[str, int] = {}
    documents = 0
    for text in texts:
        documents += 1
        text = text or ""
        for kind, pattern in _RESIDUAL_PII.items():
            text, found = pattern.subn(" ", text)
            if found:
                hits[kind] = hits.get(kind, 0) + 1
    metadata = {"skipped": False, "pii_stages": ", ".join(pii_stages), "documents": documents, **hits}
    if hits:
        found = ", ".join(f"{n} with {kind}" for kind, n in hits.items())
        return Verdict(False, f"residual PII in kept text: {found}", metadata)
    return Verdict(True, f"no residual PII in {documents} kept documents", metadata)


def shard_texts(shards: list[str]) -> Iterable[str]:
    for path in shards:
        yield from read_shard(path).column("text").to_pylist()


# ---------------------------------------------------------------- Dagster checks


def recipe_checks(
    keys: dict[str, dg.AssetKey],
    stages: list[str],
    dedup_stages: list[str],
    max_duplicate_rate: float,
    min_duplicate_rate: float,
) -> list[dg.AssetChecksDefinition]:
    """The asset checks of one recipe's assets (``keys``: phase name -> asset key)."""

    @dg.asset_check(
        asset=keys["deduplicated"],
        name="duplicate_rate_within_bounds",
        blocking=True,
        description="The share of records dedup dropped is within the recipe's checks bounds.",
    )
    def _duplicate_rate(state: RunState) -> dg.AssetCheckResult:
        if not dedup_stages:
            return Verdict(True, "skipped: the recipe has no dedup stage", {"skipped": True}).to_result()
        duplicates, candidates = duplicate_counts(state.counts, dedup_stages)
        return duplicate_rate_within_bounds(duplicates, candidates, max_duplicate_rate, min_duplicate_rate).to_result()

    @dg.asset_check(
        asset=keys["shards"],
        name="shards_readable",
        blocking=True,
        description="Every shard opens, holds tokens, and its sha256 and row count match its manifest.",
    )
    def _shards_readable(state: RunState) -> dg.AssetCheckResult:
        return shards_readable(state.shard_paths()).to_result()

    @dg.asset_check(
        asset=keys["shards"],
        name="no_residual_pii",
        blocking=True,
        description="Kept text has no e-mail, phone or card number left after the recipe's PII stage.",
    )
    def _no_residual_pii(state: RunState) -> dg.AssetCheckResult:
        return no_residual_pii(stages, shard_texts(state.shard_paths()) if _has_pii(stages) else []).to_result()

    @dg.asset_check(
        asset=keys["ledger"],
        name="accounting_balances",
        blocking=True,
        description="read = kept + dropped + quarantined, counted from the ledger with DuckDB.",
    )
    def _accounting(state: RunState) -> dg.AssetCheckResult:
        return accounting_balances(state.ledger, state.read).to_result()

    return [_duplicate_rate, _shards_readable, _no_residual_pii, _accounting]


def _has_pii(stages: list[str]) -> bool:
    return any(PII_STAGE_PATTERN.search(s) for s in stages)
