"""Personal data: detect, scrub by policy, remember only salted hashes (the ``pii`` operator).

Modules: :mod:`.patterns` (one Hyperscan pass and the validators of its hits),
:mod:`.phones` (phonenumbers), :mod:`.secrets` (detect-secrets and the prefixes it
lacks), :mod:`.names` (name cues, lists, shapes, NER on windows), :mod:`.detect`
(the detector), :mod:`.scrub` (replacements), :mod:`.operator` (config and operator).
"""

from filters.pii.detect import (
    DEFAULT_TYPES,
    NER_TYPES,
    PATTERN_TYPES,
    SECRET_TYPES,
    SPACY_MODEL,
    STRUCTURED_TYPES,
    TAGS,
    Detector,
)
from filters.pii.operator import EntityPolicy, Pii, PiiConfig, offline_tldextract, structured_findings
from filters.pii.patterns import Finding

__all__ = ["DEFAULT_TYPES", "NER_TYPES", "PATTERN_TYPES", "SECRET_TYPES", "SPACY_MODEL", "STRUCTURED_TYPES", "TAGS",
           "Detector", "EntityPolicy", "Finding", "Pii", "PiiConfig", "offline_tldextract", "structured_findings"]
