"""The live-state snapshot: a TinyDB database on a crash-atomic, double-buffered storage.

TinyDB rewrites its whole document on every change, so the snapshot holds only what is live (open
positions and bot state); closed positions move to the append-only history.

Atomicity without a rename: the document is written alternately into two slot files
(`snapshot-a.json`, `snapshot-b.json`), each starting with a header line holding a generation
number, the journal seq the document reflects, the payload length and a CRC-32 over all of them. A
crash in the middle of a write tears at most the slot being written; the other slot still holds the
previous generation, and the reader takes the newest slot whose CRC checks. We chose this over
temp-file + rename because on ext4 a rename over an existing file forces write-back of the new file
(auto_da_alloc), which tripled the cost of a durable transition (see README, "Design decisions"),
while the guarantee is the same: a crash leaves either the old or the new snapshot, never a mix.

Cost per transition: one TinyDB operation (the position changed) and one JSON encoding of that
position. The journal seq lives in the slot header, not in a TinyDB document, and the bot document
is written only when one of its values changed. The storage keeps the JSON of every document it has
encoded and re-encodes only the documents a `Snapshot` method says it is changing (`scope`); a
TinyDB write made outside such a scope re-encodes everything. Either way the payload is exactly
`json.dumps` of TinyDB's data at the moment of the flush.

The journal, not the snapshot, is the commit point, so whether a slot is fsync'd after each write
is a policy (`fsync`): "always" syncs every write; "checkpoint" syncs every `checkpoint_every`
writes and on close. A snapshot that lags after a power loss is rolled forward from the journal at
start-up (see `engine.positions.book`).
"""

from __future__ import annotations

import copy
import json
import os
import zlib
from pathlib import Path
from typing import Any, Literal, NamedTuple

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

FsyncPolicy = Literal["always", "checkpoint"]
SLOTS = ("a", "b")
BOT_DOC = "1"  # the bot document's id in the `bot` table


class Slot(NamedTuple):
    generation: int
    seq: int  # the journal seq the data reflects
    data: dict[str, Any]


def slot_paths(path: Path) -> tuple[Path, Path]:
    """`state/x/snapshot.json` → (`state/x/snapshot-a.json`, `state/x/snapshot-b.json`)."""
    return tuple(path.with_name(f"{path.stem}-{slot}{path.suffix}") for slot in SLOTS)  # type: ignore[return-value]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _checksum(generation: int, seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(b"%d %d" % (generation, seq)))


def _frame(generation: int, seq: int, payload: bytes) -> bytes:
    header = b'{"gen":%d,"seq":%d,"bytes":%d,"crc32":%d}' % (
        generation, seq, len(payload), _checksum(generation, seq, payload))
    return header + b"\n" + payload + b"\n"


def encode_slot(generation: int, data: dict[str, Any], seq: int = 0) -> bytes:
    """A whole slot: header line (generation, seq, payload length, CRC) and the JSON payload."""
    return _frame(generation, seq, _dumps(data))


def decode_slot(blob: bytes) -> Slot | None:
    """The slot's content, or None when it is empty, torn or corrupt."""
    head, sep, rest = blob.partition(b"\n")
    if not sep:
        return None
    try:
        header = json.loads(head)
        size, generation = int(header["bytes"]), int(header["gen"])
        payload = rest[:size]
        if len(payload) != size:
            return None
        if "seq" in header:
            seq = int(header["seq"])
            if _checksum(generation, seq, payload) != int(header["crc32"]):
                return None
            return Slot(generation, seq, json.loads(payload))
        # Written before the seq moved into the header: the CRC covers the payload alone and the
        # seq is a field of the bot document.
        if zlib.crc32(payload) != int(header["crc32"]):
            return None
        data = json.loads(payload)
        return Slot(generation, int(((data.get("bot") or {}).get(BOT_DOC) or {}).get("seq", 0)), data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_slots(path: Path) -> Slot | None:
    """The newest valid slot of the snapshot at `path`, or None when there is none."""
    best: Slot | None = None
    for slot in slot_paths(path):
        try:
            decoded = decode_slot(slot.read_bytes())
        except FileNotFoundError:
            continue
        if decoded is not None and (best is None or decoded.generation > best.generation):
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
        self._generation = newest.generation if newest else 0
        self.seq = newest.seq if newest else 0
        self._data: dict[str, Any] | None = newest.data if newest else None
        self._dirty = False
        self._unsynced = 0
        self._fds: dict[int, int] = {}
        # (table, doc id) that the next writes change; None: any document may have changed.
        self.scope: tuple[str, str] | None = None
        self._encoded: dict[tuple[str, str], bytes] = {}  # '"<id>":{…}' of each document last encoded
        self._stale: set[tuple[str, str]] | None = None  # to re-encode at the next flush; None: all

    def read(self) -> dict[str, Any] | None:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        self._dirty = True
        if self.scope is None:
            self._stale = None
        elif self._stale is not None:
            self._stale.add(self.scope)

    def set_seq(self, seq: int) -> None:
        """Record the journal seq the data reflects (written in the next slot's header)."""
        if seq != self.seq:
            self.seq = seq
            self._dirty = True

    def payload(self) -> bytes:
        """The data as compact JSON, byte for byte `json.dumps(data)`, re-encoding only the
        documents changed since the last call."""
        stale, previous = self._stale, self._encoded
        encoded: dict[tuple[str, str], bytes] = {}
        tables = []
        for name, table in (self._data or {}).items():
            docs = []
            for doc_id, doc in table.items():
                key = (name, doc_id)
                fragment = None if stale is None or key in stale else previous.get(key)
                if fragment is None:
                    fragment = _dumps(str(doc_id)) + b":" + _dumps(doc)
                encoded[key] = fragment
                docs.append(fragment)
            tables.append(_dumps(name) + b":{" + b",".join(docs) + b"}")
        self._encoded, self._stale = encoded, set()
        return b"{" + b",".join(tables) + b"}"

    def flush(self, sync: bool | None = None) -> None:
        """Write the current data into the older slot (never the one holding the newest state)."""
        if not self._dirty:
            return
        self._generation += 1
        self._unsynced += 1
        if sync is None:
            sync = self.fsync_policy == "always" or self._unsynced >= self.checkpoint_every
        blob = _frame(self._generation, self.seq, self.payload())
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
    """Live positions (keyed by their number), one `bot` document (counters, overrides, risk state)
    and the journal seq they reflect."""

    def __init__(self, path: Path, fsync: FsyncPolicy = "always", checkpoint_every: int = 64) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = TinyDB(str(path), storage=DoubleBufferedStorage, fsync=fsync, checkpoint_every=checkpoint_every)
        self.storage: DoubleBufferedStorage = self.db.storage  # type: ignore[assignment]
        self.positions = self.db.table("positions", cache_size=0)
        self.bot_table = self.db.table("bot", cache_size=0)
        self._bot_written = self._bot_document()

    @property
    def seq(self) -> int:
        return self.storage.seq

    def set_seq(self, seq: int) -> None:
        self.storage.set_seq(seq)

    @property
    def bot(self) -> dict[str, Any]:
        """The bot document with `seq` set to the snapshot's seq ({} for an empty snapshot). A copy:
        changing it changes nothing until `set_bot`."""
        doc = self._bot_document()
        return {**doc, "seq": self.seq} if doc or self.seq else {}

    def set_bot(self, values: dict[str, Any]) -> None:
        """Store the bot document; a `seq` key is ignored (see `set_seq`). Writes only when a value
        differs from what was last stored, so calling it on every transition is cheap."""
        doc = {k: v for k, v in values.items() if k != "seq"}
        if doc == self._bot_written:
            return
        self.storage.scope = ("bot", BOT_DOC)
        try:
            self.bot_table.upsert(Document(doc, doc_id=int(BOT_DOC)))
        finally:
            self.storage.scope = None
        self._bot_written = self._bot_document()

    def _bot_document(self) -> dict[str, Any]:
        # a deep copy: nested values edited in place by a caller must still compare as a change
        doc = copy.deepcopy(dict(self.bot_table.get(doc_id=int(BOT_DOC)) or {}))
        doc.pop("seq", None)  # kept there by snapshots written before the seq moved into the header
        return doc

    def live_positions(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self.positions.all()]

    def put_position(self, number: int, position: dict[str, Any]) -> None:
        self.storage.scope = ("positions", str(number))
        try:
            self.positions.upsert(Document(position, doc_id=number))
        finally:
            self.storage.scope = None

    def drop_position(self, number: int) -> None:
        if self.positions.contains(doc_id=number):
            self.storage.scope = ("positions", str(number))
            try:
                self.positions.remove(doc_ids=[number])
            finally:
                self.storage.scope = None

    def flush(self, sync: bool | None = None) -> None:
        self.storage.flush(sync)

    def close(self) -> None:
        self.db.close()


def read_snapshot_file(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a snapshot without opening it for writing (safe while the bot runs: a torn slot is
    ignored in favour of the other one). Returns (bot document with its `seq`, live positions)."""
    newest = read_slots(path)
    if newest is None:
        return {}, []
    data = newest.data
    bot = {**((data.get("bot") or {}).get(BOT_DOC) or {}), "seq": newest.seq}
    return bot, list((data.get("positions") or {}).values())
