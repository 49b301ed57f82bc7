"""Slippage of the simulator's taker fills (market orders, triggered stop-market / take-profit-market
orders, limit orders that cross the book at placement). Resting limit fills are maker fills at their own
price and never slip.

Two models, chosen by `MatchingEngine(slippage_model=...)`:

- `flat` (the default; `slippage_bps`): the reference price moved against the order by a fixed fraction,
  then rounded to the tick against the order. The same figure for BTC and for a thin alt.
- `market` (`impact_bps`): a square-root market-impact model, the standard first approximation of how
  far an order walks the book. The price moves against the order by

      offset = max(one tick, reference * impact_bps / 10 000 * sqrt(qty / candle_volume))

  then is rounded to the tick against the order. `candle_volume` is the base-asset volume of the candle
  being walked (for a triggered stop) or of the last candle fed for the symbol (for an order placed
  between candles). Never less than one tick: a taker crosses at least the spread, and on the liquid
  USD-M books that is one tick. An order as large as the candle's whole volume slips `impact_bps`;
  one hundredth of it, a tenth of that. A candle with no volume (0 in the data: unknown) counts as an
  order as large as the candle (`qty / volume` taken as 1), the pessimistic reading.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal, Protocol

from engine.values import value
from engine.venue.types import Side

SlippageModelName = Literal["flat", "market"]
SLIPPAGE_MODELS: tuple[str, ...] = ("flat", "market")
_ONE = Decimal(1)


def slipped_price(base: Decimal, side: Side, slippage: Decimal, tick: Decimal) -> Decimal:
    """`base` moved against a taker order by `slippage` (a fraction) and rounded to the tick against it:
    buys round up, sells round down."""
    if side is Side.BUY:
        price, rounding = base * (1 + slippage), ROUND_CEILING
    else:
        price, rounding = base * (1 - slippage), ROUND_FLOOR
    return ((price / tick).to_integral_value(rounding=rounding) * tick).quantize(tick)


class Slippage(Protocol):
    def price(self, base: Decimal, side: Side, qty: Decimal, tick: Decimal, volume: float) -> Decimal:
        """The taker fill price of `qty` against a reference price `base`, on a candle of `volume`."""
        ...


@value
class FlatSlippage:
    """The same fraction for every fill (see module docstring)."""

    fraction: Decimal

    def price(self, base: Decimal, side: Side, qty: Decimal, tick: Decimal, volume: float) -> Decimal:
        return slipped_price(base, side, self.fraction, tick)


@value
class MarketSlippage:
    """Square-root impact against the candle's volume, at least one tick (see module docstring).
    `impact` is a fraction (impact_bps / 10 000)."""

    impact: Decimal

    def offset(self, base: Decimal, qty: Decimal, tick: Decimal, volume: float) -> Decimal:
        """How far the fill moves from `base`, before rounding to the tick."""
        ratio = qty / Decimal(repr(float(volume))) if volume > 0 else _ONE
        return max(tick, base * self.impact * ratio.sqrt())

    def price(self, base: Decimal, side: Side, qty: Decimal, tick: Decimal, volume: float) -> Decimal:
        offset = self.offset(base, qty, tick, volume)
        if side is Side.BUY:
            price, rounding = base + offset, ROUND_CEILING
        else:
            price, rounding = base - offset, ROUND_FLOOR
        rounded = ((price / tick).to_integral_value(rounding=rounding) * tick).quantize(tick)
        return max(rounded, tick)  # a sell never fills at or below zero, however thin the candle


def make_slippage(model: str, slippage: Decimal, impact: Decimal) -> Slippage:
    """The model named `model` ("flat": `slippage` fraction; "market": `impact` fraction).
    Raises ValueError for another name, or for a flat slippage given with the market model (a setting
    that would have no effect)."""
    if model == "flat":
        return FlatSlippage(slippage)
    if model == "market":
        if slippage != 0:
            raise ValueError("slippage_bps pins a flat slippage; it has no effect with slippage_model='market'")
        return MarketSlippage(impact)
    raise ValueError(f"unknown slippage_model {model!r}; expected one of {', '.join(SLIPPAGE_MODELS)}")
