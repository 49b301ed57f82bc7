"""The transition journal: append-only JSON lines, one record per transition, fsync'd.

The journal is the commit point of the durability protocol: a transition exists once its line is
on disk. A process killed in the middle of `append` can leave a torn last line (no newline, or
half a JSON object); `open` detects it, reports it, and cuts it off — that transition never
committed, so nothing after it (snapshot, orders) can depend on it.

Preallocation: a durable journal grows in zero-filled chunks and each record is written in place
over the zeros, then fdatasync'd. An append changes the file's size, and on ext4 every fsync of a
size change commits the filesystem's own journal; an overwrite of written blocks does not, so the
commit costs only the data write (about a quarter less than a bare fsync'd append on our disks,
see README "Benchmarks"). PostgreSQL's WAL does the same. While the bot runs, or after it was
killed, the file therefore ends in NUL bytes: every reader stops at the first line without a
newline, which the padding is, and `close` trims it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.store.fsio import TornTail, content_end, cut_torn_tail, from_json, read_tail, to_json

__all__ = ["COMMAND", "Journal", "TornTail", "is_command", "read_records", "transitions"]

# The `kind` of a command record (pause, resume, panic, close, profile switch: who asked for what).
# Transition records carry no `kind` (the format predates commands), so "no kind" means transition.
COMMAND = "command"


def is_command(record: dict[str, Any]) -> bool:
    """True for a command record, False for a transition record."""
    return record.get("kind") == COMMAND


def transitions(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Only the transition records (what replaying positions needs), in order."""
    return (r for r in records if r.get("kind") != COMMAND)


class Journal:
    PREALLOCATE = 1 << 20  # bytes of zeros added when a durable journal runs out of written space

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        """`sync=False` skips the fsync (backtests: a reproducible run needs no durability) and the
        preallocation that only makes the fsync cheaper."""
        self.path = path
        self.sync_writes = sync
        self._fd: int | None = None
        self._end = 0  # where the next record goes: the end of the content
        self._allocated = 0  # the file's size: content plus zero padding
        self.last_seq = 0
        self.torn: TornTail | None = None

    def open(self) -> None:
        """Open for writing after the last complete record; find the last seq from the tail (cost
        independent of history)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.torn = cut_torn_tail(self.path)
        last = self.last_record()
        self.last_seq = int(last["seq"]) if last else 0
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        with open(self._fd, "rb", closefd=False) as fh:
            self._end = content_end(fh)
        self._allocated = os.fstat(self._fd).st_size  # padding left by a killed run is reused

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            if self._allocated > self._end:
                os.ftruncate(self._fd, self._end)  # at rest the file is plain JSON lines
                if self.sync_writes:
                    os.fdatasync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None

    def write(self, record: dict[str, Any]) -> None:
        """Write one record without syncing; `sync` makes it durable. Seq must grow by exactly one."""
        seq = int(record["seq"])
        if seq != self.last_seq + 1:
            raise ValueError(f"journal seq must be {self.last_seq + 1}, got {seq}")
        line = to_json(record) + b"\n"
        end = self._end + len(line)
        if end > self._allocated:
            self._grow(end)
        if os.pwrite(self._fd, line, self._end) != len(line):  # type: ignore[arg-type]
            raise OSError(f"{self.path}: short write at byte {self._end}")
        self._end = end
        self.last_seq = seq

    def _grow(self, needed: int) -> None:
        if not self.sync_writes:
            self._allocated = needed  # the write itself extends the file
            return
        size = needed + self.PREALLOCATE
        # the record's own fdatasync makes the new size durable; no separate sync is needed
        if os.pwrite(self._fd, bytes(size - self._allocated), self._allocated) != size - self._allocated:  # type: ignore[arg-type]
            raise OSError(f"{self.path}: could not preallocate {size - self._allocated} bytes")
        self._allocated = size

    def sync(self) -> None:
        if self.sync_writes:
            os.fdatasync(self._fd)  # type: ignore[arg-type]

    def fileno(self) -> int:
        assert self._fd is not None
        return self._fd

    def append(self, record: dict[str, Any], *, force_sync: bool = False) -> None:
        """Write and sync one record; `force_sync` syncs even when this journal skips fsyncs."""
        self.write(record)
        if force_sync and not self.sync_writes:
            os.fdatasync(self._fd)  # type: ignore[arg-type]
        else:
            self.sync()

    # --- reading ----------------------------------------------------------------------------
    def last_record(self) -> dict[str, Any] | None:
        """The last complete record of any kind (its seq is the journal's)."""
        tail = read_tail(self.path)
        for line in reversed(tail.splitlines()):
            if line.strip():
                try:
                    return from_json(line)
                except json.JSONDecodeError:
                    return None
        return None

    def last_transition(self) -> dict[str, Any] | None:
        """The last transition record within the tail window (commands skipped); None if there is none."""
        for line in reversed(read_tail(self.path).splitlines()):
            if not line.strip():
                continue
            try:
                record = from_json(line)
            except json.JSONDecodeError:
                return None  # the torn or cut first line of the window: nothing older to see
            if isinstance(record, dict) and not is_command(record):
                return record
        return None

    def records(self, after_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Every complete record with seq > after_seq, in order."""
        yield from read_records(self.path, after_seq)


def read_records(path: Path, after_seq: int = 0) -> Iterator[dict[str, Any]]:
    """Read complete records from a journal file; a torn last line is skipped (never raised)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            try:
                record = from_json(raw)
            except json.JSONDecodeError:
                return
            if int(record.get("seq", 0)) > after_seq:
                yield record
