"""The Dagster code location ``workspace.yaml`` names; the definitions live in :mod:`pipelines.orchestrate`."""

from pipelines.orchestrate.definitions import defs

__all__ = ["defs"]
