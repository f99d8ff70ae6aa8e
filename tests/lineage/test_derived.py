"""Derived data goes too: forget empties the incremental fuzzy index; a store a package adds is walked as well."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lineage import audit, erase
from lineage.verify import verify
from operators.core.derived import DerivedStore, Erased, Found, register_store, stores
from operators.execution.executor import LocalExecutor
from operators.sample_corpus import generate_with_origins
from pipelines.recipe import load
from tests.conftest import write_jsonl
from tests.lineage.test_audit import ledger_rows, lineage

TEXTS = [r["text"] for r, _ in generate_with_origins(400, seed=5) if r["kind"] == "clean" and r["lang"] == "en"]
ORIGINAL = next(t for t in TEXTS if len(t.split()) > 80)
OTHERS = [t for t in TEXTS if t != ORIGINAL][:6]


def near_copy(text: str, n: int) -> str:
    words = text.split()
    return " ".join(w if i != 7 + n else f"variant{n}" for i, w in enumerate(words))


def run(folder, name: str, records: list[dict], output) -> Any:
    corpus = write_jsonl(folder / f"{name}.jsonl", records)
    recipe = folder / f"{name}.yaml"
    recipe.write_text(
        f"name: inc\nsources:\n  - path: {corpus}\n    name: {name}\nstages:\n  - op: normalize\n"
        "  - op: fuzzy_dedup\n    params: {threshold: 0.7, incremental: true}\n"
        f"tokenizer: smollm2\noutput: {output}\nrows_per_part: 100\n"
    )
    return load(recipe).pipeline().run(LocalExecutor())


def index_ids(out) -> set[str]:
    return {i for f in (out / "_index" / "fuzzy_dedup").rglob("bands/**/*.parquet") for i in pq.read_table(f).column("id").to_pylist()}


@pytest.fixture
def incremental(tmp_path):
    out = tmp_path / "out"
    first = run(tmp_path, "one", [{"text": ORIGINAL}, {"text": near_copy(ORIGINAL, 1)}, *({"text": t} for t in OTHERS)], out)
    assert sum(first.drop_reasons.values()) == 1  # the near copy
    rows = {r["id"]: r for r in ledger_rows(out)}
    original = next(i for i, r in rows.items() if r["locator"] == "line:1")
    assert original in index_ids(out)
    return tmp_path, out, original


def test_forget_removes_a_record_from_the_fuzzy_index_and_its_near_copies_are_no_longer_dropped_for_it(incremental):
    folder, out, original = incremental
    code, output = lineage("forget", "--record", original, "--no-near-duplicates", "--dry-run", "--json", "-o", str(out))
    assert code == 0 and "fuzzy_dedup_index" in json.loads(output)["derived"]  # the plan lists the store
    saved = folder / "index-backup"
    shutil.copytree(out / "_index", saved)

    code, output = lineage("forget", "--record", original, "--no-near-duplicates", "--reason", "r", "--yes", "--json",
                           "-o", str(out))
    assert code == 0, output
    assert json.loads(output)["result"]["derived"]["fuzzy_dedup_index"]
    assert original not in index_ids(out) and index_ids(out)  # the others stay
    assert verify(str(out))["passed"]

    # A later run (a new batch) with another near copy of the erased document: not a duplicate of a record gone.
    later = run(folder, "two", [{"text": near_copy(ORIGINAL, 2)}], out)
    reasons = [r["reason"] for r in ledger_rows(out) if r["run_id"] == later.run_id]
    assert not any(original in (r or "") for r in reasons)

    # The index restored from a backup: verify finds the erased record in it.
    shutil.rmtree(out / "_index")
    shutil.copytree(saved, out / "_index")
    found = verify(str(out))
    assert not found["passed"] and any("_index/fuzzy_dedup" in f["path"] and f["value"] == original for f in found["found"])


class Keyed(DerivedStore):
    """A store a package would add: one JSON file of record id -> vector under the output."""

    name = "test_vectors"

    def locations(self, output: str, manifest: dict[str, Any]) -> list[str]:
        path = f"{output}/vectors.json"
        return [path] if os.path.exists(path) else []

    def find(self, output: str, manifest: dict[str, Any], erased: Erased) -> list[Found]:
        return [Found(p, "id", i) for p in self.locations(output, manifest)
                for i in json.loads(Path(p).read_text()) if i in erased.ids]

    def remove(self, output: str, manifest: dict[str, Any], erased: Erased) -> dict[str, int]:
        removed = {}
        for p in self.locations(output, manifest):
            data = json.loads(Path(p).read_text())
            kept = {k: v for k, v in data.items() if k not in erased.ids}
            if len(kept) != len(data):
                Path(p).write_text(json.dumps(kept))
                removed[p] = len(data) - len(kept)
        return removed


def test_a_registered_store_is_emptied_by_forget_and_checked_by_verify(demo_copy, monkeypatch):
    from operators.core import derived

    monkeypatch.setattr(derived, "_EXTRA", {})
    register_store(Keyed())
    assert "test_vectors" in {s.name for s in stores()}
    out = demo_copy.output
    ids = [r["id"] for r in ledger_rows(out) if r["status"] == "kept"][:3]
    (out / "vectors.json").write_text(json.dumps({i: [0.1, 0.2] for i in ids}))
    erase.forget(str(out), audit.Selectors.build(records=[ids[0]]), reason="r", near_duplicates=False)
    assert set(json.loads((out / "vectors.json").read_text())) == set(ids[1:])  # only the erased one went
    assert verify(str(out))["passed"]
    (out / "vectors.json").write_text(json.dumps({i: [0.1] for i in ids}))  # a stale copy comes back
    assert [f["value"] for f in verify(str(out))["found"]] == [ids[0]]
