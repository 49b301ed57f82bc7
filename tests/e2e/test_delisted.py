"""One symbol never blocks start-up or a tick, on the wire (fake Binance, real ccxt, BinanceVenue): a market
taken out of exchangeInfo or no longer TRADING gets no entries, the position on it is closed while it can
be (or left protected, reported and retried), and the bot goes on trading the others."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.clock import SimulatedClock
from engine.market.poller import CandlePoller
from engine.run.live_loop import LiveLoop
from tests.e2e.wire import BTC, ETH, NOW, WireBot
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.fixture import shared_candles


@pytest.fixture
async def bot(tmp_path: Path, make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> AsyncIterator[WireBot]:
    fake = await make_fake_binance(symbols=[ETH, BTC], data_dir=shared_candles())
    wire = WireBot(fake, tmp_path, risk={"max_hold": "30m"}, venue={"markets_refresh": "1m"})
    await wire.start()
    try:
        yield wire
    finally:
        await wire.stop()


class Quiet:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, *args: Any, **_: Any) -> None:
        self.lines.append(" ".join(map(str, args)))

    def rule(self, *args: Any, **_: Any) -> None:
        self.print(*args)


async def test_a_symbol_delisted_while_down_blocks_neither_start_nor_the_other_symbol(bot: WireBot) -> None:
    position = await bot.enter(ETH)
    assert position is not None and position.state == "open"
    stop = position.stops()[0]
    await bot.stop()
    bot.fake.delist(ETH)
    later = NOW + timedelta(minutes=1)
    await bot.restart(later)  # resumes its last outbox on a symbol the venue no longer lists
    report = await bot.reconcile(later)
    assert report.complete, report.lines()
    assert any(ETH in p and "no longer listed" in p for p in report.problems), report.lines()
    [eth] = bot.live()
    assert eth.state == "emergency" and eth.close_refusals == 1, "closed while it can be: not yet"
    assert stop in bot.resting(ETH) and bot.held(ETH) == eth.qty, "left protected"
    assert await bot.enter(ETH, later) is None, "no entry on a symbol the venue does not list"
    other = await bot.enter(BTC, later)
    assert other is not None and other.state == "open", "the other symbol trades"
    # the symbol comes back: the emergency's retry closes it and cleans its orders up
    bot.fake.relist(ETH)
    await bot.engine.refresh_markets()
    await bot.retry(eth, later)
    assert eth.state == "closed" and bot.held(ETH) == 0 and bot.resting(ETH) == set()
    assert bot.violations() == []


async def test_a_market_settling_while_running_is_closed_and_gets_no_entries(bot: WireBot) -> None:
    position = await bot.enter(ETH)
    assert position is not None and position.state == "open"
    bot.fake.set_status(ETH, "SETTLING")
    await bot.engine.refresh_markets()  # what the live loop does every venue.markets_refresh
    assert await bot.enter(ETH) is None, "no entry on a market that is not TRADING"
    report = await bot.reconcile(NOW)
    assert any("SETTLING" in p for p in report.problems), report.lines()
    assert position.state == "closed" and position.exit_reason == "emergency"
    assert bot.held(ETH) == 0 and bot.resting(ETH) == set(), "closed (reduce-only still fills) and cleaned up"
    other = await bot.enter(BTC)
    assert other is not None and other.state == "open"
    assert bot.violations() == []


async def test_a_symbol_delisted_while_running_does_not_stop_the_tick(bot: WireBot) -> None:
    eth = await bot.enter(ETH)
    btc = await bot.enter(BTC, NOW + timedelta(seconds=1))
    assert eth is not None and btc is not None and eth.deadline_at is not None
    assert bot.session is not None and bot.venue is not None
    clock = SimulatedClock(NOW)
    out = Quiet()
    loop = LiveLoop(bot.session, CandlePoller(bot.venue.fetch_ohlcv, [ETH, BTC], "5m"), clock=clock, settle=None,
                    out=out)
    await loop.start()
    bot.fake.delist(ETH)
    clock.set(btc.deadline_at + timedelta(seconds=1))  # both positions' max hold has passed, ETH's first
    await loop.tick()
    assert loop.stats.ticks == 1 and loop.stats.reconciliations == 2 and loop.entries_ok, out.lines
    assert ETH not in bot.engine.markets, "the tick read the markets again"
    assert btc.state == "closed" and bot.held(BTC) == 0, "the other symbol's deadline was served"
    assert eth.state == "emergency" and bot.held(ETH) == eth.qty
    assert any(ETH in line and "refused" in line for line in loop.stats.last_reconcile), "and reported"
