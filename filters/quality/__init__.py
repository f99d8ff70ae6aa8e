"""Heuristic quality filters of the Gopher, C4 and FineWeb family.

* ``gopher_quality``: document shape (Rae et al. 2021, "Gopher", appendix A.1.1).
* ``gopher_repetition``: repeated lines, paragraphs and n-grams (Gopher, table A1).
* ``c4``: C4's rules (Raffel et al. 2020, section 2.2), as DataTrove's ``C4QualityFilter``.
* ``fineweb``: FineWeb's line statistics (Penedo et al. 2024), as DataTrove's ``FineWebQualityFilter``.
* ``c4_fineweb``: assay's per-document combination of the last two (text never rewritten).

Every signal is a column computed for a whole batch at once with Arrow compute
kernels and numpy: no Python object is made per word or per line, and per-word
properties are computed once per distinct word of the batch. ``decide`` only
compares those columns with the thresholds, so a retuned threshold needs
``redecide`` alone. Each rule drops under its own reason; the first failing rule,
in the order each class's docstring gives, is the one recorded.

``compat`` chooses the definitions: ``datatrove`` (the default) decides as
DataTrove 0.10, the implementation FineWeb was built with (its word tokenizers,
rule definitions and order); ``whitespace`` keeps assay's first definitions.
"""

from filters.quality.c4 import C4
from filters.quality.c4_fineweb import C4FineWeb
from filters.quality.fineweb import FineWeb
from filters.quality.gopher_quality import GopherQuality
from filters.quality.gopher_repetition import GopherRepetition

__all__ = ["C4", "C4FineWeb", "FineWeb", "GopherQuality", "GopherRepetition"]
