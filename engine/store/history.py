"""Closed positions, appended as JSON lines and never rewritten (cost independent of history size)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from engine.store.fsio import TornTail, cut_torn_tail, from_json, read_tail, to_json


class PendingLine(NamedTuple):
    key: tuple[str, int]  # (position id, seq of its closing transition)
    line: bytes


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A torn line is a closing that will be rolled forward from the journal: drop it.
        self.torn: TornTail | None = cut_torn_tail(path)
        # Closings rolled forward after a crash may already be here; the journal order means they
        # can only be among the most recent lines, so the tail is all that needs checking.
        self._recent: set[tuple[str, int]] = {
            (h.get("id", ""), int(h.get("last_seq", 0))) for h in self._tail_records()
        }
        self._fh = path.open("ab", buffering=0)

    def append(self, position: dict[str, Any], sync: bool = False) -> None:
        """Append a closed position. Idempotent for the last one written: a closing transition
        that is rolled forward after a crash is not recorded twice."""
        self.write(self.prepare(position), sync)

    def prepare(self, position: dict[str, Any]) -> PendingLine | None:
        """The line `write` will append for a closed position; None when it is already recorded.
        Encoding is separate from writing so the book can encode before the journal's fsync and
        write after it."""
        key = (position["id"], int(position["last_seq"]))
        if key in self._recent:
            return None
        return PendingLine(key, to_json(position) + b"\n")

    def write(self, pending: PendingLine | None, sync: bool = False) -> None:
        if pending is None or pending.key in self._recent:
            return
        self._fh.write(pending.line)
        self._recent.add(pending.key)
        if sync:
            os.fsync(self._fh.fileno())

    def remember_all(self) -> None:
        """Load the key of every recorded closing (for a full rebuild from the journal)."""
        self._recent = {(h.get("id", ""), int(h.get("last_seq", 0))) for h in self}

    def _tail_records(self) -> list[dict[str, Any]]:
        out = []
        for line in read_tail(self.path, 1 << 16).splitlines():
            try:
                out.append(from_json(line))
            except json.JSONDecodeError:
                continue  # the first line of the tail window is usually cut
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as fh:
            for raw in fh:
                if raw.endswith(b"\n"):
                    try:
                        yield from_json(raw)
                    except json.JSONDecodeError:
                        continue

    def close(self) -> None:
        self._fh.close()
