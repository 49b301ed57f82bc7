"""Limit orders in the simulator: placement, and the fill model of resting orders.

Fill model (conservative: when the candles cannot say, the simulator assumes the outcome worse for the bot)

- **Placement.** A limit order is checked as Binance checks it: client id, LOT_SIZE quantity and step,
  PRICE_FILTER (on tick, within min/max), MIN_NOTIONAL at the limit price (not for reduce-only orders),
  a duplicate open client id (-4116), reduce-only with no position to reduce (-2022), margin.
- **Crossing.** A buy above the last price (a sell below it) crosses the book; at the last price it joins
  the best bid (ask) and rests. Post-only
  (GTX): rejected with -5022 and nothing is recorded. Otherwise it fills AT ONCE and WHOLE as a taker,
  at the last price moved against it by the slippage model, but never worse than its limit: where the
  slippage would pass the limit price it fills at the limit price. Taker fee.
- **Resting.** Otherwise it rests (NEW). An opening (not reduce-only) resting order holds initial margin
  for its unfilled rest, `rest * price / leverage`, like Binance's open-order margin: placement needs
  that plus the taker fee on the whole order free in the wallet, and the balance's `free` shrinks
  (`used` grows) by it until the order fills, is cancelled or expires.
- **Resting fills.** A resting buy fills only when a LATER candle trades STRICTLY BELOW its price
  (low < price; a touch at the price is not a fill: the queue ahead of us may have taken it all); a
  resting sell only when a later candle trades strictly above it (high > price). It fills at its own
  limit price (never better, even after a gap through it), as a maker, with the maker fee, no slippage.
- **Volume share.** In one candle our resting orders on a symbol fill together at most
  `max_volume_share` (default 0.1 = 10 %) of the candle's base volume, floored to the LOT_SIZE step.
  Above it the order fills in part (PARTIALLY_FILLED): the rest keeps resting and may fill on later
  candles that trade through its price (one that opens already through it fills it at the open).
  A candle with volume 0 (unknown or no trades) fills no resting order at all.
- **Reduce-only** resting orders are trimmed to the position when they fill, so they never increase
  exposure or open the other side; with no position left to reduce when the price passes through them,
  they expire (EXPIRED), like triggered reduce-only conditional orders. Their fills so far are kept.
- **Order inside a candle.** Resting limits are events of the candle walk (`matching`): the walk goes
  against the position first (a long: to the low first), so when a stop-loss below and a take-profit
  limit above could both have been reached in one candle, the stop fills and the take-profit, finding no
  position, expires. A resting entry below the price fills on the way down BEFORE anything further
  down (the stop of the part already filled: more exposure, then stopped). The stop-loss of an entry
  that fills in a candle is placed after it, so it acts from the next candle on. Finer candles given
  with the candle (`finer=`) are walked the same way, each in turn, and decide the order where they can;
  the volume share is that of the candle fed, shared by its finer candles.
- **Cancel.** Cancelling a partially filled order returns CANCELED with the filled part kept (and its
  position); the margin held for the rest is released.
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

from engine.venue.errors import (
    DuplicateClientOrderId,
    InvalidClientOrderId,
    MarginInsufficient,
    MaxPositionExceeded,
    PostOnlyRejected,
    ReduceOnlyRejected,
    SymbolNotTrading,
    VenueUnavailable,
)
from engine.venue.filters import check_min_notional, check_price, check_quantity, floor_to_step
from engine.venue.leverage import max_notional_for_leverage
from engine.venue.sim.book import SimOrder, SymbolBook, to_decimal
from engine.venue.types import (
    ZERO,
    Execution,
    ExecutionKind,
    Liquidity,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
)

_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def check_client_id(client_id: str) -> None:
    """Binance's client order id rule (-4015 otherwise)."""
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise InvalidClientOrderId()


def volume_budget(book: SymbolBook, volume: float, share: Decimal) -> Decimal:
    """What our resting orders may fill in a candle of `volume` (base asset): `share` of it, floored
    to the LOT_SIZE step; zero for a candle without volume."""
    if volume <= 0 or share <= 0:
        return ZERO
    return floor_to_step(to_decimal(volume) * share, book.market.step_size)


def fill_resting(book: SymbolBook, order: SimOrder, now_ms: int) -> Execution | None:
    """Fill a resting limit order the walk has passed strictly through: as much as the candle's volume
    share left allows (a reduce-only order: also no more than the position), at its own price, as a
    maker. A reduce-only order with no position to reduce expires (None)."""
    rest = order.qty - order.filled
    qty = min(rest, book.volume_left)
    if order.reduce_only:
        q = book.qty
        if q == 0 or (q > 0) == (order.side is Side.BUY):
            book.close_order(order, OrderStatus.EXPIRED, now_ms)
            return None
        qty = min(qty, abs(q))
    assert order.price is not None and qty > 0
    book.volume_left -= qty
    return record_fill(book, order, qty, order.price, Liquidity.MAKER, now_ms)


def record_fill(
    book: SymbolBook, order: SimOrder, qty: Decimal, price: Decimal, liquidity: Liquidity, now_ms: int
) -> Execution:
    """Apply one fill of a limit order to the account and the order: cumulative filled, average price
    and fee, last liquidity; FILLED (off the book) once whole, else PARTIALLY_FILLED. The margin held
    for the filled part is released before the fill takes the position's margin, so an exception in
    the fill leaves nothing half done (the fill maths raises before it changes anything)."""
    previous = order.filled
    order.filled = previous + qty
    book.reserve(order)
    execution = book.apply_fill(
        order.side,
        qty,
        price,
        kind=ExecutionKind.LIMIT,
        client_id=order.client_id,
        venue_id=order.venue_id,
        reduce_only=order.reduce_only,
        now_ms=now_ms,
        liquidity=liquidity,
    )
    avg = price if order.average_price is None else (order.average_price * previous + price * qty) / order.filled
    order.average_price = avg
    order.fee += execution.fee
    order.liquidity = liquidity
    order.updated_ms = now_ms
    if order.filled >= order.qty:
        if order in book.orders:
            book.close_order(order, OrderStatus.FILLED, now_ms)
        else:
            order.status = OrderStatus.FILLED
    else:
        order.status = OrderStatus.PARTIALLY_FILLED
    return replace(execution, order_filled=order.filled, order_average=avg, order_fee=order.fee)


class LimitOrdersMixin:
    """`place_limit` for MatchingEngine (which provides the attributes used here)."""

    def place_limit(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        client_id: str,
        *,
        reduce_only: bool = False,
        post_only: bool = False,
    ) -> OrderState:
        """A limit order: fills at once as a taker when it crosses (FILLED), else rests (NEW); see the
        module docstring for the fill model and Venue.place_limit for the promises and errors. Raises
        VenueUnavailable when no candle has been fed for the symbol yet. Nothing is recorded (no order,
        no venue id used) when it is rejected."""
        book: SymbolBook = self.book(symbol)  # type: ignore[attr-defined]
        market = book.market
        check_client_id(client_id)
        if book.last is None:
            raise VenueUnavailable(f"no price for {symbol} yet: feed a candle before trading it")
        existing = self._orders.get((symbol, client_id, False))  # type: ignore[attr-defined]
        if existing is not None and existing.status.is_open:
            raise DuplicateClientOrderId()
        error = check_quantity(market, qty, market_order=False) or check_price(market, price)
        if error is not None:
            raise error
        if not reduce_only:
            if not market.is_trading:
                raise SymbolNotTrading()
            error = check_min_notional(market, qty, price, reduce_only=False)
            if error is not None:
                raise error
        q = book.qty
        reducing = q != 0 and (q > 0) != (side is Side.BUY)
        if reduce_only and not reducing:
            raise ReduceOnlyRejected()
        last = to_decimal(book.last)
        # The book is taken one tick wide around the last trade: a buy AT the last price joins the bid (rests),
        # only a buy above it would take the ask (and a sell below it the bid), as on the fake fapi server.
        crosses = price > last if side is Side.BUY else price < last
        if crosses and post_only:
            raise PostOnlyRejected()
        if crosses:
            return self._fill_crossing(book, side, qty, price, last, client_id, reduce_only)
        if not reduce_only:
            _check_resting_margin(book, side, qty, price)
        order = SimOrder(
            client_id, self._next_id(), symbol, side, OrderType.LIMIT, qty, None, reduce_only,  # type: ignore[attr-defined]
            self.now_ms(), price=price, post_only=post_only,  # type: ignore[attr-defined]
        )
        book.orders.append(order)
        book.reserve(order)
        book.refresh()
        self._orders[(symbol, client_id, False)] = order  # type: ignore[attr-defined]
        return order.snapshot(book.account.asset)

    def _fill_crossing(
        self, book: SymbolBook, side: Side, qty: Decimal, limit: Decimal, last: Decimal, client_id: str,
        reduce_only: bool,
    ) -> OrderState:
        """A limit that crosses: fills whole now as a taker at the slipped last price, capped at the
        limit."""
        if reduce_only:
            qty = min(qty, abs(book.qty))
        else:
            self._check_margin(book, side, qty, last)  # type: ignore[attr-defined]
        slipped = self._slippage.price(last, side, qty, book.market.tick_size, book.volume)  # type: ignore[attr-defined]
        price = min(slipped, limit) if side is Side.BUY else max(slipped, limit)
        order = SimOrder(
            client_id, self._next_id(), book.market.symbol, side, OrderType.LIMIT, qty, None,  # type: ignore[attr-defined]
            reduce_only, self.now_ms(), price=limit,  # type: ignore[attr-defined]
        )
        execution = record_fill(book, order, qty, price, Liquidity.TAKER, order.created_ms)
        self._orders[(book.market.symbol, client_id, False)] = order  # type: ignore[attr-defined]
        if self.keep_executions:  # type: ignore[attr-defined]
            self.executions.append(execution)  # type: ignore[attr-defined]
        return order.snapshot(book.account.asset)


def _check_resting_margin(book: SymbolBook, side: Side, qty: Decimal, price: Decimal) -> None:
    """-2027 when the position plus this order would exceed what the leverage allows; -2019 when the
    free balance cannot hold the order's initial margin plus the taker fee on it (conservative: the
    maker fee is at most the taker fee)."""
    q = book.qty
    same_side = q == 0 or (q > 0) == (side is Side.BUY)
    after = abs(q) + qty if same_side else max(qty - abs(q), ZERO)
    if after * price > max_notional_for_leverage(book.brackets, book.leverage):
        raise MaxPositionExceeded()
    notional = qty * price
    if notional / Decimal(book.leverage) + notional * book.fees.taker > book.account.available:
        raise MarginInsufficient()
