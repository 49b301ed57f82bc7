"""The leverage rule (orders.leverage_rule): the pure core with hand-worked figures, the brackets'
cap on the real Binance tiers, the profile keys' validation, and the engine setting the venue's
leverage per entry and journalling why.

Hand-worked figures: leverage = floor(base × target_atr_pct / ATR% × (1 + gain × (W − pivot) / 100)),
clamped to [min, max], then to the bracket of the plan's notional.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.config.profile import LeverageRule, OrdersSection
from engine.inspect.transitions_log import describe_payload
from engine.strategy.signal import Side, Signal
from engine.trading.leverage_rule import plan_for_signal, rule_leverage, win_rate
from engine.trading.sizing import EntryPlan, plan_entry
from engine.venue.markets import Market
from engine.venue.types import PositionSide
from tests.e2e.harness import STEP, Bot
from tests.venue import conftest as venue_fixtures

D = Decimal
DOGE, BTC, ETH = "DOGE/USDC:USDC", "BTC/USDC:USDC", "ETH/USDC:USDC"
RULE = LeverageRule(name="atr_winrate", min=2, max=10, target_atr_pct=0.5, win_rate_window=10, min_trades=5)
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
# The venue tests' fixtures: the real mainnet markets and leverage brackets (skip where the data is absent)
markets, brackets = venue_fixtures.markets, venue_fixtures.brackets


def results(wins: int, losses: int) -> list[bool]:
    return [True] * wins + [False] * losses


@pytest.mark.parametrize(
    ("atr_pct", "record", "expected"),
    [
        # 5 × 0.5/0.5 = 5; fewer than min_trades closed: factor 1
        (0.5, results(3, 1), 5),
        # 5 × 0.5/0.25 = 10; 7 of 10 won: 1 + (70 − 50)/100 = 1.2 → 12 → max 10
        (0.25, results(7, 3), 10),
        # 5 × 0.5/0.8 = 3.125; 3 of 10 won: factor 0.8 → 2.5 → floor 2
        (0.8, results(3, 7), 2),
        # 5 × 0.5/0.4 = 6.25; 6 of 10 won: factor 1.1 → 6.875 → 6
        (0.4, results(6, 4), 6),
        # 5 × 0.5/2.0 = 1.25 → floor 1 → min 2
        (2.0, [], 2),
    ],
)
def test_rule_leverage_hand_worked(atr_pct: float, record: list[bool], expected: int) -> None:
    choice = rule_leverage(RULE, 5, atr_pct, record)
    assert choice.leverage == expected
    assert choice.why.startswith("atr_winrate: 5x") and choice.why.endswith(f"→ {expected}x")


def test_only_the_last_window_of_trades_counts() -> None:
    # 10 losses long ago, then 10 wins: the window of 10 sees 100 % → factor 1.5 → 5 × 1.5 = 7.5 → 7
    record = results(0, 10) + results(10, 0)
    assert win_rate(record, 10) == (10, 10)
    assert rule_leverage(RULE, 5, 0.5, record).leverage == 7
    # the same trades with a window of 20: 50 % → factor 1 → 5
    wide = RULE.model_copy(update={"win_rate_window": 20})
    assert rule_leverage(wide, 5, 0.5, record).leverage == 5


def test_gain_and_pivot_shape_the_win_rate_factor() -> None:
    # 4 of 10 won, pivot 30, gain 2: 1 + 2 × (40 − 30)/100 = 1.2 → 5 × 1.2 = 6
    rule = RULE.model_copy(update={"win_rate_pivot_pct": 30.0, "win_rate_gain": 2.0})
    assert rule_leverage(rule, 5, 0.5, results(4, 6)).leverage == 6
    # gain 0: the win-rate never moves it
    flat = RULE.model_copy(update={"win_rate_gain": 0.0})
    assert rule_leverage(flat, 5, 0.5, results(0, 10)).leverage == 5


def test_an_unknown_atr_leaves_the_volatility_factor_at_one() -> None:
    choice = rule_leverage(RULE, 4, float("nan"), [])
    assert choice.leverage == 4 and "volatility factor 1" in choice.why


@settings(max_examples=200, deadline=None)
@given(
    base=st.integers(1, 125),
    bounds=st.tuples(st.integers(1, 125), st.integers(1, 125)).map(sorted),
    atr=st.tuples(st.floats(0.01, 20), st.floats(0.01, 20)).map(sorted),
    wins=st.tuples(st.integers(0, 20), st.integers(0, 20)).map(sorted),
    gain=st.floats(0, 10),
)
def test_rule_leverage_is_bounded_and_monotone(base: int, bounds: list[int], atr: list[float], wins: list[int],
                                               gain: float) -> None:
    rule = LeverageRule(name="atr_winrate", min=bounds[0], max=bounds[1], win_rate_window=20, min_trades=1,
                        win_rate_gain=gain)
    fewer, more = results(wins[0], 20 - wins[0]), results(wins[1], 20 - wins[1])
    choices = {(a, w): rule_leverage(rule, base, a, r).leverage for a in atr for w, r in enumerate((fewer, more))}
    assert all(bounds[0] <= lev <= bounds[1] for lev in choices.values())
    for w in (0, 1):
        assert choices[(atr[0], w)] >= choices[(atr[1], w)]  # wilder market: never more leverage
    for a in atr:
        assert choices[(a, 1)] >= choices[(a, 0)]  # better win-rate: never less leverage


# --- sizing with the rule, on the real filters and brackets -----------------------------------------


def signal(symbol: str, price: float, atr_pct: float, side: Side = Side.LONG) -> Signal:
    return Signal(symbol, side, 0, price, atr_pct, (), f"{side.value}: test")


def test_the_bracket_of_the_notional_lowers_the_leverage(markets: dict[str, Market], brackets: dict) -> None:
    # DOGEUSDC brackets: notional [0, 5000) 75x, [5000, 10000) 50x. Fixed stake 100, base 30, ATR at
    # target: the rule says 30 → notional 100 × 30 = 3000 (tier 1, 75x): kept.
    orders = OrdersSection(sizing="fixed", stake=D(100), leverage=30,
                           leverage_rule=RULE.model_copy(update={"max": 100}))
    plan = plan_for_signal(orders=orders, signal=signal(DOGE, 0.1, 0.5), market=markets[DOGE],
                           balance=D(10_000), brackets=brackets[DOGE])
    assert isinstance(plan, EntryPlan)
    assert (plan.leverage, plan.qty, plan.notional) == (30, D(30_000), D(3000))
    # base 80 → 80x, notional 8000 is in the 50x tier → 50x, notional 100 × 50 = 5000 → tier [5000,
    # 10000) allows 50x: done at 50x, 50 000 DOGE.
    orders = orders.model_copy(update={"leverage": 80})
    plan = plan_for_signal(orders=orders, signal=signal(DOGE, 0.1, 0.5), market=markets[DOGE],
                           balance=D(10_000), brackets=brackets[DOGE])
    assert isinstance(plan, EntryPlan)
    assert (plan.leverage, plan.qty, plan.notional) == (50, D(50_000), D(5000))
    assert "bracket of notional 8000.00 allows 50x" in plan.leverage_why
    payload = plan.to_payload()
    assert payload["leverage"] == 50 and payload["leverage_why"] == plan.leverage_why


@settings(max_examples=60, deadline=None)
@given(base=st.integers(1, 125), atr=st.floats(0.02, 5), stake=st.integers(10, 20_000),
       symbol=st.sampled_from([DOGE, BTC, ETH]))
def test_the_plan_never_exceeds_its_bracket(markets: dict[str, Market], brackets: dict, base: int, atr: float,
                                            stake: int, symbol: str) -> None:
    from engine.venue.leverage import max_leverage_for

    orders = OrdersSection(sizing="fixed", stake=D(stake), leverage=base,
                           leverage_rule=RULE.model_copy(update={"max": 125, "min": 1}))
    price = {DOGE: 0.1, BTC: 60_000.0, ETH: 3000.0}[symbol]
    plan = plan_for_signal(orders=orders, signal=signal(symbol, price, atr), market=markets[symbol],
                           balance=D(1_000_000), brackets=brackets[symbol])
    if isinstance(plan, EntryPlan):
        assert plan.leverage is not None and 1 <= plan.leverage <= max_leverage_for(brackets[symbol], plan.notional)


def test_risk_sizing_uses_the_chosen_leverage_for_the_margin_cap(markets: dict[str, Market]) -> None:
    # risk 2 % of 1000 at a 0.5 % stop wants notional 4000; at 2x the margin allows 1000 × 2 × 0.95 = 1900
    orders = OrdersSection(risk_per_trade_pct=2.0, stop_loss_pct=0.5, leverage=5, leverage_rule=RULE)
    low = plan_for_signal(orders=orders, signal=signal(ETH, 2000.0, 2.0), market=markets[ETH], balance=D(1000))
    assert isinstance(low, EntryPlan)
    assert low.leverage == 2 and low.qty == D("0.950")  # 1900 / 2000, floored to the 0.001 step
    assert any("× 2x ×" in note for note in low.notes)
    high = plan_for_signal(orders=orders, signal=signal(ETH, 2000.0, 0.25), market=markets[ETH], balance=D(1000))
    assert isinstance(high, EntryPlan)
    assert high.leverage == 10 and high.qty == D("2.000")  # 4000 / 2000: under the margin cap of 9500


def test_the_fixed_rule_is_todays_sizing_exactly(markets: dict[str, Market]) -> None:
    orders = OrdersSection(leverage=7)
    sig = signal(BTC, 60_000.0, 0.3, Side.SHORT)
    ruled = plan_for_signal(orders=orders, signal=sig, market=markets[BTC], balance=D(5000))
    direct = plan_entry(side=sig.side.value, price=D("60000.0"), market=markets[BTC], balance=D(5000), orders=orders)
    assert ruled == direct
    assert isinstance(ruled, EntryPlan) and "leverage" not in ruled.to_payload()


# --- the profile keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min": 12, "max": 10}, r"min \(12\) must not exceed max \(10\)"),
        ({"min_trades": 30, "win_rate_window": 20}, r"min_trades \(30\) exceeds win_rate_window \(20\)"),
        ({"name": "kelly"}, r"'fixed' or 'atr_winrate'"),
        ({"max": 200}, r"less than or equal to 125"),
        ({"target_atr_pct": 0}, r"greater than 0"),
    ],
)
def test_bad_rule_keys_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OrdersSection(leverage_rule=overrides)


def test_a_bad_rule_in_a_profile_names_file_line_and_key(tmp_path: Path) -> None:
    from engine.config.loading import load_profile
    from engine.errors import UserError
    from tests.e2e.support import make_profile

    path = make_profile(tmp_path, "bad", orders={"leverage_rule": {"name": "atr_winrate", "min": 9, "max": 3}})
    with pytest.raises(UserError) as caught:
        load_profile(path)
    text = str(caught.value)
    assert str(path) in text and "orders.leverage_rule.min" in text and "must not exceed max" in text


# --- the engine: the venue's leverage per entry, the journal's why ------------------------------------


def test_the_engine_sets_each_entrys_leverage_on_the_venue_and_journals_why(tmp_path: Path) -> None:
    bot = Bot(tmp_path, orders={"leverage": 5, "leverage_rule": {"name": "atr_winrate", "min": 2, "max": 10,
                                                                 "target_atr_pct": 0.5, "min_trades": 1,
                                                                 "win_rate_window": 5}})
    bot.flat_candle(ETH, T0 - STEP)
    price = bot.last[ETH]
    seen = []
    for k, atr_pct in enumerate((0.25, 1.0)):
        now = T0 + 2 * k * STEP
        position = asyncio.run(bot.engine.on_signal(signal(ETH, price, atr_pct), now))
        assert position is not None and position.state == "open"
        [venue_position] = asyncio.run(bot.venue.positions())
        seen.append((position.plan["leverage"], venue_position.leverage))
        asyncio.run(bot.engine.close_all(now + STEP))
        bot.step(ETH, now + STEP, price, price, price, price)
        assert not bot.book.live
    # 5 × 0.5/0.25 = 10; then one trade closed (flat, lost the fees): win-rate 0 % → factor 0.5,
    # 5 × 0.5/1.0 × 0.5 = 1.25 → min 2
    assert seen == [(10, 10), (2, 2)]
    assert list(bot.risk.results) == [False, False]  # both closed flat, paying the fees
    signals = [r for r in bot.records() if r.get("event") == "signal"]
    assert [r["payload"]["plan"]["leverage"] for r in signals] == [10, 2]
    assert "(0/1 won)" in signals[1]["payload"]["plan"]["leverage_why"]
    # `log` shows it with the entry's summary
    assert "; 2x (atr_winrate: 5x × ATR target 0.5% / 1%" in describe_payload(signals[1])
    bot.close()


def test_a_refused_leverage_means_no_entry(tmp_path: Path) -> None:
    # The simulator's default brackets allow 20x; a rule asking for 30x is refused by the venue, so the
    # plan sized at 30x is not sent (without brackets known the engine cannot lower it itself).
    bot = Bot(tmp_path, orders={"leverage": 30, "leverage_rule": {"name": "atr_winrate", "min": 30, "max": 30}})

    async def no_brackets(symbol: str) -> None:
        return None

    bot.venue.leverage_brackets = no_brackets  # type: ignore[method-assign]
    bot.flat_candle(ETH, T0 - STEP)
    refused = bot.engine.counters.refused
    assert asyncio.run(bot.engine.on_signal(signal(ETH, bot.last[ETH], 0.5), T0)) is None
    assert bot.engine.counters.refused == refused + 1 and not bot.book.live
    assert asyncio.run(bot.venue.positions()) == []
    bot.close()


def test_known_brackets_lower_the_rule_to_what_the_venue_allows(tmp_path: Path) -> None:
    # The same 30x rule with the venue's brackets known (the simulator's one tier of 20x): entered at 20x.
    bot = Bot(tmp_path, orders={"leverage": 30, "leverage_rule": {"name": "atr_winrate", "min": 30, "max": 30}})
    bot.flat_candle(ETH, T0 - STEP)
    position = asyncio.run(bot.engine.on_signal(signal(ETH, bot.last[ETH], 0.5), T0 + timedelta(0)))
    assert position is not None and position.plan["leverage"] == 20
    [held] = asyncio.run(bot.venue.positions())
    assert held.leverage == 20 and held.side is PositionSide.LONG
    bot.close()


class _RecordingVenue:
    """Records what SymbolSetup tells it; refuses leverages above `refuse_above`."""

    def __init__(self, refuse_above: int = 125) -> None:
        self.calls: list[tuple[str, object]] = []
        self.refuse_above = refuse_above

    async def set_margin_mode(self, symbol: str, mode: str) -> None:
        self.calls.append(("margin", mode))

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        from engine.venue.errors import InvalidLeverage

        self.calls.append(("leverage", leverage))
        if leverage > self.refuse_above:
            raise InvalidLeverage(f"Leverage {leverage} is not valid")


def test_symbol_setup_tells_the_venue_only_what_changed(markets: dict[str, Market]) -> None:
    from engine.trading.venue_setup import SymbolSetup

    venue = _RecordingVenue(refuse_above=20)
    setup = SymbolSetup(venue)  # type: ignore[arg-type]
    orders = OrdersSection(leverage=5)
    market = markets[ETH]

    async def go() -> list[bool]:
        return [await setup.prepare(market, orders),        # first entry: margin mode and 5x
                await setup.prepare(market, orders),        # fixed again: nothing sent
                await setup.prepare(market, orders, 8),     # a rule's 8x: sent
                await setup.prepare(market, orders, 8),     # 8x again: nothing
                await setup.prepare(market, orders, 30),    # refused: no entry
                await setup.prepare(market, orders, 8)]     # the symbol's leverage is unknown: 8x sent again

    assert asyncio.run(go()) == [True, True, True, True, False, True]
    assert venue.calls == [("margin", "isolated"), ("leverage", 5), ("leverage", 8), ("leverage", 30),
                           ("leverage", 8)]
    # a refused fixed leverage is not asked again (as before the rule existed), and still enters
    fixed = SymbolSetup(_RecordingVenue(refuse_above=3))  # type: ignore[arg-type]
    assert asyncio.run(fixed.prepare(market, orders)) and asyncio.run(fixed.prepare(market, orders))
    assert fixed.venue.calls == [("margin", "isolated"), ("leverage", 5)]  # type: ignore[attr-defined]
