"""Markets that change under a running bot, on the wire: `refresh_markets` reads exchangeInfo again past
the cache (ccxt's own precision table too), and the venue's filter rejections are `FilterRejected`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.venue.binance import BinanceVenue
from engine.venue.errors import FilterFailure, FilterRejected, InvalidSymbol, MinNotional, PrecisionTooHigh
from engine.venue.types import Side
from tests.fakes.binance import FakeBinance, Fault
from tests.venue.binance.conftest import BTC, ETH, qty_for

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


@pytest.mark.parametrize(
    ("code", "msg", "error"),
    [
        (-1111, "Precision is over the maximum defined for this asset.", PrecisionTooHigh),
        (-1013, "Filter failure: LOT_SIZE", FilterFailure),
        (-4164, "Order's notional must be no smaller than 100 (unless you choose reduce only).", MinNotional),
    ],
)
async def test_filter_rejections_from_the_wire_are_filter_rejected(
    fake: FakeBinance, venue: BinanceVenue, code: int, msg: str, error: type[FilterRejected]
) -> None:
    qty = await qty_for(venue, BTC, Decimal(150))
    fake.inject(Fault.reject(code, msg, method="POST", path="/fapi/v1/order"))
    with pytest.raises(error) as info:
        await venue.place_market(BTC, Side.BUY, qty, "bot-P3-E1")
    assert isinstance(info.value, FilterRejected) and info.value.code == code
