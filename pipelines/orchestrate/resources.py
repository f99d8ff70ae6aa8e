"""Dagster resources: where runs execute (Ray) and where their outputs go (storage)."""

from __future__ import annotations

import os
import re

import dagster as dg
from pydantic import Field

from operators.core.io import is_url, join
from operators.execution.executor import Executor, Progress, describe_executor, make_executor

DEFAULT_STORAGE = "./workspace"


class RayResource(dg.ConfigurableResource):
    """The executor that runs a recipe's phases.

    One machine: leave ``address`` empty and Ray starts in the run's process.
    A cluster: set ``address`` (or ``RAY_ADDRESS``). ``local`` runs everything
    in-process without Ray (tests, tiny inputs, debugging).
    """

    address: str | None = Field(None, description="Ray cluster address; empty: RAY_ADDRESS, else a local Ray.")
    local: bool = Field(False, description="Run in the Dagster process without Ray.")
    concurrency: int | None = Field(None, ge=1, description="Parallel workers per stage; empty: the cluster's CPUs.")

    def executor(self, progress: Progress | None = None) -> Executor:
        return make_executor(
            local=self.local,
            address=self.address or os.environ.get("RAY_ADDRESS") or None,
            concurrency=self.concurrency,
            progress=progress,
        )

    def describe(self) -> str:
        return describe_executor(self.local, self.address)


class StorageResource(dg.ConfigurableResource):
    """Where recipe outputs (shards, ledger, rejects) and landed source files live.

    Each recipe writes under ``<root>/<recipe>/``; the landing sensor watches
    ``<landing>/<recipe>/``.
    """

    root: str | None = Field(
        None, description=f"Folder or fsspec URL for outputs; empty: $ASSAY_STORAGE, else {DEFAULT_STORAGE}."
    )
    landing: str | None = Field(
        None, description="Folder where new source files land, one subfolder per recipe; empty: $ASSAY_LANDING, else <root>/landing."
    )

    def resolved_root(self) -> str:
        root = self.root or os.environ.get("ASSAY_STORAGE") or DEFAULT_STORAGE
        return root if is_url(root) else os.path.abspath(root)

    def recipe_output(self, recipe: str) -> str:
        return join(self.resolved_root(), recipe)

    def batch_output(self, recipe: str, batch: str) -> str:
        """Output folder of one landed batch (a partition of the landing job)."""
        return join(self.recipe_output(recipe), "batches", safe_name(batch))

    def landing_folder(self, recipe: str) -> str:
        landing = self.landing or os.environ.get("ASSAY_LANDING") or join(self.resolved_root(), "landing")
        if not is_url(landing):
            landing = os.path.abspath(landing)
        return join(landing, recipe)


def safe_name(value: str) -> str:
    """``value`` with every character Dagster names (and folder names) dislike replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", value)
