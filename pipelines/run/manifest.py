"""The dataset manifest (``manifest.json``) and the shards folder it describes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from operators.core.io import atomic_open, filesystem, join
from operators.formats.shards import MANIFEST_SUFFIX
from operators.formats.tokenize import TokenizerInfo
from pipelines.run.accounting import tokens
from pipelines.run.state import RunState


def write_manifest(
    state: RunState, totals: dict[str, Any], name: str, fingerprint: str, tokenizer: TokenizerInfo, stages: list[dict]
) -> None:
    """What a reader of the output needs: counts, tokenizer, stages, every shard with its checksum, the ledger."""
    manifest = {
        "format": "assay-dataset",
        "name": name,
        "run_id": state.run_id,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "recipe_fingerprint": fingerprint,
        "tokenizer": tokenizer.to_dict(),
        "stages": stages,
        "counts": {
            "read": state.read,
            "kept": totals["kept"],
            "dropped": totals["dropped"],
            "quarantined": totals["quarantined"],
            "tokens": tokens(state.shards),
        },
        "shards": state.shards,
        "ledger": f"ledger/run={state.run_id}",
    }
    with atomic_open(state.manifest, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)


def remove_stale_shards(output: str, current: set[str]) -> None:
    """The shards folder holds the latest run's shards only (the ledger keeps every run)."""
    fs, folder = filesystem(join(output, "shards"))
    if not fs.exists(folder):
        return
    for path in fs.ls(folder, detail=False):
        name = path.rsplit("/", 1)[-1]
        if name.removesuffix(MANIFEST_SUFFIX) not in current:
            fs.rm(path)
