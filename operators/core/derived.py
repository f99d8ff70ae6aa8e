"""Derived stores: what an output keeps *about* its records besides shards, rejects and the ledger.

An incremental dedup index keeps each record's signature and id, a synthesis
call cache keeps completions made from a record's text, an embeddings cache a
vector per record, an export registry copies of shards. When a record is
erased, these must lose it too, and ``assay lineage verify`` must be able to
look in them. Each such store is a :class:`DerivedStore` registered in the
``assay.derived_stores`` entry-point group (name -> ``"module:Class"``), like
operators, so a package that adds a store (an embeddings cache, an export
registry) plugs into ``forget`` and ``verify`` without editing them::

    [project.entry-points."assay.derived_stores"]
    my_vectors = "my_package.vectors:VectorStore"

A store sees the output folder and its dataset manifest (``manifest.json``,
whose ``stages`` hold each operator's config), finds its own files, and works
on an :class:`Erased` set: record ids, content hashes, salted subject hashes,
and keys of its own that it derived from the erased records when the erasure
was planned (:meth:`DerivedStore.keys`; recorded in the tombstone as
``<store>:<key>``, so ``verify`` can still check after the text is gone).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

#: The entry-point group derived stores are registered under.
GROUP = "assay.derived_stores"


@dataclass(frozen=True)
class Erased:
    """What must not be in a store.

    Attributes:
        ids: erased record ids.
        content_hashes: content hashes of the erased records.
        subject_hashes: salted hashes of erased people's values.
        keys: store keys (``<store>:<key>``) recorded when the erasure was planned.
        replacements: an erased survivor's id -> the record promoted in its place
            (``forget --no-near-duplicates``), for stores that point at survivors.
    """

    ids: frozenset[str] = frozenset()
    content_hashes: frozenset[str] = frozenset()
    subject_hashes: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()
    replacements: dict[str, str] = field(default_factory=dict)

    def keys_of(self, store: str) -> set[str]:
        """This store's own keys, without the ``<store>:`` prefix."""
        prefix = f"{store}:"
        return {k.removeprefix(prefix) for k in self.keys if k.startswith(prefix)}


@dataclass(frozen=True)
class Found:
    """An erased value found in a store: where, and which value of which kind."""

    path: str
    kind: str  # id | content_hash | subject_hash | key
    value: str


class DerivedStore(ABC):
    """A persisted index or cache that holds data derived from individual records.

    Attributes:
        name: registry name; prefixes the store's keys in tombstones.
        description: what it holds, for the erasure plan.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def locations(self, output: str, manifest: dict[str, Any]) -> list[str]:
        """The files or folders this store keeps for ``output`` (existing ones only)."""

    def keys(self, output: str, manifest: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
        """Keys of this store's entries derived from ``records`` (ledger rows of the records being erased).

        Called by the erasure plan; the keys are recorded in the tombstone. Default: none.
        """
        return []

    @abstractmethod
    def find(self, output: str, manifest: dict[str, Any], erased: Erased) -> list[Found]:
        """Every erased value still in the store."""

    @abstractmethod
    def remove(self, output: str, manifest: dict[str, Any], erased: Erased) -> dict[str, int]:
        """Remove what ``erased`` names (rewriting each file atomically); entries removed per file.

        Must be idempotent: an interrupted erasure is run again.
        """


_EXTRA: dict[str, DerivedStore] = {}


def register_store(store: DerivedStore) -> DerivedStore:
    """Add a store in this process (a test, a notebook); the entry-point group is the way for packages."""
    _EXTRA[store.name] = store
    return store


def stores() -> list[DerivedStore]:
    """Every registered derived store, by name."""
    found: dict[str, DerivedStore] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue  # an editable install can list a distribution twice
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, DerivedStore)):
            raise TypeError(f"entry point {ep.name!r} ({ep.value}) in group {GROUP} is not a DerivedStore class")
        found[ep.name] = cls()
    found.update(_EXTRA)
    return [found[name] for name in sorted(found)]


def manifest_stages(manifest: dict[str, Any], name: str) -> Iterable[dict[str, Any]]:
    """The ``describe()`` of each stage called ``name`` in a dataset manifest."""
    return (s for s in manifest.get("stages", []) if s.get("name") == name)
