"""The fake's LIMIT orders on the wire through the real ccxt client: Binance's parameter rules and errors,
the one-tick book (post-only -5022), fills only when the tape trades strictly through, and the maker
flag of the trades."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.errors import BadRequest, ExchangeError, InvalidOrder, OrderNotFound

from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.binance.tests.conftest import MakeClient
from tests.fakes.binance.tests.support import BTC, on_tick, price


def limit(side: str, qty: str, px: float, tif: str = "GTC", **extra: str) -> dict[str, str]:
    return {"symbol": "BTCUSDC", "side": side, "type": "LIMIT", "quantity": qty, "price": f"{px:.1f}",
            "timeInForce": tif, "newOrderRespType": "RESULT", **extra}


async def test_limit_parameters_are_checked_like_binance(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    below = on_tick(price(fake) * 0.99)
    no_tif = limit("BUY", "0.01", below)
    del no_tif["timeInForce"]
    with pytest.raises(BadRequest, match="-1102.*timeInForce"):
        await ex.fapiPrivatePostOrder(no_tif)
    no_price = limit("BUY", "0.01", below)
    del no_price["price"]
    with pytest.raises(BadRequest, match="-1102.*price"):
        await ex.fapiPrivatePostOrder(no_price)
    with pytest.raises(ExchangeError, match="does not simulate timeInForce IOC"):
        await ex.fapiPrivatePostOrder(limit("BUY", "0.01", below, "IOC"))
    with pytest.raises(ExchangeError, match="-1111"):
        await ex.fapiPrivatePostOrder({**limit("BUY", "0.01", below), "price": f"{below:.2f}5"})
    with pytest.raises(ExchangeError, match="-4164"):
        await ex.fapiPrivatePostOrder(limit("BUY", "0.001", below))
    with pytest.raises(ExchangeError, match="-2022"):
        await ex.fapiPrivatePostOrder(limit("SELL", "0.01", below * 1.03, reduceOnly="true"))
    fake.set_filters(BTC, tick_size="0.5")
    off = below if below % 0.5 else below + 0.1
    with pytest.raises(ExchangeError, match="-4014"):
        await ex.fapiPrivatePostOrder(limit("BUY", "0.01", off))
    assert fake.desk.orders == {}


async def test_post_only_against_the_one_tick_book(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    now = price(fake)
    book = await ex.fetch_bids_asks([BTC])
    assert book[BTC]["bid"] == pytest.approx(now) and book[BTC]["ask"] == pytest.approx(now + 0.1)
    with pytest.raises(InvalidOrder, match="-5022"):  # at the ask: would take
        await ex.create_order(BTC, "limit", "buy", 0.01, now + 0.1, {"timeInForce": "GTX"})
    with pytest.raises(InvalidOrder, match="-5022"):  # at the bid: would take
        await ex.create_order(BTC, "limit", "sell", 0.01, now, {"timeInForce": "GTX"})
    assert fake.desk.orders == {}
    joined = await ex.create_order(BTC, "limit", "buy", 0.01, now, {"timeInForce": "GTX", "clientOrderId": "b1"})
    assert joined["status"] == "open" and joined["postOnly"] is True and joined["timeInForce"] == "PO"
    assert [o["clientOrderId"] for o in fake.open_orders()] == ["b1"]
    with pytest.raises(ExchangeError, match="-4116"):
        await ex.create_order(BTC, "limit", "buy", 0.01, now - 1, {"timeInForce": "GTX", "clientOrderId": "b1"})


async def test_a_touch_is_not_a_fill_trading_through_is(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    px = on_tick(price(fake) * 0.99)
    order = await ex.create_order(BTC, "limit", "buy", 0.02, px, {"timeInForce": "GTX"})
    fake.set_price(BTC, px)
    assert (await ex.fetch_order(order["id"], BTC))["status"] == "open"
    fake.set_price(BTC, px - 1)
    filled = await ex.fetch_order(order["id"], BTC)
    assert filled["status"] == "closed" and filled["filled"] == 0.02 and filled["average"] == pytest.approx(px)
    [trade] = await ex.fetch_my_trades(BTC)
    assert trade["takerOrMaker"] == "maker" and trade["order"] == order["id"] and trade["price"] == pytest.approx(px)


async def test_share_per_candle_fills_in_parts(
    make_fake_binance: Callable[..., Awaitable[FakeBinance]], make_client: MakeClient
) -> None:
    fake = await make_fake_binance(symbols=[BTC], data_dir=None, limit_fill_share=0.3)
    ex = make_client(fake)
    px = on_tick(price(fake) * 0.99)
    order = await ex.create_order(BTC, "limit", "buy", 0.01, px, {"timeInForce": "GTX"})
    fake.set_price(BTC, px - 1)
    fake.set_price(BTC, px - 2)  # the same candle: its share is used up
    part = await ex.fetch_order(order["id"], BTC)
    assert part["info"]["status"] == "PARTIALLY_FILLED" and part["info"]["executedQty"] == "0.003"
    assert Decimal(part["info"]["cumQuote"]) == Decimal("0.003") * Decimal(f"{px:.1f}")
    [open_row] = await ex.fetch_open_orders(BTC)
    assert open_row["filled"] == 0.003
    for _ in range(4):
        fake.advance()
        fake.set_price(BTC, px - 1)
    done = await ex.fetch_order(order["id"], BTC)
    assert done["status"] == "closed" and done["filled"] == 0.01
    assert sum(t["amount"] for t in await ex.fetch_my_trades(BTC)) == pytest.approx(0.01)


async def test_gtc_crossing_fills_as_taker_and_cancel_answers(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    now = price(fake)
    taken = await ex.create_order(BTC, "limit", "buy", 0.01, on_tick(now * 1.01), {"timeInForce": "GTC"})
    assert taken["status"] == "closed" and taken["info"]["type"] == "LIMIT"
    [trade] = await ex.fetch_my_trades(BTC)
    assert trade["takerOrMaker"] == "taker" and trade["fee"]["cost"] > 0
    rest = await ex.create_order(BTC, "limit", "sell", 0.01, on_tick(now * 1.02), {"reduceOnly": True})
    canceled = await ex.cancel_order(rest["id"], BTC)
    assert canceled["status"] == "canceled" and canceled["info"]["executedQty"] == "0.000"
    with pytest.raises(OrderNotFound, match="-2011"):
        await ex.cancel_order(rest["id"], BTC)
    second = await ex.create_order(BTC, "limit", "sell", 0.01, on_tick(now * 1.02), {"reduceOnly": True})
    await ex.cancel_all_orders(BTC)
    assert (await ex.fetch_order(second["id"], BTC))["status"] == "canceled"


async def test_faults_silence_after_a_partial_fill_and_a_cancel_race(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    fake.inject(Fault.fill_then_silence(0.5))
    px = on_tick(price(fake) * 0.99)
    stalled = await ex.create_order(BTC, "limit", "buy", 0.02, px, {"timeInForce": "GTX"})
    fake.set_price(BTC, px - 5)
    fake.advance(3)
    assert (await ex.fetch_order(stalled["id"], BTC))["filled"] == 0.01
    racing = await ex.create_order(BTC, "limit", "buy", 0.01, on_tick(price(fake) * 0.99), {"timeInForce": "GTX"})
    fake.inject(Fault.cancel_race())
    with pytest.raises(OrderNotFound, match="-2011"):
        await ex.cancel_order(racing["id"], BTC)
    assert (await ex.fetch_order(racing["id"], BTC))["status"] == "closed"
    assert [f.kind for f in fake.fired] == ["fill_then_silence", "cancel_race"]
    assert (await ex.cancel_order(stalled["id"], BTC))["filled"] == 0.01
