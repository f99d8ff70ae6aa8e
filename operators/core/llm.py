"""What an operator needs from a chat model, and where it gets one.

Operators that score with an LLM (``llm_judge``) live in ``filters/``, which may
import only ``operators/``; the models, the call cache, the token budget and the
retries live in ``synth/`` (``synth/backends.py``, ``synth/runner.py``), which
``filters/`` may not import. This module is the seam between them:

* :class:`ChatClient` is the small protocol an operator calls: a batch of
  :class:`ChatCall` in, one :class:`ChatReply` per call out (a reply may carry
  no text: the budget held it back, or the call failed after its retries).
* A *provider* builds clients from a ``backend`` mapping (``{kind: local}`` or
  ``{kind: http, http: {base_url, model}}``, the same section as a synth
  recipe's). Providers are found, like operators, through an entry-point
  group, ``assay.llm_providers`` (name -> ``"module:object"``); assay's own,
  ``assay = "synth.llm_client:PROVIDER"``, is declared in its
  ``pyproject.toml``, so nothing here names a module above ``operators/``.
  :func:`register_provider` adds one in-process (a test, a notebook).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

#: Why a call has no text: the budget did not allow it, or it failed after its retries.
BUDGET = "budget"
FAILED = "failed"


@dataclass(frozen=True)
class ChatCall:
    """One chat request: messages as ``(role, content)`` pairs and sampling.

    ``sample`` tells apart repeated samples of the same prompt (with a
    temperature above 0, sample 1 is a second, independent answer).
    """

    messages: tuple[tuple[str, str], ...]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    sample: int = 0

    @classmethod
    def user(cls, prompt: str, **sampling: Any) -> ChatCall:
        return cls((("user", prompt),), **sampling)


@dataclass(frozen=True)
class ChatReply:
    """A call's answer, or why there is none (``error``: :data:`BUDGET` or :data:`FAILED`)."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str | None = None


class ChatClient(Protocol):
    """A chat model with a call cache, a token budget and retries behind it.

    Attributes:
        model: the model's name, as recorded in lineage and model cards.
        backend: ``local`` or ``http``.
    """

    model: str
    backend: str

    def complete(self, calls: Sequence[ChatCall]) -> list[ChatReply]:
        """Answer every call, in order; never raises for one call's failure."""
        ...

    def stats(self) -> dict[str, int]:
        """Calls made, cached, failed, retried, held back for the budget; tokens spent."""
        ...

    def close(self) -> None:
        """Flush the cache and release connections."""
        ...


class Provider(Protocol):
    """Builds clients; checks a ``backend`` mapping without building one."""

    def check(self, backend: Mapping[str, Any]) -> dict[str, Any]:
        """The backend mapping validated and with defaults filled in; ``ValueError`` naming the field otherwise."""
        ...

    def open(
        self,
        backend: Mapping[str, Any],
        *,
        cache_dir: str | None,
        budget_tokens: int | None,
        concurrency: int | None,
        max_retries: int,
    ) -> ChatClient:
        """A client whose calls are cached under ``cache_dir`` and spend at most ``budget_tokens`` there."""
        ...


#: The entry-point group providers are registered under.
GROUP = "assay.llm_providers"
DEFAULT_PROVIDER = "assay"

_PROVIDERS: dict[str, Provider] = {}


def register_provider(name: str, provider: Provider) -> None:
    """Register ``provider`` under ``name`` in this process; a second, different provider under one name is an error."""
    existing = _PROVIDERS.get(name)
    if existing is not None and existing is not provider:
        raise ValueError(f"an LLM provider is already registered as {name!r}")
    _PROVIDERS[name] = provider


def provider(name: str = DEFAULT_PROVIDER) -> Provider:
    """The provider registered as ``name``: in this process, else through the ``assay.llm_providers`` entry points."""
    if name not in _PROVIDERS:
        found = {ep.name: ep for ep in entry_points(group=GROUP)}
        if name not in found:
            names = ", ".join(sorted({*_PROVIDERS, *found})) or "none"
            raise KeyError(
                f"no LLM provider {name!r}; registered: {names} (reinstall assay if it lists none: "
                f"`make setup` or `pip install -e .`)"
            )
        register_provider(name, found[name].load())
    return _PROVIDERS[name]


def open_client(backend: Mapping[str, Any], **options: Any) -> ChatClient:
    """A client for ``backend`` from the default provider (see :meth:`Provider.open`)."""
    return provider().open(backend, **options)


def check_backend(backend: Mapping[str, Any]) -> dict[str, Any]:
    """``backend`` validated by the default provider (see :meth:`Provider.check`)."""
    return provider().check(backend)

