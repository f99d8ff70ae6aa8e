"""The HTTP backend's fault behaviour against a scripted loopback server.

HTTP 429/500, hangs and slow trickles cannot be produced on demand by a real
server; ``synth.loopback`` speaks the same protocol and does them on cue. The
same backend against a real llama.cpp server is in ``test_llama_server.py``.
"""

from __future__ import annotations

import logging
import time

import pytest

from synth.backends import BackendError, HTTPBackend, Request, SamplingParams
from synth.loopback import LoopbackServer
from synth.runner import CallCache, Runner, TokenBudget


def _backend(server: LoopbackServer, **kw) -> HTTPBackend:
    return HTTPBackend({"base_url": server.base_url, "model": "loopback", **kw})


def _requests(n: int, max_tokens: int = 16) -> list[Request]:
    return [Request.chat(f"Say something about number {i}.", SamplingParams(max_tokens=max_tokens)) for i in range(n)]


def test_answers_in_order_with_usage():
    with LoopbackServer() as server:
        runner = Runner(_backend(server))
        reqs = _requests(5)
        out = runner.run(reqs)
    assert all(c is not None and c.text for c in out)
    assert server.requests == 5
    assert runner.stats.prompt_tokens == sum(len(r.messages[-1][1].split()) for r in reqs)
    assert runner.stats.completion_tokens == sum(c.completion_tokens for c in out) > 0


def test_concurrency_is_capped():
    with LoopbackServer(latency=0.2) as server:
        start = time.perf_counter()
        out = Runner(_backend(server, concurrency=4)).run(_requests(16))
        elapsed = time.perf_counter() - start
    assert all(out)
    assert server.max_in_flight == 4
    assert elapsed >= 4 * 0.2  # 16 requests, 4 at a time, 0.2 s each


def test_429_is_retried_honouring_retry_after():
    with LoopbackServer(fail_first=2, fail_status=429, retry_after=0.3) as server:
        runner = Runner(_backend(server), backoff=0.01)
        start = time.perf_counter()
        out = runner.run(_requests(1))
        elapsed = time.perf_counter() - start
    assert out[0] is not None
    assert server.requests == 3
    assert runner.stats.retries == 2
    assert elapsed >= 0.6  # two waits of Retry-After, not the 0.01 s backoff


def test_500_gives_up_after_max_retries(caplog):
    with LoopbackServer(fail_first=100, fail_status=500) as server:
        runner = Runner(_backend(server), max_retries=3, backoff=0.01)
        with caplog.at_level(logging.WARNING):
            out = runner.run(_requests(1))
    assert out == [None]
    assert server.requests == 4
    assert runner.stats.failed == 1
    assert "HTTP 500" in caplog.text


def test_client_error_is_not_retried():
    with LoopbackServer(fail_first=1, fail_status=400) as server:
        runner = Runner(_backend(server), backoff=0.01)
        out = runner.run(_requests(1))
    assert out == [None] and server.requests == 1 and runner.stats.retries == 0


def test_hang_times_out_then_retries():
    with LoopbackServer(hang_first=1) as server:
        runner = Runner(_backend(server, timeout=0.5), backoff=0.01)
        start = time.perf_counter()
        out = runner.run(_requests(1))
        elapsed = time.perf_counter() - start
    assert out[0] is not None
    assert server.requests == 2
    assert 0.5 <= elapsed < 5
    assert any("timed out" in k for k in runner.stats.errors)


def test_slow_trickle_is_bounded_by_the_timeout():
    # A server that keeps sending one byte at a time never trips a per-read
    # timeout; the attempt as a whole must still end.
    with LoopbackServer(trickle=0.05) as server:
        runner = Runner(_backend(server, timeout=0.4), max_retries=1, backoff=0.01)
        start = time.perf_counter()
        out = runner.run(_requests(1))
        elapsed = time.perf_counter() - start
    assert out == [None]
    assert server.requests == 2
    assert elapsed < 3


def test_budget_stops_sending_before_it_is_overspent():
    with LoopbackServer() as server:
        reqs = _requests(20, max_tokens=10)
        one = reqs[0].estimated_prompt_tokens() + 10
        budget = TokenBudget(limit=one * 5 + 1)
        runner = Runner(_backend(server, concurrency=1), budget=budget)
        out = runner.run(reqs)
    answered = [c for c in out if c is not None]
    assert 5 <= len(answered) < 20
    assert server.requests == len(answered)
    assert runner.stats.skipped_for_budget == 20 - len(answered)
    assert budget.used <= budget.limit


def test_cache_answers_a_resumed_run_without_calls(tmp_path):
    path = tmp_path / "calls.jsonl"
    reqs = _requests(6)
    with LoopbackServer() as server:
        first = Runner(_backend(server), cache=CallCache(path)).run(reqs[:4])  # "interrupted" after 4
        runner = Runner(_backend(server), cache=CallCache(path))
        second = runner.run(reqs)
    assert server.requests == 6  # 4 + the 2 new ones, none repeated
    assert runner.stats.cached == 4
    assert [c.text for c in second[:4]] == [c.text for c in first]


def test_calls_in_flight_when_a_run_stops_reach_the_cache(tmp_path):
    """An error mid-run (a progress callback raising: the run is interrupted) starts no new call, and the calls
    already sent end and are cached: the resumed run pays for none of them again."""

    def responder(body):
        if "number 0." not in body["messages"][-1]["content"]:
            time.sleep(0.5)  # still in flight when the first answer stops the run
        return "an answer"

    class Stop(Exception):
        pass

    def stop():
        raise Stop

    path = tmp_path / "calls.jsonl"
    reqs = _requests(8)
    with LoopbackServer(responder=responder) as server:
        with pytest.raises(Stop):
            Runner(_backend(server, concurrency=4), cache=CallCache(path), on_result=stop).run(reqs)
        sent = server.requests
        assert sent == 4  # the 4 in flight; none started after the stop
        assert len(CallCache(path)) == sent  # every call the server answered was recorded
        resumed = Runner(_backend(server, concurrency=4), cache=CallCache(path))
        resumed.run(reqs)
    assert resumed.stats.cached == sent and server.requests == 8  # nothing paid twice


def test_torn_cache_line_is_ignored(tmp_path):
    path = tmp_path / "calls.jsonl"
    with LoopbackServer() as server:
        Runner(_backend(server), cache=CallCache(path)).run(_requests(2))
    with open(path, "a") as f:
        f.write('{"key": "abc", "te')  # a crash mid-write
    assert len(CallCache(path)) == 2


def test_api_key_comes_from_the_named_variable_and_is_never_shown(monkeypatch, caplog):
    monkeypatch.setenv("ASSAY_TEST_KEY", "sk-very-secret")
    with LoopbackServer(fail_first=1, fail_status=500) as server:
        backend = _backend(server, api_key_env="ASSAY_TEST_KEY")
        with caplog.at_level(logging.DEBUG):
            Runner(backend, backoff=0.01).run(_requests(1))
    assert server.auth == ["Bearer sk-very-secret"] * 2
    assert "sk-very-secret" not in repr(backend)
    assert "sk-very-secret" not in repr(backend.config)
    assert "sk-very-secret" not in caplog.text
    monkeypatch.delenv("ASSAY_TEST_KEY")
    with pytest.raises(BackendError, match="ASSAY_TEST_KEY is not set"):
        HTTPBackend({"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "ASSAY_TEST_KEY"})


def test_connection_refused_is_retried_then_reported():
    server = LoopbackServer().start()
    url = server.base_url
    server.stop()
    runner = Runner(HTTPBackend({"base_url": url, "model": "m"}), max_retries=1, backoff=0.01)
    assert runner.run(_requests(1)) == [None]
    assert runner.stats.requests == 2


def test_runner_concurrency_above_the_backend_default():
    with LoopbackServer(latency=0.2) as server:
        out = Runner(_backend(server, concurrency=2), concurrency=6).run(_requests(12))
    assert all(out) and server.max_in_flight == 6
