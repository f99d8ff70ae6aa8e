"""Operators registered by name; recipes refer to operators by that name.

Operators are found through the ``assay.operators`` entry-point group: each
entry maps a name to ``"module:Class"``. assay's own operators are declared in
its ``pyproject.toml``; a user's package adds operators the same way, without
editing assay::

    [project.entry-points."assay.operators"]
    my_filter = "my_package.filters:MyFilter"

Entries are read on the first lookup, and a module is imported only when its
operator is asked for (``assay operators`` asks for all of them), so the CLI and
the Dagster code location load fast. :func:`register` adds a class in-process
(a notebook, a test). Registering a name twice is an error (as in Dolma's
tagger registry): a recipe must never silently get another operator than the
one its author meant.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from operators.core.base import Operator

#: The entry-point group operators are registered under.
GROUP = "assay.operators"

_REGISTRY: dict[str, type[Operator]] = {}
_ENTRY_POINTS: dict[str, EntryPoint] | None = None


class UnknownOperatorError(KeyError):
    """A recipe named an operator that is not registered."""


class DuplicateOperatorError(ValueError):
    """Two operators claim the same name."""


def _where(obj: type | EntryPoint) -> str:
    if isinstance(obj, EntryPoint):
        dist = f" (package {obj.dist.name})" if obj.dist is not None else ""
        return f"{obj.value}{dist}"
    return f"{obj.__module__}:{obj.__qualname__}"


def _conflict(name: str, first: type | EntryPoint, second: type | EntryPoint) -> DuplicateOperatorError:
    return DuplicateOperatorError(
        f"operator name {name!r} is registered twice, by {_where(first)} and by {_where(second)}; "
        f"choose another name or bump it (e.g. {name}_v2)"
    )


def _entry_points() -> dict[str, EntryPoint]:
    global _ENTRY_POINTS
    if _ENTRY_POINTS is None:
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=GROUP):
            other = found.get(ep.name)
            # An editable install can list the same distribution twice: only a different target conflicts.
            if other is not None and other.value != ep.value:
                raise _conflict(ep.name, other, ep)
            found[ep.name] = ep
        _ENTRY_POINTS = found
    return _ENTRY_POINTS


def register(cls: type[Operator]) -> type[Operator]:
    """Class decorator: register ``cls`` under ``cls.name`` in this process."""
    name = getattr(cls, "name", None)
    if not name:
        raise TypeError(f"{cls.__qualname__} has no 'name' to register under")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise _conflict(name, existing, cls)
    ep = _entry_points().get(name)
    if existing is None and ep is not None and ep.value != _where(cls):
        raise _conflict(name, ep, cls)
    _REGISTRY[name] = cls
    return cls


def _load(name: str) -> type[Operator] | None:
    ep = _entry_points().get(name)
    if ep is None:
        return _REGISTRY.get(name)
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Operator)):
        raise TypeError(f"entry point {name!r} ({ep.value}) in group {GROUP} is not an assay Operator class")
    if getattr(cls, "name", None) != name:
        raise TypeError(f"entry point {name!r} ({ep.value}) names a class registered as {getattr(cls, 'name', None)!r}")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise _conflict(name, existing, ep)
    _REGISTRY[name] = cls
    return cls


def get(name: str) -> type[Operator]:
    """The operator class registered as ``name``."""
    cls = _REGISTRY.get(name) or _load(name)
    if cls is None:
        raise UnknownOperatorError(f"unknown operator {name!r}; registered operators: {', '.join(names())}") from None
    return cls


def names() -> list[str]:
    """Every registered name (without importing a module)."""
    return sorted(set(_entry_points()) | set(_REGISTRY))

