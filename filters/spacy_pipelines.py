"""spaCy pipelines built from spaCy's own components only, without importing other packages' plugins.

Every ``spacy.blank(...)`` and ``spacy.load(...)`` constructs a ``Language``, and its
constructor imports every package that registers a component under the
``spacy_factories`` entry-point group, whether the pipeline uses it or not. With
``presidio-analyzer`` installed (the peer ``benchmarks/pii.py`` measures against),
that is Presidio with torch and transformers: 3.9 CPU-seconds per worker process,
half of the set-up of a Gopher filter. The pipelines assay builds use only
spaCy's built-in components (a blank tokenizer, the small NER), so the entry
points are left unread while they are built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()


def build(make: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``make(*args, **kwargs)`` (``spacy.blank`` or ``spacy.load``) without reading other packages' factories."""
    from spacy import util

    # spaCy 3.8 (pinned below 3.9): a catalogue registry whose get_all() loads the entry points when asked to.
    registry = getattr(util.registry, "_entry_point_factories", None)
    if registry is None or not hasattr(registry, "entry_points"):
        return make(*args, **kwargs)
    with _LOCK:
        before, registry.entry_points = registry.entry_points, False
        try:
            return make(*args, **kwargs)
        finally:
            registry.entry_points = before
