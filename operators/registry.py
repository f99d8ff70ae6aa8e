"""Operators registered by name; recipes refer to operators by that name.

Registering a name twice is an error (as in Dolma's tagger registry): a recipe
must never silently get a different operator than the one its author meant.
"""

from __future__ import annotations

import importlib

from operators.base import Operator

_REGISTRY: dict[str, type[Operator]] = {}

# Modules whose import registers the built-in operators. Imported on first
# lookup so that the CLI and the Dagster code location load fast.
_BUILTIN_MODULES = (
    "operators.normalize",
    "operators.exact_dedup",
    "operators.fuzzy_dedup",
    "filters.lang_id",
    "filters.quality",
    "filters.classifier",
    "filters.toxicity",
    "filters.llm_judge",
    "filters.image_hygiene",
    "filters.clip",
    "synth.operator",
    "filters.pii",
)


class UnknownOperatorError(KeyError):
    """A recipe named an operator that is not registered."""


def register(cls: type[Operator]) -> type[Operator]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not name:
        raise TypeError(f"{cls.__qualname__} has no 'name' to register under")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"operator name {name!r} is already registered by "
            f"{existing.__module__}.{existing.__qualname__}; choose another name or bump it (e.g. {name}_v2)"
        )
    _REGISTRY[name] = cls
    return cls


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def get(name: str) -> type[Operator]:
    """The operator class registered as ``name``."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownOperatorError(f"unknown operator {name!r}; registered operators: {known}") from None


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)
