"""How candles move through resting orders and positions: the stop-first rule, finer candles, gaps,
reduce-only trimming, liquidation, fees per quote asset and funding."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import pytest

from engine.venue.sim import FeeSchedule, MatchingEngine
from engine.venue.types import ExecutionKind, OrderStatus, OrderType, Side
from tests.venue.venue_helpers import BTCUSDC, BTCUSDT

M5 = 300_000
T0 = 59_028 * 28_800_000  # a funding time (multiple of 8 h): 2023-11-15 00:00 UTC


def flat(e: MatchingEngine, symbol: str, value: float, open_ms: int) -> list:
    return e.on_candle(symbol, open_ms, value, value, value, value, 1.0)


@pytest.fixture
def long_btc(make_engine: Callable[..., MatchingEngine]) -> MatchingEngine:
    """Long 0.010 BTCUSDC @ 60 000 (no slippage), last price 60 000, time T0 - 1 h."""
    e = make_engine()
    flat(e, BTCUSDC, 60000.0, T0 - 3_600_000)
    e.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1")
    return e


def sl(e: MatchingEngine, side: Side, qty: str, trigger: str, cid: str = "SL") -> None:
    e.place_conditional(BTCUSDC, OrderType.STOP_MARKET, side, D(qty), D(trigger), cid)


def tp(e: MatchingEngine, side: Side, qty: str, trigger: str, cid: str = "TP") -> None:
    e.place_conditional(BTCUSDC, OrderType.TAKE_PROFIT_MARKET, side, D(qty), D(trigger), cid)


def test_idle_candles_change_nothing_but_the_price(long_btc: MatchingEngine) -> None:
    sl(long_btc, Side.SELL, "0.010", "59500.0")
    tp(long_btc, Side.SELL, "0.010", "60500.0")
    assert long_btc.on_candle(BTCUSDC, T0 - M5, 60000.0, 60499.9, 59500.1, 60100.0) == []
    assert long_btc.last_price(BTCUSDC) == D("60100.0")
    assert len(long_btc.open_orders(BTCUSDC)) == 2
    assert flat(long_btc, BTCUSDT, 30000.0, T0) == []  # a symbol never traded


def test_stop_is_assumed_first_when_stop_and_take_profit_share_a_candle(long_btc: MatchingEngine) -> None:
    sl(long_btc, Side.SELL, "0.010", "59500.0")
    tp(long_btc, Side.SELL, "0.010", "60500.0")
    # a bullish candle touching both: without finer data the stop wins
    (fill,) = long_btc.on_candle(BTCUSDC, T0 - M5, 60000.0, 60600.0, 59400.0, 60550.0)
    assert (fill.client_id, fill.kind, fill.price, fill.qty) == (
        "SL",
        ExecutionKind.STOP_MARKET,
        D("59500.0"),
        D("0.010"),
    )
    assert fill.realized_pnl == D("-5.00000000")  # 0.010 * (59500 - 60000)
    # the take-profit triggered later in the walk with nothing left to reduce: it expired
    assert long_btc.fetch_order(BTCUSDC, "TP", True).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert long_btc.positions() == []


def test_stop_first_for_a_short_too(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine()
    flat(e, BTCUSDC, 60000.0, T0 - 3_600_000)
    e.place_market(BTCUSDC, Side.SELL, D("0.010"), "E1")
    sl(e, Side.BUY, "0.010", "60500.0")
    tp(e, Side.BUY, "0.010", "59500.0")
    (fill,) = e.on_candle(BTCUSDC, T0 - M5, 60000.0, 60600.0, 59400.0, 59450.0)  # bearish: still high first
    assert (fill.client_id, fill.price, fill.realized_pnl) == ("SL", D("60500.0"), D("-5.00000000"))


def test_finer_candles_decide_the_order(long_btc: MatchingEngine) -> None:
    sl(long_btc, Side.SELL, "0.010", "59500.0")
    tp(long_btc, Side.SELL, "0.010", "60500.0")
    finer = [  # the 1m candles of the same 5m: up to the take-profit first, then down through the stop
        (T0 - M5, 60000.0, 60300.0, 59950.0, 60250.0),
        (T0 - M5 + 60_000, 60250.0, 60600.0, 60200.0, 60400.0),
        (T0 - M5 + 120_000, 60400.0, 60400.0, 59400.0, 59600.0),
        (T0 - M5 + 180_000, 59600.0, 60000.0, 59550.0, 59900.0),
        (T0 - M5 + 240_000, 59900.0, 60550.0, 59850.0, 60550.0),
    ]
    (fill,) = long_btc.on_candle(BTCUSDC, T0 - M5, 60000.0, 60600.0, 59400.0, 60550.0, finer=finer)
    assert (fill.client_id, fill.price, fill.timestamp_ms) == ("TP", D("60500.0"), T0 - M5 + 60_000)
    assert fill.realized_pnl == D("5.00000000")
    assert long_btc.fetch_order(BTCUSDC, "SL", True).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert long_btc.last_price(BTCUSDC) == D("60550.0")


def test_a_gap_through_the_stop_fills_at_the_open(long_btc: MatchingEngine) -> None:
    sl(long_btc, Side.SELL, "0.010", "59500.0")
    (fill,) = long_btc.on_candle(BTCUSDC, T0 - M5, 59000.0, 59200.0, 58800.0, 59100.0)
    assert fill.price == D("59000.0")  # never traded at 59 500


def test_a_gap_through_the_take_profit_fills_at_the_better_open(long_btc: MatchingEngine) -> None:
    tp(long_btc, Side.SELL, "0.010", "60500.0")
    (fill,) = long_btc.on_candle(BTCUSDC, T0 - M5, 61000.0, 61200.0, 60900.0, 61100.0)
    assert fill.price == D("61000.0")


def test_stop_fill_price_has_adverse_slippage(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine(slippage_bps=2)
    flat(e, BTCUSDC, 60000.0, T0 - 3_600_000)
    e.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1")  # 60000 * 1.0002 = 60012.0
    sl(e, Side.SELL, "0.010", "59500.0")
    (fill,) = e.on_candle(BTCUSDC, T0 - M5, 60000.0, 60010.0, 59400.0, 59450.0)
    assert fill.price == D("59488.1")  # 59500 * 0.9998 = 59488.1
    assert fill.realized_pnl == D("-5.23900000")  # 0.010 * (59488.1 - 60012.0)


def test_take_profit_slices_then_stop_trimmed_to_the_rest(long_btc: MatchingEngine) -> None:
    sl(long_btc, Side.SELL, "0.010", "59500.0")
    tp(long_btc, Side.SELL, "0.004", "60300.0", "TP1")
    tp(long_btc, Side.SELL, "0.003", "60600.0", "TP2")
    fills = long_btc.on_candle(
        BTCUSDC, T0 - M5, 60000.0, 60700.0, 59990.0, 60650.0
    )  # both TPs, in price order
    assert [(f.client_id, f.qty, f.price, f.position_after) for f in fills] == [
        ("TP1", D("0.004"), D("60300.0"), D("0.006")),
        ("TP2", D("0.003"), D("60600.0"), D("0.003")),
    ]
    (stop,) = long_btc.on_candle(BTCUSDC, T0, 60650.0, 60650.0, 59000.0, 59100.0)
    assert (stop.client_id, stop.qty, stop.position_after) == ("SL", D("0.003"), D("0.000"))
    state = long_btc.fetch_order(BTCUSDC, "SL", True)
    assert state is not None
    assert (state.status, state.qty, state.filled, state.average_price) == (
        OrderStatus.FILLED,
        D("0.010"),
        D("0.003"),
        D("59500.0"),
    )
    assert long_btc.positions() == []


def test_reduce_only_left_behind_expires_and_never_opens_a_position(long_btc: MatchingEngine) -> None:
    sl(long_btc, Side.SELL, "0.010", "59500.0")
    long_btc.place_market(BTCUSDC, Side.SELL, D("0.010"), "X1", reduce_only=True)  # closed by hand
    assert long_btc.on_candle(BTCUSDC, T0 - M5, 60000.0, 60000.0, 59000.0, 59100.0) == []
    assert long_btc.fetch_order(BTCUSDC, "SL", True).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    assert long_btc.positions() == []


def test_liquidation_of_a_long_loses_exactly_the_margin(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine()
    flat(e, BTCUSDC, 60000.0, T0 - 3_600_000)
    e.place_market(BTCUSDC, Side.BUY, D("0.100"), "E1")  # 6 000 notional, margin 600, fee 2.4
    (position,) = e.positions()
    # LP = (6000 - 600 - 0) / (0.1 * (1 - 0.004)) = 54216.8674...
    assert position.liquidation_price is not None
    assert position.liquidation_price.quantize(D("0.01")) == D("54216.87")
    wallet = e.balance("USDC").wallet
    assert wallet == D("10000") - D("2.4")
    assert e.on_candle(BTCUSDC, T0 - M5, 60000.0, 60000.0, 54216.9, 54300.0) == []  # just above: survives
    (liq,) = e.on_candle(BTCUSDC, T0, 54300.0, 54400.0, 54000.0, 54100.0)
    assert liq.kind is ExecutionKind.LIQUIDATION and liq.client_id is not None
    assert liq.client_id.startswith("autoclose-") and liq.side is Side.SELL and liq.qty == D("0.100")
    assert liq.price == position.liquidation_price
    assert liq.realized_pnl == D("-578.31325301")  # 0.1 * (54216.8674699 - 60000)
    assert liq.realized_pnl - liq.fee == D("-600")  # the rest of the margin is the clearance fee
    assert e.balance("USDC").wallet == wallet - D("600")
    assert e.balance("USDC").used == 0 and e.positions() == []


def test_liquidation_after_a_gap_never_costs_more_than_the_margin(
    make_engine: Callable[..., MatchingEngine],
) -> None:
    e = make_engine()
    flat(e, BTCUSDC, 60000.0, T0 - 3_600_000)
    e.place_market(BTCUSDC, Side.SELL, D("0.100"), "E1")  # short, LP = 6600 / 0.1004 = 65737.05
    wallet = e.balance("USDC").wallet
    (liq,) = e.on_candle(BTCUSDC, T0, 70000.0, 70100.0, 69900.0, 70000.0)  # gaps far beyond
    assert liq.price == D("70000.0") and liq.side is Side.BUY
    assert (liq.realized_pnl, liq.fee) == (D("-600"), D("0"))  # the insurance fund covers the rest
    assert e.balance("USDC").wallet == wallet - D("600")


def test_a_stop_above_the_liquidation_price_fills_first(long_btc: MatchingEngine) -> None:
    sl(long_btc, Side.SELL, "0.010", "55000.0")
    (fill,) = long_btc.on_candle(BTCUSDC, T0 - M5, 60000.0, 60000.0, 50000.0, 50500.0)
    assert fill.kind is ExecutionKind.STOP_MARKET and fill.price == D("55000.0")


def test_fees_depend_on_the_quote_asset(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine()
    flat(e, BTCUSDC, 60000.0, T0)
    flat(e, BTCUSDT, 60000.0, T0)
    usdc = e.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1")
    usdt = e.place_market(BTCUSDT, Side.BUY, D("0.010"), "E1")
    assert (usdc.fee, usdc.fee_asset) == (D("0.24"), "USDC")  # 600 * 0.0004
    assert (usdt.fee, usdt.fee_asset) == (D("0.30"), "USDT")  # 600 * 0.0005
    assert e.balance("USDC").wallet == D("9999.76") and e.balance("USDT").wallet == D("9999.70")


def test_fee_schedule_is_a_parameter(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine(fees={"USDC": FeeSchedule(maker=D(0), taker=D("0.001"))})
    flat(e, BTCUSDC, 60000.0, T0)
    assert e.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1").fee == D("0.6")
    with pytest.raises(ValueError, match="no fee schedule for settle asset USDT"):
        flat(e, BTCUSDT, 60000.0, T0)


def test_funding_every_8_hours_when_enabled(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine(funding_rate=D("0.0001"))
    flat(e, BTCUSDC, 60000.0, T0 - M5)
    flat(e, BTCUSDT, 60000.0, T0 - M5)
    e.place_market(BTCUSDC, Side.BUY, D("0.010"), "L1")
    e.place_market(BTCUSDT, Side.SELL, D("0.010"), "S1")
    (pay,) = e.on_candle(BTCUSDC, T0, 61000.0, 61000.0, 61000.0, 61000.0)
    (receive,) = e.on_candle(BTCUSDT, T0, 61000.0, 61000.0, 61000.0, 61000.0)
    assert (pay.kind, pay.funding, pay.timestamp_ms) == (
        ExecutionKind.FUNDING,
        D("-0.061"),
        T0,
    )  # 0.010*61000*1e-4
    assert receive.funding == D("0.061")
    assert e.on_candle(BTCUSDC, T0 + M5, 61000.0, 61000.0, 61000.0, 61000.0) == []  # once per 8 h
    assert [
        x.funding for x in e.on_candle(BTCUSDC, T0 + 8 * 3_600_000, 61000.0, 61000.0, 61000.0, 61000.0)
    ] == [D("-0.061")]
    initial, pnl, fees, funding = e.account_totals("USDC")
    assert funding == D("-0.122") and e.balance("USDC").wallet == initial + pnl - fees + funding


def test_no_funding_by_default(long_btc: MatchingEngine) -> None:
    assert long_btc.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0) == []
    assert long_btc.account_totals("USDC")[3] == 0


def test_balance_reports_unrealised_pnl(long_btc: MatchingEngine) -> None:
    flat(long_btc, BTCUSDC, 60500.0, T0)
    balance = long_btc.balance("USDC")
    assert balance.unrealized_pnl == D("5.0000")  # 0.010 * 500
    assert balance.wallet == D("9999.76")  # 10 000 - 0.24 entry fee
    assert balance.total == balance.wallet + D("5") and balance.used == D("60")
    assert long_btc.positions()[0].mark_price == D("60500.0")
