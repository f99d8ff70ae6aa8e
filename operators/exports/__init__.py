"""Exports: an output folder's shards in the formats training frameworks read natively.

* ``megatron`` (:mod:`.megatron`): Megatron-Core's indexed dataset, ``PREFIX.bin``
  + ``PREFIX.idx`` (one sequence per document, EOS included), plus
  ``PREFIX.ids.parquet`` (the record id of each document, in order: lineage for a
  document index).
* ``mds`` (:mod:`.mds`): MosaicML streaming shards (``index.json`` + ``shard.*.mds``) in a folder.
* ``jsonl`` / ``parquet`` (:mod:`.text`): plain text with ids, for tools that want text.

:func:`export` writes an output folder's current dataset in one of them
(:mod:`.dataset`), with a sidecar beside it (:mod:`.files`), and lists it in
the folder's ``exports/index.json`` (:mod:`.index`), so erasure finds every
export and rewrites it without the erased records (:func:`rewrite_without`:
read back, filter, written again by the same writer).
"""

from operators.exports.base import BATCH_ROWS, ExportError
from operators.exports.dataset import export
from operators.exports.files import (
    format_module,
    formats,
    read_ids,
    read_sidecar,
    rewrite_without,
    sidecar_path,
    write_export,
)
from operators.exports.index import INDEX, read_index, register

__all__ = [
    "BATCH_ROWS", "INDEX", "ExportError", "export", "format_module", "formats", "read_ids", "read_index",
    "read_sidecar", "register", "rewrite_without", "sidecar_path", "write_export",
]
