"""One writer per output folder: a lock file that names who holds it.

A run (``assay run``, a Dagster materialization) and an erasure (``assay
lineage forget``) write shards, manifests and the ledger of an output folder;
two of them at once would interleave. Each takes ``<output>/.assay.lock``
first: a small JSON file (host, pid, run id, start time) that is *linked* into
place, so it appears whole and only one taker can create it (``link(2)`` fails
when the name exists, like ``O_CREAT|O_EXCL``, and works the same on NFS).

* Held by another live process: the taker stops at once, naming the holder
  ("output X is being written by run R (pid P on host H since T)").
* Held by this process: taken again (a Dagster run's phases are five assets in
  one process; the run id is updated).
* Stale (the holder was on this host and its process is gone, or its pid now
  belongs to a later process): taken over with a warning.
* Held on another host: refused; the message says how to clear it if that
  host's run is known to be dead.

Object stores (``s3://``, ``gs://``...) have no atomic create-if-absent that
fsspec exposes everywhere, so outputs there are **not** locked: assay warns
and relies on the scheduler to run one writer per output (e.g. a Dagster run
queue limit). Only local and network-mounted folders are locked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from operators.core.io import is_local, local_path

log = logging.getLogger(__name__)

LOCK_FILE = ".assay.lock"


class OutputBusyError(RuntimeError):
    """Another run or erasure is writing the output folder."""


@dataclass(frozen=True)
class Holder:
    """Who holds an output's lock.

    Attributes:
        kind: ``run`` or ``erasure``.
        run_id: the run's (or erasure's) id.
        host: the holder's host name.
        pid: the holder's process id on that host.
        since: when it took the lock (ISO 8601, UTC).
        proc_start: the process's start time as the kernel counts it (tells a reused pid apart).
    """

    kind: str
    run_id: str
    host: str
    pid: int
    since: str
    proc_start: str | None = None

    def describe(self, output: str) -> str:
        return f"output {output} is being written by {self.kind} {self.run_id} (pid {self.pid} on host {self.host} since {self.since})"


def _proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), or None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(holder: Holder) -> bool:
    """Whether the holder's process (on this host) still runs: not gone, not a zombie, not a reused pid."""
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    try:
        with open(f"/proc/{holder.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False  # killed, not yet reaped by its parent
    except OSError:
        pass
    started = _proc_start(holder.pid)
    return holder.proc_start is None or started is None or started == holder.proc_start


class OutputLock:
    """The lock of one output folder (see the module docstring).

    Args:
        output: the output folder or URL.
    """

    def __init__(self, output: str):
        self.output = str(output)
        self.local = is_local(self.output)
        self.path = os.path.join(local_path(self.output), LOCK_FILE) if self.local else None
        self._warned = False

    def holder(self) -> Holder | None:
        """Who holds the lock now (None: nobody, or an object store)."""
        if self.path is None:
            return None
        try:
            with open(self.path) as f:
                return Holder(**json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):  # not ours, or from an incompatible version: treat as a dead holder
            return Holder("run", "(unreadable lock)", socket.gethostname(), -1, "?")

    def _mine(self, holder: Holder | None) -> bool:
        return holder is not None and holder.host == socket.gethostname() and holder.pid == os.getpid()

    def _write(self, run_id: str, kind: str, replace: bool) -> bool:
        """Create (or, when ``replace``, overwrite our own) lock file whole; False if another holder got there first."""
        me = Holder(
            kind=kind, run_id=run_id, host=socket.gethostname(), pid=os.getpid(),
            since=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), proc_start=_proc_start(os.getpid()),
        )
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.tmp-{uuid.uuid4().hex[:8]}"
        with open(tmp, "w") as f:
            json.dump(asdict(me), f)
        try:
            if replace:
                os.replace(tmp, self.path)
                return True
            try:
                os.link(tmp, self.path)  # atomic, and fails if the name exists
                return True
            except FileExistsError:
                return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)

    def acquire(self, run_id: str, kind: str = "run") -> None:
        """Take the lock for ``run_id``, or raise :class:`OutputBusyError` naming who holds it.

        Raises:
            OutputBusyError: a live process (or one on another host) holds it.
        """
        if self.path is None:
            if not self._warned:
                log.warning(
                    "%s is on an object store: assay cannot lock it, so make sure one run or erasure at a time "
                    "writes it (e.g. a Dagster run queue limit)", self.output,
                )
                self._warned = True
            return
        for _ in range(8):
            if self._write(run_id, kind, replace=False):
                return
            holder = self.holder()
            if holder is None:
                continue  # released between our try and our read
            if self._mine(holder):
                self._write(run_id, kind, replace=True)
                return
            if holder.host != socket.gethostname():
                raise OutputBusyError(
                    f"{holder.describe(self.output)}; if that run is dead, delete {self.path} and run again"
                )
            if _alive(holder):
                raise OutputBusyError(f"{holder.describe(self.output)}; wait for it to finish")
            self._take_over(holder)
        raise OutputBusyError(f"could not take {self.path}: other processes keep taking it")

    def _take_over(self, stale: Holder) -> None:
        """Move a dead holder's lock aside; put it back if it turns out to be a new holder's."""
        aside = f"{self.path}.stale-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another taker moved it first
        try:
            with open(aside) as f:
                moved = Holder(**json.load(f))
        except (ValueError, TypeError):
            moved = stale
        if moved != stale:  # someone took it over between our read and our rename: give it back
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        else:
            log.warning(
                "taking over a stale lock: %s, but that process is gone", stale.describe(self.output).replace(
                    "is being written", "was being written")
            )
        os.remove(aside)

    def release(self) -> None:
        """Give the lock back if this process holds it (a no-op otherwise)."""
        if self.path is None:
            return
        if self._mine(self.holder()):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)

    @contextlib.contextmanager
    def held(self, run_id: str, kind: str = "run") -> Iterator[None]:
        """The lock for the duration of a ``with`` block (left as it was if this process already held it)."""
        if self._mine(self.holder()):
            yield
            return
        self.acquire(run_id, kind)
        try:
            yield
        finally:
            self.release()
