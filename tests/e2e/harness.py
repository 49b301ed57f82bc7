"""A bot assembled like `run` assembles it (`open_session` on a tmp profile, a simulated venue on the
built-in market table), driven by hand: candles go to the venue, its executions and the signals go to
the engine, and every call takes an explicit `now`."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.bot.session import Session, open_session
from engine.bot.venues import sim_engine
from engine.clock import to_ms
from engine.config.loading import load_profile
from engine.positions.model import Position
from engine.strategy.signal import Side, Signal
from engine.venue.builtin_markets import builtin_markets
from engine.venue.sim.venue import SimVenue
from engine.venue.types import Execution
from tests.e2e.support import deep_merge, journal_records, make_profile

STEP = timedelta(minutes=5)
PRICES = {"ETH/USDT:USDT": 3000.0, "SOL/USDT:USDT": 150.0,
          "BTC/USDC:USDC": 60000.0, "ETH/USDC:USDC": 3000.0, "SOL/USDC:USDC": 150.0, "BNB/USDC:USDC": 600.0,
          "LINK/USDC:USDC": 15.0, "XRP/USDC:USDC": 0.6}


class Bot:
    def __init__(self, root: Path, name: str = "e2e", quotes: tuple[str, ...] = ("USDC",), **sections: Any) -> None:
        # positions live until a test closes them, unless it asks for a max hold
        sections = deep_merge({"risk": {"max_hold": "4h"}, "venue": {"quote_assets": list(quotes)}}, sections)
        self.profile_path = make_profile(root, name, **sections)
        self.loaded = load_profile(self.profile_path)
        profile = self.loaded.profile
        self.markets = builtin_markets(quotes)
        funded = {q: Decimal(profile.venue.starting_balance) for q in quotes}
        self.venue = SimVenue(sim_engine(self.markets, funded, profile))
        self.state_dir = self.loaded.state_dir
        self.last: dict[str, float] = {}
        self.session = self._open()

    def _open(self) -> Session:
        return open_session(self.loaded, self.markets, state_dir=self.state_dir, venue=self.venue)

    def restart(self) -> None:
        """Close the book and open the state folder again (same venue): what a process restart does."""
        self.session.book.close()
        self.session = self._open()
        asyncio.run(self.engine.resume(self._latest_now))

    def close(self) -> None:
        self.session.book.close()

    @property
    def engine(self):  # noqa: ANN201
        return self.session.engine

    @property
    def book(self):  # noqa: ANN201
        return self.session.book

    @property
    def risk(self):  # noqa: ANN201
        return self.session.risk

    _latest_now: datetime

    # --- market --------------------------------------------------------------------------------
    def candle(self, symbol: str, open_at: datetime, o: float, h: float, lo: float, c: float) -> list[Execution]:
        self.last[symbol] = c
        return self.venue.on_candle(symbol, to_ms(open_at), o, h, lo, c, 1.0)

    def flat_candle(self, symbol: str, open_at: datetime, price: float | None = None) -> list[Execution]:
        p = price if price is not None else self.last.get(symbol, PRICES[symbol])
        return self.candle(symbol, open_at, p, p, p, p)

    def step(self, symbol: str, open_at: datetime, o: float, h: float, lo: float, c: float) -> list[Execution]:
        """One candle through the venue, its fills to the engine and due deadlines fired, at its close."""
        now = open_at + STEP
        executions = self.candle(symbol, open_at, o, h, lo, c)

        async def go() -> None:
            await self.engine.on_executions(executions, now)
            await self.engine.on_timeouts(now)

        self._latest_now = now
        asyncio.run(go())
        return executions

    # --- signals -------------------------------------------------------------------------------
    def signal(self, symbol: str, now: datetime, side: str = "long") -> Position | None:
        """A strategy signal at `now` for the symbol's last price (a flat candle just before sets it)."""
        open_at = now - STEP
        if self.last.get(symbol) is None or self.venue.engine.last_price(symbol) is None:
            self.flat_candle(symbol, open_at)
        price = self.last[symbol]
        sig = Signal(symbol, Side(side), to_ms(open_at), price, 0.5, (), f"{side}: e2e test signal")
        self._latest_now = now
        return asyncio.run(self.engine.on_signal(sig, now))

    def stop_out(self, position: Position, open_at: datetime) -> list[Execution]:
        """A candle that runs through the position's stop (and nowhere near its take-profits)."""
        stop = float(position.plan["stop_price"])
        entry = float(position.entry_price or position.plan["price"])
        if position.side is not None and position.side.value == "long":
            low = stop * 0.995
            return self.step(position.symbol, open_at, entry, entry, low, low)
        high = stop * 1.005
        return self.step(position.symbol, open_at, entry, high, entry, high)

    # --- what is on disk -----------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Every journal record, commands included."""
        return journal_records(self.state_dir)

    def next_id(self) -> str:
        return f"P{int(self.book.bot.get('next_position', 1))}"

    async def wallet(self) -> Decimal:
        return (await self.venue.balance("USDC")).total
