"""Sending requests to a backend: a token budget, a persistent call cache, and the runner (concurrency, retries).

:class:`Runner` owns everything a paid API needs: a concurrency limit,
per-request timeouts, retries with exponential backoff on HTTP 429 / 5xx /
timeouts / dropped connections, a :class:`TokenBudget` that stops the run
before it is overspent, and a :class:`CallCache` keyed by a hash of the
request, so an interrupted run resumes without repeating a single call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth.backends import LLM, BackendError, Completion, Request, RetryableError

log = logging.getLogger(__name__)


class TokenBudget:
    """A cap on prompt + completion tokens for a run.

    Before a request is sent, its worst case (estimated prompt + ``max_tokens``)
    is reserved; when it returns, the reservation is replaced by the reported
    usage. A request whose reservation does not fit is never sent, so the
    budget is not overspent by the requests in flight.
    """

    def __init__(self, limit: int | None, used: int = 0):
        self.limit = limit
        self.used = used
        self.reserved = 0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> bool:
        with self._lock:
            if self.limit is not None and self.used + self.reserved + n > self.limit:
                return False
            self.reserved += n
            return True

    def settle(self, reserved: int, actual: int) -> None:
        with self._lock:
            self.reserved -= reserved
            self.used += actual

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit


class CallCache:
    """Completed calls as JSON lines keyed by request hash (append-only, fsynced per batch).

    A crash loses at most the calls in flight; a torn last line is ignored.
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._entries: dict[str, dict[str, Any]] = {}
        self._fh = None
        if self.path and self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line torn by a crash
                    self._entries[entry["key"]] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Completion | None:
        e = self._entries.get(key)
        if e is None:
            return None
        return Completion(e["text"], e["prompt_tokens"], e["completion_tokens"], e.get("finish_reason"), cached=True)

    def put(self, key: str, completion: Completion) -> None:
        entry = {
            "key": key,
            "text": completion.text,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "finish_reason": completion.finish_reason,
        }
        self._entries[key] = entry
        if self.path is not None:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across calls
            self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class RunnerStats:
    requests: int = 0
    cached: int = 0
    failed: int = 0
    retries: int = 0
    skipped_for_budget: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


class Runner:
    """Sends requests to a backend with a concurrency limit, retries, budget and cache.

    Args:
        llm: the backend.
        cache: completed calls; a cached request is answered without a call.
        budget: tokens this run may spend; calls that do not fit are not sent.
        concurrency: requests in flight; default: the backend's own limit.
        max_retries: attempts after the first on a retryable failure.
        backoff: seconds before the first retry; doubled each time, with jitter,
            capped at ``max_backoff`` (a server's ``Retry-After`` is honoured up to that cap).
        on_result: called after each request finishes (progress bars).
    """

    def __init__(
        self,
        llm: LLM,
        *,
        cache: CallCache | None = None,
        budget: TokenBudget | None = None,
        concurrency: int | None = None,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        on_result: Callable[[], None] | None = None,
    ):
        self.llm = llm
        self.cache = cache if cache is not None else CallCache(None)
        self.budget = budget if budget is not None else TokenBudget(None)
        self.concurrency = concurrency or llm.max_concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_result = on_result
        self.stats = RunnerStats()
        self._stopping = False  # set when the run stops on an error: nothing new is sent

    def run(self, requests: Sequence[Request]) -> list[Completion | None]:
        """Answer every request, in order. ``None``: failed for good, or not sent for the budget."""
        return asyncio.run(self.arun(requests))

    async def arun(self, requests: Sequence[Request]) -> list[Completion | None]:
        started = time.perf_counter()
        results: list[Completion | None] = [None] * len(requests)
        pending = []
        for i, req in enumerate(requests):
            hit = self.cache.get(req.key(self.llm.model))
            if hit is not None:
                results[i] = hit
                self.stats.cached += 1
                if self.on_result:
                    self.on_result()
            else:
                pending.append(i)
        sem = asyncio.Semaphore(self.concurrency)
        self._stopping = False

        async def one(i: int) -> None:
            try:
                async with sem:
                    results[i] = await self._call(requests[i])
                if self.on_result and not self._stopping:
                    self.on_result()
            except Exception:
                self._stopping = True  # before any other task runs: a waiting one must not send
                raise

        tasks = [asyncio.ensure_future(one(i)) for i in pending]
        try:
            await asyncio.gather(*tasks)
        except Exception:
            # A call already sent is paid for even if the run stops now (a progress callback raised, a call
            # failed unexpectedly): no new call starts, and the ones in flight end and reach the cache, so a
            # resumed run does not pay for them again. A cancellation (Ctrl-C) stops at once instead.
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            await self.llm.aclose()
            self.stats.seconds += time.perf_counter() - started
        return results

    async def _call(self, req: Request) -> Completion | None:
        if self._stopping:
            return None
        reserve = req.estimated_prompt_tokens() + req.params.max_tokens
        if not self.budget.reserve(reserve):
            self.stats.skipped_for_budget += 1
            return None
        completion = None
        try:
            for attempt in range(self.max_retries + 1):
                self.stats.requests += 1
                try:
                    completion = await self.llm.acomplete(req)
                    break
                except RetryableError as e:
                    self._count_error(e)
                    if self._stopping:
                        return None  # the run is stopping: no retry is sent
                    if attempt == self.max_retries:
                        log.warning("request failed after %d attempts: %s", attempt + 1, e)
                        self.stats.failed += 1
                        return None
                    delay = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
                    if e.retry_after is not None:
                        delay = min(self.max_backoff, max(delay, e.retry_after))
                    self.stats.retries += 1
                    await asyncio.sleep(delay)
                except BackendError as e:
                    self._count_error(e)
                    log.warning("request failed: %s", e)
                    self.stats.failed += 1
                    return None
        finally:
            used = completion.total_tokens if completion else 0
            self.budget.settle(reserve, used)
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.completion_tokens += completion.completion_tokens
        self.cache.put(req.key(self.llm.model), completion)
        return completion

    def _count_error(self, e: Exception) -> None:
        label = str(e).split(":")[0][:40]
        self.stats.errors[label] = self.stats.errors.get(label, 0) + 1
