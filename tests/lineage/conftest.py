"""A real demo run (300 sample documents, three shards) shared by the lineage tests.

The run is made once per session into a template folder; a test that changes
an output (erasure) works on its own copy (:func:`demo_copy`).

PII hashes: the PII scrubber (issue 5) fills the ledger's ``pii`` column. When
it is not registered, the run adds a minimal stand-in stage that finds e-mail
addresses and stores their salted :func:`operators.core.subject.subject_hash`, the
same contract, so ``find --subject`` and ``forget --subject`` are tested on a
real run either way.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from lineage.schema import PASSTHROUGH
from operators.core.base import Operator
from operators.core.schema import set_column
from operators.core.subject import subject_hash

TEST_SALT = "assay-tests-salt"
DOCS = 300
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class EmailHashes(Operator):
    """Stand-in for the PII scrubber: e-mail spans and their salted hashes in ``pii``."""

    name = "test_email_hashes"
    version = "0"

    def process(self, table: pa.Table) -> pa.Table:
        findings = []
        for text in table.column("text").to_pylist():
            found = [
                {"type": "EMAIL_ADDRESS", "start": m.start(), "end": m.end(), "hash": subject_hash(m.group())}
                for m in EMAIL.finditer(text or "")
            ]
            findings.append(found or None)
        return set_column(table, "pii", pa.array(findings, PASSTHROUGH["pii"]))


def _pii_stage() -> Operator:
    from operators.core import registry

    try:
        return registry.get("pii")()
    except registry.UnknownOperatorError:
        return EmailHashes()


@dataclass
class DemoRun:
    output: Path
    result: object
    pipeline: object
    corpus: Path


@pytest.fixture(autouse=True)
def _salt(monkeypatch):
    monkeypatch.setenv("ASSAY_PII_SALT", TEST_SALT)
    monkeypatch.setenv("ASSAY_OPENLINEAGE", "off")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> DemoRun:
    from operators.execution.executor import LocalExecutor
    from operators.sample_corpus import write_jsonl
    from pipelines.recipe import load
    from pipelines.run import Pipeline

    base = tmp_path_factory.mktemp("lineage-demo")
    corpus = base / "sample" / "corpus.jsonl.gz"
    corpus.parent.mkdir(parents=True)
    write_jsonl(corpus, DOCS, 0)
    env = {
        "ASSAY_PII_SALT": TEST_SALT,
        "ASSAY_CACHE": os.environ.get("ASSAY_TEST_CACHE", str(tmp_path_factory.getbasetemp() / "assay-cache")),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        loaded = load("demo", overrides={"sources": [{"path": str(corpus), "name": "sample"}], "output": str(base / "out")})
        p = loaded.pipeline()
        pipeline = Pipeline(
            sources=p.sources,
            # PII before dedup, as the design orders it (unless the recipe already scrubs PII).
            stages=p.stages if any("pii" in op.name for op in p.stages) else [*p.stages[:-1], _pii_stage(), p.stages[-1]],
            tokenizer=p.tokenizer,
            output=p.output,
            rows_per_part=100,
            name="demo",
        )
        result = pipeline.run(LocalExecutor())
    assert result.balanced and len(result.shards) == 3
    return DemoRun(output=base / "out", result=result, pipeline=pipeline, corpus=corpus)


@pytest.fixture
def demo(demo_template) -> DemoRun:
    """The shared run, read-only."""
    return demo_template


@pytest.fixture
def demo_copy(demo_template, tmp_path) -> DemoRun:
    """A private copy of the run's output, to change."""
    out = tmp_path / "out"
    shutil.copytree(demo_template.output, out)
    return DemoRun(output=out, result=demo_template.result, pipeline=demo_template.pipeline, corpus=demo_template.corpus)
