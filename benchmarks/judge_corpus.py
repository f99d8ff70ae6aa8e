"""Real text for the judge and backtranslation benchmarks, from Debian's documentation packages and OLID.

Each source is cut into documents of one to a few paragraphs (60-300 words), so
one document is about one backtranslation segment and one judge prompt:

* ``python-doc``: Python's documentation sources (``python3-doc``), tutorial, how-tos, library;
* ``debian-reference``: the Debian Reference (``debian-reference-en``), HTML stripped to paragraphs;
* ``linux-doc``: the kernel's Documentation (``linux-doc``), reStructuredText;
* ``olid-train`` / ``olid-test``: tweets from the OLID data in ``benchmarks/data/olid``,
  five to a document (social-media chatter: text of little educational value);
* ``sample``: the English documents of assay's own sample corpus (web-like text
  with boilerplate, spam and personal data).

Missing packages: ``apt-get install python3-doc debian-reference-en linux-doc``.
"""

from __future__ import annotations

import glob
import gzip
import html
import json
import random
import re
from pathlib import Path

OLID = Path(__file__).parent / "data" / "olid"
_TAG = re.compile(r"<[^>]+>")
_RST_NOISE = re.compile(r"^\s*(?:\.\. |:[a-z]+:|[=\-~^*#]{3,}\s*$)")


def _open(path: str):
    return gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.endswith(".gz") else open(path, encoding="utf-8", errors="replace")


def _chunks(paragraphs: list[str], min_words: int = 60, max_words: int = 300) -> list[str]:
    out, cur = [], []
    for para in paragraphs:
        words = len(para.split())
        if cur and sum(len(p.split()) for p in cur) + words > max_words:
            if sum(len(p.split()) for p in cur) >= min_words:
                out.append("\n\n".join(cur))
            cur = []
        if words <= max_words:
            cur.append(para)
    if cur and sum(len(p.split()) for p in cur) >= min_words:
        out.append("\n\n".join(cur))
    return out


def _prose(text: str) -> list[str]:
    paras = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln for ln in para.splitlines() if not _RST_NOISE.match(ln)]
        para = " ".join(" ".join(lines).split())
        if len(para.split()) >= 12 and sum(c.isalpha() for c in para) > 0.6 * len(para):
            paras.append(para)
    return paras


def _from_files(files: list[str], n: int, rng: random.Random, reader) -> list[str]:
    rng.shuffle(files)
    docs: list[str] = []
    for path in files:
        try:
            with _open(path) as f:
                chunks = _chunks(reader(f.read(400_000)))
        except (OSError, EOFError):
            continue
        docs.extend(chunks[:2])  # at most two documents per file: variety
        if len(docs) >= n:
            break
    return docs[:n]


def python_doc(n: int, rng: random.Random) -> list[str]:
    files = sorted(glob.glob("/usr/share/doc/python3*/html/_sources/**/*.txt", recursive=True))
    return _from_files(files, n, rng, _prose)


def linux_doc(n: int, rng: random.Random) -> list[str]:
    files = sorted(glob.glob("/usr/share/doc/linux-doc*/Documentation/**/*.rst*", recursive=True))
    return _from_files(files, n, rng, _prose)


def debian_reference(n: int, rng: random.Random) -> list[str]:
    files = sorted(glob.glob("/usr/share/doc/debian-reference-en/docs/*.en.html"))

    def paragraphs(text: str) -> list[str]:
        return [" ".join(html.unescape(_TAG.sub(" ", p)).split()) for p in re.findall(r"(?s)<p>(.*?)</p>", text)]

    docs = []
    for path in files:
        with _open(path) as f:
            docs.extend(_chunks([p for p in paragraphs(f.read()) if len(p.split()) >= 12]))
    rng.shuffle(docs)
    return docs[:n]


def olid(n: int, rng: random.Random, split: str) -> list[str]:
    with gzip.open(OLID / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
        # OLID masks mentions as @user; a reply to ten people is ten of them
        tweets = [re.sub(r"(?:@user\s*){2,}", "@user ", json.loads(line)["text"]).strip() for line in f]
    rng.shuffle(tweets)
    return ["\n".join(tweets[i : i + 5]) for i in range(0, min(len(tweets), 5 * n), 5)][:n]


def sample(n: int, rng: random.Random) -> list[str]:
    from operators.sample_corpus import generate

    docs = [d["text"] for d in generate(20 * n, seed=rng.randrange(1 << 30)) if d.get("lang", "en") == "en"]
    docs = [d for d in docs if 40 <= len(d.split()) <= 400]
    return docs[:n]


SOURCES = {
    "python-doc": python_doc,
    "debian-reference": debian_reference,
    "linux-doc": linux_doc,
    "olid-train": lambda n, rng: olid(n, rng, "train"),
    "olid-test": lambda n, rng: olid(n, rng, "test"),
    "sample": sample,
}
#: Sources whose documents explain a subject (1) or chatter, sell or fill (0): a rough proxy of educational value.
DOCUMENTATION = {"python-doc": 1, "debian-reference": 1, "linux-doc": 1, "olid-train": 0, "olid-test": 0, "sample": 0}


def write_sources(folder: Path, counts: dict[str, int], seed: int = 0) -> dict[str, str]:
    """One JSONL file per source under ``folder``; ``{source: path}``. Raises when a package is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, n in counts.items():
        docs = SOURCES[name](n, random.Random(f"{seed}:{name}"))
        if len(docs) < n:
            raise SystemExit(f"{name}: only {len(docs)} of {n} documents; install the package (see this module's docstring)")
        path = folder / f"{name}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for text in docs:
                f.write(json.dumps({"text": text}) + "\n")
        paths[name] = str(path)
    return paths
