"""Self-Instruct (Wang et al., 2022): bootstrap instructions from a small seed set.

Each round, as in the paper:

1. *Instruction generation.* Every prompt lists 8 tasks, 6 sampled from the
   human-written seeds and 2 from the machine tasks accepted so far (seeds fill
   in while there are fewer), shuffled, as ``Task 1: ... Task 8:`` and ends with
   ``Task 9:`` for the model to continue.
2. *Filtering.* A new instruction is kept only if it is 3-150 words long, has
   no keyword of a task a text model cannot do (image, graph, file, draw,
   plot, go to, audio, ...), does not start with "Write a program", with
   punctuation or a non-ASCII character, is not an exact duplicate, and its
   ROUGE-L F with every instruction in the pool (seeds, machine tasks and the
   ones accepted earlier in the round) is below 0.7.
3. *Classification detection.* A few-shot prompt built from the seeds' labels
   asks whether the task is classification with finite output labels.
4. *Instance generation.* Input-first for ordinary tasks (the model writes an
   input, then its output), output-first for classification tasks (a class
   label, then an input for it), so that labels are not skewed to one class.
5. *Instance filtering.* Instances with an empty output, an output equal to the
   input, an over-long field, exact duplicates, or one input given different
   outputs are removed; a task left without an instance is rejected.

Accepted tasks join the pool with their parents (the 8 tasks in the prompt)
and their generator; rounds repeat until the target count, the round limit or
the token budget.
"""

from __future__ import annotations

import random
import re

from synth.backends import Request
from synth.engine import RoundStats, Synthesizer
from synth.pool import Task, normalize, split_tasks, task_id

TEMPLATE_VERSION = "self_instruct/1"

_INSTANCE_HEADER = (
    "Come up with examples for the following tasks. Try to generate multiple examples when possible. "
    "If the task doesn't require additional input, you can generate the output directly.\n\n"
)
_CLASS_HEADER = (
    "Given the classification task definition and the class labels, generate an input that corresponds to each of "
    "the class labels. If the task doesn't require input, just generate the correct class label.\n\n"
)
_IS_CLASS_HEADER = "Can the following task be regarded as a classification task with finite output labels?\n\n"

_FIELD = re.compile(r"(?im)^\s*(?:\*\*)?(input|output|class label|label)\s*(?:\*\*)?\s*[:\-]\s*(?:\*\*)?")
_EXAMPLE_LINE = re.compile(r"(?im)^\s*(?:#+\s*)?example\s*\d*\s*:?\s*$")


def instruction_prompt(examples: list[Task]) -> str:
    lines = ["Come up with a series of tasks:", ""]
    for i, t in enumerate(examples, start=1):
        lines.append(f"Task {i}: {t.instruction}")
    lines.append(f"Task {len(examples) + 1}:")
    return "\n".join(lines)


def parse_instructions(text: str) -> list[str]:
    """The new instructions in a completion (the continuation of ``Task 9:`` and any after it)."""
    return split_tasks(text)


def parse_instances(text: str, classification: bool) -> list[dict[str, str]]:
    """Instances in an instance-generation completion.

    Input-first: ``Input: ... Output: ...`` pairs (``Input`` optional, and a bare
    answer counts as an output with no input). Output-first: ``Class label: ...
    Input: ...`` pairs.
    """
    text = _EXAMPLE_LINE.sub("", text.replace("\r\n", "\n")).strip()
    if not text:
        return []
    marks = list(_FIELD.finditer(text))
    fields: list[tuple[str, str]] = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        name = m.group(1).lower()
        fields.append(("label" if name.startswith(("class", "label")) else name, text[m.end() : end].strip()))
    out: list[dict[str, str]] = []
    if classification:
        label = None
        for name, value in fields:
            if name in ("label", "output"):
                label = value.split("\n")[0].strip()
                if name == "output" and out and out[-1]["output"] == "":
                    out[-1]["output"] = label
            elif name == "input" and label is not None:
                out.append({"input": value, "output": label})
            elif name == "input":
                out.append({"input": value, "output": ""})
        if not marks:
            out.append({"input": "", "output": text.split("\n")[0].strip()})
        return out
    if not marks:
        return [{"input": "", "output": text}]
    pending_input = ""
    for name, value in fields:
        if name == "input":
            pending_input = value
        elif name == "output":
            out.append({"input": pending_input, "output": value})
            pending_input = ""
    return out


def filter_instances(instances: list[dict[str, str]], max_words: int) -> tuple[list[dict[str, str]], list[str]]:
    """Self-Instruct's instance filters: ``(kept, reasons of the removed)``."""
    kept, reasons = [], []
    for inst in instances:
        i, o = inst["input"].strip(), inst["output"].strip()
        if not o:
            reasons.append("empty_output")
        elif normalize(i) == normalize(o):
            reasons.append("output_equals_input")
        elif len(i.split()) > max_words or len(o.split()) > max_words:
            reasons.append("instance_too_long")
        else:
            kept.append({"input": i, "output": o})
    unique, seen = [], set()
    for inst in kept:
        key = (normalize(inst["input"]), normalize(inst["output"]))
        if key in seen:
            reasons.append("duplicate_instance")
        else:
            seen.add(key)
            unique.append(inst)
    outputs_by_input: dict[str, set[str]] = {}
    for inst in unique:
        outputs_by_input.setdefault(normalize(inst["input"]), set()).add(normalize(inst["output"]))
    final = []
    for inst in unique:
        if inst["input"] and len(outputs_by_input[normalize(inst["input"])]) > 1:
            reasons.append("conflicting_outputs")
        else:
            final.append(inst)
    return final, reasons


class SelfInstruct(Synthesizer):
    """The Self-Instruct bootstrap on any backend; see the module docstring."""

    method = "self_instruct"
    template_version = TEMPLATE_VERSION

    def _params(self) -> dict:
        si = self.config.self_instruct
        return {
            "instruction": si.instruction_sampling.model_dump(),
            "instance": si.instance_sampling.model_dump(),
            "classify": si.classify_sampling.model_dump(),
        }

    def sample_examples(self, rng: random.Random) -> list[Task]:
        si = self.config.self_instruct
        machine = rng.sample(self.pool, min(si.machine_examples, len(self.pool)))
        human_n = min(len(self.seeds), si.human_examples + si.machine_examples - len(machine))
        examples = machine + rng.sample(self.seeds, human_n)
        rng.shuffle(examples)
        return examples

    def run_round(self, round_no: int, stats: RoundStats) -> None:
        si = self.config.self_instruct
        params = si.instruction_sampling.params()
        prompts = []
        for j in range(si.requests_per_round):
            rng = random.Random(f"{self.config.seed}:{round_no}:{j}")
            prompts.append(self.sample_examples(rng))
        requests = [
            Request.chat(instruction_prompt(ex), params, sample=j, tasks=tuple(t.id for t in ex))
            for j, ex in enumerate(prompts)
        ]
        stats.requests = len(requests)
        completions = self.call(requests, f"round {round_no}: instructions")

        # 2. filter, in a fixed order so a resumed round decides exactly the same
        index = self.rouge_index()
        seen = {normalize(t.instruction) for t in self.seeds} | {normalize(t.instruction) for t in self.pool}
        candidates: list[tuple[str, list[str]]] = []
        made_by: dict[str, str] = {}  # candidate -> the key of the call whose completion holds it
        for request, examples, completion in zip(requests, prompts, completions, strict=True):
            if completion is None:
                continue
            stats.answered += 1
            parents = [t.id for t in examples]
            for text in parse_instructions(completion.text):
                stats.candidates += 1
                reason = self.instruction_reject_reason(text, index, seen)
                if reason:
                    self.reject(round_no, stats, text, reason, parents)
                    continue
                index.add(text)
                seen.add(normalize(text))
                candidates.append((text, parents))
                made_by[text] = request.key(self.llm.model)
        if not candidates:
            return

        # 3. classification detection
        cls_requests = [
            Request.chat(self._is_class_prompt(text), si.classify_sampling.params(), tasks=(task_id(text, "si"),))
            for text, _ in candidates
        ]
        cls_answers = self.call(cls_requests, f"round {round_no}: classification")
        is_class = [bool(a and re.match(r"\W*yes\b", a.text.strip(), re.I)) for a in cls_answers]

        # 4. instance generation: input-first, or output-first for classification
        inst_params = si.instance_sampling.params()
        inst_requests = []
        for (text, _), cls in zip(candidates, is_class, strict=True):
            prompt = self._instance_prompt(text, cls)
            inst_requests.extend(
                Request.chat(prompt, inst_params, sample=s, tasks=(task_id(text, "si"),))
                for s in range(si.instances_per_task)
            )
        inst_answers = self.call(inst_requests, f"round {round_no}: instances")

        # 5. instance filtering; a task needs at least one valid instance
        generator = self.generator(self._params())
        per = si.instances_per_task
        for k, ((text, parents), cls) in enumerate(zip(candidates, is_class, strict=True)):
            answers = inst_answers[k * per : (k + 1) * per]
            if all(a is None for a in answers):
                self.reject(round_no, stats, text, "no_instance_answer", parents)
                continue
            raw = [inst for a in answers if a is not None for inst in parse_instances(a.text, cls)]
            instances, _ = filter_instances(raw, self.config.filters.max_instance_words)
            if not instances:
                self.reject(round_no, stats, text, "no_valid_instance", parents)
                continue
            self.cache.tag(made_by[text], [task_id(text, "si")])
            self.pool.append(
                Task(
                    id=task_id(text, "si"),
                    instruction=text,
                    instances=instances,
                    is_classification=cls,
                    origin="machine",
                    parents=parents,
                    generator=generator,
                    round=round_no,
                )
            )
            stats.accepted += 1

    def _is_class_prompt(self, instruction: str) -> str:
        yes = [t for t in self.seeds if t.is_classification][:4]
        no = [t for t in self.seeds if not t.is_classification][:4]
        demos = [x for pair in zip(no, yes, strict=False) for x in pair] or self.seeds[:4]
        lines = [_IS_CLASS_HEADER.rstrip("\n"), ""]
        for t in demos:
            lines += [f"Task: {t.instruction}", f"Is it classification? {'Yes' if t.is_classification else 'No'}", ""]
        lines += [f"Task: {instruction}", "Is it classification?"]
        return "\n".join(lines)

    def _instance_prompt(self, instruction: str, classification: bool) -> str:
        demos = [t for t in self.seeds if t.is_classification == classification and t.instances][:3]
        if classification:
            body = "".join(
                f"Task: {t.instruction}\nClass label: {t.instances[0]['output']}\nInput: {t.instances[0]['input']}\n\n"
                for t in demos
            )
            return _CLASS_HEADER + body + f"Task: {instruction}\n"
        body = ""
        for t in demos:
            inst = t.instances[0]
            body += f"Task: {t.instruction}\nExample 1\n"
            body += (f"Input: {inst['input']}\n" if inst["input"] else "") + f"Output: {inst['output']}\n\n"
        return _INSTANCE_HEADER + body + f"Task: {instruction}\n"
