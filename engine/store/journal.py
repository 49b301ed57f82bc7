"""The transition journal: append-only JSON lines, one record per transition, fsync'd.

The journal is the commit point of the durability protocol: a transition exists once its line is
on disk. A process killed in the middle of `append` can leave a torn last line (no newline, or
half a JSON object); `open` detects it, reports it, and cuts it off — that transition never
committed, so nothing after it (snapshot, orders) can depend on it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.store.fsio import TornTail, cut_torn_tail, read_tail, to_json

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
    def __init__(self, path: Path, *, sync: bool = True) -> None:
        """`sync=False` skips the fsync (backtests: a reproducible run needs no durability)."""
        self.path = path
        self.sync_writes = sync
        self._fh: Any = None
        self.last_seq = 0
        self.torn: TornTail | None = None

    def open(self) -> None:
        """Open for appending; find the last seq from the tail (cost independent of history)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.torn = cut_torn_tail(self.path)
        last = self.last_record()
        self.last_seq = int(last["seq"]) if last else 0
        self._fh = self.path.open("ab", buffering=0)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def write(self, record: dict[str, Any]) -> None:
        """Write one record without syncing; `sync` makes it durable. Seq must grow by exactly one."""
        seq = int(record["seq"])
        if seq != self.last_seq + 1:
            raise ValueError(f"journal seq must be {self.last_seq + 1}, got {seq}")
        line = to_json(record) + b"\n"
        self._fh.write(line)
        self.last_seq = seq

    def sync(self) -> None:
        if self.sync_writes:
            os.fsync(self._fh.fileno())

    def fileno(self) -> int:
        return self._fh.fileno()

    def append(self, record: dict[str, Any], *, force_sync: bool = False) -> None:
        """Write and sync one record; `force_sync` syncs even when this journal skips fsyncs."""
        self.write(record)
        if force_sync and not self.sync_writes:
            os.fsync(self._fh.fileno())
        else:
            self.sync()

    # --- reading ----------------------------------------------------------------------------
    def last_record(self) -> dict[str, Any] | None:
        """The last complete record of any kind (its seq is the journal's)."""
        tail = read_tail(self.path)
        for line in reversed(tail.splitlines()):
            if line.strip():
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    return None
        return None

    def last_transition(self) -> dict[str, Any] | None:
        """The last transition record within the tail window (commands skipped); None if there is none."""
        for line in reversed(read_tail(self.path).splitlines()):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
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
                record = json.loads(raw)
            except json.JSONDecodeError:
                return
            if int(record.get("seq", 0)) > after_seq:
                yield record
