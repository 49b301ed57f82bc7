"""The candle-driven step shared by backtest and paper: feed each symbol's candle to the simulated
venue, turn fills into events, fire due deadlines, then act on the strategy's signals at the close.

A signal computed from candle t is acted on at t's close, which is when the simulated venue's last
price is t's close: the entry fills there plus slippage, like a market order sent right after the
candle closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from engine.clock import SimulatedClock, from_ms
from engine.market.candles import Row, timeframe_ms
from engine.market.finer import FinerCandles
from engine.strategy.sources import SignalSource
from engine.trading.engine import TradingEngine
from engine.venue.sim.venue import SimVenue


async def feed_candle(venue: SimVenue, engine: TradingEngine, symbol: str, open_ms: int, row: Row,
                      now: datetime, finer: FinerCandles | None = None) -> None:
    """One closed candle through the simulated venue (with the finer candles inside it, when there are
    any); the fills it makes become the engine's events."""
    inside = None if finer is None else finer.inside(symbol, open_ms)
    executions = venue.on_candle(symbol, open_ms, *row, finer=inside)
    if executions:
        await engine.on_executions(executions, now)


class CandleDriver:
    def __init__(self, engine: TradingEngine, venue: SimVenue, clock: SimulatedClock, timeframe: str,
                 signals: SignalSource, finer: FinerCandles | None = None) -> None:
        self.engine = engine
        self.finer = finer
        self.venue = venue
        self.clock = clock
        self.step_ms = timeframe_ms(timeframe)
        self.signals = signals
        self.candles = 0

    async def step(self, open_ms: int, rows: Iterable[tuple[str, Row]]) -> None:
        now = from_ms(open_ms + self.step_ms)
        if now > self.clock.now():
            self.clock.set(now)
        batch = list(rows)
        for symbol, row in batch:
            await feed_candle(self.venue, self.engine, symbol, open_ms, row, now, self.finer)
        self.candles += len(batch)
        await self.engine.on_timeouts(now)
        for symbol, row in batch:
            signal = self.signals.on_candle(symbol, open_ms, row)
            if signal is not None:
                await self.engine.on_signal(signal, now)
