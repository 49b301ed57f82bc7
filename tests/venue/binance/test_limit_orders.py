"""LIMIT and post-only orders of BinanceVenue on the wire: the real ccxt client against the fake Binance
fapi server on 127.0.0.1. Each test asserts what the venue answered and what went over the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest

from engine.venue.binance import BinanceVenue
from engine.venue.errors import (
    OrderNotFound,
    PostOnlyRejected,
    PrecisionTooHigh,
    PriceNotOnTick,
    ReduceOnlyRejected,
)
from engine.venue.types import Liquidity, OrderStatus, OrderType, ReportSource, Side
from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.binance.fixture import shared_candles
from tests.venue.binance.conftest import API_KEY, BTC, ETH, SECRET, qty_for, tick_round, venue_for

ORDER = "/fapi/v1/order"


@pytest.fixture
async def halves(make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> FakeBinance:
    """A fake whose resting limit orders fill at most half their quantity per candle."""
    return await make_fake_binance(data_dir=shared_candles(), api_key=API_KEY, secret=SECRET, limit_fill_share=0.5)


@pytest.fixture
async def halves_venue(halves: FakeBinance) -> AsyncIterator[BinanceVenue]:
    v = venue_for(halves)
    try:
        yield v
    finally:
        await v.close()


def sent(fake: FakeBinance, method: str, path: str) -> list[dict[str, str]]:
    return [r.params for r in fake.requests if r.method == method and r.path == path]


async def price_off(venue: BinanceVenue, fake: FakeBinance, symbol: str, factor: str) -> Decimal:
    """The current price times `factor`, on the tick."""
    market = (await venue.markets())[symbol]
    now = Decimal(str(fake.price(fake.market(symbol))))
    return tick_round(now * Decimal(factor), market.tick_size)


async def resting_buy(venue: BinanceVenue, fake: FakeBinance, client_id: str = "bot-P1-E1",
                      symbol: str = BTC) -> tuple[Decimal, Decimal]:
    """A post-only buy 1 % under the price, resting; returns (qty, price)."""
    qty = await qty_for(venue, symbol, Decimal(300))
    price = await price_off(venue, fake, symbol, "0.99")
    order = await venue.place_limit(symbol, Side.BUY, qty, price, client_id, post_only=True)
    assert (order.status, order.filled, order.liquidity) == (OrderStatus.NEW, 0, None)
    return qty, price


async def test_post_only_order_rests_and_the_request_says_gtx(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty, price = await resting_buy(venue, fake)
    [request] = sent(fake, "POST", ORDER)
    assert request["type"] == "LIMIT" and request["timeInForce"] == "GTX" and request["side"] == "BUY"
    assert Decimal(request["quantity"]) == qty and Decimal(request["price"]) == price
    assert request["newClientOrderId"] == "bot-P1-E1" and "reduceOnly" not in request
    order = await venue.fetch_order(BTC, "bot-P1-E1", conditional=False)
    assert order is not None and order.type is OrderType.LIMIT and not order.is_conditional
    assert (order.status, order.price, order.post_only, order.qty) == (OrderStatus.NEW, price, True, qty)
    [listed] = await venue.open_orders(BTC)
    assert listed.client_id == "bot-P1-E1" and listed.type is OrderType.LIMIT and listed.price == price


async def test_post_only_order_that_would_cross_is_rejected_and_not_recorded(
    fake: FakeBinance, venue: BinanceVenue
) -> None:
    qty = await qty_for(venue, BTC, Decimal(300))
    above = await price_off(venue, fake, BTC, "1.01")
    with pytest.raises(PostOnlyRejected) as caught:
        await venue.place_limit(BTC, Side.BUY, qty, above, "bot-P1-E1", post_only=True)
    assert caught.value.code == -5022 and "Post Only order will be rejected" in caught.value.msg
    assert await venue.fetch_order(BTC, "bot-P1-E1", conditional=False) is None
    assert await venue.open_orders() == [] and fake.positions() == []


async def test_injected_post_only_rejection(fake: FakeBinance, venue: BinanceVenue) -> None:
    fake.inject(Fault.post_only_reject())
    qty = await qty_for(venue, BTC, Decimal(300))
    below = await price_off(venue, fake, BTC, "0.99")
    with pytest.raises(PostOnlyRejected):
        await venue.place_limit(BTC, Side.BUY, qty, below, "bot-P1-E1", post_only=True)
    assert [f.kind for f in fake.fired] == ["reject"]
    again = await venue.place_limit(BTC, Side.BUY, qty, below, "bot-P1-E1", post_only=True)
    assert again.status is OrderStatus.NEW


async def test_gtc_order_that_crosses_fills_at_once_as_taker(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await qty_for(venue, BTC, Decimal(300))
    above = await price_off(venue, fake, BTC, "1.01")
    order = await venue.place_limit(BTC, Side.BUY, qty, above, "bot-P1-E1")
    assert (order.status, order.filled, order.liquidity) == (OrderStatus.FILLED, qty, Liquidity.TAKER)
    assert order.average_price is not None and order.average_price <= above and order.fee > 0
    assert sent(fake, "POST", ORDER)[0]["timeInForce"] == "GTC"
    [position] = await venue.positions()
    assert position.qty == qty


async def test_resting_order_fills_in_parts_found_by_polling(halves: FakeBinance, halves_venue: BinanceVenue) -> None:
    venue, fake = halves_venue, halves
    qty, price = await resting_buy(venue, fake)
    fake.set_price(BTC, price)  # a touch is not a fill
    touched = await venue.fetch_order(BTC, "bot-P1-E1", conditional=False)
    assert touched is not None and touched.status is OrderStatus.NEW
    tick = (await venue.markets())[BTC].tick_size
    fake.set_price(BTC, price - 20 * tick)
    part = await venue.fetch_order(BTC, "bot-P1-E1", conditional=False)
    assert part is not None and part.status is OrderStatus.PARTIALLY_FILLED and part.is_open
    assert (part.filled, part.average_price, part.liquidity) == (qty / 2, price, Liquidity.MAKER)
    assert part.fee == 0  # USDC maker fee
    report = part.report(ReportSource.POLLED)
    assert report is not None and report.qty == qty / 2 and report.liquidity is Liquidity.MAKER
    [listed] = await venue.open_orders(BTC)
    assert listed.status is OrderStatus.PARTIALLY_FILLED and listed.filled == qty / 2
    fake.advance()
    fake.set_price(BTC, price - 20 * tick)
    done = await venue.fetch_order(BTC, "bot-P1-E1", conditional=False)
    assert done is not None and (done.status, done.filled, done.average_price) == (OrderStatus.FILLED, qty, price)
    assert await venue.open_orders(BTC) == []
    [position] = await venue.positions()
    assert position.qty == qty and position.entry_price == price


async def test_cancel_of_the_rest_keeps_the_filled_part(fake: FakeBinance, venue: BinanceVenue) -> None:
    fake.inject(Fault.fill_then_silence(0.5, client_id="bot-P1-E1"))
    qty, price = await resting_buy(venue, fake)
    tick = (await venue.markets())[BTC].tick_size
    fake.set_price(BTC, price - 20 * tick)
    fake.advance(3)
    part = await venue.fetch_order(BTC, "bot-P1-E1", conditional=False)
    assert part is not None and part.status is OrderStatus.PARTIALLY_FILLED and part.filled == qty / 2
    canceled = await venue.cancel(BTC, "bot-P1-E1", conditional=False)
    assert (canceled.status, canceled.filled, canceled.type) == (OrderStatus.CANCELED, qty / 2, OrderType.LIMIT)
    assert canceled.liquidity is Liquidity.MAKER
    assert sent(fake, "DELETE", ORDER)[0]["origClientOrderId"] == "bot-P1-E1"
    after = await venue.fetch_order(BTC, "bot-P1-E1", conditional=False)
    assert after is not None and (after.status, after.filled) == (OrderStatus.CANCELED, qty / 2)
    [position] = await venue.positions()
    assert position.qty == qty / 2 and await venue.open_orders() == []
    with pytest.raises(OrderNotFound):
        await venue.cancel(BTC, "bot-P1-E1", conditional=False)


async def test_cancel_that_races_a_fill_is_not_found_and_the_order_filled(
    fake: FakeBinance, venue: BinanceVenue
) -> None:
    qty, price = await resting_buy(venue, fake)
    fake.inject(Fault.cancel_race(client_id="bot-P1-E1"))
    with pytest.raises(OrderNotFound) as caught:
        await venue.cancel(BTC, "bot-P1-E1", conditional=False)
    assert caught.value.code == -2011
    order = await venue.fetch_order(BTC, "bot-P1-E1", conditional=False)
    assert order is not None and (order.status, order.filled, order.average_price) == (OrderStatus.FILLED, qty, price)
    assert order.liquidity is Liquidity.MAKER
    [position] = await venue.positions()
    assert position.qty == qty


async def test_reduce_only_limit_take_profit(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await qty_for(venue, BTC, Decimal(300))
    above = await price_off(venue, fake, BTC, "1.01")
    with pytest.raises(ReduceOnlyRejected):  # nothing to reduce yet
        await venue.place_limit(BTC, Side.SELL, qty, above, "bot-P1-T1", reduce_only=True, post_only=True)
    await venue.place_market(BTC, Side.BUY, qty, "bot-P1-E1")
    tp = await venue.place_limit(BTC, Side.SELL, qty, above, "bot-P1-T1", reduce_only=True, post_only=True)
    assert (tp.status, tp.reduce_only, tp.post_only) == (OrderStatus.NEW, True, True)
    request = sent(fake, "POST", ORDER)[-1]
    assert request["reduceOnly"] == "true" and request["timeInForce"] == "GTX" and request["side"] == "SELL"
    tick = (await venue.markets())[BTC].tick_size
    fake.set_price(BTC, above + 20 * tick)
    filled = await venue.fetch_order(BTC, "bot-P1-T1", conditional=False)
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert (filled.filled, filled.average_price) == (qty, above)
    assert filled.liquidity is Liquidity.MAKER and await venue.positions() == []


async def test_open_orders_lists_limit_and_algo_orders_together(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await qty_for(venue, BTC, Decimal(300))
    await venue.place_market(BTC, Side.BUY, qty, "bot-P1-E1")
    stop = await price_off(venue, fake, BTC, "0.98")
    take = await price_off(venue, fake, BTC, "1.02")
    await venue.place_stop_market(BTC, Side.SELL, qty, stop, "bot-P1-S1")
    await venue.place_limit(BTC, Side.SELL, qty, take, "bot-P1-T1", reduce_only=True, post_only=True)
    await resting_buy(venue, fake, "bot-P2-E1", symbol=ETH)
    found = {o.client_id: o for o in await venue.open_orders()}
    assert {k: (v.type, v.is_conditional) for k, v in found.items()} == {
        "bot-P1-S1": (OrderType.STOP_MARKET, True),
        "bot-P1-T1": (OrderType.LIMIT, False),
        "bot-P2-E1": (OrderType.LIMIT, False),
    }
    assert found["bot-P1-T1"].price == take and found["bot-P1-S1"].trigger_price == stop
    assert {o.client_id for o in await venue.open_orders(BTC)} == {"bot-P1-S1", "bot-P1-T1"}


async def test_price_filters_locally_and_on_the_wire(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await qty_for(venue, BTC, Decimal(300))
    tick = (await venue.markets())[BTC].tick_size
    below = await price_off(venue, fake, BTC, "0.99")
    with pytest.raises(PrecisionTooHigh):  # refused before sending
        await venue.place_limit(BTC, Side.BUY, qty, below + tick / 2, "bot-P1-E1")
    assert sent(fake, "POST", ORDER) == []
    fake.set_filters(BTC, tick_size="0.5")  # Binance changes the tick under the running venue
    off_tick = below if below % Decimal("0.5") else below + tick
    with pytest.raises(PriceNotOnTick) as caught:
        await venue.place_limit(BTC, Side.BUY, qty, off_tick, "bot-P1-E1")
    assert caught.value.code == -4014 and caught.value.msg == "Price not increased by tick size."
    assert len(sent(fake, "POST", ORDER)) == 1 and await venue.open_orders() == []
