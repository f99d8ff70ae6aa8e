"""Salted subject hashes: equal for equal people, unequal across salts, never the value."""

import os
import stat

from operators.core.subject import SALT_ENV, normalize_subject, salt, subject_hash


def test_normalisation_matches_what_a_person_would_call_the_same_value():
    assert normalize_subject("  Alice.Smith@Example.COM ") == "alice.smith@example.com"
    assert normalize_subject("+1 (555) 010-2030") == normalize_subject("15550102030") == "15550102030"
    assert normalize_subject("Jean   Dupont") == "jean dupont"


def test_hash_depends_on_salt_and_hides_the_value(monkeypatch):
    monkeypatch.setenv(SALT_ENV, "one")
    a = subject_hash("alice@example.com")
    assert a == subject_hash("ALICE@example.com") and len(a) == 32 and "alice" not in a
    monkeypatch.setenv(SALT_ENV, "two")
    assert subject_hash("alice@example.com") != a


def test_local_salt_is_created_once_private(monkeypatch, tmp_path):
    monkeypatch.delenv(SALT_ENV, raising=False)
    monkeypatch.setenv("ASSAY_CACHE", str(tmp_path))
    first = salt()
    assert first == salt() and len(first) == 64
    assert stat.S_IMODE(os.stat(tmp_path / "pii-salt").st_mode) == 0o600
