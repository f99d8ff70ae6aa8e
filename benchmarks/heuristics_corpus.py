"""The real text the heuristics agreement benchmark runs on, in three splits.

* ``tuning``: English prose and code (linux-doc's reStructuredText, python3-doc's sources), what
  the filters were checked against while they were written.
* ``held-out``: Debian Reference in six languages (cut into sections), man pages in German,
  French, Spanish, Italian and Japanese (roff source), and assay's synthetic sample corpus. Not
  used to write the filters, but two disagreements found on it were fixed (the joined n-gram keys,
  a word split), so its figure is not blind.
* ``fresh``: built differently and looked at by nobody before its figure was taken: the Python
  packages' own long descriptions (Markdown / reStructuredText by many authors) and man pages in
  Polish, Brazilian Portuguese, Russian, Dutch, Swedish, Ukrainian, Korean and Chinese.

Debian's documentation packages are installed with apt when missing (root only).
"""

from __future__ import annotations

import glob
import gzip
import os
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APT_PACKAGES = [
    "linux-doc", "python3-doc", "debian-reference-en", "debian-reference-fr", "debian-reference-de",
    "debian-reference-es", "debian-reference-it", "debian-reference-ja",
    "manpages-de", "manpages-fr", "manpages-es", "manpages-it", "manpages-ja",
    "manpages-pl", "manpages-pt-br", "manpages-ru", "manpages-nl", "manpages-sv", "manpages-uk",
]  # fmt: skip
FRESH_MAN_LANGUAGES = ("pl", "pt_BR", "ru", "nl", "sv", "uk", "ko", "zh_CN")
SPLITS = ("tuning", "held-out", "all", "fresh")


def ensure_packages() -> None:
    missing = [p for p in APT_PACKAGES if not Path(f"/usr/share/doc/{p}").exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        print(f"not root: cannot apt-get install {' '.join(missing)}; using what is installed", file=sys.stderr)
        return
    print(f"installing {' '.join(missing)} with apt ...", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=False, capture_output=True)


def _read(path: str) -> str:
    data = gzip.decompress(Path(path).read_bytes()) if path.endswith(".gz") else Path(path).read_bytes()
    return data.decode("utf-8", "replace")


def tuning_documents() -> list[dict]:
    docs = []
    for path in sorted(glob.glob("/usr/share/doc/linux-doc*/Documentation/**/*.rst.gz", recursive=True)):
        docs.append({"id": "linux-doc:" + path.split("Documentation/", 1)[1], "text": _read(path)})
    for path in sorted(glob.glob("/usr/share/doc/python3*/html/_sources/**/*.rst.txt", recursive=True)):
        docs.append({"id": "python3-doc:" + path.split("_sources/", 1)[1], "text": _read(path)})
    return docs


def held_out_documents(sample_docs: int) -> list[dict]:
    docs = []
    heading = re.compile(r"^(?=\d+(?:\.\d+)+\. \S)", re.M)  # a numbered section heading at column 0
    for path in sorted(glob.glob("/usr/share/debian-reference/debian-reference.*.txt.gz")):
        lang = path.split(".")[-3]
        for i, section in enumerate(heading.split(_read(path))):
            if section.strip():
                docs.append({"id": f"debian-reference-{lang}:{i}", "text": section})
    for lang in ("de", "fr", "es", "it", "ja"):
        for path in sorted(glob.glob(f"/usr/share/man/{lang}/man*/*.gz")):
            docs.append({"id": f"manpages-{lang}:" + path.split(f"/man/{lang}/", 1)[1], "text": _read(path)})
    sys.path.insert(0, str(ROOT))
    from operators.sample_corpus import generate

    for record in generate(sample_docs, seed=23):
        docs.append({"id": f"sample:{record['doc_id']}", "text": record["text"]})
    return docs


def fresh_documents() -> list[dict]:
    """Text built unlike the other splits, looked at by nobody while the filters were written or fixed.

    The long descriptions of the Python packages installed beside assay (their authors' Markdown or
    reStructuredText, the body of each ``METADATA``), and man pages in languages the other splits lack.
    """
    import importlib.metadata

    docs = []
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        text = dist.metadata.get_payload() or dist.metadata.get("Description") or ""
        if text.strip():
            docs.append({"id": f"pypi-description:{dist.metadata['Name']}", "text": text})
    for lang in FRESH_MAN_LANGUAGES:
        for path in sorted(glob.glob(f"/usr/share/man/{lang}/man*/*.gz")):
            docs.append({"id": f"manpages-{lang}:" + path.split(f"/man/{lang}/", 1)[1], "text": _read(path)})
    return docs


def documents(split: str, limit: int | None, sample_docs: int, seed: int) -> list[dict]:
    docs = []
    if split in ("tuning", "all"):
        docs += tuning_documents()
    if split in ("held-out", "all"):
        docs += held_out_documents(sample_docs)
    if split == "fresh":
        docs += fresh_documents()
    docs = [d for d in docs if d["text"].strip()]
    if limit and len(docs) > limit:
        docs = random.Random(seed).sample(docs, limit)
    return docs
