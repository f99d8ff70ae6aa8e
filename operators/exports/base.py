"""What every export format shares: its error and the batch size between a reader and a writer."""

from __future__ import annotations

#: Documents per batch handed from a reader to a writer.
BATCH_ROWS = 8192


class ExportError(ValueError):
    """An export cannot be written, read back or rewritten; the message names the file."""
