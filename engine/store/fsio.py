"""Small file-system primitives with the durability each caller needs spelled out."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation inside `path` durable (POSIX needs the directory synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_tail(path: Path, max_bytes: int = 1 << 16) -> bytes:
    """The last `max_bytes` of a file (all of it if smaller); b'' if it does not exist."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            return fh.read()
    except FileNotFoundError:
        return b""
