"""The architecture's rules, checked in the fast suite: layer contracts, no import cycles, no torch under operators,
and operators found through the ``assay.operators`` entry-point group."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

from operators.core import registry
from operators.core.base import Operator

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("operators", "filters", "synth", "lineage", "pipelines")


def test_import_contracts_hold():
    """`lint-imports` with the contracts in pyproject.toml (layers, Dagster, torch, sibling cycles)."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), function-level imports included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph.find_modules_directly_imported_by(module)):
            if other not in graph.modules:
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_two_modules_import_each_other():
    graph = grimp.build_graph(*PACKAGES)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.build_graph(*PACKAGES)
    graph.add_import(importer="operators.core.io", imported="pipelines.run.pipeline")
    assert any("operators.core.io" in c and "pipelines.run.pipeline" in c for c in _cycles(graph))


def test_importing_every_operators_module_does_not_import_torch():
    modules = sorted(m for m in grimp.build_graph("operators").modules if not m.endswith("__main__"))
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('torch' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "False"
    # ...while a module of the training feed does import it: the check can tell.
    done = subprocess.run([sys.executable, "-c", "import sys, pipelines.training; print('torch' in sys.modules)"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.stdout.strip() == "True"


# ---------------------------------------------------------------- operators as entry points


def _distribution(folder: Path, name: str, entries: dict[str, str], module: str = "", source: str = "") -> None:
    """An installed distribution on disk: a ``.dist-info`` with ``entry_points.txt``, and its module."""
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n{lines}\n")
    if module:
        (folder / f"{module}.py").write_text(textwrap.dedent(source))


SHOUT = """
    import pyarrow as pa

    from operators.core.base import Mapper


    class Shout(Mapper):
        name = "shout"

        def transform(self, texts):
            return [t.upper() for t in texts]
"""


@pytest.fixture
def fresh_registry(monkeypatch, tmp_path):
    """The registry as a new process sees it, with ``tmp_path`` on sys.path for distributions made there."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS", None)
    monkeypatch.setattr(registry, "_REGISTRY", {})
    return tmp_path


def test_a_third_party_package_adds_an_operator_through_its_entry_point(fresh_registry):
    _distribution(fresh_registry, "assay_shout", {"shout": "assay_shout_ops:Shout"}, "assay_shout_ops", SHOUT)
    assert "shout" in registry.names() and "normalize" in registry.names()
    cls = registry.get("shout")
    assert issubclass(cls, Operator) and cls.__module__ == "assay_shout_ops"
    from tests.conftest import make_table

    assert cls()(make_table(["quiet words"])).column("text").to_pylist() == ["QUIET WORDS"]


def test_built_ins_are_loaded_one_module_at_a_time(fresh_registry):
    code = (
        "import sys\nfrom operators.core import registry\nregistry.get('normalize')\n"
        "print('filters.pii' in sys.modules, 'operators.text.normalize' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.stdout.strip() == "False True", done.stderr[-2000:]


def test_a_name_registered_twice_is_an_error(fresh_registry):
    _distribution(fresh_registry, "assay_clash", {"normalize": "assay_clash_ops:Shout"}, "assay_clash_ops", SHOUT)
    with pytest.raises(registry.DuplicateOperatorError, match="'normalize' is registered twice"):
        registry.names()


def test_registering_a_class_under_a_taken_name_is_an_error(fresh_registry):
    class OtherNormalize(Operator):
        name = "normalize"

        def process(self, table):
            return table

    with pytest.raises(registry.DuplicateOperatorError, match="registered twice"):
        registry.register(OtherNormalize)
