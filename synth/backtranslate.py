"""Instruction backtranslation (Li et al., 2023, "Self-Alignment with Instruction Backtranslation").

Human-written text becomes the *answer* of an instruction pair:

1. *Segments.* Documents are cut into self-contained segments within length
   bounds, in the wanted languages, without boilerplate (the pipelines layer
   selects them with the same ``lang_id`` and ``c4_fineweb`` operators as the
   text path and writes ``segments.jsonl`` into the work folder).
2. *Self-augmentation.* The model is shown a segment as an AI assistant's
   response and asked for the instruction that response answers. The paper
   fine-tunes a backward model on seed (output, instruction) pairs for this;
   with a ready-made instruct model the seed pairs serve as few-shot examples
   in the prompt instead (``few_shot``; 0 asks zero-shot).
3. *Self-curation.* The model rates each (instruction, segment) pair with the
   paper's 5-point rubric (its Table 19, verbatim) and writes ``Score: <n>``;
   pairs scoring at least ``threshold`` (the paper's 4 by default) are kept.

Each kept pair is a machine task whose ``parents`` is the source document id
and whose ``generator`` names the model, the method and both template
versions; the records carry the curation score, which ``synth_record`` puts in
the ledger. Rounds take ``per_round`` segments in a fixed order, and every call
is cached by request hash, so a resumed run repeats no call.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth.backends import Request
from synth.engine import RoundStats, Synthesizer, training_record
from synth.pool import RougeIndex, Task, normalize, read_jsonl, write_jsonl_atomic

AUGMENT_VERSION = "backtranslate-augment/1"
CURATE_VERSION = "humpback-curate/1"  # the paper's Table 19 rubric
TEMPLATE_VERSION = f"{AUGMENT_VERSION}+{CURATE_VERSION}"

AUGMENT_HEADER = (
    "Below is a response written by an AI assistant. Write the instruction that a user gave to get this "
    "response. The instruction must be specific and self-contained. Write only the instruction: do not answer "
    "it and do not comment on the response."
)

# Li et al. (2023), Table 19: the prompt of the self-curation step, verbatim.
CURATE_RUBRIC = """Below is an instruction from an user and a candidate answer. Evaluate whether or not the answer is a good example of how AI Assistant should respond to the user's instruction. Please assign a score using the following 5-point scale:
1: It means the answer is incomplete, vague, off-topic, controversial, or not exactly what the user asked for. For example, some content seems missing, numbered list does not start from the beginning, the opening sentence repeats user's question. Or the response is from another person's perspective with their personal experience (e.g. taken from blog posts), or looks like an answer from a forum. Or it contains promotional text, navigation text, or other irrelevant information.
2: It means the answer addresses most of the asks from the user. It does not directly address the user's question. For example, it only provides a high-level methodology instead of the exact solution to user's question.
3: It means the answer is helpful but not written by an AI Assistant. It addresses all the basic asks from the user. It is complete and self contained with the drawback that the response is not written from an AI assistant's perspective, but from other people's perspective. The content looks like an excerpt from a blog post, web page, or web search results. For example, it contains personal experience or opinion, mentions comments section, or share on social media, etc.
4: It means the answer is written from an AI assistant's perspective with a clear focus of addressing the instruction. It provide a complete, clear, and comprehensive response to user's question or instruction without missing or irrelevant information. It is well organized, self-contained, and written in a helpful tone. It has minor room for improvement, e.g. more concise and focused.
5: It means it is a perfect answer from an AI Assistant. It has a clear focus on being a helpful AI Assistant, where the response looks like intentionally written to address the user's question or instruction without any irrelevant sentences. The answer provides high quality content, demonstrating expert knowledge in the area, is very well written, logical, easy-to-follow, engaging and insightful.

Please first provide a brief reasoning you used to derive the rating score, and then write "Score: <rating>" in the last line."""  # noqa: E501

_SCORE = (re.compile(r"Score:\s*\**\s*([1-5])\b"), re.compile(r"(?i)\bscore\W{0,6}([1-5])\b"))
_INSTRUCTION_LABEL = re.compile(
    r"(?i)^\s*(?:\*\*)?\s*(?:(?:the\s+)?(?:instruction|user|question|prompt)\s*(?:\*\*)?\s*:|the instruction is:?)\s*(?:\*\*)?\s*"
)
_REFUSAL = re.compile(r"(?i)\b(?:i'm sorry|i am sorry|i cannot|i can't|as an ai)\b")


@dataclass
class BacktranslatedTask(Task):
    """A kept pair: the task, the segment it was made from and its curation score."""

    segment_id: str = ""
    curation_score: float | None = None


def augment_prompt(segment: str, examples: list[Task]) -> str:
    """The self-augmentation prompt: few-shot (response -> instruction) pairs, then the segment."""
    parts = [AUGMENT_HEADER, ""]
    for t in examples:
        parts += [f"Response:\n{t.instances[0]['output']}", f"Instruction: {t.instruction}", ""]
    parts += [f"Response:\n{segment}", "Instruction:"]
    return "\n".join(parts)


def curate_prompt(instruction: str, answer: str) -> str:
    """The paper's self-curation prompt for one (instruction, answer) pair."""
    return f"{CURATE_RUBRIC}\n\nInstruction: {instruction}\n\nAnswer: {answer}"


def parse_instruction(text: str) -> str:
    """The instruction in an augmentation answer: its first paragraph, without a label or quotes."""
    text = text.replace("\r\n", "\n").strip()
    text = _INSTRUCTION_LABEL.sub("", text, count=1)
    first = re.split(r"\n\s*\n|\n\s*Response\s*:", text, maxsplit=1)[0]
    return " ".join(first.split()).strip().strip('"').strip()


def parse_score(text: str) -> int | None:
    """The 1-5 curation score (``Score: <n>``, the last one written), or None."""
    for pattern in _SCORE:
        matches = pattern.findall(text)
        if matches:
            return int(matches[-1])
    return None


def segments_key(segments: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps([s["id"] for s in segments]).encode()).hexdigest()[:16]


class Backtranslate(Synthesizer):
    """Instruction backtranslation over the segments in ``work_dir/segments.jsonl``; see the module docstring.

    Args:
        segments: ``{id, document_id, text}`` records; written to ``segments.jsonl``
            when the work folder has none (``assay synth`` prepares them from the
            recipe's documents).
    """

    method = "backtranslate"
    template_version = TEMPLATE_VERSION

    def __init__(self, config, work_dir, llm=None, on_progress=None, segments: list[dict[str, Any]] | None = None):
        work = Path(work_dir)
        path = work / "segments.jsonl"
        if segments is not None and not path.exists():
            write_jsonl_atomic(path, segments)
        if not path.exists():
            raise ValueError(
                f"{path} is missing: backtranslation needs documents; give backtranslate.documents in the recipe "
                "or --documents"
            )
        self.segments = read_jsonl(path)
        super().__init__(config, work_dir, llm, on_progress)
        self.pool = [BacktranslatedTask.from_dict(d) for d in read_jsonl(self.work / "pool.jsonl")]
        key = segments_key(self.segments)
        if self.state.setdefault("segments_key", key) != key:
            raise ValueError(f"{self.work} was started on other documents; use another work folder")
        bt = config.backtranslate
        # The seed pairs with the longest answers make the best examples of a document-length response.
        with_output = [t for t in self.seeds if t.instances and t.instances[0]["output"].strip()]
        self.examples = sorted(with_output, key=lambda t: (-len(t.instances[0]["output"]), t.id))[: bt.few_shot]

    def _params(self) -> dict[str, Any]:
        bt = self.config.backtranslate
        return {
            "augment": bt.augment_sampling.model_dump(),
            "curate": bt.curate_sampling.model_dump(),
            "threshold": bt.threshold,
            "few_shot": [t.id for t in self.examples],
        }

    def exhausted(self) -> bool:
        return len(self.state["rounds"]) * self.config.backtranslate.per_round >= len(self.segments)

    def run_round(self, round_no: int, stats: RoundStats) -> None:
        bt = self.config.backtranslate
        batch = self.segments[(round_no - 1) * bt.per_round : round_no * bt.per_round]
        stats.requests = len(batch)
        aug = bt.augment_sampling.params()
        answers = self.call([Request.chat(augment_prompt(s["text"], self.examples), aug) for s in batch],
                            f"round {round_no}: instructions")  # fmt: skip

        seen = {normalize(t.instruction) for t in self.pool}
        index = RougeIndex()
        f = self.config.filters
        pairs: list[tuple[dict[str, Any], str]] = []
        for seg, answer in zip(batch, answers, strict=True):
            parents = [seg["document_id"]]
            if answer is None:
                self.reject(round_no, stats, "", "no_answer", parents)
                continue
            stats.answered += 1
            stats.candidates += 1
            instruction = parse_instruction(answer.text)
            words = len(instruction.split())
            if words < f.min_words:
                reason = "too_short"
            elif words > f.max_words:
                reason = "too_long"
            elif _REFUSAL.search(instruction):
                reason = "refusal"
            elif normalize(instruction) in seen:
                reason = "duplicate"
            elif normalize(instruction) in normalize(seg["text"]):
                reason = "copies_segment"  # the model continued the document instead
            elif any(index.score(instruction, t.instruction) >= f.rouge_threshold for t in self.examples):
                reason = "copies_example"  # small models repeat the few-shot instruction
            else:
                reason = None
            if reason:
                self.reject(round_no, stats, instruction, reason, parents)
                continue
            seen.add(normalize(instruction))
            pairs.append((seg, instruction))
        if not pairs:
            return

        cur = bt.curate_sampling.params()
        verdicts = self.call([Request.chat(curate_prompt(ins, seg["text"]), cur) for seg, ins in pairs],
                             f"round {round_no}: curation")  # fmt: skip
        generator = self.generator(self._params())
        for (seg, instruction), verdict in zip(pairs, verdicts, strict=True):
            parents = [seg["document_id"]]
            score = parse_score(verdict.text) if verdict is not None else None
            if verdict is None:
                self.reject(round_no, stats, instruction, "no_curation_answer", parents)
            elif score is None:
                self.reject(round_no, stats, instruction, "unparsed_score", parents)
            elif score < bt.threshold:
                self.reject(round_no, stats, instruction, f"score<{bt.threshold}", parents)
                self.rejected[-1]["score"] = score
            else:
                self.pool.append(
                    BacktranslatedTask(
                        id="bt-" + hashlib.sha256(f"{seg['id']}\x00{normalize(instruction)}".encode()).hexdigest()[:16],
                        instruction=instruction,
                        instances=[{"input": "", "output": seg["text"]}],
                        origin="machine",
                        parents=parents,
                        generator=generator,
                        round=round_no,
                        segment_id=seg["id"],
                        curation_score=float(score),
                    )
                )
                stats.accepted += 1

    def write_records(self) -> int:
        rows = []
        for t in self.pool:
            row = training_record(t, 0, t.instances[0])
            row.update(segment_id=t.segment_id, curation_score=t.curation_score)
            rows.append(row)
        write_jsonl_atomic(self.work / "records.jsonl", rows)
        return len(rows)
