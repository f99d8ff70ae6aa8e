"""semantic_dedup's kept embeddings as a derived store: an erased record's vector leaves with it.

With ``cache_embeddings`` (the default) the stage keeps each part's vectors
beside the output (``<output>/_embeddings/<model key>/<digest>.parquet``: id,
float16 embedding), so a later run over the same text embeds nothing again. A
vector is data derived from the record's text. A file is keyed by the digest of
all its rows' ids and texts, so one with a row taken out would never be read
again: the whole file goes (the other rows of that part are embedded again by
the next run that meets them).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from operators.core.derived import DerivedStore, Erased, Found, manifest_stages
from operators.core.io import exists, filesystem, is_absolute, is_local, join, read_parquet, remove

_NAME = "semantic_dedup"


def _files(folder: str) -> list[str]:
    fs, path = filesystem(folder)
    if not fs.exists(path):
        return []
    found = sorted(p for p in fs.find(path) if p.endswith(".parquet") and ".tmp-" not in p)
    return found if is_local(folder) else [fs.unstrip_protocol(p) for p in found]  # find drops a URL's scheme


class EmbeddingsStore(DerivedStore):
    """The embeddings semantic_dedup keeps for later runs (``<output>/_embeddings`` or the stage's ``embeddings_path``)."""

    name = "semantic_dedup_embeddings"
    description = "sentence embeddings of earlier runs' records (semantic_dedup cache_embeddings)"

    def locations(self, output: str, manifest: dict[str, Any]) -> list[str]:
        paths = ["_embeddings"]
        paths += [s["config"]["embeddings_path"] for s in manifest_stages(manifest, _NAME)
                  if s.get("config", {}).get("embeddings_path")]
        return [folder for folder in dict.fromkeys(p if is_absolute(p) else join(output, p) for p in paths)
                if exists(folder) and _files(folder)]

    def _hits(self, output: str, manifest: dict[str, Any], erased: Erased) -> list[tuple[str, list[str]]]:
        ids = pa.array(sorted(erased.ids), pa.string())
        hits = []
        for folder in self.locations(output, manifest):
            for path in _files(folder):
                column = read_parquet(path, columns=["id"]).column("id")
                named = sorted(set(column.filter(pc.is_in(column, value_set=ids)).to_pylist()))
                if named:
                    hits.append((path, named))
        return hits

    def find(self, output: str, manifest: dict[str, Any], erased: Erased) -> list[Found]:
        return [Found(path, "id", i) for path, named in self._hits(output, manifest, erased) for i in named]

    def remove(self, output: str, manifest: dict[str, Any], erased: Erased) -> dict[str, int]:
        removed = {}
        for path, named in self._hits(output, manifest, erased):
            remove(path)
            removed[path] = len(named)
        return removed
