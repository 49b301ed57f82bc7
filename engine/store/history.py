"""Closed positions, appended as JSON lines and never rewritten (cost independent of history size).

Every line is sealed with a CRC-32 (`engine.store.sealed`). Opening reads the whole file once,
checked: a damaged line stops the start-up (DamagedRecord naming the line), and the (position,
closing seq) of every line is kept so that the book can compare the history with the journal
(a closing the journal records and the history lacks is rebuilt from the journal, see
`PositionBook.open`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from engine.store.fsio import TornTail, cut_torn_tail, to_json
from engine.store.sealed import StateFileError, seal, sealed_lines, write_failed


class PendingLine(NamedTuple):
    key: tuple[str, int]  # (position id, seq of its closing transition)
    line: bytes


def damage_remedy(path: Path) -> str:
    return ("restore the file from a backup, or run `python -m engine repair PROFILE --cut-at-damage` (state folder "
            f"{path.parent}): it keeps a copy, cuts the history before this line, and the next start rebuilds the "
            "closed positions after it from the journal")


def history_keys(path: Path) -> list[tuple[str, int]]:
    """(position id, closing seq) of every line, in order, checked (DamagedRecord)."""
    return [_key(h) for _, h in sealed_lines(path, damage_remedy(path))]


def read_history(path: Path) -> Iterator[dict[str, Any]]:
    """Every closed position of a history file, checked (DamagedRecord at a damaged line), without
    touching the file: a torn last line ends the reading (only `History`, the writer, cuts it)."""
    for _, position in sealed_lines(path, damage_remedy(path)):
        yield position


def _key(position: dict[str, Any]) -> tuple[str, int]:
    return str(position.get("id", "")), int(position.get("last_seq", 0))


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A torn line is a closing that will be rolled forward from the journal: drop it.
            self.torn: TornTail | None = cut_torn_tail(path)
            self.keys: list[tuple[str, int]] = history_keys(path)
            self._fh = path.open("ab", buffering=0)
        except OSError as exc:
            raise StateFileError(path, f"cannot open the history ({exc.strerror or exc})",
                                 "check the folder's permissions and the disk, then run again") from None
        # Closings rolled forward after a crash may already be here: a closing is never recorded twice.
        self._recent: set[tuple[str, int]] = set(self.keys)

    def append(self, position: dict[str, Any], sync: bool = False) -> None:
        """Append a closed position. Idempotent: a closing transition that is rolled forward after a
        crash is not recorded twice."""
        self.write(self.prepare(position), sync)

    def prepare(self, position: dict[str, Any]) -> PendingLine | None:
        """The line `write` will append for a closed position; None when it is already recorded.
        Encoding is separate from writing so the book can encode before the journal's fsync and
        write after it."""
        key = _key(position)
        if key in self._recent:
            return None
        return PendingLine(key, seal(to_json(position)))

    def write(self, pending: PendingLine | None, sync: bool = False) -> None:
        if pending is None or pending.key in self._recent:
            return
        try:
            self._fh.write(pending.line)
            if sync:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            raise write_failed(self.path, exc, "the history") from exc
        self._recent.add(pending.key)
        self.keys.append(pending.key)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every closed position, checked (DamagedRecord at a damaged line)."""
        return read_history(self.path)

    def close(self) -> None:
        self._fh.close()
