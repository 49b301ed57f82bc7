"""Helpers for the fake's tests: symbols, prices on the tick, and peeking at the next candle (white box,
so that stop levels are chosen from the seeded data and never by luck)."""

from __future__ import annotations

import math

from engine.market.candles import timeframe_ms
from tests.fakes.binance import FakeBinance

BTC = "BTC/USDC:USDC"
ETH = "ETH/USDC:USDC"
BTC_TICK = 0.1


def price(fake: FakeBinance, symbol: str = BTC) -> float:
    value = fake.price(fake.market(symbol))
    assert value is not None
    return value


def next_candle(fake: FakeBinance, symbol: str = BTC) -> tuple[float, float, float, float]:
    """(open, high, low, close) of the timeframe candle that the next `advance()` closes."""
    tape = fake.tapes[fake.market(symbol).symbol]
    now = fake.market_time_ms
    _, rows = tape.span(now, now + timeframe_ms(fake.timeframe))
    return float(rows[0, 0]), float(rows[:, 1].max()), float(rows[:, 2].min()), float(rows[-1, 3])


def on_tick(value: float, tick: float = BTC_TICK, *, up: bool = False) -> float:
    steps = value / tick
    return round((math.ceil(steps) if up else math.floor(steps)) * tick, 10)


def advance_until_next_low_below(fake: FakeBinance, margin: float, symbol: str = BTC) -> float:
    """Advance until the next candle's low is at least `margin` below the current price; returns a stop
    trigger halfway between (on the tick), which the next `advance()` will cross."""
    for _ in range(200):
        _, _, low, _ = next_candle(fake, symbol)
        now = price(fake, symbol)
        if low < now - margin:
            return on_tick((low + now) / 2)
        fake.advance()
    raise AssertionError("no falling candle in 200 candles of the seeded market")
