"""The chat client operators use (``operators.core.llm``), built on synth's backends.

An operator such as ``llm_judge`` runs in many worker processes at once, so its
calls are cached in a *folder*: each process appends to its own
``calls-<host>-<pid>-<nonce>.jsonl`` and reads every file there, so a resumed or
repeated run answers a request any worker already paid for from the cache.
The token budget is shared the same way: before each batch a client adds what
the other workers' files gained since it last looked, so all workers together
stop near the budget (each can overshoot by the calls it has in flight).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from operators.core.llm import BUDGET, FAILED, ChatCall, ChatReply
from synth.backends import LLM, BackendSpec, Completion, Request, SamplingParams
from synth.runner import CallCache, Runner, TokenBudget

log = logging.getLogger(__name__)

_HELD_BACK = object()  # a request the budget did not allow (Runner returns None for failures too)


class SharedCallCache(CallCache):
    """A call cache in a folder that several processes write, each to its own file."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        own = self.folder / f"calls-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        super().__init__(own)
        self._offsets: dict[Path, int] = {}

    def refresh(self) -> int:
        """Read the complete lines other processes appended since the last call; return their tokens."""
        tokens = 0
        for path in sorted(self.folder.glob("calls-*.jsonl")):
            if path == self.path:
                continue
            start = self._offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written is read next time
            for line in data[:end].splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn by a crash
                self._entries.setdefault(entry["key"], entry)
                tokens += int(entry.get("prompt_tokens") or 0) + int(entry.get("completion_tokens") or 0)
            self._offsets[path] = start + end
        return tokens


class _BudgetAwareRunner(Runner):
    """A :class:`Runner` that tells a request held back by the budget from one that failed."""

    async def _call(self, req: Request) -> Completion | None | object:
        reserve = req.estimated_prompt_tokens() + req.params.max_tokens
        if not self.budget.reserve(reserve):
            self.stats.skipped_for_budget += 1
            return _HELD_BACK
        # Released at once for Runner._call to reserve again: no await in between, so nothing can take it.
        self.budget.settle(reserve, 0)
        return await super()._call(req)


class AssayChatClient:
    """:class:`operators.core.llm.ChatClient` over a synth backend, with a shared cache and budget."""

    def __init__(
        self,
        llm: LLM,
        *,
        cache_dir: str | None,
        budget_tokens: int | None,
        concurrency: int | None,
        max_retries: int,
    ):
        self.llm = llm
        self.model = llm.model
        self.backend = llm.backend
        self.cache: CallCache = SharedCallCache(cache_dir) if cache_dir else CallCache(None)
        spent = self.cache.refresh() if isinstance(self.cache, SharedCallCache) else 0
        self.budget = TokenBudget(budget_tokens, used=spent)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self._stats = {"requests": 0, "cached": 0, "failed": 0, "retries": 0, "held_for_budget": 0,
                       "prompt_tokens": 0, "completion_tokens": 0}  # fmt: skip

    def complete(self, calls: Sequence[ChatCall]) -> list[ChatReply]:
        if not calls:
            return []
        if isinstance(self.cache, SharedCallCache):
            with self.budget._lock:
                self.budget.used += self.cache.refresh()
        requests = [
            Request(c.messages, SamplingParams(c.max_tokens, c.temperature, c.top_p), c.sample) for c in calls
        ]
        runner = _BudgetAwareRunner(
            self.llm, cache=self.cache, budget=self.budget, concurrency=self.concurrency, max_retries=self.max_retries
        )
        results = runner.run(requests)
        s = runner.stats
        for key, value in (("requests", s.requests), ("cached", s.cached), ("failed", s.failed),
                           ("retries", s.retries), ("held_for_budget", s.skipped_for_budget),
                           ("prompt_tokens", s.prompt_tokens), ("completion_tokens", s.completion_tokens)):  # fmt: skip
            self._stats[key] += value
        out = []
        for r in results:
            if r is _HELD_BACK:
                out.append(ChatReply(None, error=BUDGET))
            elif r is None:
                out.append(ChatReply(None, error=FAILED))
            else:
                out.append(ChatReply(r.text, r.prompt_tokens, r.completion_tokens, r.cached))
        return out

    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    def close(self) -> None:
        self.cache.close()


class AssayProvider:
    """Builds :class:`AssayChatClient` from a synth ``backend`` section."""

    def check(self, backend: Mapping[str, Any]) -> dict[str, Any]:
        return BackendSpec.model_validate(dict(backend)).model_dump(mode="json")

    def open(
        self,
        backend: Mapping[str, Any],
        *,
        cache_dir: str | None = None,
        budget_tokens: int | None = None,
        concurrency: int | None = None,
        max_retries: int = 4,
    ) -> AssayChatClient:
        llm = BackendSpec.model_validate(dict(backend)).build()
        return AssayChatClient(
            llm, cache_dir=cache_dir, budget_tokens=budget_tokens, concurrency=concurrency, max_retries=max_retries
        )


#: The provider of the ``assay.llm_providers`` entry point ``assay`` (pyproject.toml).
PROVIDER = AssayProvider()
