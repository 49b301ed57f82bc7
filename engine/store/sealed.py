"""Checksummed JSON lines: every journal record and history line carries a CRC-32 of its own bytes.

A line is the record's compact JSON with one more key appended last, `"crc32"`: the CRC-32 of the
record's JSON *without* that key, i.e. exactly the bytes `to_json(record)` gave before the key was
added. It stays one JSON object per line (jq, `python -m engine log`), and checking it needs no
re-encoding: cut the suffix, put the `}` back, CRC the bytes. The writer already has those bytes,
so sealing costs one `zlib.crc32` over them (about a microsecond for a journal record).

The legacy rule: files written before checksums existed have no `crc32` key. A line without one is
accepted only while no checksummed line precedes it in the same file; once the file has a
checksummed line, every later line must carry one (an old folder resumed by this version continues
its file with checksummed lines, so its old lines stay readable and its new ones are protected).

A damaged line is reported with its file, line number and, for the journal, its seq; the one
exception is a torn last line (a write interrupted by a crash), which `fsio.cut_torn_tail` removes
at start-up and every reader stops before.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from engine.store.fsio import from_json

CRC_KEY = "crc32"
_SUFFIX = b',"crc32":'


class StateFileError(Exception):
    """A state file cannot be read or written as it must be. Not a mistake in the user's input: the
    CLI exits 1 with this message (file and remedy), without a traceback."""

    def __init__(self, path: Path | str, problem: str, remedy: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"{path}: {problem}; {remedy}")


class DamagedRecord(StateFileError):
    """A complete line of a journal or history file that fails its checksum, is not JSON, or breaks
    the file's order (a seq that does not follow the previous one)."""

    def __init__(self, path: Path | str, line: int, seq: int | None, why: str, remedy: str) -> None:
        self.line = line
        self.seq = seq
        where = f"line {line}" + (f" (seq {seq})" if seq is not None else "")
        super().__init__(path, f"damaged record at {where}: {why}", remedy)


class StateWriteError(StateFileError):
    """Writing a state file failed (a full disk, an I/O error): the bot stops before acting on
    anything the file did not record."""


def write_failed(path: Path, exc: OSError, what: str) -> StateWriteError:
    reason = exc.strerror or str(exc)
    return StateWriteError(path, f"could not write {what} ({reason})",
                           "free disk space (or fix the file system) and run the same command again: everything "
                           "recorded before this write is intact and resumes")


def seal(body: bytes) -> bytes:
    """The line for the compact JSON object `body` (as `to_json` gives it): the checksum appended."""
    return b"%s,\"crc32\":%d}\n" % (body[:-1], zlib.crc32(body))


def unseal(raw: bytes) -> tuple[dict[str, Any], bool]:
    """(record without its checksum key, whether it had one) for one complete line (newline kept).
    Raises ValueError saying what is wrong: a checksum that does not match, bytes that are not
    JSON (or not UTF-8), or a value that is not an object."""
    line = raw.rstrip(b"\n")
    at = line.rfind(_SUFFIX)
    sealed = at > 0 and line.endswith(b"}") and line[at + len(_SUFFIX):-1].isdigit()
    if sealed:
        body = line[:at] + b"}"
        if zlib.crc32(body) != int(line[at + len(_SUFFIX):-1]):
            raise ValueError("checksum mismatch (the bytes changed after they were written)")
    else:
        body = line
    try:
        record = orjson.loads(body) if sealed else from_json(body)
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except ValueError:  # JSONDecodeError, orjson's included
        raise ValueError("not a JSON object") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    return record, sealed


class LineChecker:
    """Checks the lines of one file in order: checksum, JSON, the legacy rule, and `order(record,
    line)` (which may raise ValueError for a record that reads but is out of place: the journal's
    seq order). Raises DamagedRecord naming the line."""

    def __init__(self, path: Path, remedy: str, order: Any = None) -> None:
        self.path, self.remedy, self.order = path, remedy, order
        self.seen_sealed = False

    def check(self, raw: bytes, number: int) -> dict[str, Any]:
        try:
            record, sealed = unseal(raw)
            if self.seen_sealed and not sealed:
                raise ValueError("no checksum, after checksummed lines (only the lines of a file written "
                                 "before checksums existed may lack one)")
            self.seen_sealed = self.seen_sealed or sealed
            if self.order is not None:
                self.order(record, number)
        except ValueError as exc:
            raise DamagedRecord(self.path, number, getattr(self.order, "expected", None), str(exc),
                                self.remedy) from None
        return record


def sealed_lines(path: Path, remedy: str, order: Any = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for every complete line of a JSON-lines state file, checked (see
    `LineChecker`; DamagedRecord at the first damaged line). Stops at a last line without its
    newline (a torn write, or a running journal's preallocated padding). A missing file has no lines."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    checker = LineChecker(path, remedy, order)
    with fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return
            yield number, checker.check(raw, number)
