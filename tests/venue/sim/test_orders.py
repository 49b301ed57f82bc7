"""Order handling of the simulated engine on real mainnet filters: every rejection with Binance's code,
reduce-only semantics, client ids, leverage and margin mode."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import pytest

from engine.venue import errors
from engine.venue.sim import MatchingEngine
from engine.venue.types import MarginMode, OrderStatus, OrderType, PositionSide, Side
from tests.venue.venue_helpers import BTCUSDC, BTCUSDT

T0 = 1_700_000_000_000  # any candle time


def price(engine: MatchingEngine, symbol: str, value: float, open_ms: int = T0) -> None:
    """Feed a flat candle so the latest price is `value`."""
    engine.on_candle(symbol, open_ms, value, value, value, value, 1.0)


@pytest.fixture
def engine(make_engine: Callable[..., MatchingEngine]) -> MatchingEngine:
    e = make_engine()
    price(e, BTCUSDC, 60000.0)
    return e


def stop(e: MatchingEngine, side: Side, qty: str, trigger: str, cid: str) -> object:
    return e.place_conditional(BTCUSDC, OrderType.STOP_MARKET, side, D(qty), D(trigger), cid)


def take_profit(e: MatchingEngine, side: Side, qty: str, trigger: str, cid: str) -> object:
    return e.place_conditional(BTCUSDC, OrderType.TAKE_PROFIT_MARKET, side, D(qty), D(trigger), cid)


def rejected(
    call: Callable[[], object], error: type[errors.RequestRejected], code: int
) -> errors.RequestRejected:
    with pytest.raises(error) as info:
        call()
    assert info.value.code == code
    return info.value


# ---- filters ------------------------------------------------------------------------------------------


def test_market_order_below_min_notional_is_rejected(engine: MatchingEngine) -> None:
    # 0.001 BTC * 60 000 = 60 USDC < MIN_NOTIONAL 100 of BTCUSDC
    error = rejected(
        lambda: engine.place_market(BTCUSDC, Side.BUY, D("0.001"), "E1"), errors.MinNotional, -4164
    )
    assert error.msg == "Order's notional must be no smaller than 100 (unless you choose reduce only)."
    assert engine.fetch_order(BTCUSDC, "E1", False) is None  # a rejection leaves no order behind
    assert engine.positions() == []


def test_bad_precision_is_rejected(engine: MatchingEngine) -> None:
    rejected(
        lambda: engine.place_market(BTCUSDC, Side.BUY, D("0.0025"), "E1"), errors.PrecisionTooHigh, -1111
    )
    engine.place_market(BTCUSDC, Side.BUY, D("0.002"), "E2")
    rejected(lambda: stop(engine, Side.SELL, "0.002", "59000.05", "SL"), errors.PrecisionTooHigh, -1111)


def test_market_quantity_above_market_lot_size_is_rejected(
    make_engine: Callable[..., MatchingEngine],
) -> None:
    e = make_engine(balances={"USDC": D(10_000_000)})
    price(e, BTCUSDC, 60000.0)
    rejected(lambda: e.place_market(BTCUSDC, Side.BUY, D("26"), "E1"), errors.QuantityTooLarge, -4005)


def test_reduce_only_is_exempt_from_min_notional(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.003"), "E1")  # 180 USDC
    state = engine.place_market(BTCUSDC, Side.SELL, D("0.001"), "X1", reduce_only=True)  # 60 USDC
    assert state.status is OrderStatus.FILLED and state.filled == D("0.001")
    # the same slice without reduce-only is refused, even though it would only reduce
    rejected(lambda: engine.place_market(BTCUSDC, Side.SELL, D("0.001"), "X2"), errors.MinNotional, -4164)


# ---- margin and leverage ------------------------------------------------------------------------------


def test_not_enough_margin_is_rejected(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine(balances={"USDC": D(100)})
    price(e, BTCUSDC, 60000.0)
    # 0.017 BTC = 1020 USDC at 10x: margin 102 > 100
    rejected(lambda: e.place_market(BTCUSDC, Side.BUY, D("0.017"), "E1"), errors.MarginInsufficient, -2019)
    # 0.016 BTC = 960 USDC: margin 96 + taker fee 0.384 = 96.384 <= 100
    e.place_market(BTCUSDC, Side.BUY, D("0.016"), "E2")
    assert e.balance("USDC").used == D("96")
    assert e.balance("USDC").free == D("100") - D("0.384") - D("96")


def test_position_above_the_leverage_bracket_is_rejected(engine: MatchingEngine) -> None:
    engine.set_leverage(BTCUSDC, 125)
    # 125x allows at most 50 000 notional on BTCUSDC; 1 BTC is 60 000
    rejected(lambda: engine.place_market(BTCUSDC, Side.BUY, D("1"), "E1"), errors.MaxPositionExceeded, -2027)
    engine.place_market(BTCUSDC, Side.BUY, D("0.8"), "E2")  # 48 000
    assert engine.positions()[0].margin == D("384")  # 48 000 / 125


def test_leverage_rules(engine: MatchingEngine) -> None:
    rejected(lambda: engine.set_leverage(BTCUSDC, 0), errors.InvalidLeverage, -4028)
    rejected(lambda: engine.set_leverage(BTCUSDC, 126), errors.InvalidLeverage, -4028)
    engine.set_leverage(BTCUSDC, 20)
    engine.place_market(BTCUSDC, Side.BUY, D("1"), "E1")  # 60 000 notional: tier 2, max 100x
    rejected(lambda: engine.set_leverage(BTCUSDC, 125), errors.MaxPositionExceeded, -2027)
    rejected(lambda: engine.set_leverage(BTCUSDC, 10), errors.LeverageReductionRejected, -4161)
    engine.set_leverage(BTCUSDC, 50)
    assert engine.positions()[0].leverage == 50
    assert engine.positions()[0].margin == D("3000")  # margin was taken at 20x and is not changed


def test_margin_mode(engine: MatchingEngine) -> None:
    engine.set_margin_mode(BTCUSDC, MarginMode.ISOLATED)  # already isolated: no-op
    with pytest.raises(errors.NotSupported):
        engine.set_margin_mode(BTCUSDC, MarginMode.CROSS)
    engine.place_market(BTCUSDC, Side.BUY, D("0.002"), "E1")
    rejected(
        lambda: engine.set_margin_mode(BTCUSDC, MarginMode.CROSS), errors.MarginModeLockedByPosition, -4048
    )
    stop(engine, Side.SELL, "0.002", "59000.0", "SL")
    engine.place_market(BTCUSDC, Side.SELL, D("0.002"), "X1", reduce_only=True)
    rejected(
        lambda: engine.set_margin_mode(BTCUSDC, MarginMode.CROSS), errors.MarginModeLockedByOrders, -4047
    )


# ---- conditional orders -------------------------------------------------------------------------------


def test_stops_already_crossed_would_immediately_trigger(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.002"), "E1")  # long, last price 60 000
    rejected(lambda: stop(engine, Side.SELL, "0.002", "60000.0", "SL"), errors.WouldImmediatelyTrigger, -2021)
    rejected(lambda: stop(engine, Side.SELL, "0.002", "60100.0", "SL"), errors.WouldImmediatelyTrigger, -2021)
    rejected(
        lambda: take_profit(engine, Side.SELL, "0.002", "59900.0", "TP"),
        errors.WouldImmediatelyTrigger,
        -2021,
    )
    stop(engine, Side.SELL, "0.002", "59900.0", "SL")
    take_profit(engine, Side.SELL, "0.002", "60100.0", "TP")


def test_short_stops_would_immediately_trigger(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.SELL, D("0.002"), "E1")  # short
    rejected(lambda: stop(engine, Side.BUY, "0.002", "59900.0", "SL"), errors.WouldImmediatelyTrigger, -2021)
    rejected(
        lambda: take_profit(engine, Side.BUY, "0.002", "60100.0", "TP"), errors.WouldImmediatelyTrigger, -2021
    )
    stop(engine, Side.BUY, "0.002", "60100.0", "SL")
    take_profit(engine, Side.BUY, "0.002", "59900.0", "TP")


def test_reduce_only_that_would_open_or_increase_is_rejected(engine: MatchingEngine) -> None:
    # flat: nothing to reduce
    rejected(
        lambda: engine.place_market(BTCUSDC, Side.SELL, D("0.002"), "X1", reduce_only=True),
        errors.ReduceOnlyRejected,
        -2022,
    )
    rejected(lambda: stop(engine, Side.SELL, "0.002", "59000.0", "SL"), errors.ReduceOnlyRejected, -2022)
    engine.place_market(BTCUSDC, Side.BUY, D("0.002"), "E1")
    # long: a reduce-only BUY would increase it
    rejected(
        lambda: engine.place_market(BTCUSDC, Side.BUY, D("0.002"), "X2", reduce_only=True),
        errors.ReduceOnlyRejected,
        -2022,
    )
    rejected(lambda: stop(engine, Side.BUY, "0.002", "61000.0", "SL"), errors.ReduceOnlyRejected, -2022)


def test_reduce_only_market_is_trimmed_to_the_position(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.005"), "E1")
    state = engine.place_market(BTCUSDC, Side.SELL, D("0.010"), "X1", reduce_only=True)
    assert state.filled == D("0.005")
    assert engine.positions() == []  # flat, never flipped short


def test_market_order_larger_than_the_position_flips_it(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.005"), "E1")
    engine.place_market(BTCUSDC, Side.SELL, D("0.008"), "E2")
    (position,) = engine.positions()
    assert position.side is PositionSide.SHORT and position.qty == D("0.003")
    assert position.entry_price == D("60000.0") and position.margin == D("18")  # 0.003 * 60 000 / 10


def test_client_ids(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.004"), "E1")
    stop(engine, Side.SELL, "0.004", "59000.0", "P1-SL")
    rejected(
        lambda: stop(engine, Side.SELL, "0.004", "58000.0", "P1-SL"), errors.DuplicateClientOrderId, -4116
    )
    rejected(
        lambda: stop(engine, Side.SELL, "0.004", "58000.0", "x" * 37), errors.InvalidClientOrderId, -4015
    )
    rejected(
        lambda: stop(engine, Side.SELL, "0.004", "58000.0", "bad id"), errors.InvalidClientOrderId, -4015
    )
    # conditional and normal orders are separate namespaces (Binance's algo vs order endpoints)
    assert engine.fetch_order(BTCUSDC, "P1-SL", conditional=False) is None
    assert engine.fetch_order(BTCUSDC, "P1-SL", conditional=True).status is OrderStatus.NEW  # type: ignore[union-attr]
    engine.cancel(BTCUSDC, "P1-SL", conditional=True)
    # unique only among OPEN orders: after the cancel the id can be used again
    stop(engine, Side.SELL, "0.004", "58000.0", "P1-SL")
    assert engine.fetch_order(BTCUSDC, "P1-SL", True).trigger_price == D("58000.0")  # type: ignore[union-attr]


def test_cancel_and_open_orders(engine: MatchingEngine) -> None:
    engine.place_market(BTCUSDC, Side.BUY, D("0.004"), "E1")
    stop(engine, Side.SELL, "0.004", "59000.0", "SL")
    take_profit(engine, Side.SELL, "0.002", "61000.0", "TP1")
    assert [o.client_id for o in engine.open_orders(BTCUSDC)] == ["SL", "TP1"]
    assert [o.client_id for o in engine.open_orders()] == ["SL", "TP1"]
    canceled = engine.cancel(BTCUSDC, "TP1", conditional=True)
    assert canceled.status is OrderStatus.CANCELED
    error = rejected(lambda: engine.cancel(BTCUSDC, "TP1", conditional=True), errors.OrderNotFound, -2011)
    assert error.msg == "Unknown order sent."
    rejected(lambda: engine.cancel(BTCUSDC, "nope", conditional=True), errors.OrderNotFound, -2011)
    rejected(lambda: engine.cancel(BTCUSDC, "E1", conditional=False), errors.OrderNotFound, -2011)  # filled
    assert [o.client_id for o in engine.open_orders()] == ["SL"]


def test_unknown_symbol_unknown_price_and_non_trading_market(
    make_engine: Callable[..., MatchingEngine],
) -> None:
    e = make_engine()
    rejected(lambda: e.place_market("FOO/USDC:USDC", Side.BUY, D("1"), "E1"), errors.InvalidSymbol, -1121)
    with pytest.raises(errors.VenueUnavailable):
        e.place_market(BTCUSDT, Side.BUY, D("0.002"), "E1")  # no candle yet: no price
    price(e, "WAVES/USDT:USDT", 1.0)
    rejected(
        lambda: e.place_market("WAVES/USDT:USDT", Side.BUY, D("10"), "E1"), errors.SymbolNotTrading, -4140
    )


def test_market_fill_price_has_adverse_slippage_rounded_to_tick(
    make_engine: Callable[..., MatchingEngine],
) -> None:
    e = make_engine(slippage_bps=D("1.5"))
    price(e, BTCUSDC, 60000.0)
    buy = e.place_market(BTCUSDC, Side.BUY, D("0.002"), "E1")
    assert buy.average_price == D("60009.0")  # 60000 * 1.00015 = 60009.0 exactly
    price(e, BTCUSDC, 60000.3, T0 + 300_000)
    sell = e.place_market(BTCUSDC, Side.SELL, D("0.002"), "E2")
    assert sell.average_price == D("59991.2")  # 60000.3 * 0.99985 = 59991.299955 -> floored to the tick
