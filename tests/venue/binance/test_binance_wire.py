"""BinanceVenue on the wire: the real ccxt client against the fake Binance fapi server on 127.0.0.1.

Every test asserts what the venue answered AND what went over the wire (`fake.requests`)."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.bot.venues import binance_venue
from engine.config.profile import Profile
from engine.errors import UserError
from engine.venue.binance import BinanceVenue, OfflineRefused
from engine.venue.errors import (
    FilterFailure,
    MarginInsufficient,
    MinNotional,
    OrderNotFound,
    PrecisionTooHigh,
    RateLimited,
    ReduceOnlyRejected,
    StatusUnknown,
    WouldImmediatelyTrigger,
)
from engine.venue.markets import parse_exchange_info
from engine.venue.types import MarginMode, OrderStatus, OrderType, PositionSide, Side
from tests.fakes.binance import FakeBinance, Fault
from tests.venue.binance.conftest import API_KEY, BTC, ETH, SECRET, Sleeps, qty_for, tick_round, venue_for


def sent(fake: FakeBinance, method: str, path: str) -> list[dict[str, str]]:
    return [r.params for r in fake.requests if r.method == method and r.path == path]


def count(fake: FakeBinance, method: str, path: str) -> int:
    return len(sent(fake, method, path))


async def open_long(venue: BinanceVenue, symbol: str = BTC, client_id: str = "bot-P1-E1") -> Decimal:
    qty = await qty_for(venue, symbol, Decimal(150))
    order = await venue.place_market(symbol, Side.BUY, qty, client_id)
    assert order.status is OrderStatus.FILLED and order.filled == qty
    return qty


# ---- markets, account ---------------------------------------------------------------------------------


async def test_markets_are_parsed_with_the_simulators_filters(fake: FakeBinance, venue: BinanceVenue) -> None:
    markets = await venue.markets()
    assert await venue.markets() == markets  # cached: one request, and no sapi currency call
    assert [r.path for r in fake.requests] == ["/fapi/v1/exchangeInfo"]
    async with aiohttp.ClientSession() as session, session.get(f"{fake.base_url}/fapi/v1/exchangeInfo") as resp:
        served = parse_exchange_info(json.loads(await resp.text()))
    assert markets == served  # the very parser the simulator uses, on the same exchangeInfo
    for symbol, market in markets.items():  # and the filters the fake's own matching engine trades on
        sim = fake.markets[symbol]
        assert (market.tick_size, market.step_size, market.market_step_size, market.min_notional) == (
            sim.tick_size, sim.step_size, sim.market_step_size, sim.min_notional,
        )
    assert markets[BTC].min_notional == Decimal(100) and markets[BTC].tick_size == Decimal("0.1")


async def test_balance_positions_and_account_modes(fake: FakeBinance, venue: BinanceVenue) -> None:
    usdc = await venue.balance("USDC")
    assert (usdc.wallet, usdc.free, usdc.used, usdc.unrealized_pnl) == (Decimal(10000), Decimal(10000), 0, 0)
    assert (await venue.balance("BNB")).wallet == 0  # listed with updateTime 0: kept (ccxt would drop it)
    assert await venue.positions() == []
    modes = await venue.account_modes()
    assert (modes.hedge, modes.multi_assets) == (False, False)
    fake.hedge_mode, fake.multi_assets = True, True
    modes = await venue.account_modes()
    assert (modes.hedge, modes.multi_assets) == (True, True)
    assert count(fake, "GET", "/fapi/v1/positionSide/dual") == 2
    assert count(fake, "GET", "/fapi/v1/multiAssetsMargin") == 2


async def test_health_resyncs_the_clock_and_reports_hedge_mode(fake: FakeBinance, venue: BinanceVenue) -> None:
    report = await venue.health()
    assert report.ok, report.problems
    assert report.markets == len(fake.markets) and report.account_readable and report.server_time_ms
    assert report.clock_offset_ms is not None and abs(report.clock_offset_ms) < 5_000
    assert venue.exchange.options["timeDifference"] == report.clock_offset_ms
    fake.hedge_mode = True
    report = await venue.health()
    assert not report.ok and "hedge mode" in report.problems[0]


async def test_leverage_and_margin_mode_are_idempotent(fake: FakeBinance, venue: BinanceVenue) -> None:
    await venue.set_leverage(BTC, 10)
    await venue.set_leverage(BTC, 10)
    await venue.set_margin_mode(BTC, MarginMode.ISOLATED)
    await venue.set_margin_mode(BTC, MarginMode.ISOLATED)  # -4046 "No need to change margin type." is a no-op
    assert sent(fake, "POST", "/fapi/v1/leverage")[0]["leverage"] == "10"
    assert [p["marginType"] for p in sent(fake, "POST", "/fapi/v1/marginType")] == ["ISOLATED", "ISOLATED"]
    assert [r.status for r in fake.requests if r.path == "/fapi/v1/marginType"] == [200, 400]
    qty = await open_long(venue)
    [position] = await venue.positions()
    assert (position.symbol, position.side, position.qty) == (BTC, PositionSide.LONG, qty)
    assert (position.leverage, position.margin_mode) == (10, MarginMode.ISOLATED) and position.margin > 0


# ---- orders ---------------------------------------------------------------------------------------------


async def test_entry_sends_exactly_the_callers_quantity_and_client_id(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await qty_for(venue, ETH, Decimal(50))
    order = await venue.place_market(ETH, Side.BUY, qty, "bot-P7-E1")
    assert (order.client_id, order.symbol, order.side, order.type) == ("bot-P7-E1", ETH, Side.BUY, OrderType.MARKET)
    assert order.status is OrderStatus.FILLED and order.filled == qty and order.average_price
    [params] = sent(fake, "POST", "/fapi/v1/order")
    assert {k: params[k] for k in ("symbol", "side", "type", "newClientOrderId", "newOrderRespType")} == {
        "symbol": "ETHUSDC", "side": "BUY", "type": "MARKET", "newClientOrderId": "bot-P7-E1",
        "newOrderRespType": "RESULT",
    }
    assert Decimal(params["quantity"]) == qty  # ccxt drops trailing zeros ("0.020" goes as "0.02")
    assert "reduceOnly" not in params
    [trade] = sent(fake, "GET", "/fapi/v1/userTrades")  # the fee comes from the order's trades
    assert trade["orderId"] == order.venue_id
    assert order.fee > 0 and order.fee_asset == "USDC"
    assert order.fee == (await venue.fetch_my_trades(ETH))[0].fee
    [position] = await venue.positions()
    assert (position.qty, position.entry_price, position.leverage) == (qty, order.average_price, 20)


async def test_an_orders_fee_is_its_own_trades_not_the_symbols(fake: FakeBinance, venue: BinanceVenue) -> None:
    """userTrades?orderId= gives that order's trades only: the fee of an order is not the sum of every
    commission paid on the symbol (the fake once ignored orderId, and fees doubled up unnoticed)."""
    qty = await qty_for(venue, ETH, Decimal(50))
    first = await venue.place_market(ETH, Side.BUY, qty, "bot-P7-E1")
    second = await venue.place_market(ETH, Side.BUY, qty * 2, "bot-P8-E1")
    trades = await venue.fetch_my_trades(ETH)
    assert len(trades) == 2 and first.fee > 0
    assert (first.fee, second.fee) == (trades[0].fee, trades[1].fee)
    assert (await venue.fetch_order(ETH, "bot-P7-E1", False)).fee == first.fee  # type: ignore[union-attr]


async def test_close_is_reduce_only_and_partial_fills_are_reported(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await open_long(venue)
    fake.inject(Fault.partial_fill(0.5))
    order = await venue.place_market(BTC, Side.SELL, qty, "bot-P1-C1", reduce_only=True)
    assert sent(fake, "POST", "/fapi/v1/order")[-1]["reduceOnly"] == "true"
    assert order.status is OrderStatus.EXPIRED and 0 < order.filled < qty and order.average_price
    [position] = await venue.positions()
    assert position.qty == qty - order.filled


async def test_stop_loss_and_take_profit_go_to_the_algo_api(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await open_long(venue)
    tick = (await venue.markets())[BTC].tick_size
    last = (await venue.ticker(BTC)).last
    stop, take = tick_round(last * Decimal("0.98"), tick), tick_round(last * Decimal("1.02"), tick)
    sl = await venue.place_stop_market(BTC, Side.SELL, qty, stop, "bot-P1-S1")
    tp = await venue.place_take_profit_market(BTC, Side.SELL, qty, take, "bot-P1-T1")
    assert (sl.status, sl.type, sl.trigger_price) == (OrderStatus.NEW, OrderType.STOP_MARKET, stop)
    assert sl.reduce_only and tp.reduce_only
    assert (tp.type, tp.trigger_price, tp.client_id) == (OrderType.TAKE_PROFIT_MARKET, take, "bot-P1-T1")
    sl_params, tp_params = sent(fake, "POST", "/fapi/v1/algoOrder")
    assert {k: sl_params[k] for k in ("algoType", "type", "side", "quantity", "triggerPrice", "reduceOnly",
                                      "clientAlgoId", "workingType")} == {
        "algoType": "CONDITIONAL", "type": "STOP_MARKET", "side": "SELL", "quantity": format(qty, "f"),
        "triggerPrice": format(stop, "f"), "reduceOnly": "true", "clientAlgoId": "bot-P1-S1",
        "workingType": "CONTRACT_PRICE",
    }
    assert tp_params["type"] == "TAKE_PROFIT_MARKET" and tp_params["clientAlgoId"] == "bot-P1-T1"
    assert "newClientOrderId" not in sl_params and "stopPrice" not in sl_params
    assert count(fake, "POST", "/fapi/v1/order") == 1  # only the entry

    listed = await venue.open_orders()
    assert {(o.client_id, o.type) for o in listed} == {("bot-P1-S1", OrderType.STOP_MARKET),
                                                       ("bot-P1-T1", OrderType.TAKE_PROFIT_MARKET)}
    assert await venue.open_orders(ETH) == []
    # both kinds asked for (gotcha 12): all symbols, then one symbol
    assert [p.get("symbol") for p in sent(fake, "GET", "/fapi/v1/openOrders")] == [None, "ETHUSDC"]
    assert [p.get("symbol") for p in sent(fake, "GET", "/fapi/v1/openAlgoOrders")] == [None, "ETHUSDC"]


async def test_triggered_stop_is_fetched_filled_with_its_fill(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await open_long(venue)
    tick = (await venue.markets())[BTC].tick_size
    stop = tick_round((await venue.ticker(BTC)).last * Decimal("0.99"), tick)
    await venue.place_stop_market(BTC, Side.SELL, qty, stop, "bot-P1-S1")
    assert (await venue.fetch_order(BTC, "bot-P1-S1", conditional=True)).status is OrderStatus.NEW
    fake.set_price(BTC, stop * Decimal("0.99"))
    order = await venue.fetch_order(BTC, "bot-P1-S1", conditional=True)
    assert order is not None and order.status is OrderStatus.FILLED
    assert order.filled == qty and order.average_price is not None and order.triggered_ms
    assert abs(order.average_price - stop) <= stop * Decimal("0.002")
    assert order.fee > 0 and order.fee_asset == "USDC"
    [actual] = [p for p in sent(fake, "GET", "/fapi/v1/order") if "orderId" in p]  # by its actualOrderId
    assert any(p.get("orderId") == actual["orderId"] for p in sent(fake, "GET", "/fapi/v1/userTrades"))
    assert await venue.positions() == [] and await venue.open_orders(BTC) == []


async def test_cancel_conditional_then_order_not_found(fake: FakeBinance, venue: BinanceVenue) -> None:
    qty = await open_long(venue)
    tick = (await venue.markets())[BTC].tick_size
    take = tick_round((await venue.ticker(BTC)).last * Decimal("1.03"), tick)
    await venue.place_take_profit_market(BTC, Side.SELL, qty, take, "bot-P1-T1")
    canceled = await venue.cancel(BTC, "bot-P1-T1", conditional=True)
    assert (canceled.status, canceled.client_id, canceled.qty, canceled.trigger_price) == (
        OrderStatus.CANCELED, "bot-P1-T1", qty, take,
    )
    assert sent(fake, "DELETE", "/fapi/v1/algoOrder")[0]["clientAlgoId"] == "bot-P1-T1"
    with pytest.raises(OrderNotFound):
        await venue.cancel(BTC, "bot-P1-T1", conditional=True)
    assert (await venue.fetch_order(BTC, "bot-P1-T1", conditional=True)).status is OrderStatus.CANCELED
    assert await venue.fetch_order(BTC, "never-placed", conditional=True) is None
    assert await venue.fetch_order(BTC, "never-placed", conditional=False) is None
    with pytest.raises(OrderNotFound):
        await venue.cancel(BTC, "bot-P1-E1", conditional=False)  # a filled market order is not open (-2011)


async def test_candles_oldest_first_with_the_forming_one(fake: FakeBinance, venue: BinanceVenue) -> None:
    candles = await venue.fetch_ohlcv(BTC, "5m", limit=10)
    assert len(candles) == 10 and [c.open_ms for c in candles] == sorted(c.open_ms for c in candles)
    assert candles[-1].open_ms == fake.market_time_ms // 300_000 * 300_000  # the forming candle
    older = await venue.fetch_ohlcv(BTC, "5m", since_ms=candles[0].open_ms, limit=3)
    assert [c.open_ms for c in older] == [c.open_ms for c in candles[:3]]
    with pytest.raises(ValueError):
        await venue.fetch_ohlcv(BTC, "7m")


async def test_latest_candles_are_cached_until_the_forming_one_closes(fake: FakeBinance, sleeps: Sleeps) -> None:
    now = [0.0]
    venue = venue_for(fake, sleeps)
    venue._monotonic = lambda: now[0]  # noqa: SLF001 - the caches read this clock
    venue._candles._now = venue._monotonic  # noqa: SLF001
    venue._server_now_ms = lambda: fake.market_time_ms  # noqa: SLF001 - the fake's serverTime is the wall clock
    try:
        first = await venue.fetch_ohlcv(BTC, "5m", limit=20)
        assert await venue.fetch_ohlcv(BTC, "5m", limit=5) == first[-5:]
        assert count(fake, "GET", "/fapi/v1/klines") == 1
        fake.advance(1)
        now[0] += 300.0
        latest = await venue.fetch_ohlcv(BTC, "5m", limit=5)
        assert count(fake, "GET", "/fapi/v1/klines") == 2 and latest[-1].open_ms == first[-1].open_ms + 300_000
    finally:
        await venue.close()


async def test_more_candles_than_one_request_page_backward(make_fake_binance: Any) -> None:
    fake = await make_fake_binance(symbols=[BTC])  # synthetic market: 1500 candles of history
    venue = venue_for(fake)
    try:
        candles = await venue.fetch_ohlcv(BTC, "5m", limit=1200)
        assert len(candles) == 1200 and len({c.open_ms for c in candles}) == 1200
        assert all(b.open_ms - a.open_ms == 300_000 for a, b in zip(candles, candles[1:], strict=False))
        assert [p["limit"] for p in sent(fake, "GET", "/fapi/v1/klines")] == ["1000", "200"]
        forward = await venue.fetch_ohlcv(BTC, "5m", since_ms=candles[0].open_ms, limit=1200)
        assert forward == candles
    finally:
        await venue.close()


# ---- failures -------------------------------------------------------------------------------------------


async def test_5xx_after_accept_is_status_unknown_and_the_order_is_found(
    fake: FakeBinance, venue: BinanceVenue
) -> None:
    qty = await qty_for(venue, BTC, Decimal(150))
    fake.inject(Fault.http_error(503, after_accept=True, method="POST", path="/fapi/v1/order"))
    with pytest.raises(StatusUnknown):
        await venue.place_market(BTC, Side.BUY, qty, "bot-P2-E1")
    assert count(fake, "POST", "/fapi/v1/order") == 1  # never resent
    found = await venue.fetch_order(BTC, "bot-P2-E1", conditional=False)
    assert found is not None and found.status is OrderStatus.FILLED and found.filled == qty and found.fee > 0


async def test_client_timeout_on_an_order_is_status_unknown(fake: FakeBinance, sleeps: Sleeps) -> None:
    venue = venue_for(fake, sleeps, timeout_ms=500)
    try:
        qty = await qty_for(venue, BTC, Decimal(150))
        fake.inject(Fault.timeout(1.5, after_accept=True, method="POST", path="/fapi/v1/order"))
        with pytest.raises(StatusUnknown):
            await venue.place_market(BTC, Side.BUY, qty, "bot-P3-E1")
        assert count(fake, "POST", "/fapi/v1/order") == 1 and sleeps.waits == []
        found = await venue.fetch_order(BTC, "bot-P3-E1", conditional=False)
        assert found is not None and found.filled == qty
    finally:
        await venue.close()


async def test_5xx_on_reads_is_retried_with_backoff(fake: FakeBinance, venue: BinanceVenue, sleeps: Sleeps) -> None:
    fake.inject(Fault.http_error(500, method="GET", path="/fapi/v3/account", times=2))
    assert (await venue.balance("USDC")).wallet == Decimal(10000)
    assert count(fake, "GET", "/fapi/v3/account") == 3 and len(sleeps.waits) == 2
    first, second = sleeps.waits  # exponential backoff (0.05 s, then 0.1 s) with up to 50 % jitter off
    assert 0.025 <= first <= 0.05 and 0.05 <= second <= 0.1


async def test_rate_limit_on_orders_and_on_reads(fake: FakeBinance, venue: BinanceVenue, sleeps: Sleeps) -> None:
    qty = await qty_for(venue, BTC, Decimal(150))
    fake.inject(Fault.rate_limit(retry_after=3, method="POST", path="/fapi/v1/order"))
    with pytest.raises(RateLimited) as info:
        await venue.place_market(BTC, Side.BUY, qty, "bot-P4-E1")
    assert info.value.retry_after == 3.0 and sleeps.waits == []
    assert await venue.fetch_order(BTC, "bot-P4-E1", conditional=False) is None  # nothing was placed
    fake.inject(Fault.rate_limit(retry_after=2, method="GET", path="/fapi/v3/account"))
    assert (await venue.balance("USDC")).wallet == Decimal(10000)
    assert sleeps.waits == [2.0] and count(fake, "GET", "/fapi/v3/account") == 2


async def test_ban_418_is_rate_limited_with_its_retry_after(
    fake: FakeBinance, venue: BinanceVenue, sleeps: Sleeps
) -> None:
    qty = await qty_for(venue, BTC, Decimal(150))
    fake.inject(Fault.ban(retry_after=120, method="POST", path="/fapi/v1/order"))
    with pytest.raises(RateLimited) as info:
        await venue.place_market(BTC, Side.BUY, qty, "bot-P5-E1")
    assert info.value.retry_after == 120.0
    fake.inject(Fault.ban(retry_after=120, method="GET", path="/fapi/v3/account"))
    with pytest.raises(RateLimited) as info:  # longer than a read may wait: not slept on
        await venue.balance("USDC")
    assert info.value.retry_after == 120.0 and sleeps.waits == []


async def test_timestamp_rejection_resyncs_the_clock_and_sends_once_more(
    fake: FakeBinance, venue: BinanceVenue
) -> None:
    qty = await qty_for(venue, BTC, Decimal(150))
    fake.inject(Fault.bad_timestamp(method="POST", path="/fapi/v1/order"))
    order = await venue.place_market(BTC, Side.BUY, qty, "bot-P6-E1")
    assert order.status is OrderStatus.FILLED
    paths = [(r.method, r.path, r.status) for r in fake.requests if r.path in ("/fapi/v1/order", "/fapi/v1/time")]
    assert paths == [("POST", "/fapi/v1/order", 400), ("GET", "/fapi/v1/time", 200), ("POST", "/fapi/v1/order", 200)]
    assert "timeDifference" in venue.exchange.options
    [position] = await venue.positions()
    assert position.qty == qty  # placed once


@pytest.mark.parametrize(
    ("code", "msg", "error"),
    [
        (-2019, "Margin is insufficient.", MarginInsufficient),
        (-4164, "Order's notional must be no smaller than 100 (unless you choose reduce only).", MinNotional),
        (-2021, "Order would immediately trigger.", WouldImmediatelyTrigger),
        (-2022, "ReduceOnly Order is rejected.", ReduceOnlyRejected),
        (-1111, "Precision is over the maximum defined for this asset.", PrecisionTooHigh),
        (-1013, "Filter failure: LOT_SIZE", FilterFailure),
    ],
)
async def test_injected_rejections_map_to_engine_errors(
    fake: FakeBinance, venue: BinanceVenue, code: int, msg: str, error: type[Exception]
) -> None:
    qty = await qty_for(venue, BTC, Decimal(150))
    fake.inject(Fault.reject(code, msg, method="POST", path="/fapi/v1/order"))
    with pytest.raises(error) as info:
        await venue.place_market(BTC, Side.BUY, qty, "bot-P8-E1")
    assert info.value.code == code and info.value.msg == msg


async def test_real_rejections_from_the_matching_engine(fake: FakeBinance, venue: BinanceVenue) -> None:
    market = (await venue.markets())[BTC]
    with pytest.raises(MinNotional):  # one step of BTC is worth less than BTCUSDC's 100 minimum
        await venue.place_market(BTC, Side.BUY, market.market_min_qty, "bot-P9-E1")
    qty = await qty_for(venue, BTC, Decimal(150))
    with pytest.raises(ReduceOnlyRejected):
        await venue.place_market(BTC, Side.SELL, qty, "bot-P9-C1", reduce_only=True)
    await venue.set_leverage(BTC, 1)
    with pytest.raises(MarginInsufficient):  # 12 000 USDC of BTC at 1x on a 10 000 USDC wallet
        await venue.place_market(BTC, Side.BUY, await qty_for(venue, BTC, Decimal(12_000)), "bot-P9-E2")
    await open_long(venue)
    above = tick_round((await venue.ticker(BTC)).last * Decimal("1.01"), market.tick_size)
    with pytest.raises(WouldImmediatelyTrigger):  # a sell stop above the price would fire at once
        await venue.place_stop_market(BTC, Side.SELL, qty, above, "bot-P9-S1")
    statuses = [(r.path, r.status) for r in fake.requests if r.method == "POST" and r.path != "/fapi/v1/leverage"]
    assert statuses == [("/fapi/v1/order", 400)] * 3 + [("/fapi/v1/order", 200), ("/fapi/v1/algoOrder", 400)]


async def test_closed_venue_refuses_calls(venue: BinanceVenue) -> None:
    from engine.venue.errors import VenueUnavailable

    await venue.close()
    with pytest.raises(VenueUnavailable):
        await venue.markets()
    assert "closed" in repr(venue)


# ---- secrets, offline, profile ------------------------------------------------------------------------


async def test_keys_never_reach_logs_reprs_or_errors(
    fake: FakeBinance, venue: BinanceVenue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = [repr(venue), str(venue)]
    qty = await open_long(venue)
    await venue.positions()
    fake.inject(Fault.http_error(503, method="GET", path="/fapi/v3/account", times=1))
    await venue.balance("USDC")
    fake.inject(Fault.reject(-2019, "Margin is insufficient.", method="POST", path="/fapi/v1/order"))
    try:
        await venue.place_market(BTC, Side.BUY, qty, "bot-P1-E2")
    except MarginInsufficient as exc:
        texts += [str(exc), repr(exc)]
    assert any("X-MBX-APIKEY" in r.getMessage() for r in caplog.records)  # ccxt did log its headers...
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        assert API_KEY not in text and SECRET not in text  # ...masked


async def test_binance_venue_of_a_profile_reads_the_named_variables(fake: FakeBinance, tmp_path: Path) -> None:
    profile = Profile(name="t", mode="testnet", venue={"api_key_env": "K_ENV", "api_secret_env": "S_ENV"})
    with pytest.raises(UserError, match="K_ENV and S_ENV"):
        binance_venue(profile, base_url=fake.base_url, env_file=None, environ={})
    (tmp_path / ".env").write_text(f"K_ENV={fake.api_key}\nS_ENV={fake.secret}\n")
    venue = binance_venue(profile, base_url=fake.base_url, env_file=tmp_path / ".env", environ={})
    try:
        assert (await venue.balance("USDC")).wallet == Decimal(10000)  # signed with the .env keys
    finally:
        await venue.close()
    with pytest.raises(UserError, match="paper"):
        binance_venue(Profile(name="p"), base_url=fake.base_url, environ={})
    with pytest.raises(OfflineRefused):
        binance_venue(profile, environ={"K_ENV": "a", "S_ENV": "b"})
