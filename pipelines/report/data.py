"""What a report shows, gathered from an output folder: the ledger (DuckDB), the manifest, the summary, the rejects.

Everything here is counts, scores and ids, except the sample records, whose
text is shown only as it left the recipe's ``pii`` stage (:mod:`.samples`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow.compute as pc

from lineage.store import Ledger
from operators.core.io import exists, filesystem, join
from operators.formats.shards import read_shard
from pipelines.report.samples import REASON_KEY, samples

#: Bars of a score histogram.
SCORE_BINS = 30
#: Bars of the token and length histograms.
LENGTH_BINS = 40
#: Languages listed (the rest are summed as "other").
LANGUAGES = 25


@dataclass
class ScoreHistogram:
    """One scored stage's scores: equal-width bins, kept/dropped by that stage in each, and its threshold."""

    stage: int
    name: str
    column: str
    edges: list[float]
    kept: list[int]
    dropped: list[int]
    threshold: float | None = None
    direction: str | None = None  # "min": kept at or above; "max": kept at or below
    sides: dict[str, dict[str, int]] = field(default_factory=dict)  # below/above -> {records, dropped}


@dataclass
class RunData:
    """Everything one run's report draws (no record text outside ``samples``)."""

    output: str
    run_id: str
    runs: list[str]
    counts: dict[str, int]
    funnel: list[dict[str, Any]]
    drops: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    scores: list[ScoreHistogram]
    tokens: dict[str, Any] | None
    lengths: dict[str, Any] | None
    languages: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    pii: list[dict[str, Any]]
    synthetic: dict[str, dict[str, int]]
    sources: list[dict[str, Any]]
    timings: dict[str, float]
    recipe: dict[str, Any] | None
    samples: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def sample_ids(self) -> list[str]:
        """The records the page names (with their text or withheld): erasure cuts them out of it."""
        return [s["id"] for s in self.samples]


def threshold_of(stage: dict[str, Any]) -> tuple[float | None, str | None]:
    """The threshold a stage's config puts on its score column, and which side is kept.

    Filters name thresholds after what they bound: ``min_score``/``max_score``
    (lang_id, toxicity), ``min_scores``/``max_scores`` keyed by column
    (classifiers), ``min_<x>``/``max_<x>`` for a score column ``<op>_<x>``
    (Gopher rules), ``threshold`` (CLIP: kept at or above).
    """
    config, column = stage.get("config") or {}, stage.get("score_column") or ""
    suffix = column.split("_", 1)[1] if "_" in column else column
    # A min_score/max_score bounds the score column only when that column is a score (pii's min_score is
    # Presidio's detection score, not a bound on its pii_count).
    is_score = column.endswith("score") or column == stage.get("name")
    for direction in ("min", "max"):
        by_column = config.get(f"{direction}_scores")
        if isinstance(by_column, dict) and isinstance(by_column.get(column), (int, float)):
            return float(by_column[column]), direction
        keys = [f"{direction}_score"] if is_score else []
        for key in (*keys, f"{direction}_{suffix}", f"{direction}_{column}"):
            if isinstance(config.get(key), (int, float)) and not isinstance(config.get(key), bool):
                return float(config[key]), direction
    if isinstance(config.get("threshold"), (int, float)):
        return float(config["threshold"]), "min"
    return None, None


def _json(output: str, name: str) -> dict[str, Any] | None:
    path = join(output, name)
    if not exists(path):
        return None
    fs, p = filesystem(path)
    with fs.open(p, "r") as f:
        return json.load(f)


def snapshot_path(output: str, run_id: str) -> str:
    return join(output, "reports", f"run={run_id}.json")


def run_context(output: str, run_id: str) -> tuple[dict[str, Any] | None, dict[str, float], list[str]]:
    """The run's recipe (stages with configs, fingerprint, tokenizer) and stage timings, and what is missing.

    ``manifest.json`` and ``summary.json`` describe the latest run; an older run's come from the snapshot its
    report saved (``reports/run=<id>.json``).
    """
    notes = []
    manifest, summary = _json(output, "manifest.json"), _json(output, "summary.json")
    snapshot = _json(output, f"reports/run={run_id}.json") or {}
    recipe = snapshot.get("recipe")
    if manifest and manifest.get("run_id") == run_id:
        recipe = {k: manifest.get(k) for k in ("name", "recipe_fingerprint", "tokenizer", "stages", "created")}
        recipe["erasures"] = len(manifest.get("erasures", []))
    timings = snapshot.get("stage_seconds") or {}
    if summary and summary.get("run_id") == run_id:
        timings = summary.get("stage_seconds") or {}
    if recipe is None:
        notes.append(f"run {run_id}: its recipe was not recorded (a later run replaced manifest.json before a "
                     "report saved it): no thresholds, and sample text is withheld")
    if not timings:
        notes.append(f"run {run_id}: its stage timings were not recorded")
    return recipe, timings, notes


def gather(output: str, run_id: str | None = None, db: Ledger | None = None) -> RunData:
    """The report's data for ``run_id`` (default: the latest run in the ledger)."""
    own = db is None
    db = db or Ledger(output)
    try:
        runs = [r["run_id"] for r in db.rows("SELECT DISTINCT run_id FROM ledger ORDER BY run_id")]
        run_id = run_id or runs[-1]
        if run_id not in runs:
            raise KeyError(f"no run {run_id!r} in {output}/ledger; runs: {', '.join(runs)}")
        recipe, timings, notes = run_context(output, run_id)
        stages = {s["stage_index"]: s for s in (recipe or {}).get("stages", [])}
        return RunData(
            output=output, run_id=run_id, runs=runs, counts=counts(db, run_id),
            funnel=funnel(db, run_id), drops=drops(db, run_id), quarantine=quarantine(db, run_id),
            scores=score_histograms(db, [run_id], stages)[run_id], tokens=token_histogram(db, run_id),
            lengths=length_histogram(output, run_id, recipe), languages=languages(db, run_id),
            clusters=clusters(db, run_id), pii=pii_types(db, run_id), synthetic=synthetic(db, run_id),
            sources=sources(db, run_id), timings=timings, recipe=recipe,
            samples=samples(output, run_id, recipe), notes=notes,
        )
    finally:
        if own:
            db.close()


def counts(db: Ledger, run_id: str) -> dict[str, int]:
    row = db.rows(
        """
        SELECT count(*) AS read, count(*) FILTER (status = 'kept') AS kept,
               count(*) FILTER (status = 'dropped') AS dropped, count(*) FILTER (status = 'quarantined') AS quarantined,
               count(*) FILTER (status = 'kept' AND erased) AS erased,
               coalesce(sum(token_count) FILTER (status = 'kept' AND NOT erased), 0)::BIGINT AS tokens
        FROM ledger WHERE run_id = ?
        """,
        [run_id],
    )[0]
    return {k: int(v) for k, v in row.items()}


def funnel(db: Ledger, run_id: str) -> list[dict[str, Any]]:
    """Records left after reading (quarantine out) and after each stage, in stage order."""
    c = counts(db, run_id)
    per_stage = db.rows(
        """
        SELECT op.stage AS stage, any_value(op.name) AS name, count(*) FILTER (op.decision = 'drop') AS dropped
        FROM (SELECT unnest(ops) AS op FROM ledger WHERE run_id = ?) GROUP BY op.stage ORDER BY op.stage
        """,
        [run_id],
    )
    left = c["read"] - c["quarantined"]
    steps = [{"step": "read", "records": c["read"], "removed": 0},
             {"step": "readable", "records": left, "removed": c["quarantined"]}]
    for s in per_stage:
        left -= s["dropped"]
        steps.append({"step": f"{s['stage']}. {s['name']}", "records": left, "removed": s["dropped"]})
    if c["erased"]:
        steps.append({"step": "after erasures", "records": left - c["erased"], "removed": c["erased"]})
    return steps


def drops(db: Ledger, run_id: str) -> list[dict[str, Any]]:
    return db.rows(
        f"""
        SELECT op.stage AS stage, op.name AS name, {REASON_KEY.format(col='op.reason')} AS reason, count(*) AS records
        FROM (SELECT unnest(ops) AS op FROM ledger WHERE run_id = ?) WHERE op.decision = 'drop'
        GROUP BY ALL ORDER BY records DESC, stage, reason
        """,
        [run_id],
    )


def quarantine(db: Ledger, run_id: str) -> list[dict[str, Any]]:
    return db.rows(
        f"""
        SELECT {REASON_KEY.format(col='reason')} AS reason, count(*) AS records FROM ledger
        WHERE run_id = ? AND status = 'quarantined' GROUP BY ALL ORDER BY records DESC, reason
        """,
        [run_id],
    )


def score_histograms(db: Ledger, run_ids: list[str], stages: dict[int, dict[str, Any]],
                     bins: int = SCORE_BINS) -> dict[str, list[ScoreHistogram]]:
    """Per run, each scored stage's histogram; bins are shared by the runs (so two runs compare bar by bar)."""
    scored = """
        SELECT run_id, op.stage AS stage, op.name AS name, op.score AS score, op.decision = 'drop' AS dropped
        FROM (SELECT run_id, unnest(ops) AS op FROM ledger WHERE run_id IN (SELECT unnest(?::VARCHAR[])))
        WHERE op.score IS NOT NULL AND isfinite(op.score) AND op.decision IN ('keep', 'drop')
    """
    ranges = db.rows(
        f"SELECT stage, any_value(name) AS name, min(score) AS lo, max(score) AS hi FROM ({scored}) "
        "GROUP BY stage ORDER BY stage",
        [run_ids],
    )
    out: dict[str, list[ScoreHistogram]] = {r: [] for r in run_ids}
    for r in ranges:
        stage = stages.get(r["stage"], {})
        threshold, direction = threshold_of(stage)
        lo, hi = float(r["lo"]), float(r["hi"])
        if threshold is not None:
            lo, hi = min(lo, threshold), max(hi, threshold)
        width = (hi - lo) / bins or 1.0
        rows = db.rows(
            f"""
            SELECT run_id, least(greatest(floor((score - ?) / ?), 0), ?)::INTEGER AS bin,
                   count(*) FILTER (NOT dropped) AS kept, count(*) FILTER (dropped) AS dropped
            FROM ({scored}) WHERE stage = ? GROUP BY ALL
            """,
            [lo, width, bins - 1, run_ids, r["stage"]],
        )
        sides = {}
        if threshold is not None:
            for side in db.rows(
                f"""
                SELECT run_id, CASE WHEN score < ? THEN 'below' ELSE 'at or above' END AS side,
                       count(*) AS records, count(*) FILTER (dropped) AS dropped
                FROM ({scored}) WHERE stage = ? GROUP BY ALL
                """,
                [threshold, run_ids, r["stage"]],
            ):
                sides.setdefault(side["run_id"], {})[side["side"]] = {"records": side["records"], "dropped": side["dropped"]}
        for run in run_ids:
            kept, dropped = [0] * bins, [0] * bins
            for row in rows:
                if row["run_id"] == run:
                    kept[row["bin"]], dropped[row["bin"]] = row["kept"], row["dropped"]
            if not any(kept) and not any(dropped):
                continue
            out[run].append(ScoreHistogram(
                stage=r["stage"], name=r["name"], column=stage.get("score_column") or "score",
                edges=[lo + i * width for i in range(bins + 1)], kept=kept, dropped=dropped,
                threshold=threshold, direction=direction, sides=sides.get(run, {}),
            ))
    return out


def _histogram(values: np.ndarray, bins: int = LENGTH_BINS) -> dict[str, Any] | None:
    """Equal-width bins up to the 99th percentile; longer values are counted in the last bin."""
    if not len(values):
        return None
    top = float(np.percentile(values, 99)) or float(values.max()) or 1.0
    counts, edges = np.histogram(np.minimum(values, top), bins=bins, range=(0, top))
    return {"edges": edges.tolist(), "counts": counts.tolist(), "clipped_at": top, "n": int(len(values)),
            "median": float(np.median(values)), "mean": float(values.mean()), "max": float(values.max())}


def token_histogram(db: Ledger, run_id: str) -> dict[str, Any] | None:
    rows = db.con.execute(
        "SELECT token_count FROM ledger WHERE run_id = ? AND status = 'kept' AND NOT erased AND token_count IS NOT NULL",
        [run_id],
    ).fetchnumpy()
    return _histogram(np.asarray(rows["token_count"], np.float64))


def length_histogram(output: str, run_id: str, recipe: dict[str, Any] | None) -> dict[str, Any] | None:
    """Characters per kept record, read from the current shards (only while they are this run's)."""
    manifest = _json(output, "manifest.json") or {}
    if manifest.get("run_id") != run_id:
        return None
    lengths = [
        pc.utf8_length(read_shard(join(output, "shards", s["shard"])).column("text")).to_numpy(zero_copy_only=False)
        for s in manifest.get("shards", [])
    ]
    return _histogram(np.concatenate(lengths).astype(np.float64)) if lengths else None


def languages(db: Ledger, run_id: str) -> list[dict[str, Any]]:
    rows = db.rows(
        """
        SELECT coalesce(lang, '(none)') AS lang, count(*) FILTER (status = 'kept') AS kept,
               count(*) FILTER (status = 'dropped') AS dropped, count(*) FILTER (status = 'quarantined') AS quarantined
        FROM ledger WHERE run_id = ? GROUP BY ALL ORDER BY kept + dropped + quarantined DESC, lang
        """,
        [run_id],
    )
    if len(rows) > LANGUAGES:
        rest = rows[LANGUAGES - 1 :]
        rows = rows[: LANGUAGES - 1] + [{"lang": f"other ({len(rest)})", **{k: sum(r[k] for r in rest)
                                                                         for k in ("kept", "dropped", "quarantined")}}]
    return rows


def clusters(db: Ledger, run_id: str) -> list[dict[str, Any]]:
    """How many duplicate clusters have each size (members, survivor included)."""
    return db.rows(
        """
        SELECT size, count(*) AS clusters FROM (
            SELECT dup_cluster, count(*) AS size FROM ledger WHERE run_id = ? AND dup_cluster IS NOT NULL
            GROUP BY dup_cluster) GROUP BY size ORDER BY size
        """,
        [run_id],
    )


def pii_types(db: Ledger, run_id: str) -> list[dict[str, Any]]:
    """Personal-data findings by type: counts only (the ledger holds salted hashes, never values)."""
    return db.rows(
        """
        SELECT p.type AS type, count(*) AS findings, count(DISTINCT id) AS records
        FROM (SELECT id, unnest(pii) AS p FROM ledger WHERE run_id = ? AND pii IS NOT NULL) GROUP BY ALL
        ORDER BY findings DESC, type
        """,
        [run_id],
    )


def synthetic(db: Ledger, run_id: str) -> dict[str, dict[str, int]]:
    rows = db.rows(
        """
        SELECT CASE WHEN generator IS NOT NULL OR len(coalesce(parents, [])) > 0 THEN 'synthetic' ELSE 'scraped' END
               AS origin, status, count(*) AS records
        FROM ledger WHERE run_id = ? GROUP BY ALL
        """,
        [run_id],
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["origin"], {"kept": 0, "dropped": 0, "quarantined": 0})[r["status"]] = r["records"]
    return out


def sources(db: Ledger, run_id: str) -> list[dict[str, Any]]:
    return db.rows(
        """
        SELECT source, count(*) AS read, count(*) FILTER (status = 'kept') AS kept,
               count(*) FILTER (status = 'dropped') AS dropped, count(*) FILTER (status = 'quarantined') AS quarantined,
               coalesce(sum(token_count) FILTER (status = 'kept' AND NOT erased), 0)::BIGINT AS tokens
        FROM ledger WHERE run_id = ? GROUP BY source ORDER BY read DESC, source
        """,
        [run_id],
    )
