"""SimVenue: the async Venue over the matching engine, as the bot sees it."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.venue import errors
from engine.venue.base import Venue
from engine.venue.sim import SimVenue
from engine.venue.types import Candle, OrderStatus, OrderType, Side
from tests.venue.venue_helpers import BTCUSDC

M5 = 300_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC, a multiple of 15 min


@pytest.fixture
def venue(shared_data: Path, mainnet_exchange_info: Path) -> SimVenue:
    v = SimVenue.from_files(
        mainnet_exchange_info,
        {"USDC": 1000},
        leverage_tiers=shared_data / "leverage" / "binance-leverage-tiers.json",
    )
    for i in range(9):  # 45 minutes of 5m candles: 60000, 60010, ...
        p = 60000.0 + 10 * i
        v.on_candle(BTCUSDC, T0 + i * M5, p, p + 5, p - 5, p + 1, 2.0)
    return v


async def test_it_is_a_venue(venue: SimVenue) -> None:
    assert isinstance(venue, Venue)
    markets = await venue.markets()
    assert markets[BTCUSDC].min_notional == D("100")


async def test_fetch_ohlcv_serves_what_was_fed(venue: SimVenue) -> None:
    latest = await venue.fetch_ohlcv(BTCUSDC, "5m", limit=2)
    assert latest == [
        Candle(T0 + 7 * M5, 60070.0, 60075.0, 60065.0, 60071.0, 2.0),
        Candle(T0 + 8 * M5, 60080.0, 60085.0, 60075.0, 60081.0, 2.0),
    ]
    since = await venue.fetch_ohlcv(BTCUSDC, "5m", since_ms=T0 + M5 + 1, limit=3)
    assert [c.open_ms for c in since] == [T0 + 2 * M5, T0 + 3 * M5, T0 + 4 * M5]
    assert len(await venue.fetch_ohlcv(BTCUSDC, "5m")) == 9


async def test_fetch_ohlcv_resamples_to_a_multiple(venue: SimVenue) -> None:
    candles = await venue.fetch_ohlcv(BTCUSDC, "15m")
    assert candles == [
        Candle(T0, 60000.0, 60025.0, 59995.0, 60021.0, 6.0),
        Candle(T0 + 3 * M5, 60030.0, 60055.0, 60025.0, 60051.0, 6.0),
        Candle(T0 + 6 * M5, 60060.0, 60085.0, 60055.0, 60081.0, 6.0),
    ]
    assert [c.open_ms for c in await venue.fetch_ohlcv(BTCUSDC, "15m", limit=1)] == [T0 + 6 * M5]
    with pytest.raises(ValueError, match="cannot serve 1m"):
        await venue.fetch_ohlcv(BTCUSDC, "1m")
    with pytest.raises(ValueError, match="unknown timeframe"):
        await venue.fetch_ohlcv(BTCUSDC, "7m")
    with pytest.raises(errors.InvalidSymbol):
        await venue.fetch_ohlcv("NOPE/USDC:USDC", "5m")


async def test_trade_through_the_async_interface(venue: SimVenue) -> None:
    ticker = await venue.ticker(BTCUSDC)
    assert ticker.last == D("60081.0") and ticker.timestamp_ms == T0 + 8 * M5
    await venue.set_leverage(BTCUSDC, 5)
    entry = await venue.place_market(BTCUSDC, Side.BUY, D("0.005"), "P1-E1")
    assert entry.status is OrderStatus.FILLED and entry.average_price == D("60081.0")
    await venue.place_stop_market(BTCUSDC, Side.SELL, D("0.005"), D("59000.0"), "P1-SL")
    await venue.place_take_profit_market(BTCUSDC, Side.SELL, D("0.005"), D("61000.0"), "P1-TP")
    assert {o.type for o in await venue.open_orders(BTCUSDC)} == {
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT_MARKET,
    }
    (position,) = await venue.positions()
    assert position.leverage == 5 and position.margin == D("60.081")  # 300.405 / 5
    (fill,) = venue.on_candle(BTCUSDC, T0 + 9 * M5, 60081.0, 61010.0, 60080.0, 61000.0)
    assert fill.client_id == "P1-TP"
    tp = await venue.fetch_order(BTCUSDC, "P1-TP", conditional=True)
    assert tp is not None and tp.status is OrderStatus.FILLED
    canceled = await venue.cancel(BTCUSDC, "P1-SL", conditional=True)  # the orphan stop
    assert canceled.status is OrderStatus.CANCELED
    assert await venue.open_orders() == []
    balance = await venue.balance("USDC")
    # pnl 0.005 * (61000 - 60081) = 4.595; fees (300.405 + 305) * 0.0004 = 0.242162
    assert balance.wallet == D("1000") + D("4.595") - D("0.242162")
    assert (await venue.balance("BNB")).wallet == 0


async def test_closed_venue_refuses(venue: SimVenue) -> None:
    await venue.close()
    with pytest.raises(errors.VenueUnavailable):
        await venue.positions()
    with pytest.raises(errors.VenueUnavailable):
        await venue.place_market(BTCUSDC, Side.BUY, D("0.005"), "E1")


async def test_ticker_before_any_candle(mainnet_exchange_info: Path) -> None:
    venue = SimVenue.from_files(mainnet_exchange_info, {"USDC": 1000})
    with pytest.raises(errors.VenueUnavailable):
        await venue.ticker(BTCUSDC)
