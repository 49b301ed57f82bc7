"""Entry sizing: how much to buy or sell, where the stop-loss sits, and how the take-profit steps are
sliced, all on the market's real filters.

`plan_entry` answers an `EntryPlan` whose `to_payload()` is the `signal` event's plan (see
`engine.positions.lifecycle`), or a `SizingRefusal` saying why no order should be sent. Rules:

- quantity: with `sizing: risk` the loss at the stop is `risk_per_trade_pct` % of the balance; with
  `sizing: fixed` the position is `stake × leverage`. Either way the notional is capped by the margin
  (`MARGIN_USE` of balance × leverage, the rest left for fees) and by MARKET_LOT_SIZE's maximum, then
  floored to the step. The risk size uses the *asked* stop distance; the stop is then rounded toward the
  entry, so the loss at the real stop is never more than asked.
- stop and take-profit triggers are rounded toward the entry (`filters.round_trigger_price`): never
  more risk, never more promised profit, than asked.
- every take-profit slice must clear MIN_NOTIONAL (qty × its trigger) and one lot step. A slice that
  does not is merged into the next one; the last slice takes the rounding remainder so the slices sum
  exactly to the position; a last slice that is still too small is merged back into the previous one.
  Nothing is sent only to be rejected.

Entries, stops and take-profits are market-type orders, so MARKET_LOT_SIZE (step, min, max) applies.
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from typing import Any

from engine.config.profile import OrdersSection
from engine.positions.model import Side
from engine.values import value
from engine.venue.filters import TriggerKind, floor_qty, round_price, round_trigger_price
from engine.venue.markets import Market
from engine.venue.types import PositionSide

MARGIN_USE = Decimal("0.95")
"""Share of balance × leverage a single entry may use; the rest is left for fees and slippage."""

_HUNDRED = Decimal(100)


@functools.lru_cache(maxsize=512, typed=True)  # typed: 1 and 1.0 give Decimals of different exponents
def _fraction(pct: float) -> Decimal:
    """`pct` % as an exact Decimal fraction (memoised: a profile's distances come back on every entry)."""
    return Decimal(str(pct)) / _HUNDRED


@value
class TakeProfitSlice:
    """One reduce-only take-profit order: trigger price and quantity. `steps` are the profile's
    take-profit steps (1-based) whose quantity it carries, more than one when slices were merged."""

    price: Decimal
    qty: Decimal
    steps: tuple[int, ...]

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


@value
class EntryPlan:
    """A sized entry that passes every filter of its market. `notes` says what sizing adjusted
    (caps, merged slices) for the log; it is not part of the payload."""

    side: Side
    qty: Decimal
    price: Decimal  # reference price of the market entry, on tick
    stop_price: Decimal
    take_profits: tuple[TakeProfitSlice, ...]
    step_size: Decimal
    min_notional: Decimal
    stop_after_tp: str  # "breakeven" | "keep"
    tick_size: Decimal | None = None  # lets the position keep the stop's distance from the actual fill
    notes: tuple[str, ...] = ()
    entry: dict[str, Any] | None = None  # a limit entry: {type, post_only, on_timeout}; None: market
    take_profit_type: str = "market"  # "limit": reduce-only LIMIT orders on the book
    leverage: int | None = None  # chosen for this entry by a leverage rule; None: the profile's, set once
    leverage_why: str = ""  # how the rule chose it (journalled with the plan, shown by `log`)

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty

    @property
    def loss_at_stop(self) -> Decimal:
        """What the position loses if the stop fills at its trigger (before fees and slippage)."""
        return abs(self.price - self.stop_price) * self.qty

    def to_payload(self) -> dict[str, Any]:
        """The lifecycle's `signal` plan: JSON-safe, every Decimal as a string."""
        return {
            "side": self.side.value,
            "qty": str(self.qty),
            "price": str(self.price),
            "stop_price": str(self.stop_price),
            "take_profits": [{"price": str(tp.price), "qty": str(tp.qty)} for tp in self.take_profits],
            "step_size": str(self.step_size),
            "min_notional": str(self.min_notional),
            "stop_after_tp": self.stop_after_tp,
        } | ({"tick_size": str(self.tick_size)} if self.tick_size is not None else {}) | (
            {"entry": dict(self.entry)} if self.entry else {}) | (
            {"take_profit_type": self.take_profit_type} if self.take_profit_type != "market" else {}) | (
            {"leverage": self.leverage, "leverage_why": self.leverage_why} if self.leverage is not None else {})


@value
class SizingRefusal:
    """No entry: the reason says which filter or limit the smallest sensible order would break."""

    reason: str

    def __str__(self) -> str:
        return self.reason


def plan_entry(
    *,
    side: Side,
    price: Decimal,
    market: Market,
    balance: Decimal,
    orders: OrdersSection,
    sl_pct: float | None = None,
    tp_pcts: tuple[float, ...] | None = None,
    leverage: int | None = None,
) -> EntryPlan | SizingRefusal:
    """Size an entry of `side` at about `price` on `market` with `balance` of margin.

    `sl_pct` / `tp_pcts` are the signal's ATR-scaled distances (percent of the price); without them,
    or when `tp_pcts` does not have one distance per profile take-profit step, the profile's distances
    are used. Sizes always come from the profile's `size_pct`. `leverage` (a leverage rule's choice for
    this entry) replaces `orders.leverage` in the sizing and is carried by the plan.

    Returns a SizingRefusal (never raises) when the market's filters or the balance leave no valid
    order. Raises ValueError only for a `side` that is no position side (its string, too, is taken).
    """
    side = Side(side)  # ValueError on anything else ("buy" included): a caller bug, not a market fact
    # The venue's filters round triggers by the venue's own name for the same direction.
    position_side = PositionSide.LONG if side is Side.LONG else PositionSide.SHORT
    long = side is Side.LONG
    if price <= 0:
        return SizingRefusal(f"{market.symbol}: price {price} is not positive")
    if balance <= 0:
        return SizingRefusal(f"{market.symbol}: balance {balance} is not positive")
    limit = orders.entry.type == "limit"
    if limit:
        # The limit price: the close, `offset_ticks` more passive (lower for a buy, higher for a sell).
        ticks = Decimal(orders.entry.offset_ticks) * market.tick_size
        price = price - ticks if long else price + ticks
    entry = round_price(market, price)
    if entry < market.min_price or entry > market.max_price:
        return SizingRefusal(f"{market.symbol}: price {entry} is outside [{market.min_price}, {market.max_price}]")

    # --- stop-loss ---------------------------------------------------------------------------
    stop_pct = orders.stop_loss_pct if sl_pct is None else sl_pct
    if not (math.isfinite(stop_pct) and 0 < stop_pct < 100):
        return SizingRefusal(f"{market.symbol}: stop-loss distance {stop_pct}% is not in (0, 100)")
    stop_fraction = _fraction(stop_pct)
    stop = round_trigger_price(
        market,
        entry * (1 - stop_fraction if long else 1 + stop_fraction),
        position_side=position_side,
        kind=TriggerKind.STOP_LOSS,
    )
    if stop == entry:
        return SizingRefusal(
            f"{market.symbol}: stop-loss distance {stop_pct:g}% is less than one tick ({market.tick_size})"
        )
    if stop > market.max_price:
        return SizingRefusal(f"{market.symbol}: stop-loss {stop} is above the maximum price {market.max_price}")

    # --- take-profit triggers ----------------------------------------------------------------
    steps = orders.take_profit
    distances = list(tp_pcts) if tp_pcts is not None and len(tp_pcts) == len(steps) else [s.at_pct for s in steps]
    tp_prices: list[Decimal] = []
    for n, pct in enumerate(distances, start=1):
        if not (math.isfinite(pct) and pct > 0):
            return SizingRefusal(f"{market.symbol}: take-profit {n} distance {pct}% is not positive")
        fraction = _fraction(pct)
        tp = round_trigger_price(
            market,
            entry * (1 + fraction if long else 1 - fraction),
            position_side=position_side,
            kind=TriggerKind.TAKE_PROFIT,
        )
        if tp == entry:
            return SizingRefusal(
                f"{market.symbol}: take-profit {n} distance {pct:g}% is less than one tick ({market.tick_size})"
            )
        if tp < market.min_price or tp > market.max_price:
            return SizingRefusal(
                f"{market.symbol}: take-profit {n} at {tp} is outside [{market.min_price}, {market.max_price}]"
            )
        tp_prices.append(tp)

    # --- quantity ----------------------------------------------------------------------------
    notes: list[str] = []
    lev = orders.leverage if leverage is None else leverage
    if orders.sizing == "risk":
        risk_amount = balance * Decimal(str(orders.risk_per_trade_pct)) / _HUNDRED
        raw_qty = risk_amount / (entry * stop_fraction)
    else:
        raw_qty = orders.stake * lev / entry
    margin_qty = balance * lev * MARGIN_USE / entry
    if raw_qty > margin_qty:
        notes.append(f"capped by margin: {balance} × {lev}x × {MARGIN_USE}")
        raw_qty = margin_qty
    if raw_qty > market.market_max_qty:
        notes.append(f"capped by MARKET_LOT_SIZE max {market.market_max_qty}")
        raw_qty = market.market_max_qty
    qty = floor_qty(market, raw_qty)
    if qty < market.market_min_qty or qty <= 0:
        return SizingRefusal(
            f"{market.symbol}: size {raw_qty:.8g} is below the minimum quantity {market.market_min_qty}"
        )
    if qty * entry < market.min_notional:
        return SizingRefusal(
            f"{market.symbol}: notional {qty * entry:.2f} ({qty} × {entry}) is below MIN_NOTIONAL {market.min_notional}"
        )

    # --- take-profit slices ------------------------------------------------------------------
    slices = _slice_take_profits(qty, tp_prices, [s.size_pct for s in steps], market, notes)
    if slices is None:
        return SizingRefusal(
            f"{market.symbol}: no take-profit slice of {qty} clears MIN_NOTIONAL {market.min_notional} "
            f"(at {tp_prices[0]}: {qty * tp_prices[0]:.2f})"
        )
    return EntryPlan(
        side=side,
        qty=qty,
        price=entry,
        stop_price=stop,
        take_profits=tuple(slices),
        step_size=market.market_step_size,
        min_notional=market.min_notional,
        stop_after_tp=orders.stop_after_tp,
        tick_size=market.tick_size,
        notes=tuple(notes),
        entry={"type": "limit", "post_only": orders.entry.post_only, "on_timeout": orders.entry.on_timeout}
        if limit else None,
        take_profit_type=orders.take_profit_type,
        leverage=leverage,
    )


def _valid_slice(market: Market, price: Decimal, qty: Decimal) -> bool:
    return qty >= market.market_step_size and qty >= market.market_min_qty and price * qty >= market.min_notional


def _slice_take_profits(
    qty: Decimal, prices: list[Decimal], size_pcts: list[float], market: Market, notes: list[str]
) -> list[TakeProfitSlice] | None:
    """Slices of `qty` at `prices` that each clear the filters and sum exactly to `qty`, or None.

    Appends a note for every merge."""
    raw = [floor_qty(market, qty * Decimal(str(pct)) / _HUNDRED) for pct in size_pcts[:-1]]
    raw.append(qty - sum(raw, Decimal(0)))  # the last slice takes the rounding remainder

    out: list[TakeProfitSlice] = []
    carry, carried = Decimal(0), ()
    for n, (price, part) in enumerate(zip(prices, raw, strict=True), start=1):
        slice_qty, slice_steps = carry + part, (*carried, n)
        if _valid_slice(market, price, slice_qty):
            out.append(TakeProfitSlice(price, slice_qty, slice_steps))
            carry, carried = Decimal(0), ()
        else:
            carry, carried = slice_qty, slice_steps
            if n < len(prices):
                notes.append(f"tp{n} {slice_qty} at {price} too small, merged into tp{n + 1}")
    if not carried:
        return out
    if out:
        # the last slice is too small on its own: give it back to the previous one
        last = out.pop()
        out.append(TakeProfitSlice(last.price, last.qty + carry, last.steps + carried))
        notes.append(f"tp{len(prices)} {carry} too small, merged back into tp{last.steps[-1]}")
        return out
    # not even the whole position makes one slice at the last step: one slice at the first distance
    if _valid_slice(market, prices[0], qty):
        notes.append(f"one take-profit for the whole {qty} at {prices[0]}")
        return [TakeProfitSlice(prices[0], qty, tuple(range(1, len(prices) + 1)))]
    return None
