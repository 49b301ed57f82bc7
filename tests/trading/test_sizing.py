"""Entry sizing on the real Binance mainnet filters (exchangeInfo of 2024-10-20).

Expected numbers are worked out by hand in the comments, from the filters:
BTCUSDC tick 0.1, step 0.001, MIN_NOTIONAL 100, MARKET_LOT_SIZE max 25;
ETHUSDC tick 0.01, step 0.001, MIN_NOTIONAL 20; DOGEUSDC tick 0.00001, step 1, MIN_NOTIONAL 5.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from engine.config.profile import OrdersSection, TakeProfitStep
from engine.machine.registry import Step
from engine.positions.lifecycle import REGISTRY
from engine.trading.sizing import MARGIN_USE, EntryPlan, SizingRefusal, plan_entry
from engine.venue.filters import check_order, check_price
from engine.venue.markets import Market, load_exchange_info

D = Decimal
BTC, ETH, DOGE = "BTC/USDC:USDC", "ETH/USDC:USDC", "DOGE/USDC:USDC"
PAYLOAD_KEYS = {"side", "qty", "price", "stop_price", "take_profits", "step_size", "min_notional", "stop_after_tp",
                "tick_size"}


@pytest.fixture(scope="module")
def markets(mainnet_exchange_info: Path) -> dict[str, Market]:
    return load_exchange_info(mainnet_exchange_info)


def steps(*pairs: tuple[float, float]) -> tuple[TakeProfitStep, ...]:
    return tuple(TakeProfitStep(at_pct=at, size_pct=size) for at, size in pairs)


def plan(**kwargs: object) -> EntryPlan:
    result = plan_entry(**kwargs)  # type: ignore[arg-type]
    assert isinstance(result, EntryPlan), result
    return result


def guard_accepts(entry: EntryPlan) -> bool:
    """The lifecycle's `sizing.meets_min_notional` guard on this plan's payload."""
    step = Step(
        model=None, event="signal", payload={"plan": entry.to_payload()}, now=datetime(2024, 10, 20, tzinfo=UTC)
    )
    return REGISTRY.guards["sizing.meets_min_notional"](step)


def assert_sendable(entry: EntryPlan, market: Market) -> None:
    """Every order of the plan passes the market's filters, and the slices cover the position."""
    assert check_order(market, entry.qty, entry.price) is None
    assert check_price(market, entry.stop_price) is None
    for tp in entry.take_profits:
        # MIN_NOTIONAL is enforced on every slice even though reduce-only orders are exempt on Binance:
        # the design asks for it and the guard checks it.
        assert check_order(market, tp.qty, tp.price, trigger_price=tp.price) is None
    assert sum(tp.qty for tp in entry.take_profits) == entry.qty
    assert guard_accepts(entry)


# --- BTCUSDC: MIN_NOTIONAL 100 forces merges -------------------------------------------------------
def test_btc_small_position_merges_first_slice_into_the_next(markets: dict[str, Market]) -> None:
    # fixed: 53.6 × 5 / 67000 = 0.004 BTC (268 USDC). 40/30/30: tp1 0.0016 -> 0.001 (×67268 = 67 < 100)
    # merged into tp2: 0.001 + 0.0012 -> 0.001 = 0.002 (135.07); tp3 = 0.004 - 0.001 - 0.001 = 0.002 (135.6)
    entry = plan(
        side="long",
        price=D(67000),
        market=markets[BTC],
        balance=D(1000),
        orders=OrdersSection(sizing="fixed", stake=D("53.6")),
    )
    assert entry.qty == D("0.004")
    assert entry.stop_price == D("65660.0")  # 67000 × 0.98
    assert [(tp.price, tp.qty, tp.steps) for tp in entry.take_profits] == [
        (D("67536.0"), D("0.002"), (1, 2)),
        (D("67804.0"), D("0.002"), (3,)),
    ]
    assert all(tp.notional >= 100 for tp in entry.take_profits)
    assert any("merged into tp2" in note for note in entry.notes)
    assert_sendable(entry, markets[BTC])


def test_btc_slices_all_below_min_notional_become_one_slice(markets: dict[str, Market]) -> None:
    # 0.003 BTC: tp1 0.001 (67.3), tp2 0.001 + 0.000 (67.5) are too small; all of it rides to tp3: 203.4
    entry = plan(
        side="long",
        price=D(67000),
        market=markets[BTC],
        balance=D(1000),
        orders=OrdersSection(sizing="fixed", stake=D("40.2")),
    )
    assert entry.qty == D("0.003")
    assert [(tp.price, tp.qty, tp.steps) for tp in entry.take_profits] == [(D("67804.0"), D("0.003"), (1, 2, 3))]
    assert_sendable(entry, markets[BTC])


def test_btc_last_slice_too_small_is_merged_back(markets: dict[str, Market]) -> None:
    # 80/20 of 0.004: tp1 0.0032 -> 0.003 (201.8) valid; tp2 = remainder 0.001 (67.5) merged back into tp1
    orders = OrdersSection(sizing="fixed", stake=D("53.6"), take_profit=steps((0.4, 80), (0.8, 20)))
    entry = plan(side="long", price=D(67000), market=markets[BTC], balance=D(1000), orders=orders)
    assert [(tp.price, tp.qty, tp.steps) for tp in entry.take_profits] == [(D("67268.0"), D("0.004"), (1, 2))]
    assert any("merged back into tp1" in note for note in entry.notes)
    assert_sendable(entry, markets[BTC])


def test_btc_large_position_keeps_every_slice(markets: dict[str, Market]) -> None:
    # risk: 0.5 % of 100 000 = 500 at a 2 % stop of 67000 (1340) -> 0.37313 -> 0.373 BTC
    entry = plan(side="long", price=D(67000), market=markets[BTC], balance=D(100_000), orders=OrdersSection())
    assert entry.qty == D("0.373")
    # 40 % = 0.1492 -> 0.149, 30 % = 0.1119 -> 0.111, last = 0.373 - 0.260 = 0.113
    assert [tp.qty for tp in entry.take_profits] == [D("0.149"), D("0.111"), D("0.113")]
    assert entry.notes == ()
    assert_sendable(entry, markets[BTC])


def test_short_whole_position_at_the_first_distance_when_no_step_clears(markets: dict[str, Market]) -> None:
    # short 0.002 BTC at 50400 (100.8). Every step too small, and even the whole 0.002 at tp3 (49795.2)
    # is 99.59 < 100; at the first distance, 50198.4 × 0.002 = 100.3968 clears it: one slice there.
    entry = plan(
        side="short",
        price=D(50400),
        market=markets[BTC],
        balance=D(1000),
        orders=OrdersSection(sizing="fixed", stake=D("20.16")),
    )
    assert entry.qty == D("0.002")
    assert entry.stop_price == D("51408.0")
    assert [(tp.price, tp.qty) for tp in entry.take_profits] == [(D("50198.4"), D("0.002"))]
    assert_sendable(entry, markets[BTC])


def test_short_refused_when_no_take_profit_can_clear_min_notional(markets: dict[str, Market]) -> None:
    # short 0.002 at 50100 = 100.2 clears the entry, but 0.002 × 49899.6 (tp1) = 99.8 does not
    result = plan_entry(
        side="short",
        price=D(50100),
        market=markets[BTC],
        balance=D(1000),
        orders=OrdersSection(sizing="fixed", stake=D("20.04")),
    )
    assert isinstance(result, SizingRefusal)
    assert "take-profit" in result.reason and "MIN_NOTIONAL 100" in result.reason


# --- ETHUSDC and DOGEUSDC ------------------------------------------------------------------------
def test_eth_risk_sizing_hand_computed(markets: dict[str, Market]) -> None:
    # risk 0.5 % of 1000 = 5; stop 2 % of 2600 = 52; 5 / 52 = 0.09615 -> 0.096 ETH
    entry = plan(side="long", price=D(2600), market=markets[ETH], balance=D(1000), orders=OrdersSection())
    assert entry.qty == D("0.096")
    assert entry.price == D("2600.00")
    assert entry.stop_price == D("2548.00")
    assert entry.loss_at_stop <= D(5)
    # 40 % 0.0384 -> 0.038, 30 % 0.0288 -> 0.028, last 0.030; each well above MIN_NOTIONAL 20
    assert [(tp.price, tp.qty) for tp in entry.take_profits] == [
        (D("2610.40"), D("0.038")),
        (D("2620.80"), D("0.028")),
        (D("2631.20"), D("0.030")),
    ]
    assert entry.min_notional == D(20)
    assert_sendable(entry, markets[ETH])


def test_eth_fixed_sizing_hand_computed(markets: dict[str, Market]) -> None:
    # stake 100 × leverage 5 / 2600 = 0.19230 -> 0.192 ETH, whatever the stop
    entry = plan(
        side="long",
        price=D(2600),
        market=markets[ETH],
        balance=D(1000),
        orders=OrdersSection(sizing="fixed", stake=D(100), leverage=5, stop_loss_pct=1),
    )
    assert entry.qty == D("0.192")
    assert entry.stop_price == D("2574.00")
    assert_sendable(entry, markets[ETH])


def test_eth_short_mirrors_the_long(markets: dict[str, Market]) -> None:
    entry = plan(side="short", price=D(2600), market=markets[ETH], balance=D(1000), orders=OrdersSection())
    assert entry.side == "short"
    assert entry.qty == D("0.096")
    assert entry.stop_price == D("2652.00")  # above the entry: the losing side of a short
    assert [tp.price for tp in entry.take_profits] == [D("2589.60"), D("2579.20"), D("2568.80")]
    assert_sendable(entry, markets[ETH])


def test_doge_step_of_one_coin(markets: dict[str, Market]) -> None:
    # risk 0.5 % of 500 = 2.5; stop 2 % of 0.13 = 0.0026; 2.5 / 0.0026 = 961.5 -> 961 DOGE
    entry = plan(side="long", price=D("0.13"), market=markets[DOGE], balance=D(500), orders=OrdersSection())
    assert entry.qty == D(961)
    assert entry.stop_price == D("0.12740")
    # 40 % 384.4 -> 384, 30 % 288.3 -> 288, last 961 - 672 = 289
    assert [(tp.price, tp.qty) for tp in entry.take_profits] == [
        (D("0.13052"), D(384)),
        (D("0.13104"), D(288)),
        (D("0.13156"), D(289)),
    ]
    assert entry.step_size == D(1)
    assert_sendable(entry, markets[DOGE])


# --- caps and refusals ---------------------------------------------------------------------------
def test_margin_cap(markets: dict[str, Market]) -> None:
    # a 0.1 % stop would size 5 / 2.6 = 1.923 ETH (5000 USDC) but 1000 × 5 × 0.95 = 4750 buys 1.8269 -> 1.826
    entry = plan(side="long", price=D(2600), market=markets[ETH], balance=D(1000), orders=OrdersSection(), sl_pct=0.1)
    assert entry.qty == D("1.826")
    assert entry.notional <= D(1000) * 5 * MARGIN_USE
    assert entry.loss_at_stop < D(5)  # the cap only ever lowers the risk
    assert any("margin" in note for note in entry.notes)
    assert_sendable(entry, markets[ETH])


def test_market_lot_size_max_cap(markets: dict[str, Market]) -> None:
    orders = OrdersSection(sizing="fixed", stake=D(1_000_000), leverage=20)
    entry = plan(side="long", price=D(67000), market=markets[BTC], balance=D(10_000_000), orders=orders)
    assert entry.qty == markets[BTC].market_max_qty == D(25)
    assert any("MARKET_LOT_SIZE" in note for note in entry.notes)
    assert_sendable(entry, markets[BTC])


def test_refused_below_min_notional(markets: dict[str, Market]) -> None:
    # 15 × 5 / 67000 = 0.00112 -> 0.001 BTC = 67 USDC < 100
    result = plan_entry(
        side="long",
        price=D(67000),
        market=markets[BTC],
        balance=D(1000),
        orders=OrdersSection(sizing="fixed", stake=D(15)),
    )
    assert isinstance(result, SizingRefusal)
    assert "below MIN_NOTIONAL 100" in result.reason and BTC in result.reason


def test_refused_below_min_qty(markets: dict[str, Market]) -> None:
    # risk 0.5 % of 200 = 1 at a 1340 stop distance: 0.00075 BTC, under the 0.001 step
    result = plan_entry(side="long", price=D(67000), market=markets[BTC], balance=D(200), orders=OrdersSection())
    assert isinstance(result, SizingRefusal)
    assert "minimum quantity 0.001" in result.reason


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"balance": D(0)}, "balance"),
        ({"price": D(0)}, "price"),
        ({"sl_pct": 0.0}, "stop-loss distance"),
        ({"sl_pct": float("nan")}, "stop-loss distance"),
        ({"sl_pct": 0.0001}, "less than one tick"),
        ({"tp_pcts": (0.0001, 0.5, 1.0)}, "take-profit 1 distance"),
    ],
)
def test_refusals_name_what_is_wrong(markets: dict[str, Market], kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = dict(
        side="long", price=D(2600), market=markets[ETH], balance=D(1000), orders=OrdersSection()
    )
    args.update(kwargs)
    result = plan_entry(**args)  # type: ignore[arg-type]
    assert isinstance(result, SizingRefusal)
    assert fragment in result.reason


def test_unknown_side_is_a_caller_bug(markets: dict[str, Market]) -> None:
    with pytest.raises(ValueError):
        plan_entry(side="buy", price=D(2600), market=markets[ETH], balance=D(1000), orders=OrdersSection())


# --- ATR-scaled distances and rounding ------------------------------------------------------------
def test_atr_scaled_distances_replace_the_profile(markets: dict[str, Market]) -> None:
    # stop 0.5 %: 2600 × 0.995 = 2587; risk 5 / 13 = 0.3846 -> 0.384; TPs 0.3/0.6/0.9 %
    entry = plan(
        side="long",
        price=D(2600),
        market=markets[ETH],
        balance=D(1000),
        orders=OrdersSection(),
        sl_pct=0.5,
        tp_pcts=(0.3, 0.6, 0.9),
    )
    assert entry.qty == D("0.384")
    assert entry.stop_price == D("2587.00")
    assert [tp.price for tp in entry.take_profits] == [D("2607.80"), D("2615.60"), D("2623.40")]


def test_tp_pcts_of_the_wrong_length_fall_back_to_the_profile(markets: dict[str, Market]) -> None:
    entry = plan(
        side="long", price=D(2600), market=markets[ETH], balance=D(1000), orders=OrdersSection(), tp_pcts=(0.3, 0.6)
    )
    assert [tp.price for tp in entry.take_profits] == [D("2610.40"), D("2620.80"), D("2631.20")]


@pytest.mark.parametrize(("side", "stop", "tp1"), [("long", "2591.35", "2608.65"), ("short", "2608.65", "2591.35")])
def test_triggers_round_toward_the_entry(markets: dict[str, Market], side: str, stop: str, tp1: str) -> None:
    # 2600 × (1 ∓ 0.333 %) = 2591.342 / 2608.658: stops and take-profits both end up nearer the entry
    entry = plan(
        side=side,
        price=D(2600),
        market=markets[ETH],
        balance=D(1000),
        orders=OrdersSection(),
        sl_pct=0.333,
        tp_pcts=(0.333, 0.6, 0.9),
    )
    assert entry.stop_price == D(stop)
    assert entry.take_profits[0].price == D(tp1)


def test_entry_price_is_put_on_tick(markets: dict[str, Market]) -> None:
    entry = plan(side="long", price=D("2600.0049"), market=markets[ETH], balance=D(1000), orders=OrdersSection())
    assert entry.price == D("2600.00")


# --- the payload ---------------------------------------------------------------------------------
def test_payload_is_the_lifecycle_plan_schema(markets: dict[str, Market]) -> None:
    entry = plan(
        side="long", price=D(2600), market=markets[ETH], balance=D(1000), orders=OrdersSection(stop_after_tp="keep")
    )
    payload = entry.to_payload()
    assert set(payload) == PAYLOAD_KEYS
    assert payload == {
        "side": "long",
        "qty": "0.096",
        "price": "2600.00",
        "stop_price": "2548.00",
        "take_profits": [
            {"price": "2610.40", "qty": "0.038"},
            {"price": "2620.80", "qty": "0.028"},
            {"price": "2631.20", "qty": "0.030"},
        ],
        "step_size": "0.001",
        "min_notional": "20",
        "stop_after_tp": "keep",
        "tick_size": "0.01",
    }
    assert guard_accepts(entry)


# --- properties ----------------------------------------------------------------------------------
UNITS = [D("0.00001"), D("0.0001"), D("0.001"), D("0.01"), D("0.1"), D(1), D(10)]


@st.composite
def take_profit_steps(draw: st.DrawFn) -> tuple[TakeProfitStep, ...]:
    n = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=n - 1, max_size=n - 1, unique=True)))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    distances = sorted(draw(st.lists(st.integers(1, 400), min_size=n, max_size=n, unique=True)))
    return tuple(TakeProfitStep(at_pct=d / 100, size_pct=s) for d, s in zip(distances, sizes, strict=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    side=st.sampled_from(["long", "short"]),
    tick=st.sampled_from(UNITS[:5]),
    step=st.sampled_from(UNITS),
    min_notional=st.sampled_from([D(5), D(20), D(100)]),
    price_ticks=st.integers(10, 10**8),
    balance=st.decimals(min_value=10, max_value=1_000_000, places=2),
    sizing=st.sampled_from(["risk", "fixed"]),
    risk_pct=st.sampled_from([0.1, 0.5, 1.0, 5.0]),
    stake=st.decimals(min_value=5, max_value=10_000, places=2),
    leverage=st.integers(1, 50),
    sl_pct=st.one_of(st.none(), st.floats(0.05, 20)),
    tp_steps=take_profit_steps(),
)
def test_property_every_plan_is_sendable(
    markets: dict[str, Market],
    side: str,
    tick: Decimal,
    step: Decimal,
    min_notional: Decimal,
    price_ticks: int,
    balance: Decimal,
    sizing: str,
    risk_pct: float,
    stake: Decimal,
    leverage: int,
    sl_pct: float | None,
    tp_steps: tuple[TakeProfitStep, ...],
) -> None:
    market = replace(
        markets[BTC],
        tick_size=tick,
        min_price=tick,
        max_price=D(10**7),
        step_size=step,
        min_qty=step,
        market_step_size=step,
        market_min_qty=step,
        market_max_qty=step * 10**6,
        min_notional=min_notional,
    )
    price = tick * price_ticks
    assume(price <= market.max_price)
    orders = OrdersSection(
        sizing=sizing, risk_per_trade_pct=risk_pct, stake=stake, leverage=leverage, take_profit=tp_steps
    )
    result = plan_entry(side=side, price=price, market=market, balance=balance, orders=orders, sl_pct=sl_pct)
    if isinstance(result, SizingRefusal):
        event("refused")
        assert result.reason
        return
    event("merged" if len(result.take_profits) < len(tp_steps) else "every step kept")
    sign = 1 if side == "long" else -1
    assert result.qty > 0 and result.qty % step == 0
    assert result.qty <= market.market_max_qty
    assert result.notional <= balance * leverage * MARGIN_USE
    assert sign * (result.price - result.stop_price) > 0  # the stop is on the losing side
    assert all(sign * (tp.price - result.price) > 0 for tp in result.take_profits)
    for tp in result.take_profits:
        assert tp.qty >= step and tp.qty % step == 0
        assert tp.price * tp.qty >= min_notional
    assert sum(tp.qty for tp in result.take_profits) == result.qty
    if sizing == "risk":
        assert result.loss_at_stop <= balance * D(str(risk_pct)) / 100
    assert_sendable(result, market)
