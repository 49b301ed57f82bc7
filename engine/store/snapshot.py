"""The live-state snapshot: a TinyDB database on an atomic storage.

TinyDB rewrites its whole file on every change, so the snapshot holds only what is live (open
positions and bot state); closed positions move to the append-only history. Writes go to a temp
file that is renamed over the old one: a crash leaves either the old or the new snapshot, never a
mix. The journal, not the snapshot, is the commit point, so whether the temp file is fsync'd before
the rename is a policy (`fsync`): "always" syncs every write; "checkpoint" syncs every
`checkpoint_every` writes and on close. A snapshot that lags after a power loss is rolled forward
from the journal at start-up (see `engine.positions.book`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from engine.store.fsio import fsync_dir

FsyncPolicy = Literal["always", "checkpoint"]


class AtomicJSONStorage(Storage):
    """TinyDB storage that keeps the data in memory and writes it atomically on `flush()`.

    TinyDB calls `write` once per table operation; batching them into one file write per
    transition is what keeps a durable transition to one rename.
    """

    def __init__(self, path: str, fsync: FsyncPolicy = "always", checkpoint_every: int = 64) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.fsync_policy = fsync
        self.checkpoint_every = checkpoint_every
        self._data: dict[str, Any] | None = None
        self._dirty = False
        self._unsynced = 0
        if self.tmp.exists():
            self.tmp.unlink()  # a write that never reached its rename: the old snapshot stands

    def read(self) -> dict[str, Any] | None:
        if self._data is None:
            try:
                with self.path.open("r", encoding="utf-8") as fh:
                    self._data = json.load(fh)
            except FileNotFoundError:
                return None
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        self._dirty = True

    def flush(self, sync: bool | None = None) -> None:
        """Write the current data to disk atomically (temp file, optional fsync, rename)."""
        if not self._dirty:
            return
        self._unsynced += 1
        if sync is None:
            sync = self.fsync_policy == "always" or self._unsynced >= self.checkpoint_every
        payload = json.dumps(self._data, separators=(",", ":"), ensure_ascii=False).encode()
        with self.tmp.open("wb") as fh:
            fh.write(payload)
            if sync:
                os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        if sync:
            fsync_dir(self.path.parent)
            self._unsynced = 0
        self._dirty = False

    def close(self) -> None:
        self.flush(sync=True)


class Snapshot:
    """Live positions (keyed by their number) and one `bot` document (seq, counters, overrides)."""

    def __init__(self, path: Path, fsync: FsyncPolicy = "always", checkpoint_every: int = 64) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = TinyDB(str(path), storage=AtomicJSONStorage, fsync=fsync, checkpoint_every=checkpoint_every)
        self.storage: AtomicJSONStorage = self.db.storage  # type: ignore[assignment]
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
    """Read a snapshot without opening it for writing (safe while the bot runs: the file is only
    ever replaced whole by a rename). Returns (bot document, live positions)."""
    try:
        with path.open("r", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}, []
    bot = (data.get("bot") or {}).get("1", {})
    return bot, list((data.get("positions") or {}).values())
