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
(or the open after a gap) moved against the order by the slippage model (`slippage`), then rounded to
the tick against the order. Liquidation executes at the liquidation price (or the open after a gap) with
no slippage. Resting LIMIT orders are events of the same walk, reached only when the price passes
STRICTLY through them, and fill at their own price as makers (the fill model: `resting`).

On a tie at one price, in the walk's direction: conditional orders first, then the liquidation (a stop
at the liquidation price saves the position), then limit orders (a trigger fires on the touch, a limit
needs the price through it, so the touch comes first); then placement order.
Prices are compared as floats cached on the orders; Decimal maths happens only when something fills.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from engine.venue.sim.book import SimOrder, SymbolBook, to_decimal
from engine.venue.sim.resting import fill_resting
from engine.venue.sim.slippage import Slippage, slipped_price
from engine.venue.types import Execution, ExecutionKind, OrderStatus, OrderType, Side

__all__ = ["CandleWalker", "slipped_price"]

_LIQUIDATION = None  # marker for "the position's liquidation" among the next events
_TRIGGER, _LIQUIDATION_RANK, _LIMIT = 0, 1, 2  # tie order at one price (module docstring)


class CandleWalker:
    """Walks candles through one engine's books. `next_id` hands out venue ids for liquidation orders;
    `record` receives every fill so the engine can index orders and keep its execution log."""

    def __init__(self, slippage: Slippage, funding_rate: Decimal | None, next_id: Callable[[], str]) -> None:
        self.slippage = slippage
        self.funding_rate = funding_rate
        self.next_id = next_id

    def walk(
        self, book: SymbolBook, open_ms: int, o: float, h: float, lo: float, c: float, out: list[Execution]
    ) -> None:
        """Process one candle on `book`, appending executions to `out` in the order they happened."""
        while open_ms >= book.next_funding_ms and book.qty != 0:
            at = book.next_funding_ms
            rate = book.funding_rate_at(at, self.funding_rate)
            if rate is not None:
                out.append(book.pay_funding(to_decimal(o), rate, now_ms=at))
            book.next_funding_ms = book.funding_after(at)
        prev = book.last
        if prev is not None and prev != o:
            self._segment(book, prev, o, True, open_ms, out)
        self._limits_through(book, o, open_ms, out)
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
            event = self._next_event(book, falling, end)
            if event is None:
                return
            order, trigger = event
            if order is not None and order.is_limit:
                execution = fill_resting(book, order, now_ms)
                if execution is not None:
                    out.append(execution)
                continue
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
    def _limits_through(book: SymbolBook, price: float, now_ms: int, out: list[Execution]) -> None:
        """Fill the limits the price already stands strictly through (a buy below the open: what the
        volume share left resting in an earlier candle), in placement order, while the share lasts."""
        while book.volume_left > 0:
            order = next(
                (
                    o
                    for o in book.orders
                    if o.is_limit and (o.trigger_f > price if o.falling else o.trigger_f < price)
                ),
                None,
            )
            if order is None:
                return
            execution = fill_resting(book, order, now_ms)
            if execution is not None:
                out.append(execution)

    @staticmethod
    def _next_event(book: SymbolBook, falling: bool, end: float) -> tuple[SimOrder | None, float] | None:
        """The first thing the price reaches moving in this direction before `end`: the highest falling
        level or the lowest rising one, ties as in the module docstring. A trigger (or the liquidation)
        is reached on the touch (at `end` included); a limit only when `end` is strictly through it,
        and only while the candle's volume share has something left. None: nothing before `end`."""
        best: SimOrder | None = None
        best_key: tuple[float, int] | None = None
        sign = 1.0 if falling else -1.0  # compare "further along the walk" as "greater" either way
        if book.liq_price is not None and (book.qty > 0) is falling:
            level = float(book.liq_price)
            if sign * level >= sign * end:
                best_key = (sign * level, -_LIQUIDATION_RANK)
        can_fill = book.volume_left > 0
        for order in book.orders:
            if order.falling is not falling:
                continue
            level = order.trigger_f
            if order.is_limit:
                if not can_fill or sign * level <= sign * end:
                    continue
                key = (sign * level, -_LIMIT)
            elif sign * level >= sign * end:
                key = (sign * level, -_TRIGGER)
            else:
                continue
            if best_key is None or key > best_key:  # strictly: the earlier placed wins a full tie
                best, best_key = order, key
        if best_key is None:
            return None
        return best, sign * best_key[0]

    def _trigger(self, book: SymbolBook, order: SimOrder, base: Decimal, now_ms: int) -> Execution | None:
        """Fire a conditional order. Reduce-only: with no position to reduce (flat, or same side) it
        expires; otherwise it is trimmed to the position and fills as a taker market order."""
        order.triggered_ms = now_ms
        q = book.qty
        if q == 0 or (q > 0) == (order.side is Side.BUY):
            book.close_order(order, OrderStatus.EXPIRED, now_ms)
            return None
        book.orders.remove(order)
        order.updated_ms = now_ms
        qty = min(order.qty, abs(q))
        price = self.slippage.price(base, order.side, qty, book.market.tick_size, book.volume)
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
