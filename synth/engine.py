"""The machinery both methods share: work folder, rounds, budget, filters, records.

A run's work folder holds::

    calls.jsonl     every completed model call, keyed by request hash (the resume cache)
    pool.jsonl      accepted machine tasks with parents and generator (rewritten per round)
    rejected.jsonl  every rejected candidate with its reason
    state.json      rounds done, per-round statistics, stop reason
    records.jsonl   the training records: one per accepted (instruction, instance)

Prompts are built from a seeded random generator keyed by the round, so a run
interrupted mid-round rebuilds exactly the same requests when it resumes and
finds their answers in ``calls.jsonl``: no call is made, or paid for, twice.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth.backends import LLM, Completion, Request
from synth.config import SynthConfig
from synth.pool import RougeIndex, Task, load_seeds, normalize, read_jsonl, write_jsonl_atomic
from synth.runner import CallCache, Runner, TokenBudget

log = logging.getLogger(__name__)

_PUNCT_START = re.compile(r"^[^\w\"'(\[]")


@dataclass
class RoundStats:
    round: int
    requests: int = 0
    answered: int = 0
    candidates: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    tokens: int = 0

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.candidates if self.candidates else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "acceptance_rate": round(self.acceptance_rate, 4)}


@dataclass
class SynthResult:
    """What a synthesis run produced."""

    method: str
    work_dir: str
    records: str
    tasks: int
    record_count: int
    rounds: list[dict[str, Any]]
    stop_reason: str
    tokens_used: int
    calls_made: int
    calls_cached: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Synthesizer:
    """Base of Self-Instruct and Evol-Instruct: the round loop, persistence and filters."""

    method: str = ""
    template_version: str = ""

    def __init__(
        self,
        config: SynthConfig,
        work_dir: str | Path,
        llm: LLM | None = None,
        on_progress: Callable[[str, dict[str, Any]], None] | None = None,
    ):
        self.config = config
        self.work = Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.seeds = load_seeds(config.seeds)
        self.llm = llm or config.backend.build()
        self.on_progress = on_progress
        self.cache = CallCache(self.work / "calls.jsonl")
        # Tokens already paid for: the usage of every call in the cache.
        paid = sum(e["prompt_tokens"] + e["completion_tokens"] for e in self.cache._entries.values())
        self.budget = TokenBudget(config.budget_tokens, used=paid)
        self.state = self._load_state()
        self.pool: list[Task] = [Task.from_dict(d) for d in read_jsonl(self.work / "pool.jsonl")]
        self.rejected: list[dict[str, Any]] = read_jsonl(self.work / "rejected.jsonl")
        self.calls_made = 0
        self.calls_cached = 0

    # ------------------------------------------------------------ state

    def _load_state(self) -> dict[str, Any]:
        path = self.work / "state.json"
        seed_ids = [t.id for t in self.seeds]
        if path.exists():
            state = json.loads(path.read_text())
            if state.get("method") != self.method:
                raise ValueError(
                    f"{self.work} holds a {state.get('method')} run; use another work folder for {self.method}"
                )
            if state.get("seed_ids") != seed_ids:
                raise ValueError(
                    f"{self.work} was started with other seed tasks; resume with the same seeds or use a new work folder"
                )
            return state
        return {"method": self.method, "seed_ids": seed_ids, "rounds": [], "stop_reason": None}

    def _save(self) -> None:
        write_jsonl_atomic(self.work / "pool.jsonl", (t.to_dict() for t in self.pool))
        write_jsonl_atomic(self.work / "rejected.jsonl", self.rejected)
        tmp = self.work / "state.json.tmp"
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.work / "state.json")

    # ------------------------------------------------------------ generator and calls

    def generator(self, params: dict[str, Any]) -> dict[str, str]:
        """The ``generator`` struct recorded on every task and record this run makes."""
        return {
            "model": self.llm.model,
            "backend": self.llm.backend,
            "method": self.method,
            "template_version": self.template_version,
            "params": json.dumps(params, sort_keys=True, separators=(",", ":")),
        }

    def call(self, requests: list[Request], label: str) -> list[Completion | None]:
        """Send requests through the runner (cache, budget, retries, concurrency)."""
        if not requests:
            return []
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if self.on_progress:
                self.on_progress("call", {"label": label, "done": done, "total": len(requests)})

        runner = Runner(
            self.llm,
            cache=self.cache,
            budget=self.budget,
            concurrency=self.config.concurrency,
            max_retries=self.config.max_retries,
            on_result=tick,
        )
        results = runner.run(requests)
        self.calls_made += runner.stats.requests
        self.calls_cached += runner.stats.cached
        self._budget_hit = self._budget_hit or runner.stats.skipped_for_budget > 0
        return results

    # ------------------------------------------------------------ filters

    def machine_tasks(self) -> list[Task]:
        return self.pool

    def rouge_index(self) -> RougeIndex:
        return RougeIndex([t.instruction for t in self.seeds] + [t.instruction for t in self.pool])

    def instruction_reject_reason(self, text: str, index: RougeIndex, seen: set[str], exclude: set[int] | None = None) -> str | None:
        """Self-Instruct's instruction filters; None when the instruction is kept."""
        f = self.config.filters
        words = text.split()
        if len(words) < f.min_words:
            return "too_short"
        if len(words) > f.max_words:
            return "too_long"
        lowered = text.lower()
        for word in f.blacklist:
            if re.search(rf"\b{re.escape(word)}\b", lowered):
                return "blacklist"
        if lowered.startswith("write a program"):
            return "program"  # the paper's filter: such tasks rarely get a checkable output
        if _PUNCT_START.match(text):
            return "punctuation_start"
        if not text[0].isascii():
            return "non_ascii_start"
        if normalize(text) in seen:
            return "duplicate"
        score, _ = index.max_score(text, exclude)
        if score >= f.rouge_threshold:
            return "rouge"
        return None

    def reject(self, round_no: int, stats: RoundStats, text: str, reason: str, parents: list[str]) -> None:
        stats.rejected[reason] = stats.rejected.get(reason, 0) + 1
        self.rejected.append({"round": round_no, "instruction": text, "reason": reason, "parents": parents})

    # ------------------------------------------------------------ run

    def run_round(self, round_no: int, stats: RoundStats) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def exhausted(self) -> bool:
        """Whether the method has no input left (backtranslation: every segment done)."""
        return False

    def run(self) -> SynthResult:
        """Rounds until the target, the round limit, or the budget; then write the records."""
        cfg = self.config
        stop = None
        self._budget_hit = False
        while stop is None:
            done = len(self.state["rounds"])
            if len(self.machine_tasks()) >= cfg.target:
                stop = "target"
                break
            if self.exhausted():
                stop = "exhausted"
                break
            if done >= cfg.max_rounds:
                stop = "max_rounds"
                break
            if self.budget.exhausted:
                stop = "budget"
                break
            round_no = done + 1
            stats = RoundStats(round_no)
            used_before = self.budget.used
            self.run_round(round_no, stats)
            stats.tokens = self.budget.used - used_before
            record = stats.to_dict()
            if self._budget_hit:
                # Keep what was paid for; the requests the budget held back are not sent.
                record["partial"] = True
                stop = "budget"
            self.state["rounds"].append(record)
            self._save()
            if self.on_progress:
                self.on_progress("round", {**stats.to_dict(), "pool": len(self.machine_tasks()), "target": cfg.target})
            if stop is None and stats.answered == 0:
                stop = "no_answers"
        self.state["stop_reason"] = stop
        self._save()
        self.cache.close()
        records = self.write_records()
        return SynthResult(
            method=self.method,
            work_dir=str(self.work),
            records=str(self.work / "records.jsonl"),
            tasks=len(self.machine_tasks()),
            record_count=records,
            rounds=self.state["rounds"],
            stop_reason=stop,
            tokens_used=self.budget.used,
            calls_made=self.calls_made,
            calls_cached=self.calls_cached,
        )

    def write_records(self) -> int:
        """One training record per accepted (instruction, instance), with provenance."""
        rows = []
        for t in self.machine_tasks():
            for k, inst in enumerate(t.instances):
                rows.append(training_record(t, k, inst))
        write_jsonl_atomic(self.work / "records.jsonl", rows)
        return len(rows)


def user_turn(instruction: str, input_: str) -> str:
    return f"{instruction}\n\n{input_}" if input_.strip() else instruction


def training_record(task: Task, k: int, instance: dict[str, str]) -> dict[str, Any]:
    """A record the text path reads: ``text`` plus chat ``messages`` and provenance."""
    user = user_turn(task.instruction, instance.get("input", ""))
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": instance["output"]}]
    return {
        "text": f"{user}\n\n{instance['output']}",
        "messages": messages,
        "task_id": task.id,
        "instance": k,
        "instruction": task.instruction,
        "input": instance.get("input", ""),
        "output": instance["output"],
        "is_classification": task.is_classification,
        # The record was made from its task, and the task from the tasks in its prompt.
        "parents": [task.id, *task.parents],
        "generator": task.generator,
        "round": task.round,
    }


def count(items) -> dict[str, int]:
    return dict(Counter(items))
