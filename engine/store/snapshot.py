"""The live-state snapshot: a TinyDB database on a crash-atomic, double-buffered storage.

TinyDB rewrites its whole document on every change, so the snapshot holds only what is live (open
positions and bot state); closed positions move to the append-only history.

Atomicity without a rename: the document is written alternately into two slot files
(`snapshot-a.json`, `snapshot-b.json`), each starting with a header line holding a generation
number, the payload length and its CRC-32. A crash in the middle of a write tears at most the slot
being written; the other slot still holds the previous generation, and the reader takes the newest
slot whose CRC checks. We chose this over temp-file + rename because on ext4 a rename over an
existing file forces write-back of the new file (auto_da_alloc), which tripled the cost of a
durable transition (see README, "Design decisions"), while the guarantee is the same: a crash
leaves either the old or the new snapshot, never a mix.

The journal, not the snapshot, is the commit point, so whether a slot is fsync'd after each write
is a policy (`fsync`): "always" syncs every write; "checkpoint" syncs every `checkpoint_every`
writes and on close. A snapshot that lags after a power loss is rolled forward from the journal at
start-up (see `engine.positions.book`).
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, Literal

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

FsyncPolicy = Literal["always", "checkpoint"]
SLOTS = ("a", "b")


def slot_paths(path: Path) -> tuple[Path, Path]:
    """`state/x/snapshot.json` → (`state/x/snapshot-a.json`, `state/x/snapshot-b.json`)."""
    return tuple(path.with_name(f"{path.stem}-{slot}{path.suffix}") for slot in SLOTS)  # type: ignore[return-value]


def encode_slot(generation: int, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    header = json.dumps({"gen": generation, "bytes": len(payload), "crc32": zlib.crc32(payload)})
    return header.encode() + b"\n" + payload + b"\n"


def decode_slot(blob: bytes) -> tuple[int, dict[str, Any]] | None:
    """(generation, data) of a slot, or None when it is empty, torn or corrupt."""
    head, sep, rest = blob.partition(b"\n")
    if not sep:
        return None
    try:
        header = json.loads(head)
        payload = rest[: int(header["bytes"])]
        if len(payload) != int(header["bytes"]) or zlib.crc32(payload) != int(header["crc32"]):
            return None
        return int(header["gen"]), json.loads(payload)
    except (ValueError, KeyError, TypeError):
        return None


def read_slots(path: Path) -> tuple[int, dict[str, Any]] | None:
    """The newest valid slot of the snapshot at `path`, or None when there is none."""
    best: tuple[int, dict[str, Any]] | None = None
    for slot in slot_paths(path):
        try:
            decoded = decode_slot(slot.read_bytes())
        except FileNotFoundError:
            continue
        if decoded is not None and (best is None or decoded[0] > best[0]):
            best = decoded
    return best


class DoubleBufferedStorage(Storage):
    """TinyDB storage that keeps the data in memory and writes it crash-atomically on `flush()`.

    TinyDB calls `write` once per table operation; batching them into one slot write per
    transition keeps a durable transition to one small in-place write.
    """

    def __init__(self, path: str, fsync: FsyncPolicy = "always", checkpoint_every: int = 64) -> None:
        self.path = Path(path)
        self.slots = slot_paths(self.path)
        self.fsync_policy = fsync
        self.checkpoint_every = checkpoint_every
        newest = read_slots(self.path)
        self._generation = newest[0] if newest else 0
        self._data: dict[str, Any] | None = newest[1] if newest else None
        self._dirty = False
        self._unsynced = 0
        self._fds: dict[int, int] = {}

    def read(self) -> dict[str, Any] | None:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        self._dirty = True

    def flush(self, sync: bool | None = None) -> None:
        """Write the current data into the older slot (never the one holding the newest state)."""
        if not self._dirty:
            return
        self._generation += 1
        self._unsynced += 1
        if sync is None:
            sync = self.fsync_policy == "always" or self._unsynced >= self.checkpoint_every
        blob = encode_slot(self._generation, self._data or {})
        fd = self._fd(self._generation % 2)
        # One pwrite in place: no rename, no truncation. Bytes left past the end by an older, longer
        # generation are ignored because the header gives the payload length.
        os.pwrite(fd, blob, 0)
        if sync:
            os.fdatasync(fd)
            self._unsynced = 0
        self._dirty = False

    def _fd(self, index: int) -> int:
        if index not in self._fds:
            self._fds[index] = os.open(self.slots[index], os.O_RDWR | os.O_CREAT, 0o644)
        return self._fds[index]

    def close(self) -> None:
        if self._dirty:
            self.flush(sync=True)
        for fd in self._fds.values():
            os.fdatasync(fd)
            os.close(fd)
        self._fds.clear()


class Snapshot:
    """Live positions (keyed by their number) and one `bot` document (seq, counters, overrides)."""

    def __init__(self, path: Path, fsync: FsyncPolicy = "always", checkpoint_every: int = 64) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = TinyDB(str(path), storage=DoubleBufferedStorage, fsync=fsync, checkpoint_every=checkpoint_every)
        self.storage: DoubleBufferedStorage = self.db.storage  # type: ignore[assignment]
        self.positions = self.db.table("positions", cache_size=0)
        self.bot_table = self.db.table("bot", cache_size=0)

    @property
    def bot(self) -> dict[str, Any]:
        doc = self.bot_table.get(doc_id=1)
        return dict(doc) if doc else {}

    def set_bot(self, values: dict[str, Any]) -> None:
        self.bot_table.upsert(Document(values, doc_id=1))

    def live_positions(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self.positions.all()]

    def put_position(self, number: int, position: dict[str, Any]) -> None:
        self.positions.upsert(Document(position, doc_id=number))

    def drop_position(self, number: int) -> None:
        if self.positions.contains(doc_id=number):
            self.positions.remove(doc_ids=[number])

    def flush(self, sync: bool | None = None) -> None:
        self.storage.flush(sync)

    def close(self) -> None:
        self.db.close()


def read_snapshot_file(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a snapshot without opening it for writing (safe while the bot runs: a torn slot is
    ignored in favour of the other one). Returns (bot document, live positions)."""
    newest = read_slots(path)
    if newest is None:
        return {}, []
    data = newest[1]
    bot = (data.get("bot") or {}).get("1", {})
    return bot, list((data.get("positions") or {}).values())
