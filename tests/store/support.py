"""Helpers for the state-file tests: damaging a file as a bad disk sector would."""

from __future__ import annotations

from pathlib import Path


def damage_line(path: Path, number: int, data: bytes = b"XXXX") -> None:
    """Overwrite bytes in the middle of line `number` (1-based), as a bad disk sector would."""
    lines = path.read_bytes().splitlines(keepends=True)
    start = sum(len(line) for line in lines[: number - 1]) + len(lines[number - 1]) // 2
    with path.open("r+b") as fh:
        fh.seek(start)
        fh.write(data)
