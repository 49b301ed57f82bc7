"""Small file-system primitives with the durability each caller needs spelled out."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

# Every journal line, snapshot slot and history line goes through here, on the durable path of
# every transition: orjson encodes a position in about a tenth of the stdlib's time. Values it
# refuses (integers wider than 64 bits) fall back to the stdlib encoder with the same compact form.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
# int keys become strings, as json.dumps does; datetimes and dataclasses are refused, as by json.dumps
# (orjson would quietly encode them, hiding a value that was never meant to be written).
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def to_json(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON (no spaces, non-ASCII as is). Parses back to what
    `json.dumps(value)` would; floats are written in shortest form and NaN/Infinity as null."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value).encode()


def from_json(data: bytes | str) -> Any:
    """Parse one JSON document as json.loads does; raises json.JSONDecodeError. orjson first; what
    it refuses and the stdlib accepts (NaN, written by an older version) still parses."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation inside `path` durable (POSIX needs the directory synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def content_end(fh: Any) -> int:
    """The offset just past the file's content: trailing NUL bytes are preallocated space (see
    `engine.store.journal`), not content. JSON text never contains a NUL byte, so a JSON-lines file
    cannot end in one. Reads backwards block by block, so the cost is that of the padding alone."""
    end = fh.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - _BLOCK)
        fh.seek(start)
        kept = len(fh.read(end - start).rstrip(b"\0"))
        if kept:
            return start + kept
        end = start
    return 0


_BLOCK = 1 << 16


def read_tail(path: Path, max_bytes: int = 1 << 16) -> bytes:
    """The last `max_bytes` of a file's content (all of it if smaller; preallocated NUL padding at
    the end is skipped); b'' if it does not exist."""
    try:
        with path.open("rb") as fh:
            end = content_end(fh)
            start = max(0, end - max_bytes)
            fh.seek(start)
            return fh.read(end - start)
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
    wrote the pieces out of order, a final line that is not JSON. Both are cut, with any padding
    after them; the bytes removed (padding aside) are returned so the caller can report them. Looks
    only at the tail (cost independent of size).
    """
    try:
        with path.open("rb") as fh:
            size = content_end(fh)
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
            from_json(body[cut:])
            return None
        except json.JSONDecodeError:
            pass
        offset = start + cut
    else:
        offset = start + tail.rfind(b"\n") + 1
    with path.open("r+b") as fh:
        fh.seek(offset)
        data = fh.read(size - offset)
        fh.truncate(offset)
        os.fsync(fh.fileno())
    return TornTail(offset, data)
