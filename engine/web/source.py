"""What the pages read: a state folder (or a backtest's output folder) and, under `run --web`, the
running bot itself through the same `BotControl` Telegram uses. Without a bot every view is read
from the files and no control is offered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.inspect.status import read_status
from engine.machine.spec import MachineSpec
from engine.positions.book import HISTORY_FILE, JOURNAL_FILE
from engine.web.journal_index import JournalIndex
from engine.web.trades import TradeLog

LIVE_CACHE_S = 1.0  # a dashboard polled by several tabs asks the venue at most once a second
BIG_READ = 1 << 20


@dataclass(frozen=True)
class PositionRow:
    id: str
    symbol: str
    side: str
    qty: Decimal
    entry: Decimal | None
    upnl: Decimal | None
    state: str
    age: timedelta | None
    deadline: str  # "max_hold 12:30:00" or ""


@dataclass(frozen=True)
class BotState:
    state: str
    why: str
    risk: dict[str, Any]


@dataclass
class Source:
    state_dir: Path
    spec: MachineSpec  # the position machine (for the diagrams)
    title: str
    mode: str = "read-only"
    starting_balance: Decimal | None = None
    runs_root: Path | None = None
    services: Any = None  # the running bot's BotServices; None: a folder, read-only
    journal: JournalIndex = field(init=False)
    trades: TradeLog = field(init=False)
    _cache: dict[str, tuple[float, Any]] = field(default_factory=dict, init=False)
    _refreshing: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self.journal = JournalIndex(self.state_dir / JOURNAL_FILE)
        self.trades = TradeLog(self.state_dir / HISTORY_FILE)

    @property
    def live(self) -> bool:
        return self.services is not None

    @property
    def control(self) -> Any:
        return self.services.control

    def now(self) -> datetime:
        """The bot's clock (market time in paper) when it runs; without a bot, the time of the journal's
        newest record (a replay's or a backtest's market time: "today" and ages are its), else the wall
        clock."""
        if self.live:
            return self.control.now()
        if self.journal.entries:
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(self.journal.entries[-1].time)
        return datetime.now(UTC)

    async def refresh(self) -> None:
        """Read what the journal and the history gained. One at a time: two requests reading the history
        in two threads at once would both append what they read."""
        async with self._refreshing:
            await self.journal.refresh()
            try:
                unread = self.trades.path.stat().st_size - self.trades._end  # noqa: SLF001 - same package
            except FileNotFoundError:
                return
            if unread > BIG_READ:
                await asyncio.to_thread(self.trades.refresh)
            else:
                self.trades.refresh()

    # --- the bot and its positions ---------------------------------------------------------------
    def bot_state(self) -> BotState:
        if self.live:
            status = self.services.session.bot.status(self.now())
            return BotState(status["state"], status["why"], status)
        from engine.trading.bot_machine import describe
        from engine.trading.bot_state import resumed_state

        bot = read_status(self.state_dir).bot if self._has_snapshot() else {}
        model = resumed_state(bot)
        return BotState(model.state, describe(model), dict(bot.get("risk") or {}))

    def bot_values(self) -> dict[str, Any]:
        if self.live:
            return dict(self.services.session.book.bot)
        return read_status(self.state_dir).bot if self._has_snapshot() else {}

    async def balances(self) -> dict[str, Decimal]:
        """The venue's balance of each margin asset the profile trades (what /status shows; read here
        and not through `BotControl.status`, which loads the profile's YAML again to name the
        aggression: 10-25 ms the bot's loop would wait at every page)."""
        if not self.live:
            return {}

        async def read() -> dict[str, Decimal]:
            session = self.services.session
            return {q: (await session.venue.balance(q)).total for q in session.loaded.profile.venue.quote_assets}

        return await self._cached("balances", read)

    async def positions(self) -> list[PositionRow]:
        if self.live:
            views = await self._cached("positions", self.control.positions)
            live = self.services.session.book.live
            return [PositionRow(v.id, v.symbol, v.side, v.qty, v.entry_price, v.unrealised_pnl, v.state, v.age,
                                _deadline(live.get(v.id))) for v in views]
        if not self._has_snapshot():
            return []
        now = self.now()
        rows = []
        for p in read_status(self.state_dir).positions:
            since = p.opened_at or p.created_at
            rows.append(PositionRow(p.id, p.symbol, p.side.value if p.side else str(p.plan.get("side", "-")),
                                    p.qty or Decimal(str(p.plan.get("qty", 0))), p.entry_price, None, p.state,
                                    None if since is None else now - since, _deadline(p)))
        return rows

    async def _cached(self, key: str, read: Any) -> Any:
        at, value = self._cache.get(key, (0.0, None))
        if value is None or time.monotonic() - at > LIVE_CACHE_S:
            value = await read()
            self._cache[key] = (time.monotonic(), value)
        return value

    def forget_cache(self) -> None:
        """After a control changed something: the next page shows it at once."""
        self._cache.clear()

    def _has_snapshot(self) -> bool:
        return any(self.state_dir.glob("snapshot*.json"))


def _deadline(position: Any) -> str:
    if position is None or position.deadline_at is None or not position.deadline_event:
        return ""
    return f"{position.deadline_event} {position.deadline_at:%m-%d %H:%M}"
