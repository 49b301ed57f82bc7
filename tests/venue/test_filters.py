"""Rounding and validation against real mainnet filters (BTCUSDC: tick 0.1, step 0.001, MARKET max
25, MIN_NOTIONAL 100), leverage brackets and the liquidation price."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from engine.venue import errors
from engine.venue.filters import (
    TriggerKind,
    check_order,
    check_price,
    check_quantity,
    floor_qty,
    round_price,
    round_trigger_price,
)
from engine.venue.leverage import (
    bracket_for,
    isolated_liquidation_price,
    maintenance_margin,
    max_leverage_for,
    max_notional_for_leverage,
)
from engine.venue.markets import Market
from engine.venue.types import PositionSide
from tests.venue.venue_helpers import BTCUSDC


@pytest.fixture
def btcusdc(markets: dict[str, Market]) -> Market:
    return markets[BTCUSDC]


def test_quantity_is_floored_to_the_step(btcusdc: Market, markets: dict[str, Market]) -> None:
    assert floor_qty(btcusdc, D("0.0159")) == D("0.015")
    assert floor_qty(btcusdc, D("0.0009")) == D("0.000")
    assert floor_qty(markets["1000PEPE/USDC:USDC"], D("12345.9")) == D("12345")


def test_price_is_rounded_to_the_nearest_tick(btcusdc: Market) -> None:
    assert round_price(btcusdc, D("59000.123")) == D("59000.1")
    assert round_price(btcusdc, D("59000.15")) == D("59000.2")


@pytest.mark.parametrize(
    ("side", "kind", "expected"),
    [
        # 59000.04 sits between ticks 59000.0 and 59000.1: always round toward the entry
        (PositionSide.LONG, TriggerKind.STOP_LOSS, D("59000.1")),  # long stop below entry: up, tighter
        (PositionSide.LONG, TriggerKind.TAKE_PROFIT, D("59000.0")),  # long TP above entry: down, nearer
        (PositionSide.SHORT, TriggerKind.STOP_LOSS, D("59000.0")),  # short stop above entry: down, tighter
        (PositionSide.SHORT, TriggerKind.TAKE_PROFIT, D("59000.1")),  # short TP below entry: up, nearer
    ],
)
def test_triggers_round_conservatively(
    btcusdc: Market, side: PositionSide, kind: TriggerKind, expected: D
) -> None:
    assert round_trigger_price(btcusdc, D("59000.04"), position_side=side, kind=kind) == expected


def test_a_trigger_already_on_tick_is_unchanged(btcusdc: Market) -> None:
    for side in PositionSide:
        for kind in TriggerKind:
            assert round_trigger_price(btcusdc, D("59000.1"), position_side=side, kind=kind) == D("59000.1")


@pytest.mark.parametrize(
    ("qty", "market_order", "error", "code"),
    [
        (D("0.0015"), True, errors.PrecisionTooHigh, -1111),
        (D("0"), True, errors.QuantityNotPositive, -4003),
        (D("-0.001"), True, errors.QuantityNotPositive, -4003),
        (D("26"), True, errors.QuantityTooLarge, -4005),  # MARKET_LOT_SIZE max 25
        (D("26"), False, None, None),  # LOT_SIZE max 800
        (D("801"), False, errors.QuantityTooLarge, -4005),
        (D("25"), True, None, None),
        (D("0.001"), True, None, None),
    ],
)
def test_quantity_checks(
    btcusdc: Market, qty: D, market_order: bool, error: type | None, code: int | None
) -> None:
    found = check_quantity(btcusdc, qty, market_order=market_order)
    if error is None:
        assert found is None
    else:
        assert isinstance(found, error)
        assert found.code == code


def test_quantity_below_min_and_off_step(btcusdc: Market, markets: dict[str, Market]) -> None:
    # No listed USD-M market has min qty > step or a step that is not a power of ten; Binance's rules
    # still apply, so check them on a variant of BTCUSDC.
    odd = replace(btcusdc, market_min_qty=D("0.004"), market_step_size=D("0.002"))
    assert isinstance(check_quantity(odd, D("0.002")), errors.QuantityTooSmall)
    assert check_quantity(odd, D("0.002")).code == -4004  # type: ignore[union-attr]
    assert isinstance(check_quantity(odd, D("0.005")), errors.QuantityNotOnStep)
    assert check_quantity(odd, D("0.006")) is None
    doge = markets["DOGE/USDC:USDC"]  # step 1: any fraction is too precise
    assert isinstance(check_quantity(doge, D("10.5")), errors.PrecisionTooHigh)
    assert check_quantity(doge, D("10")) is None


def test_price_checks(btcusdc: Market, markets: dict[str, Market]) -> None:
    assert isinstance(check_price(btcusdc, D("59000.05")), errors.PrecisionTooHigh)
    assert isinstance(check_price(btcusdc, D("600000")), errors.StopPriceTooHigh)
    assert check_price(btcusdc, D("59000.1")) is None
    btcusdt = markets["BTC/USDT:USDT"]  # min price 556.80
    assert isinstance(check_price(btcusdt, D("500.0")), errors.PriceTooLow)


def test_min_notional_rejects_with_binance_code_and_message(btcusdc: Market) -> None:
    # 0.001 BTC * 60 000 = 60 USDC < 100
    error = check_order(btcusdc, D("0.001"), D("60000"))
    assert isinstance(error, errors.MinNotional)
    assert error.code == -4164
    assert error.msg == "Order's notional must be no smaller than 100 (unless you choose reduce only)."


def test_reduce_only_is_exempt_from_min_notional(btcusdc: Market) -> None:
    assert check_order(btcusdc, D("0.001"), D("60000"), reduce_only=True) is None


def test_exactly_min_notional_passes(btcusdc: Market) -> None:
    assert check_order(btcusdc, D("0.002"), D("50000")) is None  # 100.000


def test_error_messages_are_binances() -> None:
    assert (errors.PrecisionTooHigh().code, errors.PrecisionTooHigh().msg) == (
        -1111,
        "Precision is over the maximum defined for this asset.",
    )
    assert (errors.MarginInsufficient().code, errors.MarginInsufficient().msg) == (
        -2019,
        "Margin is insufficient.",
    )
    assert (errors.WouldImmediatelyTrigger().code, errors.WouldImmediatelyTrigger().msg) == (
        -2021,
        "Order would immediately trigger.",
    )
    assert (errors.ReduceOnlyRejected().code, errors.ReduceOnlyRejected().msg) == (
        -2022,
        "ReduceOnly Order is rejected.",
    )
    assert (errors.OrderNotFound().code, errors.OrderNotFound().msg) == (-2013, "Order does not exist.")
    assert str(errors.MarginInsufficient()) == "-2019 Margin is insufficient."


def test_error_for_code_maps_binance_answers() -> None:
    found = errors.error_for_code(
        -4164, "Order's notional must be no smaller than 20 (unless you choose reduce only)."
    )
    assert isinstance(found, errors.MinNotional) and "20" in found.msg
    assert isinstance(errors.error_for_code(-2011, "Unknown order sent."), errors.OrderNotFound)
    unknown = errors.error_for_code(-9999, "something new")
    assert type(unknown) is errors.OrderRejected and unknown.code == -9999
    assert isinstance(errors.RateLimited(retry_after=2.0).retry_after, float)


# ---- brackets and liquidation ---------------------------------------------------------------------------


def test_brackets_of_btcusdc(brackets: dict) -> None:
    btc = brackets[BTCUSDC]
    assert max_leverage_for(btc, D("10000")) == 125
    assert max_leverage_for(btc, D("50000")) == 100  # the cap belongs to the next tier
    assert max_leverage_for(btc, D("600000")) == 50
    tier2 = bracket_for(btc, D("100000"))
    assert (tier2.maint_margin_rate, tier2.cum) == (D("0.005"), D("50.0"))
    assert max_notional_for_leverage(btc, 100) == D("500000")
    assert max_notional_for_leverage(btc, 20) == D("80000000")
    # maintenance margin is continuous across the tier boundary thanks to cum: 50 000 * 0.004 = 200
    assert maintenance_margin(btc, D("49999.99")) == pytest.approx(D("199.99996"), abs=D("1e-8"))
    assert maintenance_margin(btc, D("50000")) == D("200.0")  # 50 000 * 0.005 - 50


def test_every_market_has_brackets_sorted(brackets: dict) -> None:
    assert len(brackets) > 300
    for tiers in brackets.values():
        floors = [b.notional_floor for b in tiers]
        assert floors == sorted(floors) and floors[0] == 0


def test_liquidation_price_long_and_short(brackets: dict) -> None:
    btc = brackets[BTCUSDC]
    # Long 0.1 BTC @ 60 000 at 10x: margin 600, notional 6 000 -> tier 1 (MMR 0.004, cum 0)
    # LP = (6000 - 600 - 0) / (0.1 * (1 - 0.004)) = 5400 / 0.0996 = 54216.867469...
    long_lp = isolated_liquidation_price(PositionSide.LONG, D("0.1"), D("60000"), D("600"), btc)
    assert long_lp.quantize(D("0.000001")) == D("54216.867470")
    # Short: LP = (6000 + 600 + 0) / (0.1 * 1.004) = 6600 / 0.1004 = 65737.051792...
    short_lp = isolated_liquidation_price(PositionSide.SHORT, D("0.1"), D("60000"), D("600"), btc)
    assert short_lp.quantize(D("0.000001")) == D("65737.051793")
    # Tier 2 (notional 120 000 -> MMR 0.005, cum 50), long 2 BTC @ 60 000 at 20x: margin 6 000
    # LP = (120000 - 6000 - 50) / (2 * 0.995) = 113950 / 1.99 = 57261.306532...
    tier2 = isolated_liquidation_price(PositionSide.LONG, D("2"), D("60000"), D("6000"), btc)
    assert tier2.quantize(D("0.000001")) == D("57261.306533")
    # At the liquidation price exactly the maintenance margin is left: margin + pnl == LP * Q * MMR - cum
    left = D("600") + (long_lp - D("60000")) * D("0.1")
    assert left == pytest.approx(long_lp * D("0.1") * D("0.004"), abs=D("1e-9"))
