"""Rounding to, and validation against, a market's filters (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE,
MIN_NOTIONAL), answering with the same Binance error the real venue would give.

Rounding rules:
- quantities are floored to the step (never send more than sized; ccxt truncates the same way), except
  reduce-only closes and stops, which may be rounded up (`ceil_to_step`): the venue trims them to the position;
- plain prices are rounded to the nearest tick (like ccxt `price_to_precision`);
- stop-loss / take-profit triggers are rounded TOWARD THE POSITION'S ENTRY, i.e. the conservative way:
  a stop never ends up further away (more risk) than asked, a take-profit never further away (more
  profit promised) than asked. Long: stop rounds up, take-profit rounds down. Short: the mirror.
"""

from __future__ import annotations

import functools
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum

from engine.venue.errors import (
    MinNotional,
    OrderRejected,
    PrecisionTooHigh,
    PriceNotOnTick,
    PriceTooLow,
    QuantityNotOnStep,
    QuantityNotPositive,
    QuantityTooLarge,
    QuantityTooSmall,
    StopPriceTooHigh,
)
from engine.venue.markets import Market
from engine.venue.types import PositionSide


class TriggerKind(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


def _to_multiple(value: Decimal, unit: Decimal, rounding: str) -> Decimal:
    return ((value / unit).to_integral_value(rounding=rounding) * unit).quantize(unit)


def floor_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` not above `qty`, with the step's decimal places."""
    return _to_multiple(qty, step, ROUND_FLOOR)


def ceil_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` not below `qty`: for reduce-only orders, which the venue trims to the
    position, so rounding up never sends more than is held and never leaves a sliver behind."""
    return _to_multiple(qty, step, ROUND_CEILING)


def floor_qty(market: Market, qty: Decimal, *, market_order: bool = True) -> Decimal:
    """`qty` floored to the market's step (MARKET_LOT_SIZE step for market/stop/take-profit orders)."""
    return floor_to_step(qty, market.market_step_size if market_order else market.step_size)


def round_price(market: Market, price: Decimal) -> Decimal:
    """`price` rounded half-up to the nearest tick."""
    return _to_multiple(price, market.tick_size, ROUND_HALF_UP)


def round_trigger_price(
    market: Market, price: Decimal, *, position_side: PositionSide, kind: TriggerKind
) -> Decimal:
    """A stop-loss or take-profit trigger rounded toward the position's entry (see module docstring)."""
    up = (kind is TriggerKind.STOP_LOSS) == (position_side is PositionSide.LONG)
    return to_tick(price, market.tick_size, up=up)


def to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """`price` on a multiple of `tick`, rounded up or down (with the tick's decimal places)."""
    return _to_multiple(price, tick, ROUND_CEILING if up else ROUND_FLOOR)


@functools.lru_cache(maxsize=1024)
def _decimals(unit: Decimal) -> int:
    """The decimal places of a step or tick (memoised: a market's few units are checked on every order)."""
    exponent = unit.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _too_precise(value: Decimal, unit: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= _decimals(unit):
        return False  # (normalising only drops trailing zeros: it never adds decimals)
    exponent = value.normalize().as_tuple().exponent
    return isinstance(exponent, int) and -exponent > _decimals(unit)


def check_quantity(market: Market, qty: Decimal, *, market_order: bool = True) -> OrderRejected | None:
    """The Binance rejection for `qty` on this market, or None. Market (and stop/take-profit market)
    orders use MARKET_LOT_SIZE, others LOT_SIZE. Checks, in Binance's order: decimals (-1111),
    positive (-4003), min (-4004), max (-4005), step (-4023)."""
    step = market.market_step_size if market_order else market.step_size
    min_qty = market.market_min_qty if market_order else market.min_qty
    max_qty = market.market_max_qty if market_order else market.max_qty
    if _too_precise(qty, step):
        return PrecisionTooHigh()
    if qty <= 0:
        return QuantityNotPositive()
    if qty < min_qty:
        return QuantityTooSmall()
    if qty > max_qty:
        return QuantityTooLarge()
    if (qty - min_qty) % step != 0:
        return QuantityNotOnStep()
    return None


def check_price(market: Market, price: Decimal) -> OrderRejected | None:
    """The Binance rejection for a (trigger) price, or None: decimals (-1111), below min (-4013), above
    max (-4007), off tick (-4014)."""
    if _too_precise(price, market.tick_size):
        return PrecisionTooHigh()
    if price < market.min_price:
        return PriceTooLow()
    if price > market.max_price:
        return StopPriceTooHigh()
    if (price - market.min_price) % market.tick_size != 0:
        return PriceNotOnTick()
    return None


def check_min_notional(
    market: Market, qty: Decimal, price: Decimal, *, reduce_only: bool
) -> OrderRejected | None:
    """-4164 when qty * price is below MIN_NOTIONAL; reduce-only orders are exempt, as on Binance."""
    if reduce_only or qty * price >= market.min_notional:
        return None
    return MinNotional(min_notional=market.min_notional)


def check_order(
    market: Market,
    qty: Decimal,
    price: Decimal,
    *,
    market_order: bool = True,
    reduce_only: bool = False,
    trigger_price: Decimal | None = None,
) -> OrderRejected | None:
    """The first Binance rejection an order would get from the market's filters, or None.
    `price` is the reference price for the notional (last price for a market order, trigger for a
    conditional one); `trigger_price`, when given, is also checked against PRICE_FILTER."""
    error = check_quantity(market, qty, market_order=market_order)
    if error is None and trigger_price is not None:
        error = check_price(market, trigger_price)
    if error is None:
        error = check_min_notional(market, qty, price, reduce_only=reduce_only)
    return error
