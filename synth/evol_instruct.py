"""Evol-Instruct (Xu et al., 2023, WizardLM): evolve instructions in depth and breadth.

Each round evolves ``per_round`` members of a population that starts as the
seed tasks. An evolution is one of:

* in-depth: *add constraints*, *deepen* the inquiry, *concretize* general
  concepts, *increase reasoning* steps (the rewritten prompt may add 10-20 words);
* in-breadth: *create* a new, rarer instruction in the same domain.

The model then answers the evolved instruction, and the *elimination step*
rejects the evolution when

* it brings no information gain over its parent (nothing new beyond the
  parent's words; optionally also WizardLM's "Equal / Not Equal" model check),
* it copies words of the evolving prompt (``#Rewritten Prompt#``, "given prompt", ...),
* it fails the Self-Instruct instruction filters of the same machinery
  (length, keywords, duplicates, ROUGE-L >= 0.7 against the pool other than its parent),
* its answer shows the model could not handle it (contains "sorry" and is
  under 80 words), or is empty or only punctuation and stop words.

A surviving evolution replaces its parent in the population (so the next round
evolves it further); a failed one leaves the parent in place.
"""

from __future__ import annotations

import random
import re

from synth.backends import Request
from synth.engine import RoundStats, Synthesizer
from synth.pool import Task, normalize, task_id

TEMPLATE_VERSION = "evol_instruct/1"

_DEPTH = (
    "I want you act as a Prompt Rewriter.\n"
    "Your objective is to rewrite a given prompt into a more complex version to make those famous AI systems "
    "(e.g., chatgpt and GPT4) a bit harder to handle.\n"
    "But the rewritten prompt must be reasonable and must be understood and responded by humans.\n"
    "Your rewriting cannot omit the non-text parts such as the table and code in #The Given Prompt#:. "
    "Also, please do not omit the input in #The Given Prompt#.\n"
    "You SHOULD complicate the given prompt using the following method:\n{method}\n"
    "You should try your best not to make the #Rewritten Prompt# become verbose, "
    "#Rewritten Prompt# can only add 10 to 20 words into #The Given Prompt#.\n"
    "'#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten prompt' are not allowed to appear "
    "in #Rewritten Prompt#\n"
    "#The Given Prompt#:\n{instruction}\n#Rewritten Prompt#:\n"
)
_METHODS = {
    "constraints": "Please add one more constraints/requirements into #The Given Prompt#",
    "deepen": "If #The Given Prompt# contains inquiries about certain issues, the depth and breadth of the inquiry can be increased.",
    "concretize": "Please replace general concepts with more specific concepts.",
    "reasoning": "If #The Given Prompt# can be solved with just a few simple thinking processes, you can rewrite it to "
    "explicitly request multiple-step reasoning.",
}
_BREADTH = (
    "I want you act as a Prompt Creator.\n"
    "Your goal is to draw inspiration from the #Given Prompt# to create a brand new prompt.\n"
    "This new prompt should belong to the same domain as the #Given Prompt# but be even more rare.\n"
    "The LENGTH and complexity of the #Created Prompt# should be similar to that of the #Given Prompt#.\n"
    "The #Created Prompt# must be reasonable and must be understood and responded by humans.\n"
    "'#Given Prompt#', '#Created Prompt#', 'given prompt' and 'created prompt' are not allowed to appear in "
    "#Created Prompt#\n"
    "#Given Prompt#:\n{instruction}\n#Created Prompt#:\n"
)
_EQUAL = (
    "Here are two Instructions to ChatGPT, do you think they are equal to each other, which meet the following "
    "requirements:\n1. They have same constraints and requirments.\n2. They have same depth and breadth of the inquiry.\n"
    "The First Prompt: {a}\nThe Second Prompt: {b}\n"
    "Your Judgement (Just answer: Equal or Not Equal. No need to explain the reason.):"
)
_LEAKED = ("#the given prompt#", "#rewritten prompt#", "#given prompt#", "#created prompt#", "given prompt",
           "rewritten prompt", "created prompt")  # fmt: skip
_LABEL = re.compile(r"(?is)^\s*(?:\*\*)?#*\s*(?:the\s+)?(?:rewritten|created|new)\s+prompt\s*#*\s*:?\s*(?:\*\*)?\s*")
_STOPWORDS = frozenset(
    ["a", "an", "the", "and", "or", "but", "if", "then", "of", "to", "in", "on", "at", "by", "for", "with", "is", "are", "was", "were", "be", "been", "it", "this", "that", "these", "those", "i", "you", "he", "she", "we", "they", "me", "my", "your", "our", "his", "her", "its", "their", "as", "so", "not", "no", "yes", "do", "does", "did"]
)


def evolve_prompt(operation: str, instruction: str) -> str:
    if operation == "breadth":
        return _BREADTH.format(instruction=instruction)
    return _DEPTH.format(method=_METHODS[operation], instruction=instruction)


def parse_evolved(text: str) -> str:
    """The evolved instruction: the completion without an echoed label, quotes or trailing notes."""
    text = _LABEL.sub("", text.replace("\r\n", "\n").strip())
    text = text.split("\n\n#")[0].strip().strip('"').strip()
    return text


def response_reject_reason(response: str) -> str | None:
    words = response.split()
    if not words:
        return "empty_response"
    if "sorry" in response.lower() and len(words) < 80:
        return "response_sorry"
    tokens = re.findall(r"\w+", response.lower())
    if all(t in _STOPWORDS for t in tokens):
        return "response_trivial"
    return None


def no_gain(parent: str, child: str) -> bool:
    """True when the child adds no word the parent lacks (or is the parent)."""
    p = set(re.findall(r"\w+", parent.lower()))
    c = set(re.findall(r"\w+", child.lower()))
    return normalize(parent) == normalize(child) or c <= p


class EvolInstruct(Synthesizer):
    """Evol-Instruct on any backend; see the module docstring."""

    method = "evol_instruct"
    template_version = TEMPLATE_VERSION

    def _params(self) -> dict:
        ev = self.config.evol
        return {"evolve": ev.evolve_sampling.model_dump(), "response": ev.response_sampling.model_dump()}

    def _population(self) -> list[Task]:
        by_id = {t.id: t for t in self.seeds} | {t.id: t for t in self.pool}
        ids = self.state.get("population") or [t.id for t in self.seeds]
        return [by_id[i] for i in ids]

    @staticmethod
    def _text_of(task: Task) -> str:
        # Evolve the instruction together with its input, as WizardLM evolves whole prompts.
        inp = task.instances[0]["input"] if task.instances and task.origin == "seed" else ""
        return f"{task.instruction}\n{inp}".strip() if inp else task.instruction

    def run_round(self, round_no: int, stats: RoundStats) -> None:
        ev = self.config.evol
        population = self._population()
        rng = random.Random(f"{self.config.seed}:{round_no}")
        chosen = rng.sample(range(len(population)), min(ev.per_round, len(population)))
        ops = [rng.choice(ev.operations) for _ in chosen]
        parents = [population[i] for i in chosen]
        requests = [
            Request.chat(evolve_prompt(op, self._text_of(p)), ev.evolve_sampling.params(), sample=round_no, tasks=(p.id,))
            for op, p in zip(ops, parents, strict=True)
        ]
        stats.requests = len(requests)
        evolved = self.call(requests, f"round {round_no}: evolve")

        index = self.rouge_index()
        pool_pos = {t.id: i for i, t in enumerate(self.seeds + self.pool)}
        seen = {normalize(t.instruction) for t in self.seeds + self.pool}
        survivors: list[tuple[int, str, str, Task]] = []  # (population slot, op, text, parent)
        made_by: dict[str, str] = {}  # evolved text -> the key of the call whose completion holds it
        for slot, op, parent, completion, request in zip(chosen, ops, parents, evolved, requests, strict=True):
            if completion is None:
                continue
            stats.answered += 1
            stats.candidates += 1
            text = parse_evolved(completion.text)
            lineage = [parent.id, *parent.parents]
            lowered = text.lower()
            reason = None
            if not text:
                reason = "empty"
            elif any(w in lowered for w in _LEAKED):
                reason = "copies_prompt"
            elif no_gain(self._text_of(parent), text):
                reason = "no_gain"
            else:
                exclude = {pool_pos[parent.id]} if parent.id in pool_pos else None
                reason = self.instruction_reject_reason(text, index, seen, exclude)
            if reason:
                self.reject(round_no, stats, text, reason, lineage)
                continue
            index.add(text)
            seen.add(normalize(text))
            survivors.append((slot, op, text, parent))
            made_by[text] = request.key(self.llm.model)

        if survivors and ev.llm_equality_check:
            checks = self.call(
                [
                    Request.chat(_EQUAL.format(a=self._text_of(p), b=t), ev.response_sampling.params(),
                                 tasks=(p.id, task_id(t, "evol")))
                    for _, _, t, p in survivors
                ],
                f"round {round_no}: equality",
            )
            kept = []
            for s, c in zip(survivors, checks, strict=True):
                if c is not None and re.match(r"\W*equal\b", c.text.strip(), re.I):
                    self.reject(round_no, stats, s[2], "equal_to_parent", [s[3].id, *s[3].parents])
                else:
                    kept.append(s)
            survivors = kept

        responses = self.call(
            [Request.chat(text, ev.response_sampling.params(), tasks=(task_id(text, "evol"),)) for _, _, text, _ in survivors],
            f"round {round_no}: responses",
        )
        population_ids = [t.id for t in population]
        for (slot, op, text, parent), resp in zip(survivors, responses, strict=True):
            lineage = [parent.id, *parent.parents]
            if resp is None:
                self.reject(round_no, stats, text, "no_response", lineage)
                continue
            reason = response_reject_reason(resp.text)
            if reason:
                self.reject(round_no, stats, text, reason, lineage)
                continue
            self.cache.tag(made_by[text], [task_id(text, "evol")])
            task = Task(
                id=task_id(text, "evol"),
                instruction=text,
                instances=[{"input": "", "output": resp.text.strip()}],
                origin="machine",
                parents=lineage,
                generator=self.generator({**self._params(), "operation": op}),
                round=round_no,
            )
            self.pool.append(task)
            population_ids[slot] = task.id
            stats.accepted += 1
        self.state["population"] = population_ids
