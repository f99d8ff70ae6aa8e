"""The task pool both methods grow: tasks, their provenance, ROUGE-L novelty, persistence.

A *task* is an instruction with zero or more instances (input, output). Seed
tasks come from a JSONL file (one object per line: ``instruction``, optional
``id``, ``instances`` [{input, output}], ``is_classification``); machine tasks
are added by Self-Instruct or Evol-Instruct with the ids of the tasks that were
in their prompt (``parents``) and how they were made (``generator``).

The pool is saved atomically after every round, so a run resumes from its last
finished round; the calls of an unfinished round are answered from the call
cache (:class:`synth.runner.CallCache`), so none is paid for twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SEEDS = Path(__file__).parent / "seeds" / "default.jsonl"


class SeedError(ValueError):
    """The seed file cannot be used; the message names the line."""


@dataclass
class Task:
    """One instruction with its instances and provenance."""

    id: str
    instruction: str
    instances: list[dict[str, str]] = field(default_factory=list)
    is_classification: bool = False
    origin: str = "seed"  # seed | machine
    parents: list[str] = field(default_factory=list)
    generator: dict[str, str] | None = None
    round: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def task_id(instruction: str, method: str) -> str:
    """A stable id from the normalised instruction (the same text -> the same id)."""
    return f"{method}-" + hashlib.sha256(normalize(instruction).encode()).hexdigest()[:16]


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def load_seeds(path: str | Path | None = None) -> list[Task]:
    """Read seed tasks; every problem names the file and line."""
    path = Path(path) if path else DEFAULT_SEEDS
    if not path.exists():
        raise SeedError(f"{path}: no such seed file; give a JSONL file with one {{'instruction': ...}} per line")
    tasks, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise SeedError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("instruction"), str) or not obj["instruction"].strip():
                raise SeedError(f"{path}:{n}: a seed task needs a non-empty string 'instruction'")
            instances = obj.get("instances") or []
            if not isinstance(instances, list) or not all(
                isinstance(i, dict) and isinstance(i.get("output", ""), str) and isinstance(i.get("input", ""), str)
                for i in instances
            ):
                raise SeedError(f"{path}:{n}: 'instances' must be a list of {{'input': str, 'output': str}}")
            tid = str(obj.get("id") or task_id(obj["instruction"], "seed"))
            if tid in seen:
                raise SeedError(f"{path}:{n}: duplicate seed id {tid!r}")
            seen.add(tid)
            tasks.append(
                Task(
                    id=tid,
                    instruction=obj["instruction"].strip(),
                    instances=[{"input": i.get("input", ""), "output": i.get("output", "")} for i in instances],
                    is_classification=bool(obj.get("is_classification", False)),
                )
            )
    if not tasks:
        raise SeedError(f"{path}: no seed tasks in the file")
    return tasks


# ---------------------------------------------------------------- ROUGE-L


class RougeIndex:
    """ROUGE-L F-measure of a candidate against every instruction already accepted.

    Uses ``rouge-score``'s tokenizer and LCS scorer (as the Self-Instruct code
    does), with the pool's token lists kept so each is tokenized once.
    """

    def __init__(self, texts: Iterable[str] = ()):
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self._score_lcs = rouge_scorer._score_lcs  # the LCS F-measure scorer.score() itself uses
        self._tokens: list[list[str]] = []
        self.texts: list[str] = []
        for t in texts:
            self.add(t)

    def tokenize(self, text: str) -> list[str]:
        return self._scorer._tokenizer.tokenize(text)

    def add(self, text: str) -> None:
        self.texts.append(text)
        self._tokens.append(self.tokenize(text))

    def max_score(self, text: str, exclude: set[int] | None = None) -> tuple[float, int | None]:
        """The highest ROUGE-L F against the index and the position of that text."""
        cand = self.tokenize(text)
        best, where = 0.0, None
        for i, toks in enumerate(self._tokens):
            if exclude and i in exclude:
                continue
            f = self._score_lcs(toks, cand).fmeasure
            if f > best:
                best, where = f, i
        return best, where

    def score(self, a: str, b: str) -> float:
        return self._score_lcs(self.tokenize(a), self.tokenize(b)).fmeasure


# ---------------------------------------------------------------- persistence


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def descendants(tasks: Iterable[Task | dict[str, Any]], root_ids: Iterable[str]) -> set[str]:
    """Every task derived, directly or through other tasks, from any of ``root_ids``.

    This is what erasing a seed must also erase: the tasks whose prompt held it,
    the tasks whose prompt held those, and so on.
    """
    children: dict[str, list[str]] = {}
    for t in tasks:
        d = t if isinstance(t, dict) else t.to_dict()
        for p in d.get("parents") or []:
            children.setdefault(p, []).append(d["id"])
    found: set[str] = set()
    stack = list(root_ids)
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in found:
                found.add(c)
                stack.append(c)
    return found


# ---------------------------------------------------------------- parsing helpers

_TASK_SPLIT = re.compile(r"(?im)^\s*(?:#+\s*)?(?:\*\*)?(?:task|instruction)\s*\d*\s*[:.)\-]\s*(?:\*\*)?\s*")
_NUMBERED = re.compile(r"(?m)^\s*(?:\d{1,3}\s*[.):]|[-*\u2022])\s+")


def split_tasks(text: str) -> list[str]:
    """Instructions in a completion: ``Task 9: ...`` blocks, else a numbered list, else lines.

    Small models rarely follow the format exactly, so each layout is tried in turn.
    """
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    pieces = _TASK_SPLIT.split(text)
    if len(pieces) > 1:
        # text before the first marker is the continuation of the open "Task N:" line
        items = pieces
    else:
        pieces = _NUMBERED.split(text)
        items = pieces if len(pieces) > 1 else text.split("\n")
    out = []
    for item in items:
        item = item.strip().strip('"').strip()
        # an instruction may carry its example on later lines: keep the first paragraph
        item = item.split("\n\n")[0].strip()
        item = re.sub(r"\s*\n\s*", " ", item)
        if item:
            out.append(item)
    return out
