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
`to_json` of TinyDB's data at the moment of the flush.

The journal, not the snapshot, is the commit point, so whether a slot is fsync'd after each write
is a policy (`fsync`): "always" syncs every write; "checkpoint" syncs every `checkpoint_every`
writes and on close. A snapshot that lags after a power loss is rolled forward from the journal at
start-up (see `engine.positions.book`).
"""

from __future__ import annotations

import copy
import os
import zlib
from pathlib import Path
from typing import Any, Literal, NamedTuple

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from engine.store.fsio import from_json, to_json
from engine.store.sealed import write_failed

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


_dumps = to_json


_KEYS: dict[str, bytes] = {}


def _key(name: str) -> bytes:
    """`"name":` as JSON (TinyDB's table names and document ids: a handful, so cached)."""
    encoded = _KEYS.get(name)
    if encoded is None:
        if len(_KEYS) >= 4096:
            _KEYS.clear()
        encoded = _KEYS[name] = _dumps(str(name)) + b":"
    return encoded


def _checksum(generation: int, seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(b"%d %d" % (generation, seq)))


def _frame(generation: int, seq: int, payload: bytes) -> bytes:
    return b'{"gen":%d,"seq":%d,"bytes":%d,"crc32":%d}\n%s\n' % (
        generation, seq, len(payload), _checksum(generation, seq, payload), payload)


def encode_slot(generation: int, data: dict[str, Any], seq: int = 0) -> bytes:
    """A whole slot: header line (generation, seq, payload length, CRC) and the JSON payload."""
    return _frame(generation, seq, _dumps(data))


def decode_slot(blob: bytes) -> Slot | None:
    """The slot's content, or None when it is empty, torn or corrupt."""
    head, sep, rest = blob.partition(b"\n")
    if not sep:
        return None
    try:
        header = from_json(head)
        size, generation = int(header["bytes"]), int(header["gen"])
        payload = rest[:size]
        if len(payload) != size:
            return None
        if "seq" in header:
            seq = int(header["seq"])
            if _checksum(generation, seq, payload) != int(header["crc32"]):
                return None
            return Slot(generation, seq, from_json(payload))
        # Written before the seq moved into the header: the CRC covers the payload alone and the
        # seq is a field of the bot document.
        if zlib.crc32(payload) != int(header["crc32"]):
            return None
        data = from_json(payload)
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


class PreparedSlot(NamedTuple):
    index: int  # which slot file
    blob: bytes  # header line + payload
    sync: bool  # fdatasync after writing (the fsync policy's decision)


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
        # per table: its encoding ('"name":{…}') and that of each document ('"id":{…}'), as last flushed
        self._encoded: dict[str, tuple[bytes, dict[str, bytes]]] = {}
        self._stale: dict[str, set[str]] | None = None  # table → ids to re-encode at the next flush; None: all
        self._abandoned = False

    def read(self) -> dict[str, Any] | None:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        self._dirty = True
        if self.scope is None:
            self._stale = None
        elif self._stale is not None:
            self._stale.setdefault(self.scope[0], set()).add(self.scope[1])

    def set_seq(self, seq: int) -> None:
        """Record the journal seq the data reflects (written in the next slot's header)."""
        if seq != self.seq:
            self.seq = seq
            self._dirty = True

    def payload(self) -> bytes:
        """The data as compact JSON, byte for byte `to_json(data)`, re-encoding only the
        documents changed since the last call (and reusing a table no document of which changed)."""
        stale, previous = self._stale, self._encoded
        encoded: dict[str, tuple[bytes, dict[str, bytes]]] = {}
        for name, table in (self._data or {}).items():
            cached = None if stale is None else previous.get(name)
            changed = stale.get(name) if stale is not None else None
            if cached is not None and not changed:
                encoded[name] = cached
                continue
            reuse = cached[1] if cached is not None else {}
            fragments = {}
            for doc_id, doc in table.items():
                fragment = None if changed is None or doc_id in changed else reuse.get(doc_id)
                fragments[doc_id] = fragment or _key(doc_id) + _dumps(doc)
            encoded[name] = (_key(name) + b"{" + b",".join(fragments.values()) + b"}", fragments)
        self._encoded, self._stale = encoded, {}
        return b"{" + b",".join(blob for blob, _ in encoded.values()) + b"}"

    def prepare(self, sync: bool | None = None) -> PreparedSlot | None:
        """Encode the current data for the older slot (never the one holding the newest state)
        without writing it; None when nothing changed. `write_prepared` writes it. Preparing
        before the journal's fsync and writing after it keeps the snapshot behind the journal
        while doing the encoding work before the commit."""
        if not self._dirty or self._abandoned:
            return None
        self._generation += 1
        self._unsynced += 1
        if sync is None:
            sync = self.fsync_policy == "always" or self._unsynced >= self.checkpoint_every
        if sync:
            self._unsynced = 0
        self._dirty = False
        return PreparedSlot(self._generation % 2, _frame(self._generation, self.seq, self.payload()), sync)

    def write_prepared(self, prepared: PreparedSlot | None) -> None:
        if prepared is None or self._abandoned:
            return
        try:
            fd = self._fd(prepared.index)
            # One pwrite in place: no rename, no truncation. Bytes left past the end by an older, longer
            # generation are ignored because the header gives the payload length.
            os.pwrite(fd, prepared.blob, 0)
            if prepared.sync:
                os.fdatasync(fd)
        except OSError as exc:
            raise write_failed(self.slots[prepared.index], exc, "the snapshot") from exc

    def flush(self, sync: bool | None = None) -> None:
        """Write the current data into the older slot now (see `prepare`)."""
        self.write_prepared(self.prepare(sync))

    def abandon(self) -> None:
        """Never write again: the in-memory data may be ahead of what the journal committed."""
        self._abandoned = True

    def _fd(self, index: int) -> int:
        if index not in self._fds:
            self._fds[index] = os.open(self.slots[index], os.O_RDWR | os.O_CREAT, 0o644)
        return self._fds[index]

    def close(self) -> None:
        if self._dirty:
            self.flush(sync=True)
        for fd in self._fds.values():
            if not self._abandoned:
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
        self._bot_written = _copy(doc)

    def _bot_document(self) -> dict[str, Any]:
        doc = _copy(dict(self.bot_table.get(doc_id=int(BOT_DOC)) or {}))
        doc.pop("seq", None)  # kept there by snapshots written before the seq moved into the header
        return doc

    def live_positions(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self.positions.all()]

    def put_position(self, number: int, position: dict[str, Any]) -> None:
        """Insert or replace live position `number` (one TinyDB operation when it exists)."""
        key = str(number)
        self.storage.scope = ("positions", key)
        try:
            if key in ((self.storage.read() or {}).get("positions") or {}):
                self.positions.update(position, doc_ids=[number])
            else:
                self.positions.insert(Document(position, doc_id=number))
        finally:
            self.storage.scope = None

    def drop_position(self, number: int) -> None:
        """Remove live position `number`; a no-op when it is not there."""
        self.storage.scope = ("positions", str(number))
        try:
            self.positions.remove(doc_ids=[number])
        finally:
            self.storage.scope = None

    def prepare(self, sync: bool | None = None) -> PreparedSlot | None:
        return self.storage.prepare(sync)

    def write_prepared(self, prepared: PreparedSlot | None) -> None:
        self.storage.write_prepared(prepared)

    def flush(self, sync: bool | None = None) -> None:
        self.storage.flush(sync)

    def abandon(self) -> None:
        self.storage.abandon()

    def close(self) -> None:
        self.db.close()


def _copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (what a document holds), so that nested values a caller
    edits in place still compare as a change; much cheaper than copy.deepcopy."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value if type(value) in _IMMUTABLE else copy.deepcopy(value)


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def read_snapshot_file(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a snapshot without opening it for writing (safe while the bot runs: a torn slot is
    ignored in favour of the other one). Returns (bot document with its `seq`, live positions)."""
    newest = read_slots(path)
    if newest is None:
        return {}, []
    data = newest.data
    bot = {**((data.get("bot") or {}).get(BOT_DOC) or {}), "seq": newest.seq}
    return bot, list((data.get("positions") or {}).values())
