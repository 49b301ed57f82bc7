"""An incremental index of the transition journal, for pages that must stay fast on a long one.

The first read scans the whole file once (in a worker thread: the bot's loop keeps ticking); later
reads parse only the lines appended since. Each shown record keeps its offset and the few fields the
filters need; a page reads the full records it displays, and no more, from their offsets.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.inspect.transitions_log import LogFilter, event_name
from engine.store.journal import is_bot, is_bot_transition, is_command
from engine.store.sealed import unseal
from engine.web.tail import appended_lines

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int
    length: int
    label: str  # the seq, or bot#n for the bot machine's transitions
    time: str
    position: str  # "bot" for the bot machine, "" for a command
    symbol: str
    event: str  # `/pause` for a command


class JournalIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[Entry] = []
        self.by_position: dict[str, list[int]] = {}  # a position's page reads its records, not the journal
        self.damage: str | None = None  # the first line that does not read (the index stops there)
        self._end = 0
        self._line = 0
        self._lock = asyncio.Lock()

    async def refresh(self) -> int:
        """Index what was appended since the last call; returns how many records were added."""
        async with self._lock:
            if self.damage is not None:
                return 0
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                return 0
            if self._end == 0 and size > CHUNK:  # the first read of a long journal goes to a thread
                return await asyncio.to_thread(self._read)
            return self._read()

    def _read(self) -> int:
        added = 0
        lines, _ = appended_lines(self.path, self._end)
        offset = self._end
        for raw in lines:
            self._line += 1
            try:
                record, _ = unseal(raw)
            except ValueError as exc:
                self.damage = f"{self.path} line {self._line}: {exc}"
                break
            entry = _entry(record, offset, len(raw))
            if entry is not None:
                self.by_position.setdefault(entry.position, []).append(len(self.entries))
                self.entries.append(entry)
                added += 1
            offset += len(raw)
        self._end = offset
        return added

    def select(self, flt: LogFilter, limit: int) -> list[Entry]:
        """The newest `limit` entries matching `flt`, newest first."""
        out: list[Entry] = []
        match = _matcher(flt)
        indices = self.by_position.get(flt.position, []) if flt.position else range(len(self.entries))
        for i in reversed(indices):
            e = self.entries[i]
            if flt.since is not None and _time(e.time) < flt.since:
                break  # the journal is in time order: everything earlier is older still
            if match(e):
                out.append(e)
                if len(out) >= limit:
                    break
        return out

    def after(self, index: int, flt: LogFilter) -> list[Entry]:
        """The entries from position `index` on that match `flt`, oldest first (the live log's news)."""
        match = _matcher(flt)
        return [e for e in self.entries[index:] if match(e) and (flt.since is None or _time(e.time) >= flt.since)]

    def records(self, entries: list[Entry]) -> list[dict[str, Any]]:
        """The full records of `entries`, in the same order."""
        out = []
        with self.path.open("rb") as fh:
            for e in entries:
                fh.seek(e.offset)
                out.append(unseal(fh.read(e.length))[0])
        return out


def record_entry(record: dict[str, Any], offset: int = 0, length: int = 0) -> Entry | None:
    return _entry(record, offset, length)


def _entry(record: dict[str, Any], offset: int, length: int) -> Entry | None:
    if is_bot(record) and not is_bot_transition(record):
        return None  # bot values are state, not log lines
    if is_bot_transition(record):
        label, position = f"bot#{record.get('n', '?')}", "bot"
    else:
        label, position = str(record.get("seq", "?")), "" if is_command(record) else str(record.get("position", ""))
    return Entry(offset, length, label, str(record.get("time", "")), position, str(record.get("symbol", "")),
                 event_name(record))


def _matcher(flt: LogFilter):  # noqa: ANN202 - Entry -> bool
    symbol = _squash(flt.symbol) if flt.symbol else None
    events = (flt.event, f"/{flt.event}") if flt.event else None

    def match(e: Entry) -> bool:
        return ((not flt.position or e.position == flt.position)
                and (symbol is None or _squash(e.symbol) == symbol)
                and (events is None or e.event in events))

    return match


def _squash(symbol: str) -> str:
    """`BTC/USDC:USDC`, `BTC/USDC` and `BTCUSDC` all name the same market (as `log --symbol`)."""
    return symbol.split(":")[0].replace("/", "").upper()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
