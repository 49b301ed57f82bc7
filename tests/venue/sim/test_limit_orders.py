"""Limit orders in the simulated venue: placement checks, crossing (taker, capped at the limit), post-only
rejection, resting fills (strictly through, at the limit, maker fee, by volume share), partial fills,
cancel of the rest, reduce-only trimming and expiry, and the order of events inside one candle."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import pytest

from engine.venue.errors import (
    DuplicateClientOrderId,
    MarginInsufficient,
    MinNotional,
    OrderNotFound,
    PostOnlyRejected,
    PrecisionTooHigh,
    PriceTooLow,
    ReduceOnlyRejected,
    VenueUnavailable,
)
from engine.venue.sim import FeeSchedule, MatchingEngine
from engine.venue.types import ExecutionKind, Liquidity, OrderStatus, OrderType, ReportSource, Side
from tests.venue.venue_helpers import BTCUSDC, BTCUSDT

M5 = 300_000
T0 = 1_700_000_000_000 // M5 * M5


def candle(e: MatchingEngine, i: int, o: float, h: float, lo: float, c: float, v: float = 1000.0,
           symbol: str = BTCUSDC, finer: list | None = None) -> list:
    return e.on_candle(symbol, T0 + i * M5, o, h, lo, c, v, finer)


@pytest.fixture
def engine(make_engine: Callable[..., MatchingEngine]) -> MatchingEngine:
    """10 000 USDC and USDT, last price 60 000 on BTCUSDC and BTCUSDT, no slippage."""
    e = make_engine()
    candle(e, 0, 60000.0, 60000.0, 60000.0, 60000.0)
    candle(e, 0, 60000.0, 60000.0, 60000.0, 60000.0, symbol=BTCUSDT)
    return e


def buy(e: MatchingEngine, qty: str, price: str, cid: str = "E1", **kw: bool) -> object:
    return e.place_limit(BTCUSDC, Side.BUY, D(qty), D(price), cid, **kw)


# ---- placement ------------------------------------------------------------------------------------------


def test_a_limit_below_the_price_rests_and_holds_its_margin(engine: MatchingEngine) -> None:
    state = engine.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("59900.0"), "E1", post_only=True)
    assert (state.type, state.status, state.price, state.post_only, state.filled) == (
        OrderType.LIMIT, OrderStatus.NEW, D("59900.0"), True, D(0)
    )
    assert state.trigger_price is None and state.liquidity is None and state.is_open
    balance = engine.balance("USDC")
    assert balance.used == D("59.9")  # 0.010 * 59900.0 / 10x: Binance's open-order initial margin
    assert balance.free == D(10_000) - D("59.9") and balance.wallet == D(10_000)
    assert [o.client_id for o in engine.open_orders(BTCUSDC)] == ["E1"]
    assert engine.fetch_order(BTCUSDC, "E1", conditional=False) == state
    assert engine.fetch_order(BTCUSDC, "E1", conditional=True) is None  # the normal order book namespace
    assert engine.executions == []


def test_placement_is_checked_as_binance_checks_it(engine: MatchingEngine, make_engine: Callable) -> None:
    with pytest.raises(PrecisionTooHigh):
        buy(engine, "0.010", "59900.05")  # tick 0.1
    with pytest.raises(PrecisionTooHigh):
        buy(engine, "0.0105", "59900.0")  # step 0.001
    with pytest.raises(PriceTooLow):
        buy(engine, "1.000", "0.0")
    with pytest.raises(MinNotional):
        buy(engine, "0.001", "59900.0")  # 59.9 < 100
    with pytest.raises(ReduceOnlyRejected):
        buy(engine, "0.010", "59900.0", reduce_only=True)  # nothing to reduce
    buy(engine, "0.010", "59900.0")
    with pytest.raises(DuplicateClientOrderId):
        buy(engine, "0.010", "59800.0")  # the same client id is open
    with pytest.raises(DuplicateClientOrderId):
        engine.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1")  # ... on the same order book
    poor = make_engine(balances={"USDC": D(50)})
    with pytest.raises(VenueUnavailable):
        poor.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("59900.0"), "E1")  # no price yet
    candle(poor, 0, 60000.0, 60000.0, 60000.0, 60000.0)
    with pytest.raises(MarginInsufficient):
        poor.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("59900.0"), "E1")  # 59.9 margin > 50
    assert poor.open_orders() == [] and poor.balance("USDC").free == D(50)


def test_post_only_that_would_cross_is_rejected_and_nothing_is_recorded(engine: MatchingEngine) -> None:
    before = engine.state_dict()
    # through the last price (60000.0) by one tick or more; AT it, an order joins the book (next test)
    for side, price in ((Side.BUY, "60000.1"), (Side.BUY, "60100.0"), (Side.SELL, "59999.9"), (Side.SELL, "59000.0")):
        with pytest.raises(PostOnlyRejected) as caught:
            engine.place_limit(BTCUSDC, side, D("0.010"), D(price), "E1", post_only=True)
        assert caught.value.code == -5022
    assert engine.fetch_order(BTCUSDC, "E1", conditional=False) is None
    assert engine.state_dict() == before  # no order, no venue id used, no margin held
    assert engine.executions == []


def test_a_post_only_order_at_the_last_price_joins_the_book(engine: MatchingEngine) -> None:
    for side, cid in ((Side.BUY, "E1"), (Side.SELL, "E2")):
        order = engine.place_limit(BTCUSDC, side, D("0.010"), D("60000.0"), cid, post_only=True)
        assert order.status is OrderStatus.NEW and order.filled == 0


def test_a_crossing_limit_fills_at_once_as_taker_never_worse_than_its_limit(
    make_engine: Callable[..., MatchingEngine],
) -> None:
    e = make_engine(slippage_bps=1)
    candle(e, 0, 60000.0, 60000.0, 60000.0, 60000.0)
    # last 60000.0 + 1 bp = 60006.0, inside the limit 60100.0: fills at 60006.0
    wide = e.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("60100.0"), "E1")
    assert (wide.status, wide.filled, wide.average_price, wide.liquidity) == (
        OrderStatus.FILLED, D("0.010"), D("60006.0"), Liquidity.TAKER
    )
    assert wide.fee == D("0.24002400")  # 0.010 * 60006.0 = 600.06; * taker 0.0004
    # a limit at 60003.0: the slipped 60006.0 would pass it, so it fills at the limit
    tight = e.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("60003.0"), "E2")
    assert (tight.status, tight.average_price) == (OrderStatus.FILLED, D("60003.0"))
    # a sell below the last price crosses too: 60000.0 - 1 bp = 59994.0, below the limit 59999.0
    sell = e.place_limit(BTCUSDC, Side.SELL, D("0.005"), D("59999.0"), "X1", reduce_only=True)
    assert sell.average_price == D("59999.0")
    first, second, third = e.executions
    assert (first.kind, first.liquidity, first.qty) == (ExecutionKind.LIMIT, Liquidity.TAKER, D("0.010"))
    report = first.report()
    assert report is not None and report.liquidity is Liquidity.TAKER and report.qty == D("0.010")
    assert e.open_orders() == [] and e.balance("USDC").used == e.positions()[0].margin


# ---- resting fills --------------------------------------------------------------------------------------


def test_a_touch_is_not_a_fill_trading_through_is_at_the_limit_with_the_maker_fee(engine: MatchingEngine) -> None:
    engine.place_limit(BTCUSDT, Side.BUY, D("0.010"), D("59900.0"), "E1")
    assert candle(engine, 1, 60000.0, 60050.0, 59900.0, 59950.0, symbol=BTCUSDT) == []  # low == price
    assert engine.fetch_order(BTCUSDT, "E1", False).status is OrderStatus.NEW  # type: ignore[union-attr]
    # strictly below, even far below (a gap down to the open): the fill is at the limit, not better
    (fill,) = candle(engine, 2, 59500.0, 59600.0, 59400.0, 59450.0, symbol=BTCUSDT)
    assert (fill.kind, fill.liquidity, fill.price, fill.qty) == (
        ExecutionKind.LIMIT, Liquidity.MAKER, D("59900.0"), D("0.010")
    )
    assert fill.fee == D("0.11980000")  # 0.010 * 59900.0 = 599.0; * USDT maker 0.0002
    state = engine.fetch_order(BTCUSDT, "E1", False)
    assert state is not None
    assert (state.status, state.filled, state.average_price, state.fee, state.liquidity) == (
        OrderStatus.FILLED, D("0.010"), D("59900.0"), D("0.11980000"), Liquidity.MAKER
    )
    assert engine.balance("USDT").used == D("59.9")  # the reservation became the position's margin
    assert engine.open_orders() == []


def test_fees_by_liquidity_follow_the_schedule_given(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine(fees={"USDC": FeeSchedule(maker=D("0.0001"), taker=D("0.0003"))})
    candle(e, 0, 60000.0, 60000.0, 60000.0, 60000.0)
    e.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("59900.0"), "E1")
    (maker,) = candle(e, 1, 60000.0, 60000.0, 59800.0, 59850.0)
    taker = e.place_market(BTCUSDC, Side.SELL, D("0.010"), "C1", reduce_only=True)
    assert maker.fee == D("0.05990000")  # 599.0 * 0.0001
    assert taker.fee == D("0.17955000")  # 0.010 * 59850.0 = 598.5; * 0.0003


def test_partial_fills_by_volume_share_across_candles(engine: MatchingEngine) -> None:
    engine.place_limit(BTCUSDC, Side.BUY, D("0.012"), D("59900.0"), "E1")
    # volume 0.05 BTC: 10 % of it is 0.005 per candle
    (first,) = candle(engine, 1, 60000.0, 60000.0, 59800.0, 59850.0, v=0.05)
    state = engine.fetch_order(BTCUSDC, "E1", False)
    assert state is not None and (state.status, state.filled) == (OrderStatus.PARTIALLY_FILLED, D("0.005"))
    # 0.005 * 59900 / 10 = 29.95 margin of the position + 0.007 * 59900 / 10 = 41.93 still held
    assert state.is_open and engine.balance("USDC").used == D("71.88")
    assert candle(engine, 2, 59850.0, 59900.0, 59800.0, 59850.0, v=0) == []  # no volume: no trades
    (second,) = candle(engine, 3, 59850.0, 59950.0, 59850.0, 59950.0, v=0.05)  # still below the limit
    (third,) = candle(engine, 4, 59950.0, 59950.0, 59700.0, 59800.0, v=100.0)
    assert [(f.qty, f.order_filled, f.price, f.liquidity) for f in (first, second, third)] == [
        (D("0.005"), D("0.005"), D("59900.0"), Liquidity.MAKER),
        (D("0.005"), D("0.010"), D("59900.0"), Liquidity.MAKER),
        (D("0.002"), D("0.012"), D("59900.0"), Liquidity.MAKER),
    ]
    # the engine's fill events take the order's cumulative quantity and average price
    reports = [f.report() for f in (first, second, third)]
    assert [(r.qty, r.price) for r in reports if r is not None] == [
        (D("0.005"), D("59900.0")), (D("0.010"), D("59900.0")), (D("0.012"), D("59900.0"))
    ]
    state = engine.fetch_order(BTCUSDC, "E1", False)
    assert state is not None and (state.status, state.filled) == (OrderStatus.FILLED, D("0.012"))
    assert state.report(ReportSource.POLLED) == reports[-1].__class__(  # type: ignore[union-attr]
        **{**_fields(reports[-1]), "source": ReportSource.POLLED}
    )
    assert engine.positions()[0].qty == D("0.012")


def _fields(report: object) -> dict:
    return {name: getattr(report, name) for name in report.__slots__}  # type: ignore[attr-defined]


def test_cancel_of_a_partly_filled_order_keeps_the_fill_and_frees_the_rest(engine: MatchingEngine) -> None:
    engine.place_limit(BTCUSDC, Side.BUY, D("0.012"), D("59900.0"), "E1")
    candle(engine, 1, 60000.0, 60000.0, 59800.0, 59850.0, v=0.05)
    canceled = engine.cancel(BTCUSDC, "E1", conditional=False)
    assert (canceled.status, canceled.filled, canceled.average_price) == (
        OrderStatus.CANCELED, D("0.005"), D("59900.0")
    )
    assert engine.balance("USDC").used == D("29.95") == engine.positions()[0].margin  # 0.005 * 59900 / 10
    with pytest.raises(OrderNotFound):
        engine.cancel(BTCUSDC, "E1", conditional=False)
    assert candle(engine, 2, 59850.0, 59850.0, 59000.0, 59100.0) == []


def test_reduce_only_limits_are_trimmed_to_the_position_then_expire(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1")
    engine.place_limit(BTCUSDC, Side.SELL, D("0.020"), D("60500.0"), "TP1", reduce_only=True)
    engine.place_limit(BTCUSDC, Side.SELL, D("0.010"), D("60600.0"), "TP2", reduce_only=True)
    assert engine.balance("USDC").used == D("60")  # reduce-only orders hold no margin
    (fill,) = candle(engine, 1, 60000.0, 60700.0, 60000.0, 60650.0)
    assert (fill.client_id, fill.qty, fill.position_after, fill.realized_pnl) == (
        "TP1", D("0.010"), D(0), D("5.00000000")  # 0.010 * (60500 - 60000)
    )
    # the price stays through TP1 with nothing left to reduce: its rest expires, its fill is kept; TP2
    # is passed through with nothing to reduce
    tp1, tp2 = (engine.fetch_order(BTCUSDC, cid, False) for cid in ("TP1", "TP2"))
    assert tp1 is not None and (tp1.status, tp1.filled, tp1.average_price) == (
        OrderStatus.EXPIRED, D("0.010"), D("60500.0")
    )
    assert tp2 is not None and (tp2.status, tp2.filled) == (OrderStatus.EXPIRED, D(0))
    assert engine.positions() == [] and engine.open_orders() == []


def test_a_trimmed_reduce_only_limit_keeps_resting_until_the_price_passes_it_again(
    engine: MatchingEngine,
) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1")
    engine.place_limit(BTCUSDC, Side.SELL, D("0.020"), D("60500.0"), "TP1", reduce_only=True)
    (fill,) = candle(engine, 1, 60000.0, 60600.0, 60000.0, 60100.0, v=0.1)  # 10 %: 0.010
    assert fill.qty == D("0.010")
    tp1 = engine.fetch_order(BTCUSDC, "TP1", False)
    assert tp1 is not None and tp1.status is OrderStatus.PARTIALLY_FILLED  # the candle's share ran out
    assert candle(engine, 2, 60100.0, 60600.0, 60000.0, 60100.0) == []  # through it again: expires
    tp1 = engine.fetch_order(BTCUSDC, "TP1", False)
    assert tp1 is not None and (tp1.status, tp1.filled) == (OrderStatus.EXPIRED, D("0.010"))


# ---- the order of events inside one candle --------------------------------------------------------------


def _long_with_stop_and_take_profit_limit(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1")
    engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.010"), D("59500.0"), "SL")
    engine.place_limit(BTCUSDC, Side.SELL, D("0.010"), D("60500.0"), "TP", reduce_only=True, post_only=True)


def test_a_stop_and_a_take_profit_limit_in_one_candle_the_stop_wins(engine: MatchingEngine) -> None:
    _long_with_stop_and_take_profit_limit(engine)
    # a bullish candle through both: without finer candles the walk goes against the long first
    (fill,) = candle(engine, 1, 60000.0, 60600.0, 59400.0, 60550.0)
    assert (fill.client_id, fill.kind, fill.price) == ("SL", ExecutionKind.STOP_MARKET, D("59500.0"))
    tp = engine.fetch_order(BTCUSDC, "TP", False)
    assert tp is not None and tp.status is OrderStatus.EXPIRED and tp.filled == 0


def test_finer_candles_decide_the_order_for_limits_too(engine: MatchingEngine) -> None:
    _long_with_stop_and_take_profit_limit(engine)
    finer = [
        (T0 + M5, 60000.0, 60600.0, 60000.0, 60550.0),  # up through the take-profit first
        (T0 + M5 + 60_000, 60550.0, 60550.0, 59400.0, 59450.0),  # then down through the stop
    ]
    (fill,) = candle(engine, 1, 60000.0, 60600.0, 59400.0, 60550.0, finer=finer)
    assert (fill.client_id, fill.liquidity, fill.price, fill.position_after) == (
        "TP", Liquidity.MAKER, D("60500.0"), D(0)
    )
    sl = engine.fetch_order(BTCUSDC, "SL", True)
    assert sl is not None and sl.status is OrderStatus.EXPIRED  # nothing left to stop


def test_the_resting_rest_of_an_entry_fills_before_the_stop_below_it(engine: MatchingEngine) -> None:
    engine.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("59900.0"), "E1")
    candle(engine, 1, 60000.0, 60000.0, 59800.0, 59950.0, v=0.05)  # 0.005 filled; closes above it
    engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.010"), D("59500.0"), "SL")
    # down through the rest of the entry and then the stop: more exposure first, then stopped (worse)
    fills = candle(engine, 2, 59950.0, 60000.0, 59400.0, 59600.0)
    assert [(f.client_id, f.qty, f.position_after) for f in fills] == [
        ("E1", D("0.005"), D("0.010")),
        ("SL", D("0.010"), D(0)),
    ]


def test_a_stop_at_the_price_of_a_limit_fires_first(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.SELL, D("0.010"), "E1")  # short 0.010 @ 60000
    engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.BUY, D("0.010"), D("60500.0"), "SL")
    engine.place_limit(BTCUSDC, Side.SELL, D("0.010"), D("60500.0"), "ADD")  # adds at the stop price
    fills = candle(engine, 1, 60000.0, 60600.0, 60000.0, 60550.0)
    # the stop fires on the touch and closes; the limit needs the price through it: it opens a short
    assert [(f.client_id, f.position_after) for f in fills] == [("SL", D(0)), ("ADD", D("-0.010"))]


def test_leverage_change_moves_the_margin_a_resting_order_holds(engine: MatchingEngine) -> None:
    buy(engine, "0.010", "59900.0")
    engine.set_leverage(BTCUSDC, 20)
    assert engine.balance("USDC").used == D("29.95")  # 599.0 / 20
