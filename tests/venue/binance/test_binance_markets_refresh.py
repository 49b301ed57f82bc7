"""Markets that change under a running bot, on the wire: `refresh_markets` reads exchangeInfo again past
the cache (ccxt's own precision table too), and the venue's filter rejections are `FilterRejected`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.venue.binance import BinanceVenue
from engine.venue.errors import (
    FilterFailure,
    FilterRejected,
    InvalidSymbol,
    MinNotional,
    PrecisionTooHigh,
    error_for_code,
)
from engine.venue.types import Side
from tests.fakes.binance import FakeBinance
from tests.venue.binance.conftest import BTC, ETH

INFO = "/fapi/v1/exchangeInfo"


def _info_reads(fake: FakeBinance) -> int:
    return sum(1 for r in fake.requests if r.path == INFO)


async def test_refresh_reads_exchange_info_again_past_the_cache(fake: FakeBinance, venue: BinanceVenue) -> None:
    before = (await venue.markets())[BTC]
    fake.set_filters(BTC, step_size="0.01")
    fake.set_status(ETH, "SETTLING")
    assert (await venue.markets())[BTC].step_size == before.step_size, "cached for the TTL"
    assert _info_reads(fake) == 1
    fresh = await venue.refresh_markets()
    assert _info_reads(fake) == 2
    assert (fresh[BTC].step_size, fresh[BTC].market_step_size) == (Decimal("0.01"), Decimal("0.01"))
    assert fresh[ETH].status == "SETTLING" and not fresh[ETH].is_trading
    assert (await venue.markets())[BTC].step_size == Decimal("0.01"), "the refresh renewed the cache"
    # ccxt's precision table was reloaded too: a size on the old step is refused before it is sent
    sent = len(fake.requests)
    with pytest.raises(PrecisionTooHigh):
        await venue.place_market(BTC, Side.BUY, Decimal("0.123"), "bot-P1-E1")
    assert len(fake.requests) == sent


async def test_a_delisted_symbol_is_gone_after_a_refresh_and_refused_without_a_request(
    fake: FakeBinance, venue: BinanceVenue
) -> None:
    assert ETH in await venue.markets()
    fake.delist(ETH)
    assert ETH not in await venue.refresh_markets()
    sent = len(fake.requests)
    with pytest.raises(InvalidSymbol):
        await venue.place_market(ETH, Side.SELL, Decimal("0.1"), "bot-P2-C1", reduce_only=True)
    assert len(fake.requests) == sent


def test_every_filter_rejection_is_filter_rejected() -> None:
    """What tells the executor to re-read the markets before its one retry (see test_binance_wire for the
    codes on the wire)."""
    assert all(issubclass(kind, FilterRejected) for kind in (PrecisionTooHigh, FilterFailure, MinNotional))
    assert isinstance(error_for_code(-1013, "Filter failure: PRICE_FILTER"), FilterFailure)
    assert not isinstance(error_for_code(-2019, "Margin is insufficient."), FilterRejected)
