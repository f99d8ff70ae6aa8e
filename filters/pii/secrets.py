"""Secrets: detect-secrets' service plugins, a few prefixes it lacks, and high-entropy values in context.

detect-secrets 1.5 (Yelp) carries the regexes of the services it knows (AWS,
Azure, Artifactory, Discord, GitHub, GitLab, JWT, Mailchimp, npm, OpenAI, PyPI,
private-key headers, SendGrid, Slack, Square, Stripe, Telegram, Twilio, ...): they
are taken from its plugin classes at setup and run only on the lines a trigger
pass (:mod:`filters.pii.patterns`) marked, each match widened to the end of its
token (a Stripe key longer than the 24 characters its regex asks for).

Our own patterns only where detect-secrets has none:

* ``sk-ant-...`` Anthropic, ``hf_...`` Hugging Face, ``AIza...`` Google API keys;
* ``sk-proj-`` / ``sk-svcacct-`` OpenAI keys without the ``T3BlbkFJ`` marker its
  regex requires, ``github_pat_`` fine-grained GitHub tokens, ``sk_test_``/``rk_test_``
  Stripe test keys;
* the whole PEM/OpenSSH private-key block (its plugin only sees the header line).

A high-entropy string is a secret only in context: after a keyword assignment
(detect-secrets' keyword list plus ``token``, ``bearer``, ``passwort``...), in an
``Authorization``/``X-...-Token`` header, or on a command line after ``-p``; and
not when detect-secrets' heuristics call it a template, an indirect reference, a
UUID or a sequence. A git hash in prose, a SHA-256 in a checksum line survive.
"""

from __future__ import annotations

import functools
import re

# Our prefixes (see the module docstring): (name, regex); each match runs to the end of its token.
OWN_PATTERNS = (
    ("anthropic", r"sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{32,}"),
    ("openai", r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{32,}"),
    ("huggingface", r"\bhf_[A-Za-z]{30,}"),
    ("google", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("github_fine", r"\bgithub_pat_[A-Za-z0-9_]{50,}"),
    ("stripe_test", r"\b[rs]k_(?:test|live)_[0-9A-Za-z]{16,}"),
)
PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
)
# Words that make the value after them a credential (detect-secrets' keyword list is added at setup).
KEYWORDS = ("token", "access_?token", "auth_?token", "api_?token", "api_?secret", "client_?secret", "secret_?key",
            "access_?key", "bearer", "credentials?", "passwort", "mot_?de_?passe", "wachtwoord", "haslo", "hasło",
            "salasana", "jelszó", "heslo", "senha", "parola")
# Values that only name a secret ("${TOKEN}", "<your key>", "os.environ[...]", "changeme").
_PLACEHOLDER = re.compile(r"^(?:\$|<|\{|%|\*+$|x{4,}|\.{3})|^(?:changeme|password|secret|token|none|null|true|false)$",
                          re.IGNORECASE)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.~]*")


# Public IPs are the IP recognizer's; private keys are matched as whole blocks here; Artifactory's ``AP...``/``AKC...``
# prefixes match ordinary identifiers (``APDUCommand``).
_SKIPPED = ("IPPublicDetector", "PrivateKeyDetector", "ArtifactoryDetector")


@functools.lru_cache(maxsize=1)
def service_regexes() -> tuple[tuple[str, re.Pattern], ...]:
    """detect-secrets' service regexes (its RegexBasedDetector plugins, less the public-IP one) and ours."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    out = []
    for cls in get_mapping_from_secret_type_to_class().values():
        if not issubclass(cls, RegexBasedDetector) or cls.__name__ in _SKIPPED:
            continue
        out += [(cls.__name__, rx) for rx in cls().denylist]
    out += [(name, re.compile(rx)) for name, rx in OWN_PATTERNS]
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _context_regex() -> re.Pattern:
    from detect_secrets.plugins.keyword import DENYLIST

    words = "|".join(sorted({*DENYLIST, *KEYWORDS}, key=len, reverse=True))
    return re.compile(
        # key = value, key: value, "key": "value", KEY=value (an .env line), key => value
        rf"(?i)(?:[\w.\-]*?(?:{words})[\w\-]*)[\"'\]]?\s*(?:=>|:=|[:=])\s*[\"'`]?([^\s\"'`,;]{{6,200}})"
        # Authorization: Bearer x, X-Auth-Token: x, PRIVATE-TOKEN: x
        r"|(?i:\bbearer|\btoken)\s+([A-Za-z0-9\-._~+/]{16,}=*)"
        # mysql -p"secret", --password secret
        r"|(?:\s-p|--password[= ])[\"']?([^\s\"']{6,})"
    )


def _entropy(value: str) -> float:
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    return Base64HighEntropyString().calculate_shannon_entropy(value)


def secret_like(value: str) -> bool:
    """A value in a credential's place that reads as one: not a placeholder, a reference or a plain word."""
    from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string

    if _PLACEHOLDER.search(value) or is_sequential_string(value) or is_potential_uuid(value):
        return False
    if re.fullmatch(r"[A-Za-z_][\w.]*\(.*|[a-z_]+(?:\.[a-z_]+)+|[A-Za-z]+", value):
        return False  # a call, an attribute path, a plain word
    if "/" in value and not re.search(r"\d", value):
        return False  # a path
    classes = sum(bool(re.search(rx, value)) for rx in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return classes >= 2 and _entropy(value) >= (2.5 if len(value) < 16 else 3.0)


def find_secrets(text: str, lines: list[tuple[int, int]]) -> list[tuple[str, int, int, float]]:
    """Secrets ``(kind, start, end, score)`` on the given line spans of ``text`` (those a trigger marked); the kind
    is the detect-secrets plugin's class name, our pattern's name, ``private_key`` or ``context``."""
    found: list[tuple[str, int, int, float]] = []
    if "-----BEGIN" in text:
        found += [("private_key", m.start(), m.end(), 1.0) for m in PRIVATE_KEY.finditer(text)]
    context = _context_regex()
    for lo, hi in lines:
        line = text[lo:hi]
        for kind, rx in service_regexes():
            for m in rx.finditer(line):
                g = 1 if rx.groups and m.group(1) and m.start(1) >= 0 and m.group(1) != m.group() else 0
                start, end = m.start(g), m.end(g)
                end = _TOKEN_CHARS.match(line, end).end()  # the whole token
                found.append((kind, lo + start, lo + end, 0.95))
        for m in context.finditer(line):
            g = next(i for i in (1, 2, 3) if m.group(i))
            value = m.group(g).rstrip(".")
            if secret_like(value):
                found.append(("context", lo + m.start(g), lo + m.start(g) + len(value), 0.8))
    return found
