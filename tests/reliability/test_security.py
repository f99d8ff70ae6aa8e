"""Security limits: recipes stay inside the configured roots; the UI binds to loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.recipe import ROOTS_ENV, RecipeError, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.jsonl").write_text('{"text": "hello"}\n')
    (tmp_path / "secret.jsonl").write_text('{"text": "outside"}\n')
    monkeypatch.setenv(ROOTS_ENV, str(root))
    return root


def _recipe(source: str, output: str) -> dict:
    return {"name": "t", "sources": [{"path": source}], "stages": [{"op": "normalize"}], "output": output}


def test_paths_inside_the_root_load(data_root):
    loaded = load(_recipe(str(data_root / "in" / "*.jsonl"), str(data_root / "out")))
    assert loaded.recipe.output == str(data_root / "out")


@pytest.mark.parametrize(
    "source, output",
    [
        ("{root}/../secret.jsonl", "{root}/out"),          # '..' out of the root
        ("{root}/in/a.jsonl", "{root}/../elsewhere"),      # writing outside
        ("/etc/passwd", "{root}/out"),                     # an absolute path elsewhere
        ("{root}/link/secret.jsonl", "{root}/out"),        # a symbolic link pointing out
        ("{root}-sibling/a.jsonl", "{root}/out"),          # a prefix that is not a subfolder
    ],
)
def test_paths_escaping_the_root_are_refused(data_root, source, output):
    (data_root / "link").symlink_to(data_root.parent)
    (data_root.parent / "data-sibling").mkdir()
    (data_root.parent / "data-sibling" / "a.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(RecipeError, match="outside the allowed roots"):
        load(_recipe(source.format(root=data_root), output.format(root=data_root)))


def test_no_roots_configured_means_no_restriction(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    assert load(_recipe(str(tmp_path / "a.jsonl"), str(tmp_path / "out"))).recipe.sources


def test_url_roots_compare_normalised_paths(monkeypatch):
    monkeypatch.setenv(ROOTS_ENV, "s3://corpora/team-a")
    with pytest.raises(RecipeError, match="outside the allowed roots"):
        load(_recipe("s3://corpora/team-a/../team-b/x.jsonl", "s3://corpora/team-a/out"), check_paths=False)
    assert load(_recipe("s3://corpora/team-a/x.jsonl", "s3://corpora/team-a/out"), check_paths=False)


def test_the_dagster_ui_binds_to_loopback():
    makefile = (ROOT / "Makefile").read_text()
    ui = [line for line in makefile.splitlines() if "dagster dev" in line and not line.lstrip().startswith("#")]
    assert ui and all("-h 127.0.0.1" in line for line in ui)
    # `dagster dev -w workspace.yaml` without -h: the pinned Dagster's own default must be loopback too.
    from dagster_webserver.cli import DEFAULT_WEBSERVER_HOST

    assert DEFAULT_WEBSERVER_HOST == "127.0.0.1"


@pytest.mark.slow
def test_the_pii_salt_and_planted_values_never_reach_outputs_or_logs(tmp_path):
    import subprocess
    import sys

    salt = "salt-4c1f9e0b7d2a-never-print-me"
    email = "jane.roe.planted@example.org"
    (tmp_path / "in.jsonl").write_text(
        '{"text": "Write to ' + email + ' about the garden project; the volunteers meet on Saturdays."}\n'
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f'{{"name": "salt", "sources": [{{"path": "{tmp_path / "in.jsonl"}"}}], '
        f'"stages": [{{"op": "normalize"}}, {{"op": "pii"}}], "output": "{tmp_path / "out"}"}}'
    )
    env = {**os.environ, "ASSAY_PII_SALT": salt}
    done = subprocess.run([str(Path(sys.executable).with_name("assay")), "-v", "run", str(recipe), "--local"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert salt not in done.stdout + done.stderr and email not in done.stdout + done.stderr
    import duckdb

    found = duckdb.connect().execute(
        f"SELECT count(*) FROM (SELECT unnest(pii) AS f FROM read_parquet('{tmp_path}/out/ledger/*/*.parquet')) "
        "WHERE f.type = 'EMAIL_ADDRESS' AND length(f.hash) = 32"
    ).fetchone()[0]
    assert found == 1  # the value was found and hashed with the salt: there was something to leak
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert salt.encode() not in data, path
        assert email.encode() not in data, path
