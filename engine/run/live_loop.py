"""The wall-clock trading loop shared by paper trading on live public data and by testnet/live trading.

    every `runtime.tick`:  new closed candles (poller) → settle (paper: feed the simulated venue;
    live: read the fills of our resting orders) → deadlines → strategy → entries
    every `runtime.reconcile_every`: full reconciliation with the venue
    every `venue.markets_refresh`: the markets' filters and status read again (exchangeInfo)
    every `universe.rotation`: the universe picked again from the 24 h tickers and recent candles
    (engine.market.live_universe); a change is logged, printed and notified, the poller follows the
    new symbols (and keeps those a position is still open on), the market gate refuses entries on
    the symbols that left

Start-up follows DESIGN.md's protocol: warm the strategy, finish each live position's last outbox
(orders looked up by client id before anything is resent), reconcile, and only then allow entries.
A reconciliation that cannot complete keeps entries blocked until one does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.bot.attach import running_services
from engine.bot.session import Session
from engine.clock import Clock, to_ms
from engine.market.live_universe import LiveUniverse, candle_windows, status_of
from engine.market.poller import CandlePoller
from engine.run.console import install_signal_handlers, print_status, shutdown
from engine.strategy.signal import Signal
from engine.strategy.sources import LiveSignals, window_for, window_frame
from engine.trading.reconcile import Reconciler
from engine.venue.errors import VenueError
from engine.venue.types import Candle
from engine.web.attach import web_dashboard

log = logging.getLogger("engine.live")

Settle = Callable[[dict[str, list[Candle]], datetime], Awaitable[None]]


@dataclass
class LoopStats:
    ticks: int = 0
    tick_ms: list[float] = field(default_factory=list)  # wall time of each tick (bench/live_loop.py)
    reconciliations: int = 0
    last_reconcile: list[str] = field(default_factory=list)


class LiveLoop:
    def __init__(self, session: Session, poller: CandlePoller, *, clock: Clock, settle: Settle | None,
                 out: Any, services: Any = None, refresh_markets: Callable[[], Awaitable[Any]] | None = None,
                 universe: LiveUniverse | None = None,
                 on_new_symbols: Callable[[list[str]], Awaitable[None]] | None = None) -> None:
        self.session = session
        self.engine = session.engine
        self.poller = poller
        self.clock = clock
        self.settle = settle
        self.out = out
        self.services = services
        profile = session.loaded.profile
        self.tick_every = profile.runtime.tick.total_seconds()
        self.reconcile_every = profile.runtime.reconcile_every
        self.warmup = window_for(profile.strategy)  # candles fetched per symbol at start
        self.signals = LiveSignals(profile.strategy, window=self.warmup)
        self.reconciler = Reconciler(self.engine)
        self.entries_ok = False
        self.stats = LoopStats()
        self._seen: dict[str, int] = {}  # symbol -> newest candle the strategy has seen
        self._last_reconcile: datetime | None = None
        # The venue's markets again (paper on live data passes Binance's public exchangeInfo instead).
        self._refresh_markets = refresh_markets or self.engine.refresh_markets
        self.markets_every = profile.venue.markets_refresh
        self._markets_read: datetime | None = None
        self.universe = universe
        self.on_new_symbols = on_new_symbols  # paper: the simulated venue's first price of a new symbol
        if universe is not None and universe.rotation.current is not None:
            self.engine.gate.universe = universe.rotation.symbols

    # --- start-up ------------------------------------------------------------------------------
    async def warm(self, symbols: list[str] | None = None) -> None:
        """The strategy's window for every symbol (default: all the poller's), fetched concurrently."""
        symbols = self.poller.symbols if symbols is None else symbols
        for symbol, history in (await candle_windows(self.poller.history, symbols, self.warmup, "warm-up")).items():
            if history:
                rows = ((c.open_ms, c.open, c.high, c.low, c.close, c.volume) for c in history)
                self.signals.warm(symbol, window_frame(rows))
                self._seen[symbol] = history[-1].open_ms

    async def start(self) -> None:
        now = self.clock.now()
        self._markets_read = now  # the session was just opened on them
        if self.universe is not None:
            self.session.book.set_bot_value("universe", status_of(self.universe.rotation))
        await self.engine.resume(now)
        await self.reconcile(now)

    async def reconcile(self, now: datetime) -> None:
        report = await self.reconciler.run(now)
        self._last_reconcile = now
        self.stats.reconciliations += 1
        self.stats.last_reconcile = report.lines()
        if report.complete != self.entries_ok:
            state = "allowed" if report.complete else "BLOCKED (reconciliation incomplete)"
            self.out.print(f"entries {state}")
        self.entries_ok = report.complete
        for line in report.lines():
            self.out.print(f"[yellow]{line}[/]")
        if self.services is not None and (report.problems or not report.complete):
            self.services.notify("reconciliation", problem="; ".join(report.problems) or "incomplete")

    # --- one tick ------------------------------------------------------------------------------
    async def tick(self) -> None:
        started = time.perf_counter()
        now = self.clock.now()
        new = await self.poller.poll()
        if self.settle is None:  # a real venue: the fills of our resting orders are read from it
            await self.reconciler.sync_fills(now)
        else:  # paper: the simulated venue fills on the candles it is fed
            await self.settle(new, now)
        if self._markets_read is None or now - self._markets_read >= self.markets_every:
            await self.refresh_markets(now)
        if self.universe is not None and self.universe.due(to_ms(now)):
            await self.refresh_universe(now)
        await self.engine.on_timeouts(now)
        for signal in self._signals(new):
            if self.entries_ok:
                await self.engine.on_signal(signal, now)
        if self._last_reconcile is None or now - self._last_reconcile >= self.reconcile_every:
            await self.reconcile(now)
        self.stats.ticks += 1
        self.stats.tick_ms.append((time.perf_counter() - started) * 1000)

    async def refresh_markets(self, now: datetime) -> None:
        """Filters and status as the venue lists them now: new filters size the next orders, and a market
        gone or no longer TRADING gets no entry (reconciliation closes what is held on it)."""
        self._markets_read = now
        try:
            await self._refresh_markets()
        except VenueError as exc:
            log.warning("markets not read again: %s", exc)

    async def refresh_universe(self, now: datetime) -> None:
        """Pick the universe again; on a change, say so (log, terminal, notification) and follow it."""
        assert self.universe is not None
        try:
            change = await self.universe.refresh(to_ms(now))
        except VenueError as exc:
            log.warning("universe not refreshed (kept as it was; tried again next tick): %s", exc)
            return
        rotation = self.universe.rotation
        self.engine.gate.universe = rotation.symbols
        self.session.book.set_bot_value("universe", status_of(rotation))
        if change is None:
            return
        line = change.line()
        log.info("%s", line)
        self.out.print(line)
        if self.services is not None:
            self.services.notify("universe", symbols=len(change.symbols), added=list(change.added),
                                 removed=list(change.removed))
        await self.follow(rotation.symbols)

    async def follow(self, universe: frozenset[str]) -> None:
        """Poll the universe's symbols and every symbol a position is still open on; a symbol new to
        the poller is warmed up (and, in paper, primed) before its first poll."""
        held = {p.symbol for p in self.session.book.live.values()}
        wanted = [s for s in self.poller.symbols if s in universe or s in held]
        wanted += sorted((universe | held) - set(wanted))
        new = [s for s in wanted if s not in self.poller.symbols]
        self.poller.symbols = wanted
        if new:
            await self.warm(new)
            if self.on_new_symbols is not None:
                await self.on_new_symbols(new)

    def _signals(self, new: dict[str, list[Candle]]) -> list[Signal]:
        """Every new candle goes through the strategy in order; only a signal on a symbol's newest
        candle is acted on (one from an older candle, seen late after a gap, is stale)."""
        out = []
        for symbol, candles in new.items():
            fresh = [c for c in candles if c.open_ms > self._seen.get(symbol, -1)]
            signal = None
            for candle in fresh:
                signal = self.signals.on_candle(symbol, candle.open_ms,
                                                (candle.open, candle.high, candle.low, candle.close, candle.volume))
            if fresh:
                self._seen[symbol] = fresh[-1].open_ms
            if signal is not None:
                out.append(signal)
        return out

    # --- the loop ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, ticks: int | None = None,
                  on_tick: Callable[[datetime], Awaitable[None]] | None = None) -> None:
        while not stop.is_set() and (ticks is None or self.stats.ticks < ticks):
            began = time.monotonic()
            try:
                if self.services is None:
                    await self.tick()
                else:
                    async with self.services.engine_lock:  # Telegram commands wait for the tick
                        await self.tick()
                    self.services.tick(self.clock.now())
            except VenueError as exc:
                # The venue failing for a tick is not the bot failing: positions keep their stops
                # on the venue, and the next tick (and reconciliation) picks up from the truth.
                log.warning("tick failed: %s", exc)
                self.out.print(f"[red]tick failed: {exc}[/]")
            if on_tick is not None:
                await on_tick(self.clock.now())
            if ticks is not None and self.stats.ticks >= ticks:
                return
            wait = max(0.0, self.tick_every - (time.monotonic() - began))
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                pass


async def trade_until_stopped(loop: LiveLoop, *, ticks: int | None = None, note: str = "",
                              prime: Callable[[], Awaitable[None]] | None = None, web: Any = None) -> None:
    """Warm up, (prime), start with the services running, trade until Ctrl+C / SIGTERM or `ticks`,
    then shut down as the profile says. The "ready" line marks the end of start-up reconciliation.
    `web` (engine.web.bind.WebSettings): serve the dashboard from this loop while it trades."""

    session, out, clock = loop.session, loop.out, loop.clock
    profile = session.loaded.profile
    await loop.warm()
    if prime is not None:
        await prime()
    async with running_services(session, clock, loop.signals, note=note) as services, \
            web_dashboard(services, web, out):
        loop.services = services
        async with services.engine_lock:
            await loop.start()
        out.print("ready: reconciled with the venue" if loop.entries_ok else "[red]not ready: entries blocked[/]")
        stop = asyncio.Event()
        install_signal_handlers(stop)
        started = time.monotonic()
        last_status: list[datetime | None] = [None]

        async def status(now: datetime) -> None:
            if last_status[0] is None or now - last_status[0] >= profile.runtime.status_every:
                try:
                    await print_status(out, session, now, started, services)
                except VenueError as exc:
                    out.print(f"[yellow]status unavailable: {exc}[/]")
                last_status[0] = now

        await loop.run(stop, ticks=ticks, on_tick=status)
        async with services.engine_lock:
            await shutdown(session, clock.now(), out)
