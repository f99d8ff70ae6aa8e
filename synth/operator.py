"""``synth_record``: generated records onto the ordinary text path.

A synthesis run writes records whose ``meta`` holds the chat ``messages``, the
``parents`` and the ``generator``. This operator, placed first in a recipe,

* renders the messages with the tokenizer's chat template into ``text`` (what
  PII, toxicity, dedup and the tokenizer then see and what is trained on), and
* lifts ``parents`` and ``generator`` into the record columns the ledger copies,
  so every generated record's lineage names its model and its seed tasks, and
* lifts a method's own score of the record (backtranslation's self-curation
  score) into ``synth_score``, which the ledger records as this stage's score.

Records without ``messages`` (scraped text in the same run) pass unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from pydantic import Field

from operators.core.base import Operator, OperatorConfig
from operators.core.io import cache_dir
from operators.core.schema import GENERATOR_STRUCT, content_hash, set_column
from operators.formats.tokenize import SMOLLM2


class ChatTemplateError(ValueError):
    """The tokenizer has no chat template to render with."""


def chat_template(tokenizer: str) -> str:
    """The Jinja chat template of ``smollm2`` (from its GGUF), a model folder, or a .jinja file."""
    if tokenizer == SMOLLM2:
        target = cache_dir() / "tokenizers" / "smollm2-135m-instruct" / "chat_template.jinja"
        if not target.exists():
            import gguf

            from synth.backends import smollm2_gguf

            folder, name = smollm2_gguf()
            field = gguf.GGUFReader(str(Path(folder) / name)).fields["tokenizer.chat_template"]
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_text(bytes(field.parts[field.data[0]]).decode("utf-8"))
            tmp.replace(target)
        return target.read_text()
    path = Path(tokenizer).expanduser()
    if path.suffix in (".jinja", ".j2"):
        return path.read_text()
    folder = path if path.is_dir() else path.parent
    if (folder / "chat_template.jinja").exists():
        return (folder / "chat_template.jinja").read_text()
    config = folder / "tokenizer_config.json"
    if config.exists():
        template = json.loads(config.read_text()).get("chat_template")
        if isinstance(template, str):
            return template
    raise ChatTemplateError(
        f"{tokenizer}: no chat template found (chat_template.jinja or tokenizer_config.json 'chat_template'); "
        "name a .jinja file in the synth_record stage's 'template'"
    )


class SynthRecordConfig(OperatorConfig):
    tokenizer: str = Field(SMOLLM2, description="Whose chat template renders the messages: 'smollm2', a model folder, or a .jinja file.")
    messages_field: str = Field("messages", description="The meta field holding the chat messages.")
    score_field: str = Field(
        "curation_score", description="The meta field holding the method's score of the record (null when absent)."
    )


class SynthRecord(Operator):
    """Renders generated chat records with the chat template and records their provenance.

    Drops a record whose messages are not a list of {role, content} strings as
    ``synth_record:bad_messages``.
    """

    name = "synth_record"
    version = "2"  # 2: synth_score
    Config = SynthRecordConfig
    score_column = "synth_score"

    def setup(self) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        # The environment transformers renders chat templates with.
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        self._template = env.from_string(chat_template(self.config.tokenizer))

    def render(self, messages: list[dict[str, str]]) -> str:
        return self._template.render(messages=messages, add_generation_prompt=False)

    def process(self, table: pa.Table) -> pa.Table:
        metas = table.column("meta").to_pylist()
        keep = table.column("keep").to_pylist()
        quarantined = table.column("quarantined").to_pylist()
        texts = table.column("text").to_pylist()
        hashes = table.column("content_hash").to_pylist()
        parents: list[list[str] | None] = []
        generators: list[dict | None] = []
        scores: list[float | None] = []
        reasons: list[str | None] = []
        for i, raw in enumerate(metas):
            meta = json.loads(raw) if raw and not quarantined[i] else {}
            p, g = meta.get("parents"), meta.get("generator")
            parents.append([str(x) for x in p] if isinstance(p, list) else None)
            generators.append({k: (None if g.get(k) is None else str(g.get(k))) for k in GENERATOR_STRUCT.names} if isinstance(g, dict) else None)
            score = meta.get(self.config.score_field)
            scores.append(float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None)
            reasons.append(None)
            messages = meta.get(self.config.messages_field)
            if messages is None or not keep[i]:
                continue
            if not _valid_messages(messages):
                reasons[i] = "bad_messages"
                continue
            texts[i] = self.render(messages)
            hashes[i] = content_hash(texts[i])
        table = set_column(table, "text", pa.array(texts, pa.string()))
        table = set_column(table, "content_hash", pa.array(hashes, pa.string()))
        table = set_column(table, "parents", pa.array(parents, pa.list_(pa.string())))
        table = set_column(table, "generator", pa.array(generators, GENERATOR_STRUCT))
        table = set_column(table, "synth_score", pa.array(scores, pa.float32()))
        return self.drop(table, pa.array(reasons, pa.string()))


def _valid_messages(messages) -> bool:
    return (
        isinstance(messages, list)
        and len(messages) > 0
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages)
    )

