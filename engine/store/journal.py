"""The transition journal: append-only JSON lines, one record per transition, fsync'd.

The journal is the commit point of the durability protocol: a transition exists once its line is
on disk. A process killed in the middle of `append` can leave a torn last line (no newline, or
half a JSON object); `open` detects it, reports it, and cuts it off — that transition never
committed, so nothing after it (snapshot, orders) can depend on it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store.fsio import read_tail


@dataclass(frozen=True)
class TornTail:
    """What `open` found and removed at the end of the journal."""

    offset: int
    data: bytes

    def describe(self, path: Path) -> str:
        preview = self.data[:80].decode("utf-8", "replace")
        return f"{path}: torn last record at byte {self.offset} ({len(self.data)} bytes) removed: {preview!r}"


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None
        self.last_seq = 0
        self.torn: TornTail | None = None

    def open(self) -> None:
        """Open for appending; find the last seq from the tail (cost independent of history)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.torn = self._cut_torn_tail()
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
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        self._fh.write(line)
        self.last_seq = seq

    def sync(self) -> None:
        os.fsync(self._fh.fileno())

    def fileno(self) -> int:
        return self._fh.fileno()

    def append(self, record: dict[str, Any]) -> None:
        self.write(record)
        self.sync()

    # --- reading ----------------------------------------------------------------------------
    def last_record(self) -> dict[str, Any] | None:
        tail = read_tail(self.path)
        for line in reversed(tail.splitlines()):
            if line.strip():
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    return None
        return None

    def records(self, after_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Every complete record with seq > after_seq, in order."""
        yield from read_records(self.path, after_seq)

    def _cut_torn_tail(self) -> TornTail | None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        if size == 0:
            return None
        tail = read_tail(self.path)
        start = size - len(tail)
        if tail.endswith(b"\n"):
            body = tail[:-1]
            cut = body.rfind(b"\n") + 1
            try:
                json.loads(body[cut:])
                return None
            except json.JSONDecodeError:
                pass  # a complete line that is not JSON: a torn write followed by a newline
            offset = start + cut
        else:
            offset = start + tail.rfind(b"\n") + 1
        with self.path.open("r+b") as fh:
            fh.seek(offset)
            data = fh.read()
            fh.truncate(offset)
            os.fsync(fh.fileno())
        return TornTail(offset, data)


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
