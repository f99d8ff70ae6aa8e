"""Quality gates: plain predicates over a run's outputs.

Each predicate returns a :class:`Verdict` and knows nothing about Dagster, so it
is tested (and reusable) on its own; :mod:`pipelines.orchestrate.checks` wraps
them as blocking asset checks.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from operators.core import registry
from operators.core.io import exists, filesystem, is_local
from operators.core.reasons import Reason
from operators.core.schema import Status
from operators.formats.shards import read_shard, verify_shard


@dataclass
class Verdict:
    """The outcome of a gate: passed or not, why, and numbers for the UI.

    Attributes:
        markdown: metadata keys whose values are Markdown text (lists of problems).
    """

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    markdown: frozenset[str] = frozenset()


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
    by_status = {s.value: int(counts.get(s, 0)) for s in Status}
    unknown = {s: n for s, n in counts.items() if s not in set(Status)}
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
    duplicates = sum(n for reason, n in after.get("reasons", {}).items() if reason and Reason.parse(reason).by in dedup_stages)
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
        metadata["first_problems"] = "\n".join(f"- {p}" for p in problems[:10])
        return Verdict(False, f"{len(problems)} problem(s): {problems[0]}", metadata, frozenset({"first_problems"}))
    return Verdict(True, f"{len(shards)} shard(s), {tokens:,} tokens, checksums match", metadata)


#: Names that say a stage scrubs personal data, for stage names no registered operator answers to.
PII_STAGE_PATTERN = re.compile(r"pii|redact|scrub", re.IGNORECASE)
#: Documents sampled from the shards by the residual-PII gate.
RESIDUAL_SAMPLE = 2_000
# Metadata names of the structured types the gate re-detects.
_RESIDUAL_NAMES = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
                   "IP_ADDRESS": "ip_address", "US_SSN": "us_ssn"}
# Surrogate phones and IPs live in reserved ranges (NANP 555-01xx, TEST-NET-1): not personal data.
_RESERVED = re.compile(r"^\+?1?[ -]?555[ -]?01\d\d$|^192\.0\.2\.\d+$")


def no_residual_pii(stages: list[str], texts: Iterable[str]) -> Verdict:
    """Kept text carries no structured personal data (e-mail, phone, card, IBAN, IP, SSN, secrets).

    Re-detects with the PII operator's own pattern recognizers (Presidio's, with
    context scoring), not with NER: a name is not decidable by a gate, a card
    number is. Counts documents per type; never reports a value. Passes, saying
    it was skipped, when the recipe has no PII stage: there is nothing the recipe
    promised to remove.
    """
    pii_stages = [s for s in stages if scrubs_pii(s)]
    if not pii_stages:
        return Verdict(True, "skipped: the recipe has no PII stage", {"skipped": True, "pii_stages": ""})
    from filters.pii import structured_findings

    texts = [t or "" for t in texts]
    hits: dict[str, int] = {}
    for start in range(0, len(texts), 500):
        batch = texts[start : start + 500]
        for text, findings in zip(batch, structured_findings(batch), strict=True):
            kinds = {
                _RESIDUAL_NAMES.get(f.type, "secret")
                for f in findings
                if not _RESERVED.search(text[f.start : f.end].strip())
            }
            for kind in kinds:
                hits[kind] = hits.get(kind, 0) + 1
    metadata = {"skipped": False, "pii_stages": ", ".join(pii_stages), "documents": len(texts), **hits}
    if hits:
        found = ", ".join(f"{n} with {kind}" for kind, n in sorted(hits.items()))
        return Verdict(False, f"residual PII in kept text: {found} (of {len(texts)} sampled documents)", metadata)
    return Verdict(True, f"no residual PII in {len(texts)} sampled kept documents", metadata)


def scrubs_pii(stage: str) -> bool:
    """Whether the stage named ``stage`` scrubs personal data: its operator says so (``scrubs_pii``).

    A name no registered operator answers to (a stage of another installation,
    named in a report) is judged by its name.
    """
    if stage in registry.names():
        return registry.get(stage).scrubs_pii
    return bool(PII_STAGE_PATTERN.search(stage))


def shard_texts(shards: list[str], sample: int | None = None) -> list[str]:
    """The texts of the shards; with ``sample``, an even spread of at most that many, from every shard."""
    per_shard = None if sample is None or not shards else max(1, sample // len(shards))
    texts: list[str] = []
    for path in shards:
        column = read_shard(path).column("text")
        if per_shard is not None and len(column) > per_shard:
            step = len(column) / per_shard
            column = column.take([int(i * step) for i in range(per_shard)])
        texts += column.to_pylist()
    return texts
