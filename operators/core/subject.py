"""Salted hashes of personal values: what the ledger stores instead of the values.

PII scrubbing records ``subject_hash(value)`` for every finding; a deletion
request for a person (``assay lineage find --subject alice@example.com``)
hashes the given value the same way and matches. The salt is a secret: with it,
anyone can test whether a guessed value occurs in the data; without it, the
hashes say nothing.

The salt comes from ``$ASSAY_PII_SALT``. When that is unset (a laptop demo),
a random salt is created once in ``$ASSAY_CACHE/pii-salt`` (mode 0600) and
reused, so hashes stay comparable across runs on that machine; production
deployments set the variable from their secret store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from functools import lru_cache
from pathlib import Path

from operators.core.io import cache_dir

SALT_ENV = "ASSAY_PII_SALT"
_PUNCT = re.compile(r"[\s\-().+/]")


def normalize_subject(value: str) -> str:
    """The form that is hashed: NFKC, case-folded, trimmed, inner whitespace collapsed.

    Values that are digits once spaces and phone punctuation are removed
    (phone, card, SSN) are reduced to those digits, so ``+1 (555) 010-2030`` and
    ``1 555 010 2030`` hash alike.
    """
    text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
    digits = _PUNCT.sub("", text)
    return digits if digits.isdigit() else text


@lru_cache(maxsize=4)
def _local_salt(path: str) -> bytes:
    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return file.read_text().strip().encode()


def salt() -> bytes:
    """The secret salt: ``$ASSAY_PII_SALT``, else the machine-local one (created on first use)."""
    value = os.environ.get(SALT_ENV)
    if value:
        return value.encode()
    return _local_salt(str(cache_dir() / "pii-salt"))


def subject_hash(value: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 of the normalised value under the salt, as 32 hex characters."""
    digest = hmac.new(key if key is not None else salt(), normalize_subject(value).encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
