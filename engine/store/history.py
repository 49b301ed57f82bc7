"""Closed positions, appended as JSON lines and never rewritten (cost independent of history size)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.store.fsio import TornTail, cut_torn_tail, read_tail


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
        key = (position["id"], int(position["last_seq"]))
        if key in self._recent:
            return
        self._fh.write(json.dumps(position, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        self._recent.add(key)
        if sync:
            os.fsync(self._fh.fileno())

    def remember_all(self) -> None:
        """Load the key of every recorded closing (for a full rebuild from the journal)."""
        self._recent = {(h.get("id", ""), int(h.get("last_seq", 0))) for h in self}

    def _tail_records(self) -> list[dict[str, Any]]:
        out = []
        for line in read_tail(self.path, 1 << 16).splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the first line of the tail window is usually cut
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as fh:
            for raw in fh:
                if raw.endswith(b"\n"):
                    try:
                        yield json.loads(raw)
                    except json.JSONDecodeError:
                        continue

    def close(self) -> None:
        self._fh.close()
