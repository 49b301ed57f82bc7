"""The transition journal: append-only JSON lines, one record per transition, fsync'd.

The journal is the commit point of the durability protocol: a transition exists once its line is
on disk. A process killed in the middle of `append` can leave a torn last line (no newline, or
half a JSON object); `open` detects it, reports it, and cuts it off — that transition never
committed, so nothing after it (snapshot, orders) can depend on it.

Preallocation: a durable journal grows in zero-filled chunks and each record is written in place
over the zeros, then fdatasync'd. An append changes the file's size, and on ext4 every fsync of a
size change commits the filesystem's own journal; an overwrite of written blocks does not, so the
commit costs only the data write (about a quarter less than a bare fsync'd append on our disks,
see README "Benchmarks"). PostgreSQL's WAL does the same. While the bot runs, or after it was
killed, the file therefore ends in NUL bytes: every reader stops at the first line without a
newline, which the padding is, and `close` trims it.

Every line is sealed with a CRC-32 (`engine.store.sealed`; lines written before checksums existed
are accepted under its legacy rule), and the seqs must follow one another: `read_records` raises
DamagedRecord, naming the line and the seq, at the first record that fails either.

Three kinds of record share the file. Transition records (no `kind`: the format predates the
others) and command records (`kind: "command"`) share the seq counter. Bot records (`kind: "bot"`)
carry bot-level values that must survive the loss of the snapshot (risk counters, the paper
market's seed and cursor, the order prefix: see `PositionBook.set_bot_value`; the bot machine's
transitions are bot records too, carrying its state: `is_bot_transition`); they have no seq but
a counter `n` of their own, so that the transition seqs stay contiguous for every reader and a
snapshot can say which bot records it already holds. Readers get them only when they ask
(`read_records(..., bot=True)`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.store.fsio import TornTail, content_end, cut_torn_tail, from_json, read_tail, to_json
from engine.store.sealed import CRC_KEY, DamagedRecord, StateFileError, seal, sealed_lines, write_failed

__all__ = ["BOT", "COMMAND", "DamagedRecord", "Journal", "TornTail", "is_bot", "is_bot_transition", "is_command",
           "read_records", "transitions"]

# The `kind` of a command record (pause, resume, panic, close, profile switch: who asked for what).
# Transition records carry no `kind` (the format predates commands), so "no kind" means transition.
COMMAND = "command"
BOT = "bot"  # bot-level values (see the module docstring)


def is_command(record: dict[str, Any]) -> bool:
    """True for a command record, False for a transition record."""
    return record.get("kind") == COMMAND


def is_bot(record: dict[str, Any]) -> bool:
    return record.get("kind") == BOT


def is_bot_transition(record: dict[str, Any]) -> bool:
    """A transition of the bot's own machine (machines/bot.yaml): a bot record that also names the
    machine, event, from and to. Being a bot record, it needs no seq, so the journals written before
    the bot machine existed and every reader of position transitions stay as they were."""
    return record.get("kind") == BOT and "machine" in record


def transitions(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Only the transition records (what replaying positions needs), in order."""
    return (r for r in records if r.get("kind") is None)


def damage_remedy(path: Path) -> str:
    """What to do about a damaged journal (the state folder's profile is not known down here)."""
    return ("nothing was sent to the venue. Restore the file from a backup, or run `python -m engine repair "
            f"PROFILE --cut-at-damage` (state folder {path.parent}) to keep a copy and cut the journal before "
            "this line: the records from there on are lost (`repair` without the flag shows which)")


class SeqOrder:
    """Checks that transition and command seqs grow by exactly one and bot counters likewise."""

    def __init__(self) -> None:
        self.expected = 1
        self.bot_n = 0

    def __call__(self, record: dict[str, Any], line: int) -> None:
        if record.get("kind") == BOT:
            n = record.get("n")
            if not isinstance(n, int) or n != self.bot_n + 1:
                raise ValueError(f"bot record n={n!r} does not follow n={self.bot_n}")
            self.bot_n = n
            return
        seq = record.get("seq")
        if not isinstance(seq, int) or seq != self.expected:
            raise ValueError(f"seq {seq!r} where seq {self.expected} was expected")
        self.expected = seq + 1


class Journal:
    PREALLOCATE = 1 << 20  # bytes of zeros added when a durable journal runs out of written space

    BUFFER = 1 << 20  # bytes a journal that skips fsyncs gathers before it writes them (one pwrite)

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        """`sync=False` skips the fsync (backtests: a reproducible run needs no durability) and the
        preallocation that only makes the fsync cheaper, and gathers records in memory (`BUFFER`):
        a write call per record was a twentieth of a backtest's trade. They reach the file at `sync`,
        `close`, any read through this object, or when the buffer is full; a reader of the file sees a
        prefix of whole records meanwhile, and a killed backtest loses its last records (it is run again)."""
        self.path = path
        self.sync_writes = sync
        self._fd: int | None = None
        self._end = 0  # where the next record goes: the end of the content
        self._allocated = 0  # the file's size: content plus zero padding
        self.last_seq = 0
        self.bot_n = 0  # the last bot record's counter (known once `scan` has run)
        self.torn: TornTail | None = None
        self._pending = bytearray()  # records not written yet (only when `sync` is off)

    def open(self) -> None:
        """Open for writing after the last complete record; find the last seq from the tail (cost
        independent of history)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.torn = cut_torn_tail(self.path)
            last = self.last_record()
            self.last_seq = int(last["seq"]) if last else 0
            if last is None and self.path.is_file() and self.path.stat().st_size:
                self.scan_all()  # the tail window holds only bot records: count from the start
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StateFileError(self.path, f"cannot open the journal ({exc.strerror or exc})",
                                 "check the folder's permissions and the disk, then run again") from None
        with open(self._fd, "rb", closefd=False) as fh:
            self._end = content_end(fh)
        self._allocated = os.fstat(self._fd).st_size  # padding left by a killed run is reused

    def close(self) -> None:
        if self._fd is None:
            return
        try:
            self.flush()
            if self._allocated > self._end:
                os.ftruncate(self._fd, self._end)  # at rest the file is plain JSON lines
                if self.sync_writes:
                    os.fdatasync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None

    def write(self, record: dict[str, Any]) -> None:
        """Write one record without syncing; `sync` makes it durable. Seq must grow by exactly one."""
        seq = int(record["seq"])
        if seq != self.last_seq + 1:
            raise ValueError(f"journal seq must be {self.last_seq + 1}, got {seq}")
        self._put(seal(to_json(record)))
        self.last_seq = seq

    def write_bot(self, values: dict[str, Any], transition: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write a bot record holding `values` (not synced: the next `sync` covers it), and the bot
        machine's `transition` that set them (see `is_bot_transition`). Returns it."""
        record = {"kind": BOT, "n": self.bot_n + 1, **(transition or {}), "bot": values}
        self._put(seal(to_json(record)))
        self.bot_n += 1
        return record

    def _put(self, line: bytes) -> None:
        if not self.sync_writes:
            self._pending += line
            if len(self._pending) >= self.BUFFER:
                self.flush()
            return
        self._write_at_end(line)

    def flush(self) -> None:
        """Write the records gathered in memory (see `BUFFER`); nothing to do for a syncing journal."""
        if self._pending:
            line, self._pending = bytes(self._pending), bytearray()
            self._write_at_end(line)

    def _write_at_end(self, line: bytes) -> None:
        end = self._end + len(line)
        try:
            if end > self._allocated:
                self._grow(end)
            if os.pwrite(self._fd, line, self._end) != len(line):  # type: ignore[arg-type]
                raise OSError(0, f"short write at byte {self._end}")
        except OSError as exc:
            raise write_failed(self.path, exc, "the journal") from exc
        self._end = end

    def _grow(self, needed: int) -> None:
        if not self.sync_writes:
            self._allocated = needed  # the write itself extends the file
            return
        size = needed + self.PREALLOCATE
        # the record's own fdatasync makes the new size durable; no separate sync is needed
        if os.pwrite(self._fd, bytes(size - self._allocated), self._allocated) != size - self._allocated:  # type: ignore[arg-type]
            raise OSError(f"{self.path}: could not preallocate {size - self._allocated} bytes")
        self._allocated = size

    def sync(self) -> None:
        if self.sync_writes:
            self._fdatasync()
        else:
            self.flush()

    def _fdatasync(self) -> None:
        self.flush()
        try:
            os.fdatasync(self._fd)  # type: ignore[arg-type]
        except OSError as exc:
            raise write_failed(self.path, exc, "the journal") from exc

    def force_sync(self) -> None:
        """fdatasync now, even when this journal skips fsyncs (a user's command)."""
        self._fdatasync()

    def _flush_if_open(self) -> None:
        if self._fd is not None:
            self.flush()

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int:
        assert self._fd is not None
        return self._fd

    def append(self, record: dict[str, Any], *, force_sync: bool = False) -> None:
        """Write and sync one record; `force_sync` syncs even when this journal skips fsyncs."""
        self.write(record)
        if force_sync:
            self.force_sync()
        else:
            self.sync()

    # --- reading ----------------------------------------------------------------------------
    def last_record(self) -> dict[str, Any] | None:
        """The last complete record of any kind (its seq is the journal's)."""
        self._flush_if_open()
        tail = read_tail(self.path)
        for line in reversed(tail.splitlines()):
            if line.strip():
                try:
                    record = _plain(from_json(line))
                except ValueError:  # JSONDecodeError, UnicodeDecodeError: damage, reported by `scan`
                    return None
                if not is_bot(record):
                    return record
        return None

    def last_transition(self) -> dict[str, Any] | None:
        """The last transition record within the tail window (commands skipped); None if there is none."""
        self._flush_if_open()
        for line in reversed(read_tail(self.path).splitlines()):
            if not line.strip():
                continue
            try:
                record = _plain(from_json(line))
            except ValueError:
                return None  # the torn or cut first line of the window: nothing older to see
            if isinstance(record, dict) and record.get("kind") is None:
                return record
        return None

    def records(self, after_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Every complete record with seq > after_seq, in order."""
        self._flush_if_open()
        yield from read_records(self.path, after_seq)

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every record, bot records included, checked from the first line (DamagedRecord at the
        first damaged one); once exhausted, `last_seq` and `bot_n` are the file's."""
        self._flush_if_open()
        order = SeqOrder()
        for _, record in sealed_lines(self.path, damage_remedy(self.path), order):
            yield record
        self.last_seq, self.bot_n = order.expected - 1, order.bot_n

    def scan_all(self) -> None:
        for _ in self.scan():
            pass


def _plain(record: Any) -> Any:
    if isinstance(record, dict):
        record.pop(CRC_KEY, None)
    return record


def read_records(path: Path, after_seq: int = 0, *, bot: bool = False) -> Iterator[dict[str, Any]]:
    """The complete records of a journal file with seq > after_seq, in order, checked (DamagedRecord
    at the first damaged line; a torn last line is not damage and ends the reading). Bot records
    only with `bot=True` (all of them, whatever `after_seq`)."""
    order = SeqOrder()
    for _, record in sealed_lines(path, damage_remedy(path), order):
        if record.get("kind") == BOT:
            if bot:
                yield record
        elif int(record.get("seq", 0)) > after_seq:
            yield record
