"""Small file-system primitives with the durability each caller needs spelled out."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One encoder for every line and slot we write: compact, UTF-8 as is. Built once because
# `json.dumps(..., separators=...)` constructs an encoder per call, and without the circular-reference
# check (our records are trees built by to_dict; a cycle still fails, with RecursionError).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def to_json(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON, identical to json.dumps(value, separators=(",", ":"),
    ensure_ascii=False).encode()."""
    return _ENCODER.encode(value).encode()


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


@dataclass(frozen=True)
class TornTail:
    """A partial last line found (and removed) at the end of a JSON-lines file."""

    offset: int
    data: bytes

    def describe(self, path: Path) -> str:
        preview = self.data[:80].decode("utf-8", "replace")
        return f"{path}: torn last record at byte {self.offset} ({len(self.data)} bytes) removed: {preview!r}"


def cut_torn_tail(path: Path) -> TornTail | None:
    """Truncate a JSON-lines file after its last complete record.

    A process killed inside a write leaves either a line without its newline or, if the kernel
    wrote the pieces out of order, a final line that is not JSON. Both are cut; the bytes removed
    are returned so the caller can report them. Looks only at the tail (cost independent of size).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    tail = read_tail(path)
    start = size - len(tail)
    if tail.endswith(b"\n"):
        body = tail[:-1]
        cut = body.rfind(b"\n") + 1
        try:
            json.loads(body[cut:])
            return None
        except json.JSONDecodeError:
            pass
        offset = start + cut
    else:
        offset = start + tail.rfind(b"\n") + 1
    with path.open("r+b") as fh:
        fh.seek(offset)
        data = fh.read()
        fh.truncate(offset)
        os.fsync(fh.fileno())
    return TornTail(offset, data)
