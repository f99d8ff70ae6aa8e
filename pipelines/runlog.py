"""The run's log file: where Ray's own lines go, so the terminal keeps only what a user can act on.

Ray writes to this process's stderr through several channels: its Python
loggers (the token-authentication notice, Ray Data's "progress bars disabled"),
the C++ core worker's log lines (an actor's "constructor arguments in the object
store" notice), and the output of its workers and raylets forwarded to the
driver. No Ray setting quiets all of them, so during a run the process's file
descriptor 2 points at the log file, and assay's own output (its console and
its loggers' warnings) is written to a duplicate of the terminal's descriptor
taken before. ``assay -v`` leaves stderr alone: everything shows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from operators.core.io import is_local, local_path


def log_path(output: str) -> Path:
    """``OUTPUT/logs/<UTC time>.log`` for a local output; a temporary folder's for a remote one (s3://...)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if not is_local(output):
        return Path(tempfile.gettempdir()) / "assay-logs" / f"{stamp}.log"
    return Path(local_path(output)) / "logs" / f"{stamp}.log"


@contextlib.contextmanager
def stderr_to_log(path: Path, console: Console, verbose: bool = False) -> Iterator[Path | None]:
    """Send this process's stderr (fd 2) to ``path`` while the block runs; ``console`` and the
    root logger's handlers keep writing to the terminal. Yields the path (None when ``verbose``)."""
    if verbose:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)
                and getattr(h, "stream", None) in (sys.stderr, sys.__stderr__)]
    with open(path, "ab", buffering=0) as log:
        log.write(f"--- assay {' '.join(sys.argv[1:])} ({time.strftime('%Y-%m-%d %H:%M:%S %Z')})\n".encode())
        os.dup2(log.fileno(), 2)
        console.file = terminal
        for handler in handlers:
            handler.setStream(terminal)
        try:
            yield path
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            console.file = None  # back to sys.stderr
            for handler in handlers:
                handler.setStream(sys.stderr)
            terminal.close()
