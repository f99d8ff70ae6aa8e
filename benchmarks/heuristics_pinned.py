"""Do the pinned documents of tests/filters/test_quality.py decide there as DataTrove 0.10 decides them?

The compat-datatrove tests assert decisions that DataTrove's filters must share: each
rule's document is dropped for that rule (and, with the rule switched off, for the
reason the test says, or kept), each near miss is kept, and each document the two
compat modes split differently gets the datatrove mode's decision. This runs every
one of them through DataTrove's filter of the same name, with the same settings
translated to DataTrove's arguments, in DataTrove's own venv (see
heuristics_agreement.py), and prints each mismatch; exit status 1 if there is one.

    python benchmarks/heuristics_pinned.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from heuristics_agreement import REASONS, datatrove_python  # noqa: E402

CHILD = r"""
import json, sys
from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
FILTERS = {"gopher_quality": GopherQualityFilter, "gopher_repetition": GopherRepetitionFilter,
           "c4": C4QualityFilter, "fineweb": FineWebQualityFilter}
out = []
for item in json.load(open(sys.argv[1])):
    kw = item["kw"]
    for key in ("top_n_grams", "dup_n_grams"):
        if key in kw:
            kw[key] = tuple(tuple(pair) for pair in kw[key])
    doc = Document(text=item["text"], id="pinned")
    r = FILTERS[item["op"]](**kw).filter(doc)
    out.append({"reason": None if r is True else r[1], "text": doc.text})
json.dump(out, open(sys.argv[2], "w"))
"""
GOPHER_QUALITY = {
    "min_words": "min_doc_words",
    "max_words": "max_doc_words",
    "min_mean_word_length": "min_avg_word_length",
    "max_mean_word_length": "max_avg_word_length",
    "max_symbol_ratio": "max_symbol_word_ratio",
    "max_bullet_lines_frac": "max_bullet_lines_ratio",
    "max_ellipsis_lines_frac": "max_ellipsis_lines_ratio",
    "min_alpha_words_frac": "max_non_alpha_words_ratio",
    "min_stop_words": "min_stop_words",
}
# FineWeb's limits have no "off": a value no ratio passes.
FINEWEB_OFF = {"line_punct_thr": 0.0, "short_line_thr": 1.0, "char_duplicates_ratio": 1.0, "new_line_ratio": 1e9}


def datatrove_kwargs(op: str, params: dict) -> dict:
    """assay's parameters of one operator as DataTrove's filter takes them."""
    if op == "gopher_quality":
        return {GOPHER_QUALITY[k]: v for k, v in params.items()}
    if op == "gopher_repetition":
        from filters.quality.gopher_repetition import GopherRepetitionConfig

        cfg = GopherRepetitionConfig(**params)
        kw = {name: getattr(cfg, f"max_{name}") for name in ("dup_line_frac", "dup_para_frac")}
        kw |= {name: getattr(cfg, f"max_{name}") for name in ("dup_line_char_frac", "dup_para_char_frac")}
        kw["top_n_grams"] = [(n, v) for n in (2, 3, 4) if (v := getattr(cfg, f"max_top_{n}gram_frac")) is not None]
        kw["dup_n_grams"] = [(n, v) for n in range(5, 11) if (v := getattr(cfg, f"max_dup_{n}gram_frac")) is not None]
        return kw
    if op == "c4":
        renamed = {"min_sentences": "min_num_sentences"}
        return {renamed.get(k, k): (-1 if v is None else v) for k, v in params.items()}
    return {k: FINEWEB_OFF[k] if v is None else v for k, v in params.items()}


def pinned() -> list[tuple[str, str, dict, str, str | None]]:
    """(what, operator, params, document, the reason assay's test expects) for every datatrove-mode pin."""
    from tests.filters import test_quality as t

    cases = [("clean paragraph", op.name, {}, t.CLEAN, None) for op in t.COMPAT_OPS]
    for op, reason, off, then, text in t.DATATROVE_CASES:
        cases.append((f"{reason}", op.name, {}, text, reason))
        if off:
            cases.append((f"{reason} switched off", op.name, off, text, then))
    cases += [(f"kept: {why}", op.name, {}, text, None) for op, _, why, text in t.DATATROVE_KEPT]
    cases += [(f"pin ({reason or 'kept'})", op.name, {}, text, reason) for op, reason, _, text in t.MODE_PINS]
    return cases


def main() -> None:
    python = datatrove_python()
    if python is None:
        sys.exit("DataTrove is needed for this check")
    cases = pinned()
    items = [{"op": op, "kw": datatrove_kwargs(op, params), "text": text} for _, op, params, text, _ in cases]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "child.py").write_text(CHILD)
        (Path(tmp) / "in.json").write_text(json.dumps(items))
        subprocess.run([python, Path(tmp) / "child.py", Path(tmp) / "in.json", Path(tmp) / "out.json"], check=True)
        got = json.loads((Path(tmp) / "out.json").read_text())
    wrong = 0
    for (what, op, params, _, expected), result in zip(cases, got, strict=True):
        theirs = result["reason"] and REASONS.get(result["reason"], result["reason"])
        if theirs != expected:
            wrong += 1
            print(f"MISMATCH {op}: {what} {params or ''}: the test expects {expected}, DataTrove says {theirs}")
    print(f"{len(cases) - wrong}/{len(cases)} pinned decisions are DataTrove's")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
