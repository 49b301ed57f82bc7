"""Trading against the fake through the real ccxt client: balance, leverage and margin type, market
orders, positions, algo (conditional) orders and their fills, history, and Binance's rejections."""

from __future__ import annotations

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.errors import (
    BadRequest,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    MarginModeAlreadySet,
    OperationRejected,
    OrderImmediatelyFillable,
    OrderNotFound,
)

from tests.fakes.binance import FakeBinance
from tests.fakes.binance.orders import ORDER_ID_START
from tests.fakes.binance.tests.support import BTC, advance_until_next_low_below, on_tick, price

STOP = {"reduceOnly": True}


async def open_long(ex: ccxt_async.binanceusdm, amount: float = 0.01) -> dict:
    return await ex.create_order(BTC, "market", "buy", amount)


async def test_balance_shows_usdc_and_drops_never_used_assets(ex: ccxt_async.binanceusdm) -> None:
    balance = await ex.fetch_balance()
    assert balance["USDC"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert "BNB" not in balance  # listed with updateTime 0, which ccxt drops (gotcha 4)
    assert all(a["updateTime"] > 0 for a in balance["info"]["assets"] if a["asset"] in ("USDC", "USDT"))


async def test_leverage_and_margin_type_answer_like_binance(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    answer = await ex.set_leverage(10, BTC)
    assert answer["leverage"] == 10 and answer["symbol"] == "BTCUSDC"
    assert fake.engine.book(BTC).leverage == 10
    await ex.set_margin_mode("isolated", BTC)
    with pytest.raises(MarginModeAlreadySet):
        await ex.set_margin_mode("isolated", BTC)
    await open_long(ex)
    with pytest.raises(ExchangeError, match="-4048"):
        await ex.set_margin_mode("cross", BTC)
    with pytest.raises(ExchangeError, match="-4161"):
        await ex.set_leverage(5, BTC)  # lowering leverage under an isolated position
    config = await ex.fapiPrivateGetSymbolConfig({"symbol": "BTCUSDC"})
    assert config[0]["marginType"] == "ISOLATED" and config[0]["leverage"] == 10


async def test_market_order_fills_at_the_current_price_and_moves_the_position(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    await ex.set_margin_mode("isolated", BTC)
    now = price(fake)
    order = await ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "entry-1"})
    assert (order["status"], order["filled"], order["average"], order["clientOrderId"]) == (
        "closed",
        0.01,
        now,
        "entry-1",
    )
    assert int(order["id"]) >= ORDER_ID_START  # int64 ids above 2**53
    sent = fake.requests[-1]
    assert (sent.method, sent.path, sent.signed) == ("POST", "/fapi/v1/order", True)
    assert sent.params["newOrderRespType"] == "RESULT" and sent.params["newClientOrderId"] == "entry-1"
    assert int(ex.last_response_headers["X-MBX-ORDER-COUNT-10S"]) == 1

    [position] = await ex.fetch_positions([BTC])
    assert (position["side"], position["contracts"], position["entryPrice"]) == ("long", 0.01, now)
    assert position["marginMode"] == "isolated" and position["collateral"] > 0
    assert [r.path for r in fake.requests[-2:]] == ["/fapi/v1/leverageBracket", "/fapi/v3/positionRisk"]

    same = await ex.fetch_order(order["id"], BTC)
    assert same["status"] == "closed" and same["filled"] == 0.01
    by_client = await ex.fetch_order(None, BTC, {"origClientOrderId": "entry-1"})
    assert by_client["id"] == order["id"]
    trades = await ex.fetch_my_trades(BTC)
    assert [(t["order"], t["amount"], t["price"], t["takerOrMaker"]) for t in trades] == [
        (order["id"], 0.01, now, "taker")
    ]
    assert trades[0]["fee"]["currency"] == "USDC" and trades[0]["fee"]["cost"] == pytest.approx(0.01 * now * 0.0004)


async def test_a_short_has_negative_notional_and_reduce_only_closes_it(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    await ex.create_order(BTC, "market", "sell", 0.004)
    [row] = fake.positions()
    assert row["positionAmt"] == "-0.004" and row["notional"].startswith("-")
    [position] = await ex.fetch_positions([BTC])
    assert position["side"] == "short"
    close = await ex.create_order(BTC, "market", "buy", 0.01, None, {"reduceOnly": True})
    assert close["filled"] == 0.004 and close["reduceOnly"] is True  # trimmed to the position
    assert await ex.fetch_positions([BTC]) == [] and fake.positions() == []
    with pytest.raises(InvalidOrder, match="-2022"):
        await ex.create_order(BTC, "market", "buy", 0.01, None, {"reduceOnly": True})


async def test_filters_and_margin_are_checked_by_the_engine(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    with pytest.raises(InvalidOrder, match="-4164"):
        await ex.create_order(BTC, "market", "buy", 0.001)  # ~57 USDC < MIN_NOTIONAL 100
    with pytest.raises(InsufficientFunds, match="-2019"):
        await ex.create_order(BTC, "market", "buy", 4)  # ~227k notional, 10k wallet at 20x
    with pytest.raises(BadRequest, match="-1111"):
        await ex.fapiPrivatePostOrder({"symbol": "BTCUSDC", "side": "BUY", "type": "MARKET", "quantity": "0.0105"})
    assert fake.positions() == []


async def test_stop_market_goes_to_the_algo_api_and_fires_when_the_price_crosses(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    trigger = advance_until_next_low_below(fake, 20.0)
    await open_long(ex)
    stop = await ex.create_order(
        BTC, "STOP_MARKET", "sell", 0.01, None, {"stopPrice": trigger, **STOP, "clientOrderId": "sl-1"}
    )
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/fapi/v1/algoOrder")
    assert {k: sent.params[k] for k in ("algoType", "type", "clientAlgoId", "reduceOnly")} == {
        "algoType": "CONDITIONAL",
        "type": "STOP_MARKET",
        "clientAlgoId": "sl-1",
        "reduceOnly": "true",
    }
    assert float(sent.params["triggerPrice"]) == trigger
    assert (stop["status"], stop["clientOrderId"], stop["triggerPrice"]) == ("open", "sl-1", trigger)

    assert [o["id"] for o in await ex.fetch_open_orders(BTC, params={"trigger": True})] == [stop["id"]]
    assert await ex.fetch_open_orders(BTC) == []  # plain open orders do not list algo orders (gotcha 12)
    with pytest.raises(OrderNotFound):
        await ex.fetch_order(stop["id"], BTC)  # without trigger it asks /fapi/v1/order (gotcha 3)

    fake.advance()
    fired = await ex.fetch_order(stop["id"], BTC, {"trigger": True})
    assert fired["status"] == "closed" and fired["filled"] == 0  # gotcha 10: the fill is on the actual order
    assert fired["info"]["algoStatus"] == "FINISHED" and fired["info"]["triggerTime"] > 0
    actual = await ex.fetch_order(fired["info"]["actualOrderId"], BTC)
    assert (actual["status"], actual["filled"], actual["average"]) == ("closed", 0.01, trigger)
    assert actual["info"]["origType"] == "STOP_MARKET" and actual["reduceOnly"] is True
    assert await ex.fetch_positions([BTC]) == []
    assert await ex.fetch_open_orders(BTC, params={"trigger": True}) == []
    [_, exit_trade] = await ex.fetch_my_trades(BTC)
    assert exit_trade["order"] == actual["id"] and float(exit_trade["info"]["realizedPnl"]) < 0


async def test_take_profit_fires_on_set_price_and_a_stale_stop_expires(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    now = price(fake)
    await open_long(ex)
    tp_price, sl_price = on_tick(now * 1.01), on_tick(now * 0.99)
    tp = await ex.create_order(BTC, "TAKE_PROFIT_MARKET", "sell", 0.01, None, {"stopPrice": tp_price, **STOP})
    sl = await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, {"stopPrice": sl_price, **STOP})
    assert tp["takeProfitPrice"] == tp_price
    fake.set_price(BTC, on_tick(now * 1.02))
    assert (await ex.fetch_order(tp["id"], BTC, {"trigger": True}))["status"] == "closed"
    assert (await ex.fetch_ticker(BTC))["last"] == on_tick(now * 1.02)  # the market moved on from there
    assert fake.open_algo_orders()[0]["algoId"] == int(sl["id"])  # the stop outlives the position ...
    fake.set_price(BTC, on_tick(now * 0.98))
    expired = await ex.fetch_order(sl["id"], BTC, {"trigger": True})
    assert expired["status"] == "expired" and expired["info"]["actualOrderId"] == ""  # ... and fills nothing


async def test_cancel_trigger_orders_one_and_all(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    now = price(fake)
    await open_long(ex)
    first = await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, {"stopPrice": on_tick(now * 0.99), **STOP})
    second = await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, {"stopPrice": on_tick(now * 0.98), **STOP})
    canceled = await ex.cancel_order(first["id"], BTC, {"trigger": True})
    assert canceled["id"] == first["id"] and canceled["info"] == {
        "algoId": int(first["id"]),
        "clientAlgoId": first["clientOrderId"],
        "code": "200",
        "msg": "success",
    }
    assert (await ex.fetch_order(first["id"], BTC, {"trigger": True}))["status"] == "canceled"
    with pytest.raises(OrderNotFound, match="-2011"):
        await ex.cancel_order(first["id"], BTC, {"trigger": True})
    await ex.cancel_all_orders(BTC)  # plain cancel-all leaves algo orders alone (gotcha 12) ...
    assert [o["id"] for o in await ex.fetch_open_orders(BTC, params={"trigger": True})] == [second["id"]]
    await ex.cancel_all_orders(BTC, {"trigger": True})  # ... the trigger variant clears them
    assert fake.open_algo_orders() == []
    closed = await ex.fetch_orders(BTC, params={"trigger": True})
    assert [o["status"] for o in closed] == ["canceled", "canceled"]


async def test_algo_rejections_use_binance_codes(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    now = price(fake)
    with pytest.raises(InvalidOrder, match="-2022"):  # nothing to reduce
        await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, {"stopPrice": on_tick(now * 0.99), **STOP})
    await open_long(ex)
    with pytest.raises(OrderImmediatelyFillable, match="-2021"):  # a sell stop above the price
        await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, {"stopPrice": on_tick(now * 1.01), **STOP})
    params = {"stopPrice": on_tick(now * 0.99), **STOP, "clientOrderId": "dup"}
    await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, params)
    with pytest.raises(InvalidOrder, match="-4116"):
        await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, params)
    with pytest.raises(InvalidOrder, match="-4120"):  # conditional types left /fapi/v1/order in 2025-12
        await ex.fapiPrivatePostOrder(
            {
                "symbol": "BTCUSDC",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "0.01",
                "stopPrice": str(on_tick(now * 0.99)),
            }
        )
    with pytest.raises(OrderNotFound, match="-2013"):
        await ex.fetch_order("12345", BTC, {"trigger": True})


async def test_close_position_stop_closes_whatever_is_open(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    now = price(fake)
    await open_long(ex, 0.01)
    stop = await ex.create_order(
        BTC,
        "STOP_MARKET",
        "sell",
        None,
        None,
        {"stopPrice": on_tick(now * 0.99), "closePosition": True, "workingType": "MARK_PRICE"},
    )
    assert stop["info"]["closePosition"] is True and stop["info"]["workingType"] == "MARK_PRICE"
    await open_long(ex, 0.005)
    fake.set_price(BTC, on_tick(now * 0.985))
    fired = await ex.fetch_order(stop["id"], BTC, {"trigger": True})
    actual = await ex.fetch_order(fired["info"]["actualOrderId"], BTC)
    assert actual["filled"] == 0.015 and fake.positions() == []


async def test_unknown_normal_orders(ex: ccxt_async.binanceusdm) -> None:
    with pytest.raises(OrderNotFound, match="-2013"):
        await ex.fetch_order("42", BTC)
    filled = await open_long(ex)
    with pytest.raises(OrderNotFound, match="-2011"):
        await ex.cancel_order(filled["id"], BTC)  # a filled order is not open
    with pytest.raises(OrderNotFound, match="-2013"):
        await ex.fetch_open_order(filled["id"], BTC)
    assert await ex.fetch_open_orders() == []
    with pytest.raises(BadRequest, match="-1102"):
        await ex.fapiPrivateGetOrder({"symbol": "BTCUSDC"})


async def test_ack_answers_before_the_fill_result_after(ex: ccxt_async.binanceusdm) -> None:
    ack = await ex.fapiPrivatePostOrder({"symbol": "BTCUSDC", "side": "BUY", "type": "MARKET", "quantity": "0.01"})
    assert ack["status"] == "NEW" and ack["executedQty"] == "0.000"
    later = await ex.fapiPrivateGetOrder({"symbol": "BTCUSDC", "orderId": ack["orderId"]})
    assert later["status"] == "FILLED" and later["executedQty"] == "0.010" and later["time"] > 0


async def test_history_and_income(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    await open_long(ex)
    fake.advance(3)
    await ex.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
    orders = await ex.fetch_orders(BTC)
    assert [o["side"] for o in orders] == ["buy", "sell"] and all(o["status"] == "closed" for o in orders)
    income = await ex.fapiPrivateGetIncome({"symbol": "BTCUSDC"})
    kinds = [i["incomeType"] for i in income]
    assert kinds.count("COMMISSION") == 2 and kinds.count("REALIZED_PNL") == 1
    realized = sum(float(t["info"]["realizedPnl"]) for t in await ex.fetch_my_trades(BTC))
    fees = sum(float(i["income"]) for i in income if i["incomeType"] == "COMMISSION")
    assert fees < 0 and realized != 0  # the price moved over three candles
    balance = await ex.fetch_balance()
    [usdc] = [a for a in balance["info"]["assets"] if a["asset"] == "USDC"]
    assert float(usdc["walletBalance"]) == pytest.approx(10000 + realized + fees)
    assert balance["USDC"]["total"] == pytest.approx(10000 + realized + fees)


async def test_account_modes_the_bot_must_refuse(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    assert (await ex.fetch_position_mode(BTC))["hedged"] is False
    assert (await ex.fapiPrivateGetMultiAssetsMargin())["multiAssetsMargin"] is False
    fake.hedge_mode, fake.multi_assets = True, True
    assert (await ex.fetch_position_mode(BTC))["hedged"] is True
    assert (await ex.fapiPrivateGetMultiAssetsMargin())["multiAssetsMargin"] is True
    with pytest.raises(OperationRejected, match="-4061"):
        await open_long(ex)
    await ex.set_position_mode(False)
    assert fake.hedge_mode is False


async def test_liquidation_closes_the_position_with_an_autoclose_order(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    await ex.set_leverage(20, BTC)
    await open_long(ex)
    [position] = await ex.fetch_positions([BTC])
    fake.set_price(BTC, on_tick(position["liquidationPrice"] * 0.99))
    assert fake.positions() == []
    [liquidation] = [o for o in await ex.fetch_orders(BTC) if o["info"]["origType"] == "LIQUIDATION"]
    assert liquidation["clientOrderId"].startswith("autoclose-") and liquidation["filled"] == 0.01
