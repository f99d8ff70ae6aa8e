"""The quality gates of a recipe as blocking Dagster asset checks.

Checks are blocking where a failure should stop the work after them: there is
no point tokenizing a corpus whose dedup went wrong, or publishing a ledger for
shards that do not open. The predicates are plain functions in :mod:`pipelines.checks`.
"""

import dagster as dg

from pipelines.checks import (
    RESIDUAL_SAMPLE,
    Verdict,
    accounting_balances,
    duplicate_counts,
    duplicate_rate_within_bounds,
    no_residual_pii,
    shard_texts,
    shards_readable,
)
from pipelines.run import RunState


def check_result(verdict: Verdict) -> dg.AssetCheckResult:
    metadata = {
        k: dg.MetadataValue.md(v) if k in verdict.markdown else v for k, v in verdict.metadata.items()
    }
    return dg.AssetCheckResult(passed=verdict.passed, description=verdict.description, metadata=metadata)


def recipe_checks(
    keys: dict[str, dg.AssetKey],
    pii_stages: list[str],
    dedup_stages: list[str],
    max_duplicate_rate: float,
    min_duplicate_rate: float,
) -> list[dg.AssetChecksDefinition]:
    """The asset checks of one recipe's assets (``keys``: phase name -> asset key).

    ``pii_stages`` and ``dedup_stages`` name the stages whose operators scrub
    personal data and deduplicate (they say so themselves: ``scrubs_pii``, ``role``).
    """

    @dg.asset_check(
        asset=keys["deduplicated"],
        name="duplicate_rate_within_bounds",
        blocking=True,
        description="The share of records dedup dropped is within the recipe's checks bounds.",
    )
    def _duplicate_rate(state: RunState) -> dg.AssetCheckResult:
        if not dedup_stages:
            return check_result(Verdict(True, "skipped: the recipe has no dedup stage", {"skipped": True}))
        duplicates, candidates = duplicate_counts(state.counts, dedup_stages)
        return check_result(duplicate_rate_within_bounds(duplicates, candidates, max_duplicate_rate, min_duplicate_rate))

    @dg.asset_check(
        asset=keys["shards"],
        name="shards_readable",
        blocking=True,
        description="Every shard opens, holds tokens, and its sha256 and row count match its manifest.",
    )
    def _shards_readable(state: RunState) -> dg.AssetCheckResult:
        return check_result(shards_readable(state.shard_paths()))

    @dg.asset_check(
        asset=keys["shards"],
        name="no_residual_pii",
        blocking=True,
        description="A sample of the shards' text has no e-mail, phone, card, IBAN, IP, SSN or secret left after the "
        "recipe's PII stage (re-detected with its recognizers).",
    )
    def _no_residual_pii(state: RunState) -> dg.AssetCheckResult:
        texts = shard_texts(state.shard_paths(), RESIDUAL_SAMPLE) if pii_stages else []
        return check_result(no_residual_pii(pii_stages, texts))

    @dg.asset_check(
        asset=keys["ledger"],
        name="accounting_balances",
        blocking=True,
        description="read = kept + dropped + quarantined, counted from the ledger with DuckDB.",
    )
    def _accounting(state: RunState) -> dg.AssetCheckResult:
        return check_result(accounting_balances(state.ledger, state.read))

    return [_duplicate_rate, _shards_readable, _no_residual_pii, _accounting]

