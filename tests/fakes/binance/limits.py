"""LIMIT orders of the fake (GTC, and GTX = post-only), resting on the fake's own normal order book and
matched against the market tape as the clock feeds it. The matching engine holds positions and
conditional orders; it has no resting orders of this kind, so this layer decides their fills and applies
them to the engine's position book.

The fake's book is one tick wide and endlessly deep: the bid is the current price, the ask one tick
above (what `/fapi/v1/ticker/bookTicker` shows). Rules:
- a BUY crosses when its price is at or above the ask, a SELL when at or below the bid. A crossing GTX
  order is refused whole with -5022 and nothing is recorded; a crossing GTC order fills at once, whole,
  as a market order would (the taker part: taker fee, trade `maker: false`), and ends FILLED;
- a resting order fills only when a candle (opening at or after it was placed) trades strictly
  through its price: a BUY when the low is below it, a SELL when the high is above it (a touch is not
  a fill). It fills at its own price as the maker (maker fee, trade `maker: true`), at most
  `limit_fill_share` of its quantity per candle (floored to the step, at least one step), so it goes
  NEW -> PARTIALLY_FILLED -> FILLED over several candles when the share is below 1;
- within one candle, stops and take-profits (the engine) act before resting limit orders;
- a resting reduce-only order is trimmed to the position when it fills; with nothing left to reduce it
  ends EXPIRED (Binance's status for a reduce-only order it cannot apply);
- a resting order reserves no margin (the fake checks margin when a fill opens exposure at once only).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from engine.venue.errors import (
    DuplicateClientOrderId,
    PostOnlyRejected,
    ReduceOnlyRejected,
    SymbolNotTrading,
    VenueUnavailable,
)
from engine.venue.filters import check_min_notional, check_price, check_quantity, floor_to_step
from engine.venue.types import ZERO, ExecutionKind, Liquidity, Side

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.venue.markets import Market
    from engine.venue.sim import MatchingEngine
    from engine.venue.types import Execution
    from tests.fakes.binance.orders import OrderRecord

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
_AVG_PLACES = Decimal("1e-8")


def crosses(market: Market, side: str, price: Decimal, last: Decimal) -> bool:
    """True when a LIMIT order at `price` would take liquidity from the fake's one-tick book at `last`."""
    return price >= last + market.tick_size if side == "BUY" else price <= last


class LimitOrders:
    """The LIMIT half of `OrderDesk` (its base class). Declared for the type checker: what the desk
    provides."""

    if TYPE_CHECKING:
        engine: MatchingEngine
        _now: Callable[[], int]

        def _add_order(self, record: OrderRecord) -> None: ...
        def _record_fill(self, order: OrderRecord, execution: Execution, clearance: bool = False,
                         at: int | None = None, maker: bool = False) -> None: ...
        def _taker_fill(self, record: OrderRecord, qty: Decimal, *, trim: bool) -> None: ...

    def __init__(self, limit_fill_share: float) -> None:
        if not 0 < limit_fill_share <= 1:
            raise ValueError(f"limit_fill_share must be in (0, 1], got {limit_fill_share}")
        self.limit_fill_share = limit_fill_share
        self._open_limits: dict[str, dict[int, OrderRecord]] = {}

    def check_limit(self, market: Market, side: Side, qty: Decimal, price: Decimal, client_id: str | None,
                    *, reduce_only: bool, post_only: bool) -> bool:
        """Binance's checks for a new LIMIT order, in its order; returns whether it crosses the book.
        Raises the filter rejections, DuplicateClientOrderId (-4116) for the client id of an open order,
        ReduceOnlyRejected (-2022), SymbolNotTrading (-4140), PostOnlyRejected (-5022)."""
        error = check_price(market, price) or check_quantity(market, qty, market_order=False)
        if error is None:
            error = check_min_notional(market, qty, price, reduce_only=reduce_only)
        if error is not None:
            raise error
        if client_id is not None and any(o.client_order_id == client_id for o in self.open_limits(market)):
            raise DuplicateClientOrderId()
        position = self.engine.book(market.symbol).qty
        if reduce_only and (position == 0 or (position > 0) == (side is Side.BUY)):
            raise ReduceOnlyRejected()
        if not reduce_only and not market.is_trading:
            raise SymbolNotTrading()
        last = self.engine.last_price(market.symbol)
        if last is None:
            raise VenueUnavailable(f"no price for {market.symbol} yet")
        crossing = crosses(market, side.value.upper(), price, last)
        if crossing and post_only:
            raise PostOnlyRejected()
        return crossing

    def rest_or_take(self, record: OrderRecord, *, crossing: bool, stall_ratio: float | None) -> OrderRecord:
        """A checked LIMIT order: filled now as a taker when it crosses, else resting (NEW). With
        `stall_ratio` it will never fill beyond that share of its quantity (a partial fill, then silence)."""
        market = record.market
        if crossing:
            self._taker_fill(record, record.orig_qty, trim=True)
            record.status, record.update_ms = "FILLED", record.time_ms
            self._add_order(record)
            return record
        if stall_ratio is not None:
            record.stall_at = floor_to_step(record.orig_qty * Decimal(str(stall_ratio)), market.step_size)
        record.update_ms = record.time_ms
        self._add_order(record)
        self._open_limits.setdefault(market.symbol, {})[record.order_id] = record
        return record

    def open_limits(self, market: Market | None = None) -> list[OrderRecord]:
        books = [self._open_limits.get(market.symbol, {})] if market else list(self._open_limits.values())
        return sorted((o for book in books for o in book.values()), key=lambda o: o.order_id)

    def cancel_limit(self, record: OrderRecord) -> OrderRecord:
        """Cancel an open LIMIT order; what filled stays filled."""
        record.status, record.update_ms = "CANCELED", self._now()
        self._close_limit(record)
        return record

    def fill_rest(self, record: OrderRecord) -> None:
        """Fill what is left of an open LIMIT order now at its price, as the maker (a fill that lands
        just before a cancel)."""
        self._maker_fill(record, record.orig_qty - record.executed_qty, self._now())

    def match_limits(self, symbol: str, open_ms: int, high: float, low: float) -> None:
        """Fill the resting LIMIT orders of `symbol` that one candle traded strictly through."""
        book = self._open_limits.get(symbol)
        if not book:
            return
        for record in sorted(book.values(), key=lambda o: o.order_id):
            if open_ms < record.time_ms:
                continue
            price = float(record.price)
            if not (low < price if record.side == "BUY" else high > price):
                continue
            if record.candle_ms != open_ms:
                record.candle_ms, record.candle_filled = open_ms, ZERO
            step = record.market.step_size
            per_candle = max(floor_to_step(record.orig_qty * Decimal(str(self.limit_fill_share)), step), step)
            qty = min(record.orig_qty - record.executed_qty, per_candle - record.candle_filled)
            if record.stall_at is not None:
                qty = min(qty, record.stall_at - record.executed_qty)
            if qty > 0:
                self._maker_fill(record, qty, open_ms)

    def _maker_fill(self, record: OrderRecord, qty: Decimal, at: int) -> None:
        side = Side(record.side.lower())
        book = self.engine.book(record.market.symbol)
        if record.reduce_only:
            position = book.qty
            if position == 0 or (position > 0) == (side is Side.BUY):
                record.status, record.update_ms = "EXPIRED", at
                self._close_limit(record)
                return
            qty = min(qty, abs(position))
        if qty <= 0:
            return
        execution = book.apply_fill(side, qty, record.price, kind=ExecutionKind.MARKET,
                                    client_id=record.client_order_id, venue_id=str(record.order_id),
                                    reduce_only=record.reduce_only, now_ms=at, liquidity=Liquidity.MAKER)
        record.executed_qty += qty
        record.cum_quote += qty * record.price
        record.avg_price = (record.cum_quote / record.executed_qty).quantize(_AVG_PLACES).normalize()
        record.candle_filled += qty
        record.update_ms = at
        record.status = "FILLED" if record.executed_qty >= record.orig_qty else "PARTIALLY_FILLED"
        self._record_fill(record, execution, at=at, maker=True)
        if record.status == "FILLED":
            self._close_limit(record)

    def _close_limit(self, record: OrderRecord) -> None:
        self._open_limits.get(record.market.symbol, {}).pop(record.order_id, None)
