"""The leverage of each entry, when the profile turns a leverage rule on (`orders.leverage_rule`).

`fixed` (the default) keeps today's behaviour: every entry is sized at `orders.leverage`, which is set
once per symbol. `atr_winrate` chooses a leverage per entry from two facts known at the signal:

- the signal's ATR % of the close: leverage scales by `target_atr_pct / ATR%`, so a wild market gets
  less leverage and a quiet one more (the stop, ATR-scaled or not, sits in the same noise);
- the win-rate W (%) of the last `win_rate_window` closed trades (the risk guard's record): a factor
  `1 + win_rate_gain × (W − win_rate_pivot_pct) / 100`, 1 until `min_trades` trades have closed.

    leverage = floor(orders.leverage × target_atr_pct / ATR% × win-rate factor), clamped to [min, max]

and then lowered to the highest leverage the symbol's leverage brackets allow for the entry's notional
(Binance refuses a position above its bracket's cap, -2027). The brackets win over `min`: they are the
venue's rule. Everything here is a pure function of its arguments (no clock, no venue); Decimal maths
so the same inputs give the same leverage on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from engine.config.profile import LeverageRule, OrdersSection
from engine.positions.model import Side
from engine.strategy.signal import Signal
from engine.trading.sizing import EntryPlan, SizingRefusal, plan_entry
from engine.venue.leverage import Brackets, max_leverage_for
from engine.venue.markets import Market

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class LeverageChoice:
    """The leverage a rule chose and, in one line, how."""

    leverage: int
    why: str


def win_rate(results: Sequence[bool], window: int) -> tuple[int, int]:
    """(wins, trades) over the last `window` closed trades of `results` (oldest first, True = won)."""
    recent = list(results)[-window:] if window > 0 else []
    return sum(recent), len(recent)


def rule_leverage(rule: LeverageRule, base: int, atr_pct: float, results: Sequence[bool]) -> LeverageChoice:
    """The `atr_winrate` leverage before the brackets: see the module docstring. An ATR % that is not a
    positive finite number (no ATR yet) leaves the volatility factor at 1, and says so."""
    parts = [f"{base}x"]
    raw = Decimal(base)
    if math.isfinite(atr_pct) and atr_pct > 0:
        raw *= Decimal(str(rule.target_atr_pct)) / Decimal(str(atr_pct))
        parts.append(f"ATR target {rule.target_atr_pct:g}% / {atr_pct:.4g}%")
    else:
        parts.append(f"no ATR ({atr_pct}) so volatility factor 1")
    wins, trades = win_rate(results, rule.win_rate_window)
    if trades >= max(rule.min_trades, 1):
        rate = Decimal(100 * wins) / Decimal(trades)
        factor = 1 + Decimal(str(rule.win_rate_gain)) * (rate - Decimal(str(rule.win_rate_pivot_pct))) / _HUNDRED
        raw *= factor
        parts.append(f"win-rate factor {factor:.4g} ({wins}/{trades} won)")
    else:
        parts.append(f"win-rate factor 1 ({trades} of {rule.min_trades} trades closed)")
    floored = int(raw.to_integral_value(rounding=ROUND_FLOOR)) if raw > 0 else 0
    leverage = min(max(floored, rule.min), rule.max)
    why = f"atr_winrate: {' × '.join(parts)} = {raw:.2f}, in [{rule.min}, {rule.max}] → {leverage}x"
    return LeverageChoice(leverage, why)


def plan_for_signal(
    *,
    orders: OrdersSection,
    signal: Signal,
    market: Market,
    balance: Decimal,
    results: Sequence[bool] = (),
    brackets: Brackets | None = None,
) -> EntryPlan | SizingRefusal:
    """The entry plan of a long/short `signal` under the profile's leverage rule.

    `fixed`: exactly `plan_entry` at `orders.leverage` (the plan carries no leverage of its own).
    `atr_winrate`: the rule's leverage (`results`: closed trades oldest first, True = won), sized with
    it, then lowered while the symbol's `brackets` (None: unknown, the profile's bounds only) allow less
    for the plan's notional; the plan carries the leverage and why. Never raises for market facts.
    """
    side = Side(signal.side.value)
    price = Decimal(str(signal.price))
    rule = orders.leverage_rule
    if rule.name == "fixed":
        return plan_entry(side=side, price=price, market=market, balance=balance, orders=orders,
                          sl_pct=signal.sl_pct, tp_pcts=signal.tp_pcts)
    choice = rule_leverage(rule, orders.leverage, signal.atr_pct, results)
    leverage, why = choice.leverage, choice.why
    while True:
        plan = plan_entry(side=side, price=price, market=market, balance=balance, orders=orders,
                          sl_pct=signal.sl_pct, tp_pcts=signal.tp_pcts, leverage=leverage)
        if isinstance(plan, SizingRefusal) or brackets is None:
            break
        cap = max_leverage_for(brackets, plan.notional)
        if cap >= leverage:
            break
        # A lower leverage never raises the notional (only the margin cap depends on it), so the
        # bracket of the next plan allows at least `cap`: this ends after one more pass.
        why += f"; the bracket of notional {plan.notional:.2f} allows {cap}x → {cap}x"
        leverage = cap
    return plan if isinstance(plan, SizingRefusal) else replace(plan, leverage_why=why)
