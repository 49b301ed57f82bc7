"""How one candle moves through a symbol's resting orders and position.

A candle only tells open, high, low and close, not the order in which high and low came. The walk is:

1. the gap from the previous price to this open: everything crossed fills AT THE OPEN (the price never
   traded at the trigger);
2. open -> first extreme -> second extreme -> close, filling at each trigger price as it is reached.

The first extreme is chosen CONSERVATIVELY: against the position (a long walks to the low first, a
short to the high). So when a stop-loss and a take-profit both lie inside one candle, the stop is
assumed hit first and the take-profit never fills. Callers who have finer candles for the interval
pass them and each finer candle is walked the same way, which resolves most such candles. Without a
position, a bullish candle walks low first, a bearish one high first.

Triggered stop-market and take-profit-market orders become taker market orders: fill price = trigger
(or the open after a gap) moved against the order by the slippage, then rounded to the tick against
the order. Liquidation executes at the liquidation price (or the open after a gap) with no slippage.
Prices are compared as floats cached on the orders; Decimal maths happens only when something fills.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.venue.sim.book import SimOrder, SymbolBook, to_decimal
from engine.venue.types import Execution, ExecutionKind, OrderStatus, OrderType, Side

_LIQUIDATION = None  # marker for "the position's liquidation" among the next events


def slipped_price(base: Decimal, side: Side, slippage: Decimal, tick: Decimal) -> Decimal:
    """`base` moved against a taker order by `slippage` (a fraction) and rounded to the tick against it:
    buys round up, sells round down."""
    if side is Side.BUY:
        price, rounding = base * (1 + slippage), ROUND_CEILING
    else:
        price, rounding = base * (1 - slippage), ROUND_FLOOR
    return ((price / tick).to_integral_value(rounding=rounding) * tick).quantize(tick)


class CandleWalker:
    """Walks candles through one engine's books. `next_id` hands out venue ids for liquidation orders;
    `record` receives every fill so the engine can index orders and keep its execution log."""

    def __init__(self, slippage: Decimal, funding_rate: Decimal | None, next_id: Callable[[], str]) -> None:
        self.slippage = slippage
        self.funding_rate = funding_rate
        self.next_id = next_id

    def walk(
        self, book: SymbolBook, open_ms: int, o: float, h: float, lo: float, c: float, out: list[Execution]
    ) -> None:
        """Process one candle on `book`, appending executions to `out` in the order they happened."""
        while open_ms >= book.next_funding_ms and self.funding_rate is not None and book.qty != 0:
            out.append(book.pay_funding(to_decimal(o), self.funding_rate, now_ms=book.next_funding_ms))
            book.next_funding_ms += book.funding_interval_ms or 0
        prev = book.last
        if prev is not None and prev != o:
            self._segment(book, prev, o, True, open_ms, out)
        if book.qty > 0 or (book.qty == 0 and c >= o):
            first, second = lo, h
        else:
            first, second = h, lo
        self._segment(book, o, first, False, open_ms, out)
        self._segment(book, first, second, False, open_ms, out)
        self._segment(book, second, c, False, open_ms, out)
        book.last = c

    def _segment(
        self, book: SymbolBook, start: float, end: float, gap: bool, now_ms: int, out: list[Execution]
    ) -> None:
        if end == start:
            return
        falling = bool(end < start)  # a numpy bool would never be `is` True/False below
        while book.busy:
            if falling and book.fall_max < end or not falling and book.rise_min > end:
                return
            order, trigger = self._next_event(book, falling)
            # Fire at the trigger when the walk reaches it. A gap never traded in between: fill at the
            # open (the segment's end). A trigger already behind the segment's start (a liquidation price
            # moved by an earlier fill or by funding) fires at the start.
            if gap:
                at: float | None = end
            elif trigger >= start if falling else trigger <= start:
                at = start
            else:
                at = None
            if order is _LIQUIDATION:
                assert book.liq_price is not None
                price = book.liq_price if at is None else to_decimal(at)
                out.append(book.liquidate(price, venue_id=self.next_id(), now_ms=now_ms))
            else:
                base = order.trigger if at is None else to_decimal(at)
                assert base is not None
                execution = self._trigger(book, order, base, now_ms)
                if execution is not None:
                    out.append(execution)

    @staticmethod
    def _next_event(book: SymbolBook, falling: bool) -> tuple[SimOrder | None, float]:
        """The next thing the price reaches moving in this direction: highest falling trigger or lowest
        rising one. On a tie, orders before liquidation (a stop at the liquidation price saves the
        position), then placement order."""
        best: SimOrder | None = None
        best_price = book.fall_max if falling else book.rise_min
        for order in book.orders:
            if order.falling is falling and order.trigger_f == best_price:
                best = order
                break
        return best, best_price

    def _trigger(self, book: SymbolBook, order: SimOrder, base: Decimal, now_ms: int) -> Execution | None:
        """Fire a conditional order. Reduce-only: with no position to reduce (flat, or same side) it
        expires; otherwise it is trimmed to the position and fills as a taker market order."""
        book.orders.remove(order)
        order.triggered_ms = now_ms
        order.updated_ms = now_ms
        q = book.qty
        if q == 0 or (q > 0) == (order.side is Side.BUY):
            order.status = OrderStatus.EXPIRED
            book.refresh()
            return None
        qty = min(order.qty, abs(q))
        price = slipped_price(base, order.side, self.slippage, book.market.tick_size)
        kind = (
            ExecutionKind.STOP_MARKET
            if order.type is OrderType.STOP_MARKET
            else ExecutionKind.TAKE_PROFIT_MARKET
        )
        execution = book.apply_fill(
            order.side,
            qty,
            price,
            kind=kind,
            client_id=order.client_id,
            venue_id=order.venue_id,
            reduce_only=True,
            now_ms=now_ms,
        )
        order.status = OrderStatus.FILLED
        order.filled = qty
        order.average_price = price
        order.fee = execution.fee
        return execution
