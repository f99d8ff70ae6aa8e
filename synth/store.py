"""A synthesis work folder as a derived store: an erased synthetic record's task leaves its caches.

``assay synth`` keeps, under the output (``<output>/<work_dir>/``), the call
cache ``calls.jsonl`` (every completion, and which tasks' text fed its prompt
or came out of it) and the task pool ``pool.jsonl``. A training record made
from task T carries T's id first in its ``parents`` (:func:`synth.engine.training_record`),
so erasing the record removes: T from the pool, and every cached call whose
prompt held T's text (later rounds' demonstrations, T's instance and
classification calls) or whose completion produced it. The records file is the
recipe's source and is left as it is: the next run drops the erased record as
it reads it, and the next ``assay synth`` rewrites it from the pool.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from operators.core.derived import DerivedStore, Erased, Found
from operators.core.io import is_local, local_path
from synth.pool import Task, read_jsonl, write_jsonl_atomic
from synth.runner import CallCache

#: How deep under the output a synthesis work folder is looked for (``<output>/synth/calls.jsonl`` is depth 1).
_DEPTH = 3
_SKIP = {"shards", "ledger", "rejects", "_work", "_index", "logs", "openlineage"}


class CallCacheStore(DerivedStore):
    """The call cache and task pool of each synthesis work folder under the output."""

    name = "synth_calls"
    description = "completions cached by `assay synth` and its task pool (calls.jsonl, pool.jsonl)"

    def locations(self, output: str, manifest: dict[str, Any]) -> list[str]:
        if not is_local(output):
            return []  # `assay synth` writes its work folder on the local disk only
        root = Path(local_path(output))
        found = []
        for folder, dirs, files in os.walk(root):
            depth = len(Path(folder).relative_to(root).parts)
            dirs[:] = [d for d in dirs if d not in _SKIP and depth < _DEPTH]
            if "calls.jsonl" in files or "pool.jsonl" in files:
                found.append(folder)
        return sorted(found)

    def keys(self, output: str, manifest: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
        # A synthetic record's first parent is its own task (the tasks in the prompt follow).
        return sorted({r["parents"][0] for r in records if r.get("generator") and r.get("parents")})

    def find(self, output: str, manifest: dict[str, Any], erased: Erased) -> list[Found]:
        tasks = erased.keys_of(self.name)
        found: list[Found] = []
        if not tasks:
            return found
        for folder in self.locations(output, manifest):
            calls = os.path.join(folder, "calls.jsonl")
            for entry in CallCache(calls).entries() if os.path.exists(calls) else []:
                found += [Found(calls, "key", f"{self.name}:{t}") for t in sorted(tasks & set(entry.get("tasks", [])))]
            pool = os.path.join(folder, "pool.jsonl")
            found += [Found(pool, "key", f"{self.name}:{t['id']}") for t in read_jsonl(Path(pool)) if t.get("id") in tasks]
        return found

    def remove(self, output: str, manifest: dict[str, Any], erased: Erased) -> dict[str, int]:
        tasks = erased.keys_of(self.name)
        removed: dict[str, int] = {}
        if not tasks:
            return removed
        for folder in self.locations(output, manifest):
            pool_path = Path(folder) / "pool.jsonl"
            pool = [Task.from_dict(d) for d in read_jsonl(pool_path)]
            gone = [t for t in pool if t.id in tasks]
            calls_path = Path(folder) / "calls.jsonl"
            if calls_path.exists():
                cache = CallCache(calls_path)
                # A cache written before calls named their tasks: the call that produced a task holds its text.
                instructions = [" ".join(t.instruction.lower().split()) for t in gone]
                keys = {
                    e["key"] for e in cache.entries()
                    if tasks & set(e.get("tasks", []))
                    or any(i and i in " ".join(e["text"].lower().split()) for i in instructions)
                }
                if n := cache.remove(keys):
                    removed[str(calls_path)] = n
            if gone:
                write_jsonl_atomic(pool_path, (t.to_dict() for t in pool if t.id not in tasks))
                removed[str(pool_path)] = len(gone)
        return removed

