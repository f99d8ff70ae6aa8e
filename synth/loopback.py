"""A loopback OpenAI-compatible server for fault tests and benchmarks.

It speaks ``POST /v1/chat/completions`` like vLLM or llama.cpp's server, but
its behaviour is scripted: fixed latency, HTTP 429/500 for the first N
requests, hangs, slow trickles. A real server cannot be made to do those on
demand; this one exists only for that (tests and ``benchmarks/synth.py``).
Its default answers are synthetic but well-formed: new task lists for
Self-Instruct prompts, ``Input:/Output:`` pairs for instance prompts,
rewritten prompts for Evol-Instruct, so a run's filters have real work to do.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_VERBS = ["Describe", "Explain", "Summarise", "Compare", "List", "Suggest", "Rewrite", "Classify", "Translate",
          "Outline", "Evaluate", "Generate", "Identify", "Estimate", "Recommend", "Critique"]  # fmt: skip
_OBJECTS = ["a recipe for lentil soup", "the causes of inflation", "a cover letter for a nurse", "the rules of chess",
            "two sorting algorithms", "a travel plan for Lisbon", "the water cycle", "a budget for a student",
            "a poem about the sea", "the benefits of sleep", "a job advert for a baker", "a product review",
            "the plot of Hamlet", "ways to save energy at home", "a birthday message", "the history of tea",
            "a workout for beginners", "the pros and cons of remote work", "a short bedtime story",
            "a guide to composting", "the meaning of a proverb", "an apology to a customer"]  # fmt: skip
_MODS = ["in three sentences", "for a child", "in a formal tone", "using bullet points", "in under 50 words",
         "with an example", "step by step", "for a newspaper", "in plain English", "with a title"]  # fmt: skip


def synthetic_reply(prompt: str, rng: random.Random) -> str:
    """A plausible answer to the prompts the synth methods send."""
    if "Is it classification?" in prompt:
        return rng.choice(["Yes", "No", "No"])
    if "Class label:" in prompt:
        return f"Class label: {rng.choice(['positive', 'negative'])}\nInput: {rng.choice(_OBJECTS)}."
    if prompt.startswith("Come up with examples"):
        return f"Example 1\nInput: {rng.choice(_OBJECTS)}\nOutput: A short answer about {rng.choice(_OBJECTS)}."
    if "#Rewritten Prompt#:" in prompt or "#Created Prompt#:" in prompt:
        return f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_MODS)}, and {rng.choice(_MODS)}."
    if prompt.startswith("Come up with a series of tasks"):
        n = int(prompt.rsplit("Task ", 1)[1].split(":")[0])
        lines = []
        for k in range(rng.randint(2, 5)):
            task = f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_MODS)}."
            lines.append(task if k == 0 else f"Task {n + k}: {task}")
        return "\n".join(lines)
    return f"Here is an answer: {rng.choice(_OBJECTS)} {rng.choice(_MODS)}."


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # socketserver's default of 5 refuses bursts of concurrent clients
    daemon_threads = True


class LoopbackServer:
    """A scripted chat-completions server on 127.0.0.1 (a free port), run in a thread.

    Args:
        latency: seconds every request waits before answering.
        fail_first: answer the first N requests with ``fail_status``.
        fail_status: 429 or 5xx.
        retry_after: a ``Retry-After`` header (seconds) on the failures.
        hang_first: the first N requests never answer (until the server stops).
        trickle: send the body one byte per this many seconds (a slow server).
        responder: ``(body) -> reply text``; default :func:`synthetic_reply`.

    Attributes:
        requests: requests received; ``max_in_flight``: most handled at once;
        ``auth``: the Authorization headers seen.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fail_first: int = 0,
        fail_status: int = 500,
        retry_after: float | None = None,
        hang_first: int = 0,
        trickle: float | None = None,
        responder: Callable[[dict[str, Any]], str] | None = None,
        port: int = 0,
    ):
        self.port = port
        self.latency = latency
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.retry_after = retry_after
        self.hang_first = hang_first
        self.trickle = trickle
        self.responder = responder
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth: list[str | None] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> LoopbackServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm
            # and the client's delayed ACK hold every body back ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                owner._handle(self)

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length) or b"{}")
        with self._lock:
            self.requests += 1
            n = self.requests
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.auth.append(h.headers.get("Authorization"))
        try:
            if n <= self.hang_first:
                self._stop.wait(600)
                return
            if self.latency:
                time.sleep(self.latency)
            if n <= self.hang_first + self.fail_first:
                payload = json.dumps({"error": {"message": "scripted failure", "code": self.fail_status}}).encode()
                h.send_response(self.fail_status)
                if self.retry_after is not None:
                    h.send_header("Retry-After", str(self.retry_after))
                h.send_header("Content-Type", "application/json")
                h.send_header("Content-Length", str(len(payload)))
                h.end_headers()
                h.wfile.write(payload)
                return
            prompt = body["messages"][-1]["content"]
            if self.responder is not None:
                text = self.responder(body)
            else:
                seed = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
                text = synthetic_reply(prompt, random.Random(seed))
            completion_tokens = min(len(text.split()), int(body.get("max_tokens") or 10**6))
            payload = json.dumps(
                {
                    "id": f"cmpl-{n}",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {
                        "prompt_tokens": len(prompt.split()),
                        "completion_tokens": completion_tokens,
                        "total_tokens": len(prompt.split()) + completion_tokens,
                    },
                }
            ).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if self.trickle:
                for i in range(len(payload)):
                    if self._stop.wait(self.trickle):
                        return
                    h.wfile.write(payload[i : i + 1])
                    h.wfile.flush()
            else:
                h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)
        finally:
            with self._lock:
                self.in_flight -= 1


def main() -> None:
    """Serve until interrupted, in a process of its own (benchmarks keep client and server apart)."""
    import argparse

    ap = argparse.ArgumentParser(description="A scripted OpenAI-compatible server on 127.0.0.1 (tests, benchmarks).")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="Seconds every request waits.")
    args = ap.parse_args()
    server = LoopbackServer(latency=args.latency, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
