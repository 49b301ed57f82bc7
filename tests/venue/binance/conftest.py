"""A BinanceVenue wired to the fake Binance fapi server (tests/fakes/binance), with recorded sleeps."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

from engine.venue.binance import BinanceSettings, BinanceVenue, Credentials
from engine.venue.binance.retry import RetryPolicy
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.fixture import shared_candles

BTC = "BTC/USDC:USDC"
ETH = "ETH/USDC:USDC"
API_KEY = "AKfake0123456789keyNEVERinLOGS"
SECRET = "SKfake9876543210secretNEVERinLOGS"


class Sleeps:
    """An injected sleep: records every wait, waits for nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def venue_for(fake: FakeBinance, sleeps: Sleeps | None = None, **settings: Any) -> BinanceVenue:
    settings.setdefault("enable_rate_limit", False)
    settings.setdefault("ticker_ttl_s", 0.0)
    settings.setdefault("timeout_ms", 2_000)
    settings.setdefault("retry", RetryPolicy(attempts=4, base_delay_s=0.05, max_wait_s=10.0))
    return BinanceVenue(
        Credentials(fake.api_key, fake.secret),
        mode="testnet",
        base_url=fake.base_url,
        settings=BinanceSettings(**settings),
        sleep=sleeps or Sleeps(),
        rng=random.Random(0),
    )


@pytest.fixture
async def fake(make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> FakeBinance:
    """The fake on real candles when the shared data is there (else synthetic), with keys worth hiding."""
    return await make_fake_binance(data_dir=shared_candles(), api_key=API_KEY, secret=SECRET)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def venue(fake: FakeBinance, sleeps: Sleeps) -> AsyncIterator[BinanceVenue]:
    v = venue_for(fake, sleeps)
    try:
        yield v
    finally:
        await v.close()


async def qty_for(venue: BinanceVenue, symbol: str, notional: Decimal) -> Decimal:
    """The smallest quantity on the market's step worth at least `notional` at the last price."""
    market = (await venue.markets())[symbol]
    price = (await venue.ticker(symbol)).last
    steps = (notional / price / market.market_step_size).to_integral_value(rounding=ROUND_CEILING)
    return max(steps * market.market_step_size, market.market_min_qty).quantize(market.market_step_size)


def tick_round(price: Decimal, tick: Decimal) -> Decimal:
    return (price / tick).to_integral_value() * tick
