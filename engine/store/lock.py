"""One bot per state folder: an exclusive advisory lock held for the whole life of a run.

The lock is `flock` on `<state folder>/.lock`. The kernel drops it when the holder's descriptor is
closed, and a process's descriptors are closed however it dies (kill -9 included), so a lock never
outlives its holder: the file may stay behind, the lock does not, and nothing has to clean up. After
taking the lock the holder writes its pid and start time into the file, so a refused run can say who
holds the folder.

Only the drivers that trade (`run`) take it. The read-only commands (`status`, `log`, `diagram`,
`validate`) take no lock and work beside a running bot: they read files the bot replaces atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a state folder, as the holder wrote it (None where it had not written yet)."""

    pid: int | None
    started: str | None  # ISO time the holder took the lock

    def describe(self) -> str:
        if self.pid is None:
            return "pid unknown: it is just starting"
        return f"pid {self.pid}, since {self.started}" if self.started else f"pid {self.pid}"


class StateFolderBusy(RuntimeError):
    """Another process holds the state folder. Not a mistake in the user's input (exit 1, not 2): the
    same command succeeds once the other run has stopped."""

    def __init__(self, folder: Path, holder: Holder) -> None:
        self.folder = folder
        self.holder = holder
        super().__init__(f"{folder}: this state folder is in use by another run ({holder.describe()}); stop that "
                         "run first, or give this profile its own runtime.state_dir (status and log can read "
                         "the folder meanwhile)")


@contextmanager
def state_lock(folder: Path) -> Iterator[Holder]:
    """Hold `folder` exclusively for the `with` block (the folder is created if missing). Raises
    StateFolderBusy at once, without waiting, when another holder has it; reads nothing else in the
    folder and writes nothing but the lock file. Yields this process's Holder."""
    folder.mkdir(parents=True, exist_ok=True)
    # Never unlinked: a holder that removed the file on exit would let the next run lock a fresh
    # inode while a third still waits on the old one, and two would hold "the" lock.
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateFolderBusy(folder, _read_holder(fd)) from None
        me = Holder(os.getpid(), datetime.now(UTC).isoformat(timespec="seconds"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": me.pid, "started": me.started}).encode(), 0)
        try:
            yield me
        finally:
            # Emptied before the unlock, so a file left behind never names a run that has ended cleanly.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _read_holder(fd: int) -> Holder:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
    except ValueError:
        data = None
    if not isinstance(data, dict):  # locked but not yet written (a start in progress)
        return Holder(None, None)
    pid = data.get("pid")
    return Holder(pid if isinstance(pid, int) else None, str(data["started"]) if data.get("started") else None)
