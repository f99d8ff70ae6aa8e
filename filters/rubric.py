"""Rubrics for ``llm_judge``: a prompt, a score range and a parser for the model's answer.

Shipped rubrics are data files in ``filters/rubrics/`` (``edu``: FineWeb-Edu's
educational-value prompt, 0-5; ``toxicity``: offensiveness 0-5; ``coherence``:
is this a coherent document, yes/no). A user's own rubric is the same fields in
a YAML file or inline in the recipe::

    rubric:
      name: legal            # the score column is judge_legal
      version: legal/1       # bump when the prompt changes: it is part of the fingerprint
      prompt: "Rate ... {text} ... Conclude with 'Score: <0-3>'"
      score_patterns: ['Score:\\s*(\\d)']
      min: 0
      max: 3
      threshold: 2

The parser tries each pattern in order and takes the *last* match of the first
pattern that matches (small models often restate the rubric before concluding);
a word answer maps through ``values`` (``{yes: 1, no: 0}``). An answer with no
match, or a score outside ``[min, max]``, is unparsed: the document is kept
unscored and counted, never guessed.
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RUBRICS_DIR = Path(__file__).parent / "rubrics"
PLACEHOLDER = "{text}"


class RubricError(ValueError):
    """A rubric cannot be used; the message names the file or field."""


class Rubric(BaseModel):
    """A scoring prompt and how to read a score from the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Short name; the score column is judge_<name>.")
    version: str = Field(min_length=1, description="Bump when the prompt or parser changes (recorded in lineage).")
    prompt: str = Field(description="The user message; {text} marks where the document goes.")
    system: str | None = Field(None, description="An optional system message.")
    score_patterns: list[str] = Field(min_length=1, description="Regular expressions whose group 1 is the score.")
    values: dict[str, float] = Field(default_factory=dict, description="Word answers -> scores, e.g. {yes: 1, no: 0}.")
    min: float = Field(0, description="Lowest valid score.")
    max: float = Field(5, description="Highest valid score.")
    threshold: float = Field(3, description="Scores at or above this are the positive class (distillation, binary).")
    max_tokens: int = Field(160, ge=1, description="Tokens the judge may write (its reasoning, then the score).")
    description: str = ""
    source: str = ""

    @field_validator("prompt")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if PLACEHOLDER not in value:
            raise ValueError(f"the prompt must contain {PLACEHOLDER} where the document goes")
        return value

    @field_validator("score_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                compiled = re.compile(pattern)
            except re.error as e:
                raise ValueError(f"score pattern {pattern!r} is not a regular expression: {e}") from None
            if compiled.groups < 1:
                raise ValueError(f"score pattern {pattern!r} needs a group around the score, e.g. 'Score: (\\d+)'")
        return value

    @model_validator(mode="after")
    def _range(self) -> Rubric:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if not self.min <= self.threshold <= self.max:
            raise ValueError(f"threshold {self.threshold} is outside [{self.min}, {self.max}]")
        return self

    @cached_property
    def _compiled(self) -> list[re.Pattern]:
        return [re.compile(p, re.MULTILINE) for p in self.score_patterns]

    @cached_property
    def _values(self) -> dict[str, float]:
        return {k.lower(): v for k, v in self.values.items()}

    def render(self, text: str) -> str:
        """The prompt with the document in place (``str.replace``: prompts may hold braces)."""
        return self.prompt.replace(PLACEHOLDER, text)

    def parse(self, answer: str) -> float | None:
        """The score in ``answer``, or None when it has none in range."""
        for pattern in self._compiled:
            matches = list(pattern.finditer(answer))
            if not matches:
                continue
            raw = matches[-1].group(1).strip().lower()
            value = self._values.get(raw)
            if value is None:
                try:
                    value = float(raw)
                except ValueError:
                    return None
            return value if self.min <= value <= self.max else None
        return None

    @property
    def identity(self) -> str:
        """Name, version and a hash of everything that decides a score (for fingerprints)."""
        canonical = self.model_dump_json(exclude={"description", "source"})
        return f"{self.name}@{self.version}:{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def shipped() -> list[str]:
    """Names of the rubrics shipped with assay."""
    return sorted(p.stem for p in RUBRICS_DIR.glob("*.yaml"))


def load_rubric(spec: str | dict | Rubric) -> Rubric:
    """A shipped rubric by name, a YAML file, or an inline mapping."""
    if isinstance(spec, Rubric):
        return spec
    if isinstance(spec, dict):
        try:
            return Rubric.model_validate(spec)
        except ValueError as e:
            raise RubricError(f"rubric: {e}") from None
    path = RUBRICS_DIR / f"{spec}.yaml" if spec in shipped() else Path(spec).expanduser()
    if not path.is_file():
        raise RubricError(
            f"rubric {spec!r} is neither a shipped rubric ({', '.join(shipped())}) nor a YAML file; "
            "give one of those names, a path, or an inline rubric with name, version, prompt and score_patterns"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RubricError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise RubricError(f"{path}: a rubric is a YAML mapping (name, version, prompt, score_patterns, min, max)")
    try:
        return Rubric.model_validate(data)
    except ValueError as e:
        raise RubricError(f"{path}: {e}") from None
