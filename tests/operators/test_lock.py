"""One writer per output folder: the lock names its holder, a dead holder's lock is taken over."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from operators.core.lock import LOCK_FILE, OutputBusyError, OutputLock


def _hold(folder, pid: int, run_id: str = "r-other", host: str | None = None) -> None:
    holder = {"kind": "run", "run_id": run_id, "host": host or socket.gethostname(), "pid": pid,
              "since": "2026-12-05T10:00:00Z"}
    (folder / LOCK_FILE).write_text(json.dumps(holder))


def test_a_live_holder_stops_the_second_writer_naming_it(tmp_path):
    _hold(tmp_path, os.getppid())  # pytest's parent: alive for the whole test
    with pytest.raises(OutputBusyError) as e:
        OutputLock(str(tmp_path)).acquire("r-mine")
    message = str(e.value)
    assert f"output {tmp_path} is being written by run r-other (pid {os.getppid()} on host {socket.gethostname()} " \
           "since 2026-12-05T10:00:00Z)" in message
    assert json.loads((tmp_path / LOCK_FILE).read_text())["run_id"] == "r-other"  # untouched


def test_a_dead_holders_lock_is_taken_over_with_a_warning(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _hold(tmp_path, dead.pid)
    lock = OutputLock(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        lock.acquire("r-mine")
    assert "stale lock" in caplog.text and "r-other" in caplog.text
    holder = lock.holder()
    assert (holder.run_id, holder.pid) == ("r-mine", os.getpid())
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_the_holder_takes_it_again_and_release_is_only_the_holders(tmp_path):
    lock = OutputLock(str(tmp_path))
    lock.acquire("(starting)")
    lock.acquire("r-1")  # a Dagster run's phases, one process
    assert lock.holder().run_id == "r-1"
    _hold(tmp_path, os.getppid())
    OutputLock(str(tmp_path)).release()  # not ours any more: left alone
    assert (tmp_path / LOCK_FILE).exists()


def test_another_hosts_lock_is_refused_with_how_to_clear_it(tmp_path):
    _hold(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(OutputBusyError, match=f"delete {tmp_path / LOCK_FILE}"):
        OutputLock(str(tmp_path)).acquire("r-mine")


def test_object_stores_are_not_locked_and_say_so(caplog):
    lock = OutputLock("memory://bucket/out")
    with caplog.at_level(logging.WARNING):
        lock.acquire("r")
    assert lock.holder() is None and "cannot lock" in caplog.text
