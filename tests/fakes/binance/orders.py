"""Binance's order books over the matching engine: normal orders (`/fapi/v1/order`, int `orderId`) and
algo orders (`/fapi/v1/algoOrder`, int `algoId`), the trades they made, and the income they caused.

The engine decides every fill and rejection; this layer only gives them Binance's identities and
lifecycle. A MARKET order fills at once (FILLED, or EXPIRED with part filled under a partial-fill fault).
An algo order rests in the engine as a reduce-only conditional order; when a candle triggers it, it
becomes FINISHED with `actualOrderId` naming a new FILLED MARKET order (queryable on `/fapi/v1/order`),
or EXPIRED when nothing was left to reduce. LIMIT orders rest here, not in the engine (see `limits`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from engine.venue.errors import OrderRejected, ReduceOnlyRejected
from engine.venue.filters import check_min_notional, check_quantity, floor_to_step
from engine.venue.markets import Market
from engine.venue.sim import MatchingEngine
from engine.venue.types import ZERO, Execution, ExecutionKind, OrderStatus, OrderType, Side
from tests.fakes.binance.limits import LimitOrders

# Binance order ids are int64 and can exceed 2**53 (JavaScript's exact-integer limit): start above it so a
# client that parses ids as floats loses digits in tests, not in production.
ORDER_ID_START = 2**53 + 1001
ALGO_ID_START = 2_146_761
TRADE_ID_START = 600_000_001
MAX_OPEN_ALGO_ORDERS = 200  # across all symbols (Binance changelog 2025-12-29)


@dataclass
class OrderRecord:
    order_id: int
    market: Market
    client_order_id: str
    side: str  # "BUY" / "SELL"
    orig_type: str  # MARKET, LIMIT; STOP_MARKET / TAKE_PROFIT_MARKET for an algo order's actual order; LIQUIDATION
    orig_qty: Decimal
    time_ms: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    avg_price: Decimal = ZERO
    status: str = "NEW"
    reduce_only: bool = False
    stop_price: Decimal = ZERO
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    update_ms: int = 0
    price: Decimal = ZERO  # a LIMIT order's limit price
    time_in_force: str = "GTC"  # GTX for a post-only LIMIT order
    stall_at: Decimal | None = None  # a LIMIT order that stops filling at this cumulative quantity (fault)
    candle_ms: int = -1  # the candle a LIMIT order last filled in, and how much it filled there
    candle_filled: Decimal = ZERO


@dataclass
class AlgoRecord:
    algo_id: int
    market: Market
    client_algo_id: str
    side: str
    order_type: str  # STOP_MARKET / TAKE_PROFIT_MARKET
    quantity: Decimal  # as sent; 0 with closePosition
    trigger_price: Decimal
    reduce_only: bool
    close_position: bool
    working_type: str
    price_protect: bool
    create_ms: int
    update_ms: int
    status: str = "NEW"  # NEW -> FINISHED | EXPIRED | CANCELED
    trigger_ms: int = 0
    actual_order_id: int | None = None
    actual_price: Decimal | None = None


@dataclass(frozen=True)
class TradeRecord:
    trade_id: int
    order_id: int
    market: Market
    side: str
    price: Decimal
    qty: Decimal
    realized_pnl: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    maker: bool = False


@dataclass(frozen=True)
class IncomeRecord:
    market: Market
    income_type: str  # REALIZED_PNL, COMMISSION, FUNDING_FEE, INSURANCE_CLEAR
    amount: Decimal
    asset: str
    time_ms: int
    tran_id: int
    trade_id: str


class OrderDesk(LimitOrders):
    """Orders, algo orders, trades and income of one account. Raises the engine's RequestRejected kinds
    (and VenueUnavailable when a symbol has no price) for the server to answer. `limit_fill_share`: the
    most of a resting LIMIT order's quantity that one candle trading through it fills (see `limits`)."""

    def __init__(self, engine: MatchingEngine, now_ms: Callable[[], int], limit_fill_share: float = 1.0) -> None:
        super().__init__(limit_fill_share)
        self.engine = engine
        self._now = now_ms
        self.orders: dict[int, OrderRecord] = {}
        self.algos: dict[int, AlgoRecord] = {}
        self.trades: list[TradeRecord] = []
        self.income: list[IncomeRecord] = []
        self._order_by_client: dict[tuple[str, str], int] = {}
        self._algo_by_client: dict[tuple[str, str], int] = {}
        self._open_algos: dict[str, dict[int, AlgoRecord]] = {}
        self._order_ids = itertools.count(ORDER_ID_START)
        self._algo_ids = itertools.count(ALGO_ID_START)
        self._trade_ids = itertools.count(TRADE_ID_START)
        self._tran_ids = itertools.count(9_000_000_001)

    # ---- normal orders ---------------------------------------------------------------------------------

    def place_market(
        self, market: Market, side: Side, qty: Decimal, client_id: str | None, reduce_only: bool,
        fill_ratio: float | None = None,
    ) -> OrderRecord:
        """A MARKET order, filled now. With `fill_ratio` only that part fills (floored to the step) and the
        order ends EXPIRED, the position changed by the filled part only."""
        order_id = next(self._order_ids)
        client_id = client_id or f"fake-auto-{order_id}"
        filled = qty if fill_ratio is None else self._partial_quantity(market, side, qty, reduce_only, fill_ratio)
        record = OrderRecord(order_id, market, client_id, side.value.upper(), "MARKET", qty, self._now(),
                             reduce_only=reduce_only)
        if filled > 0:
            self._taker_fill(record, filled, trim=fill_ratio is None)
        record.status = "FILLED" if fill_ratio is None else "EXPIRED"
        record.update_ms = record.time_ms
        self._add_order(record)
        return record

    def _taker_fill(self, record: OrderRecord, qty: Decimal, *, trim: bool) -> None:
        """Fill `qty` of `record` now through the engine, as a market order; `trim`: a reduce-only order
        is trimmed to the position (its origQty becomes what filled)."""
        side = Side(record.side.lower())
        self.engine.place_market(record.market.symbol, side, qty, record.client_order_id, record.reduce_only)
        execution = self.engine.executions[-1]
        record.executed_qty, record.avg_price = execution.qty, execution.price
        record.cum_quote = execution.qty * execution.price
        if trim:
            record.orig_qty = execution.qty
        self._record_fill(record, execution, at=record.time_ms)

    def place_limit(
        self, market: Market, side: Side, qty: Decimal, price: Decimal, client_id: str | None, *,
        reduce_only: bool, post_only: bool, stall_ratio: float | None = None,
    ) -> OrderRecord:
        """A LIMIT order (GTC, or GTX when `post_only`): checked, then filled at once or resting (see
        `limits`). Raises the rejections of `check_limit`; nothing is recorded when it raises."""
        crossing = self.check_limit(market, side, qty, price, client_id, reduce_only=reduce_only,
                                    post_only=post_only)
        order_id = next(self._order_ids)
        record = OrderRecord(order_id, market, client_id or f"fake-auto-{order_id}", side.value.upper(), "LIMIT",
                             qty, self._now(), reduce_only=reduce_only, price=price,
                             time_in_force="GTX" if post_only else "GTC")
        return self.rest_or_take(record, crossing=crossing, stall_ratio=stall_ratio)

    def _partial_quantity(self, market: Market, side: Side, qty: Decimal, reduce_only: bool, ratio: float) -> Decimal:
        # The whole order must pass the filters; only then does the book run dry part way.
        error = check_quantity(market, qty, market_order=True)
        price = self.engine.last_price(market.symbol)
        if error is None and price is not None:
            error = check_min_notional(market, qty, price, reduce_only=reduce_only)
        if error is not None:
            raise error
        position = self.engine.book(market.symbol).qty
        if reduce_only and (position == 0 or (position > 0) == (side is Side.BUY)):
            raise ReduceOnlyRejected()
        part = floor_to_step(qty * Decimal(str(ratio)), market.market_step_size)
        if part < market.market_min_qty:
            return ZERO
        if price is not None and check_min_notional(market, part, price, reduce_only=reduce_only) is not None:
            return ZERO  # the filled part alone is below MIN_NOTIONAL: the engine would refuse it
        return part

    def _add_order(self, record: OrderRecord) -> None:
        self.orders[record.order_id] = record
        self._order_by_client[(record.market.id, record.client_order_id)] = record.order_id

    def order(self, market: Market, order_id: int | None, client_id: str | None) -> OrderRecord | None:
        if order_id is None and client_id is not None:
            order_id = self._order_by_client.get((market.id, client_id))
        record = self.orders.get(order_id) if order_id is not None else None
        return record if record is not None and record.market.id == market.id else None

    def orders_of(self, market: Market) -> list[OrderRecord]:
        return [o for o in self.orders.values() if o.market.id == market.id]

    # ---- algo orders -----------------------------------------------------------------------------------

    def place_algo(
        self, market: Market, side: Side, order_type: str, quantity: Decimal | None, trigger: Decimal,
        client_id: str | None, *, close_position: bool, reduce_only: bool, working_type: str, price_protect: bool,
    ) -> AlgoRecord:
        """A resting reduce-only conditional order. `quantity=None` with close_position: the whole position
        at trigger time."""
        if sum(len(v) for v in self._open_algos.values()) >= MAX_OPEN_ALGO_ORDERS:
            raise OrderRejected("Reach max stop order limit.", code=-4045)
        algo_id = next(self._algo_ids)
        client_id = client_id or f"fake-algo-{algo_id}"
        engine_qty = quantity if quantity is not None else market.market_max_qty
        type_ = OrderType.STOP_MARKET if order_type == "STOP_MARKET" else OrderType.TAKE_PROFIT_MARKET
        self.engine.place_conditional(market.symbol, type_, side, engine_qty, trigger, client_id)
        now = self._now()
        record = AlgoRecord(
            algo_id, market, client_id, side.value.upper(), order_type, quantity or ZERO, trigger,
            reduce_only=reduce_only, close_position=close_position, working_type=working_type,
            price_protect=price_protect, create_ms=now, update_ms=now,
        )
        self.algos[algo_id] = record
        self._algo_by_client[(market.id, client_id)] = algo_id
        self._open_algos.setdefault(market.symbol, {})[algo_id] = record
        return record

    def algo(self, algo_id: int | None, client_id: str | None, market: Market | None) -> AlgoRecord | None:
        if algo_id is None and client_id is not None:
            if market is not None:
                algo_id = self._algo_by_client.get((market.id, client_id))
            else:
                found = [a for a in self.algos.values() if a.client_algo_id == client_id]
                algo_id = found[-1].algo_id if found else None
        record = self.algos.get(algo_id) if algo_id is not None else None
        if record is None or (market is not None and record.market.id != market.id):
            return None
        return record

    def open_algos(self, market: Market | None = None) -> list[AlgoRecord]:
        books = [self._open_algos.get(market.symbol, {})] if market else list(self._open_algos.values())
        return sorted((a for book in books for a in book.values()), key=lambda a: a.algo_id)

    def algos_of(self, market: Market) -> list[AlgoRecord]:
        return [a for a in self.algos.values() if a.market.id == market.id]

    def cancel_algo(self, record: AlgoRecord, status: str = "CANCELED") -> AlgoRecord:
        """Cancel an open algo order (Raises OrderNotFound -2011 when it is not open)."""
        self.engine.cancel(record.market.symbol, record.client_algo_id, True)
        record.status = status
        record.update_ms = self._now()
        self._open_algos.get(record.market.symbol, {}).pop(record.algo_id, None)
        return record

    def find_open_algo(self, client_id: str) -> AlgoRecord | None:
        for record in self.open_algos():
            if record.client_algo_id == client_id:
                return record
        return None

    # ---- what the market did ---------------------------------------------------------------------------

    def after_candle(self, symbol: str, executions: Iterable[Execution]) -> None:
        """Book what one candle did on `symbol`: triggered algo orders, liquidations, funding."""
        opened = self._open_algos.get(symbol, {})
        for execution in executions:
            if execution.kind in (ExecutionKind.STOP_MARKET, ExecutionKind.TAKE_PROFIT_MARKET):
                self._triggered(opened, execution)
            elif execution.kind is ExecutionKind.LIQUIDATION:
                market = self.engine.markets[symbol]
                record = OrderRecord(next(self._order_ids), market, execution.client_id or "autoclose",
                                     execution.side.value.upper(), "LIQUIDATION", execution.qty,
                                     execution.timestamp_ms, execution.qty, execution.qty * execution.price,
                                     execution.price, "FILLED", True, update_ms=execution.timestamp_ms)
                self._add_order(record)
                self._record_fill(record, execution, clearance=True)
            elif execution.kind is ExecutionKind.FUNDING:
                self._add_income(self.engine.markets[symbol], "FUNDING_FEE", execution.funding,
                                 execution.fee_asset, execution.timestamp_ms, "")
        if opened and len(self.engine.book(symbol).orders) != len(opened):
            for record in list(opened.values()):  # expired: triggered with nothing left to reduce
                state = self.engine.fetch_order(symbol, record.client_algo_id, True)
                if state is not None and state.status is OrderStatus.EXPIRED:
                    record.status = "EXPIRED"
                    record.trigger_ms = record.update_ms = state.triggered_ms or self._now()
                    del opened[record.algo_id]

    def _triggered(self, opened: dict[int, AlgoRecord], execution: Execution) -> None:
        algo = next((a for a in opened.values() if a.client_algo_id == execution.client_id), None)
        if algo is None:
            raise RuntimeError(f"engine fired {execution.client_id} that the fake does not hold as open")
        at = execution.timestamp_ms
        order = OrderRecord(next(self._order_ids), algo.market, algo.client_algo_id, algo.side, algo.order_type,
                            execution.qty, at, execution.qty, execution.qty * execution.price, execution.price,
                            "FILLED", True, algo.trigger_price, algo.working_type, algo.price_protect, at)
        self._add_order(order)
        self._record_fill(order, execution)
        algo.status, algo.trigger_ms, algo.update_ms = "FINISHED", at, at
        algo.actual_order_id, algo.actual_price = order.order_id, execution.price
        del opened[algo.algo_id]

    def _record_fill(
        self, order: OrderRecord, execution: Execution, clearance: bool = False, at: int | None = None,
        maker: bool = False,
    ) -> None:
        # A market order fills at the market clock's time; the engine (fed candle by candle) only knows the
        # open time of the latest candle.
        at = execution.timestamp_ms if at is None else at
        trade = TradeRecord(next(self._trade_ids), order.order_id, order.market, order.side, execution.price,
                            execution.qty, execution.realized_pnl, execution.fee, execution.fee_asset, at, maker)
        self.trades.append(trade)
        if execution.realized_pnl != 0:
            self._add_income(order.market, "REALIZED_PNL", execution.realized_pnl, execution.fee_asset, at,
                             str(trade.trade_id))
        if execution.fee != 0:
            self._add_income(order.market, "INSURANCE_CLEAR" if clearance else "COMMISSION", -execution.fee,
                             execution.fee_asset, at, str(trade.trade_id))

    def _add_income(self, market: Market, kind: str, amount: Decimal, asset: str, at: int, trade_id: str) -> None:
        self.income.append(IncomeRecord(market, kind, amount, asset, at, next(self._tran_ids), trade_id))

    def last_update_ms(self, asset: str) -> int:
        return max((t.time_ms for t in self.trades if t.commission_asset == asset), default=0)
