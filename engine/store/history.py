"""Closed positions, appended as JSON lines and never rewritten (cost independent of history size)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.store.fsio import read_tail


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("ab", buffering=0)

    def append(self, position: dict[str, Any], sync: bool = False) -> None:
        """Append a closed position. Idempotent for the last one written: a closing transition
        that is rolled forward after a crash is not recorded twice."""
        last = self.last()
        if last is not None and last.get("id") == position["id"] and last.get("last_seq") == position["last_seq"]:
            return
        self._fh.write(json.dumps(position, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        if sync:
            os.fsync(self._fh.fileno())

    def last(self) -> dict[str, Any] | None:
        tail = read_tail(self.path, 1 << 15)
        lines = [ln for ln in tail.splitlines() if ln.strip()]
        if not lines or not tail.endswith(b"\n"):
            return None
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            return None

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
