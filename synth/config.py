"""Typed configuration of a synthesis run (the ``synth:`` section of a recipe)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synth.backends import BackendSpec, SamplingParams

# Tasks a text-only model cannot do (Self-Instruct's list, with a few plurals and kin).
DEFAULT_BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "photo", "photos", "file", "files",
    "map", "maps", "draw", "drawing", "plot", "plots", "go to", "video", "videos", "audio", "music",
    "flowchart", "diagram", "sketch", "listen", "watch",
)  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(_Model):
    max_tokens: int = Field(256, ge=1, description="Tokens a completion may have.")
    temperature: float = Field(0.7, ge=0, le=2, description="0 = greedy.")
    top_p: float = Field(0.95, gt=0, le=1)

    def params(self, stop: tuple[str, ...] = ()) -> SamplingParams:
        return SamplingParams(self.max_tokens, self.temperature, self.top_p, stop)


class FilterConfig(_Model):
    rouge_threshold: float = Field(
        0.7, gt=0, le=1, description="Reject an instruction whose ROUGE-L F with any pool instruction is at least this."
    )
    min_words: int = Field(3, ge=1, description="Shortest instruction kept, in words.")
    max_words: int = Field(150, ge=1, description="Longest instruction kept, in words.")
    blacklist: tuple[str, ...] = Field(DEFAULT_BLACKLIST, description="Words that mark tasks a text model cannot do.")
    max_instance_words: int = Field(300, ge=1, description="Longest instance input or output kept, in words.")


class SelfInstructConfig(_Model):
    human_examples: int = Field(6, ge=0, description="Seed tasks in each prompt.")
    machine_examples: int = Field(2, ge=0, description="Machine tasks in each prompt (seed tasks fill in while there are too few).")
    requests_per_round: int = Field(8, ge=1, description="Instruction-generation prompts per round.")
    instances_per_task: int = Field(1, ge=1, description="Instance-generation requests per accepted instruction.")
    instruction_sampling: Sampling = Field(default_factory=lambda: Sampling(max_tokens=256, temperature=0.7))
    instance_sampling: Sampling = Field(default_factory=lambda: Sampling(max_tokens=256, temperature=0.0))
    classify_sampling: Sampling = Field(default_factory=lambda: Sampling(max_tokens=4, temperature=0.0))


class EvolConfig(_Model):
    operations: tuple[Literal["constraints", "deepen", "concretize", "reasoning", "breadth"], ...] = Field(
        ("constraints", "deepen", "concretize", "reasoning", "breadth"),
        description="Evolutions to draw from: in-depth (constraints, deepen, concretize, reasoning) and in-breadth.",
    )
    per_round: int = Field(8, ge=1, description="Instructions evolved per round (epoch).")
    llm_equality_check: bool = Field(
        False, description="Also ask the model whether an evolved instruction equals its parent (WizardLM's check)."
    )
    evolve_sampling: Sampling = Field(default_factory=lambda: Sampling(max_tokens=200, temperature=0.7))
    response_sampling: Sampling = Field(default_factory=lambda: Sampling(max_tokens=256, temperature=0.0))


class SegmentConfig(_Model):
    """Which parts of the documents become backtranslation answers."""

    min_words: int = Field(30, ge=1, description="Shortest segment kept, in words.")
    max_words: int = Field(300, ge=1, description="Longest segment: paragraphs are packed up to this many words.")
    languages: list[str] | None = Field(["en"], description="Languages kept (lang_id); null keeps every language.")
    min_lang_score: float = Field(0.65, ge=0, le=1, description="lang_id's minimum confidence.")
    boilerplate: dict[str, Any] | None = Field(
        {"min_sentences": 2},
        description="c4_fineweb parameters that drop boilerplate segments (menus, cookie notices, code); null: off.",
    )


class BacktranslateConfig(_Model):
    documents: str | None = Field(
        None, description="Documents to backtranslate: JSONL/Parquet file, folder or glob, or a finished run's output folder."
    )
    text_field: str = Field("text", description="The documents' text field.")
    max_documents: int = Field(100, ge=1, description="Documents read at most (in file order).")
    segments: SegmentConfig = Field(default_factory=SegmentConfig)
    per_round: int = Field(8, ge=1, description="Segments per round.")
    few_shot: int = Field(2, ge=0, description="Seed (instruction, output) pairs shown in each augmentation prompt.")
    threshold: int = Field(4, ge=1, le=5, description="Keep pairs whose self-curation score is at least this (1-5).")
    augment_sampling: Sampling = Field(default_factory=lambda: Sampling(max_tokens=64, temperature=0.0))
    curate_sampling: Sampling = Field(default_factory=lambda: Sampling(max_tokens=96, temperature=0.0))


class SynthConfig(_Model):
    """What to synthesise, with which model, how much, and within which budget."""

    method: Literal["self_instruct", "evol_instruct", "backtranslate"] = Field(
        "self_instruct", description="The synthesis method."
    )
    seeds: str | None = Field(None, description="Seed tasks (JSONL); default: the seed set shipped with assay.")
    work_dir: str = Field("synth", description="Pool, call cache and records; relative to the recipe's output.")
    target: int = Field(100, ge=1, description="Stop when this many machine tasks (backtranslate: kept pairs) are accepted.")
    max_rounds: int = Field(50, ge=1, description="Stop after this many rounds.")
    budget_tokens: int | None = Field(None, ge=1, description="Stop before spending more tokens (prompt + completion).")
    seed: int = Field(0, description="Seed of the example sampling (the run is repeatable).")
    concurrency: int | None = Field(None, ge=1, description="Requests in flight; default: the backend's limit.")
    max_retries: int = Field(4, ge=0, description="Retries of a request on 429/5xx/timeouts.")
    backend: BackendSpec = Field(default_factory=BackendSpec)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    self_instruct: SelfInstructConfig = Field(default_factory=SelfInstructConfig)
    evol: EvolConfig = Field(default_factory=EvolConfig)
    backtranslate: BacktranslateConfig = Field(default_factory=BacktranslateConfig)
