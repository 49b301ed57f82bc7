"""The prices of a position's stop and take-profits: the plan's distances, taken from the actual fill.

Sizing prices a plan at the signal candle's close (engine.trading.sizing); the position places its orders
once it knows where it filled.
"""

from __future__ import annotations

from decimal import Decimal

from engine.exits import ExitReason
from engine.positions.model import Position
from engine.venue.filters import to_tick


def from_fill(pos: Position, planned: Decimal) -> Decimal:
    """A stop or take-profit price of the plan, kept at its planned distance from the average fill.

    The plan is priced at the signal candle's close. A market entry fills a slip away from it, and a limit
    entry whose timeout sent the rest in at market can fill far from it: a stop left at the close's price
    would then risk more (or less) than the sizing planned, or sit on the wrong side of the price, which
    Binance refuses (-2021, `Order would immediately trigger`). The price is rounded to the tick toward the
    entry, as sizing rounds it, and kept at least one tick from it. A plan without `tick_size` (journaled
    before plans carried it) keeps its prices."""
    tick_text = pos.plan.get("tick_size")
    reference = Decimal(pos.plan["price"])
    fill = pos.entry_price
    if not tick_text or fill is None or fill <= 0 or fill == reference:
        return planned
    tick = Decimal(tick_text)
    below = planned < reference  # a long's stop and a short's take-profit lie below the entry
    price = to_tick(fill * planned / reference, tick, up=below)  # toward the entry, as sizing rounds
    if below and price >= fill:
        price = to_tick(fill, tick, up=True) - tick
    elif not below and price <= fill:
        price = to_tick(fill, tick, up=False) + tick
    return price if price > 0 else planned


def stop_price(pos: Position, after_tp: bool) -> Decimal:
    """The stop in force: the plan's, or break-even once a take-profit slice has filled (per plan)."""
    if after_tp and pos.plan.get("stop_after_tp", "breakeven") == "breakeven" and pos.entry_price is not None:
        return pos.entry_price
    return from_fill(pos, Decimal(pos.plan["stop_price"]))


def stop_in_force(pos: Position) -> Decimal | None:
    """The price of the stop the position keeps now, for views and notices (the plan's is the close's):
    break-even after a take-profit when the plan says so, else the plan's stop moved with the fill."""
    if not pos.plan.get("stop_price"):
        return None
    return stop_price(pos, pos.exit_kind is ExitReason.TAKE_PROFIT)
