"""The simulated matching engine: one deterministic implementation of Binance USD-M order handling that
backtest and paper trade against in-process, and that a fake fapi server can serve on the wire.

What it models (everything else is out of scope and refused or ignored, see each method):
- markets and filters from a real exchangeInfo; rejections with Binance's codes and messages;
- market orders filled at the latest known price with adverse slippage (flat, or market-aware: see
  `slippage`); reduce-only stop-market and take-profit-market conditional orders triggered by candles
  (see `matching` for the intra-candle rule);
- limit orders (GTC, or post-only GTX) that cross and fill as takers or rest and fill as makers, in part
  by the candle's volume (the fill model: `resting`);
- one-way mode, isolated margin per position, leverage per symbol (default 10), liquidation from the
  leverage brackets, maker/taker fees per settle asset, funding: a constant rate every 8 h or the
  historical rates of each symbol (`set_funding`).

Time never comes from the wall: order timestamps come from the injected clock, or without one from the
open time of the latest candle fed. Candles must be fed in time order per symbol.

Persistence: `state_dict()` is the whole mutable state as JSON-safe data (version 1); `restore_state` /
`from_state` bring it back so that a restored engine continues exactly like the saved one (what is and is
not kept: see `state_dict`; the JSON shapes: `state`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.clock import Clock, to_ms
from engine.venue.errors import (
    DuplicateClientOrderId,
    InvalidLeverage,
    InvalidSymbol,
    LeverageReductionRejected,
    MarginInsufficient,
    MarginModeLockedByOrders,
    MarginModeLockedByPosition,
    MaxPositionExceeded,
    NotSupported,
    OrderNotFound,
    ReduceOnlyRejected,
    SymbolNotTrading,
    VenueUnavailable,
    WouldImmediatelyTrigger,
)
from engine.venue.filters import check_min_notional, check_price, check_quantity
from engine.venue.leverage import DEFAULT_BRACKETS, Brackets, max_leverage_for, max_notional_for_leverage
from engine.venue.markets import Market
from engine.venue.sim.book import SettleAccount, SimOrder, SymbolBook, to_decimal
from engine.venue.sim.fees import DEFAULT_FEES, FeeSchedule
from engine.venue.sim.matching import CandleWalker
from engine.venue.sim.persistence import EngineStateMixin
from engine.venue.sim.resting import LimitOrdersMixin, check_client_id, volume_budget
from engine.venue.sim.slippage import SlippageModelName, make_slippage
from engine.venue.types import (
    ZERO,
    Balance,
    Execution,
    ExecutionKind,
    MarginMode,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    Side,
)

FUNDING_INTERVAL_MS = 8 * 3_600_000
DEFAULT_IMPACT_BPS = 10
DEFAULT_MAX_VOLUME_SHARE = Decimal("0.1")
# (open_ms, o, h, l, c) rows: a sequence of tuples, or a float numpy array of shape (n, 5).
FinerCandles = Sequence[tuple[int, float, float, float, float]] | Any


@dataclass
class FundingTally:
    """Funding settlements since the engine was made (all symbols): paid and received are both >= 0."""

    paid: Decimal = ZERO
    received: Decimal = ZERO
    settlements: int = 0

    def add(self, amount: Decimal) -> None:
        self.settlements += 1
        if amount < 0:
            self.paid -= amount
        else:
            self.received += amount


class MatchingEngine(LimitOrdersMixin, EngineStateMixin):
    """Simulated Binance USD-M futures account and matching engine (synchronous; wrap with SimVenue).

    Parameters: `markets` by unified symbol; `balances` initial wallet per settle asset; `brackets` per
    unified symbol (markets without fall back to DEFAULT_BRACKETS); `fees` per settle asset (default
    DEFAULT_FEES: USDT taker 0.0005 maker 0.0002, USDC taker 0.0004 maker 0): the taker rate on market,
    stop, take-profit and crossing limit fills, the maker rate on resting limit fills;
    `slippage_model` "flat" (default: `slippage_bps` on every taker fill) or "market" (square-root
    impact `impact_bps` against the candle's volume, at least a tick; see `slippage`);
    `max_volume_share` of a candle's volume our resting limits may fill (see `resting`);
    `default_leverage`; `funding_rate` per 8 h (None: no funding); `clock` for order timestamps.
    Raises ValueError for an unknown slippage model, slippage_bps with the market model, or a volume
    share outside (0, 1]."""

    def __init__(
        self,
        markets: Mapping[str, Market],
        *,
        balances: Mapping[str, Decimal | int | str],
        brackets: Mapping[str, Brackets] | None = None,
        fees: Mapping[str, FeeSchedule] | None = None,
        slippage_bps: Decimal | int | str = 0,
        slippage_model: SlippageModelName = "flat",
        impact_bps: Decimal | int | str = DEFAULT_IMPACT_BPS,
        max_volume_share: Decimal | int | str = DEFAULT_MAX_VOLUME_SHARE,
        default_leverage: int = 10,
        funding_rate: Decimal | None = None,
        clock: Clock | None = None,
        keep_executions: bool = True,
    ) -> None:
        self.markets = dict(markets)
        # A backtest reads closed positions, not the fill log, which would grow with every fill.
        self.keep_executions = keep_executions
        self._brackets = dict(brackets or {})
        self._fees = dict(DEFAULT_FEES if fees is None else fees)
        self.slippage = Decimal(str(slippage_bps)) / Decimal(10_000)
        self.slippage_model = slippage_model
        self.impact = Decimal(str(impact_bps)) / Decimal(10_000)
        self.max_volume_share = Decimal(str(max_volume_share))
        if not 0 < self.max_volume_share <= 1:
            raise ValueError(f"max_volume_share must be in (0, 1], got {max_volume_share}")
        self._slippage = make_slippage(slippage_model, self.slippage, self.impact)
        self.default_leverage = default_leverage
        self.funding_rate = funding_rate
        self._clock = clock
        self._accounts = {
            asset: SettleAccount(asset, Decimal(str(amount))) for asset, amount in balances.items()
        }
        self._books: dict[str, SymbolBook] = {}
        self._orders: dict[tuple[str, str, bool], SimOrder] = {}
        self._seq = 0
        self._time_ms = 0
        self.executions: list[Execution] = []
        self._walker = CandleWalker(self._slippage, funding_rate, self._next_id)
        self._funding: dict[str, tuple[list[int], list[Decimal]]] = {}
        self.funding_tally = FundingTally()

    def set_funding(self, history: Mapping[str, Sequence[tuple[int, Decimal]]]) -> None:
        """Charge funding from history instead of the constant `funding_rate`: per unified symbol, its
        (time_ms, rate) funding events; whoever holds a position at an event pays or receives
        `position * mark * rate` (the mark: the open of the candle walked at that time). A symbol
        named here with no events gets no funding at all; symbols not named keep the constant rate
        (None: none). Open positions move to the next event of their new schedule. Not saved in
        `state_dict`: a restored engine is given its history again."""
        for symbol, events in history.items():
            pairs = sorted((int(t), Decimal(str(r))) for t, r in events)
            self._funding[symbol] = ([t for t, _ in pairs], [r for _, r in pairs])
            book = self._books.get(symbol)
            if book is not None:
                self._apply_funding(book)

    def _apply_funding(self, book: SymbolBook) -> None:
        times, rates = self._funding[book.market.symbol]
        book.funding_times, book.funding_rates = times, rates
        if book.qty != 0:
            book.next_funding_ms = book.funding_after(self._time_ms)

    def _set_slippage(self, fraction: Decimal, impact: Decimal) -> None:
        """Flat slippage and market impact as fractions (a restored state's exact figures, not via bps)."""
        self.slippage, self.impact = fraction, impact
        self._slippage = self._walker.slippage = make_slippage(self.slippage_model, fraction, impact)

    # ---- time, ids, books ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Injected clock time, or the open time of the latest candle fed."""
        return to_ms(self._clock.now()) if self._clock is not None else self._time_ms

    def _next_id(self) -> str:
        self._seq += 1
        return str(self._seq)

    def _account(self, asset: str) -> SettleAccount:
        account = self._accounts.get(asset)
        if account is None:
            account = self._accounts[asset] = SettleAccount(asset, ZERO)
        return account

    def update_market(self, market: Market) -> None:
        """Take a market's new filters or status (as Binance publishes them in exchangeInfo): later orders
        are checked against it; resting orders and the position are left as they are, as on Binance."""
        self.markets[market.symbol] = market
        book = self._books.get(market.symbol)
        if book is not None:
            book.market = market

    def book(self, symbol: str) -> SymbolBook:
        """The book of a unified symbol, created on first use. Raises InvalidSymbol (-1121)."""
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = self._new_book(symbol, self._account)
        return book

    def _new_book(self, symbol: str, account_for: Callable[[str], SettleAccount]) -> SymbolBook:
        market = self.markets.get(symbol)
        if market is None:
            raise InvalidSymbol()
        fees = self._fees.get(market.settle) or self._fees.get(market.quote)
        if fees is None:
            raise ValueError(f"no fee schedule for settle asset {market.settle}; pass fees={{...}}")
        book = SymbolBook(
            market,
            self._brackets.get(symbol, DEFAULT_BRACKETS),
            fees,
            account_for(market.settle),
            self.default_leverage,
            FUNDING_INTERVAL_MS if self.funding_rate is not None else None,
        )
        if symbol in self._funding:
            book.funding_times, book.funding_rates = self._funding[symbol]
        return book

    # ---- market data -----------------------------------------------------------------------------------

    def on_candle(
        self,
        symbol: str,
        open_ms: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float = 0.0,
        finer: FinerCandles | None = None,
    ) -> list[Execution]:
        """Feed one candle (floats; `v` its base-asset volume). Returns the executions it caused, in
        order: funding, triggered stops/take-profits, resting limit fills, liquidation. `finer`:
        (open_ms, o, h, l, c) candles covering the same interval, used to order events inside it;
        without them the conservative rule applies. Resting limits fill at most `max_volume_share` of
        `v` in this candle, finer candles included; `v` is also the volume the market-aware slippage
        measures orders against until the next candle. Raises InvalidSymbol. Near-free for a symbol
        with no orders and no position."""
        book = self._books.get(symbol) or self.book(symbol)
        if open_ms > self._time_ms:
            self._time_ms = open_ms
        book.volume = v
        if not book.busy or (lo > book.fall_max and h < book.rise_min and open_ms < book.next_funding_ms):
            book.last = c
            return []
        book.volume_left = volume_budget(book, v, self.max_volume_share)
        out: list[Execution] = []
        if finer is not None and len(finer):
            # A numpy block (engine.market.finer) is converted only here, for a symbol with something to walk.
            rows = finer.tolist() if hasattr(finer, "tolist") else finer
            for f_ms, f_o, f_h, f_l, f_c in rows:
                self._walker.walk(book, int(f_ms), f_o, f_h, f_l, f_c, out)
            book.last = c
        else:
            self._walker.walk(book, open_ms, o, h, lo, c, out)
        for execution in out:
            if execution.kind is ExecutionKind.FUNDING:
                self.funding_tally.add(execution.funding)
        if self.keep_executions:
            self.executions.extend(out)
        return out

    def forget(self, symbol: str, client_ids: Iterable[str]) -> None:
        """Drop finished orders from the index (a backtest, for a closed position's: never looked up again)."""
        for key in ((symbol, c, conditional) for c in client_ids for conditional in (False, True)):
            if (order := self._orders.get(key)) is not None and not order.status.is_open:
                del self._orders[key]

    def busy_books(self) -> list[SymbolBook]:
        """The books a candle can change (their trigger bounds tell the skipping backtest which candle can)."""
        return [b for b in self._books.values() if b.busy]

    def mark(self, symbol: str, open_ms: int, close: float, volume: float) -> None:
        """What a candle that changes nothing leaves (on_candle's fast path), for one the backtest jumped."""
        book = self._books.get(symbol) or self.book(symbol)
        self._time_ms = max(self._time_ms, open_ms)
        book.volume, book.last = volume, close

    def last_price(self, symbol: str) -> Decimal | None:
        last = self.book(symbol).last
        return None if last is None else to_decimal(last)

    # ---- orders ----------------------------------------------------------------------------------------

    def place_market(
        self, symbol: str, side: Side, qty: Decimal, client_id: str, reduce_only: bool = False
    ) -> OrderState:
        """Fill a market order now at the latest price with slippage; see Venue.place_market for the
        promises and errors. Raises VenueUnavailable when no candle has been fed for the symbol yet."""
        book = self.book(symbol)
        market = book.market
        check_client_id(client_id)
        existing = self._orders.get((symbol, client_id, False))
        if existing is not None and existing.status.is_open:
            raise DuplicateClientOrderId()  # a resting limit order has this client id
        if book.last is None:
            raise VenueUnavailable(f"no price for {symbol} yet: feed a candle before trading it")
        error = check_quantity(market, qty, market_order=True)
        if error is not None:
            raise error
        reference = to_decimal(book.last)
        q = book.qty
        reducing = q != 0 and (q > 0) != (side is Side.BUY)
        if reduce_only:
            if not reducing:
                raise ReduceOnlyRejected()
            qty = min(qty, abs(q))
        else:
            if not market.is_trading:
                raise SymbolNotTrading()
            error = check_min_notional(market, qty, reference, reduce_only=False)
            if error is not None:
                raise error
            self._check_margin(book, side, qty, reference)
        price = self._slippage.price(reference, side, qty, market.tick_size, book.volume)
        order = SimOrder(
            client_id, self._next_id(), symbol, side, OrderType.MARKET, qty, None, reduce_only, self.now_ms()
        )
        execution = book.apply_fill(
            side,
            qty,
            price,
            kind=ExecutionKind.MARKET,
            client_id=client_id,
            venue_id=order.venue_id,
            reduce_only=reduce_only,
            now_ms=order.created_ms,
        )
        order.status, order.filled, order.average_price, order.fee = (
            OrderStatus.FILLED,
            qty,
            price,
            execution.fee,
        )
        self._orders[(symbol, client_id, False)] = order
        if self.keep_executions:
            self.executions.append(execution)
        return order.snapshot(book.account.asset)

    def _check_margin(self, book: SymbolBook, side: Side, qty: Decimal, price: Decimal) -> None:
        """-2027 when the resulting position exceeds what the leverage allows; -2019 when the available
        balance (plus margin released by the closing part) cannot pay initial margin + taker fee."""
        q = book.qty
        if q == 0 or (q > 0) == (side is Side.BUY):
            opening, released, position_after = qty, ZERO, abs(q) + qty
        else:
            opening = qty - abs(q)
            if opening <= 0:
                return  # only reduces: needs no margin
            released, position_after = book.margin, opening
        if position_after * price > max_notional_for_leverage(book.brackets, book.leverage):
            raise MaxPositionExceeded()
        required = opening * price / Decimal(book.leverage) + qty * price * book.fees.taker
        if required > book.account.available + released:
            raise MarginInsufficient()

    def place_conditional(
        self, symbol: str, type_: OrderType, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        """Rest a reduce-only stop-market / take-profit-market order; see Venue.place_stop_market for the
        promises and errors. The quantity may exceed the position: it is trimmed when it fills."""
        if not type_.is_conditional:
            raise ValueError(f"{type_} is not a conditional order type")
        book = self.book(symbol)
        check_client_id(client_id)
        existing = self._orders.get((symbol, client_id, True))
        if existing is not None and existing.status.is_open:
            raise DuplicateClientOrderId()
        error = check_quantity(book.market, qty, market_order=True) or check_price(book.market, trigger_price)
        if error is not None:
            raise error
        q = book.qty
        if q == 0 or (q > 0) == (side is Side.BUY):
            raise ReduceOnlyRejected()
        # Binance compares with the current price: a sell stop at or above it would fire at once.
        falling = (type_ is OrderType.STOP_MARKET) == (side is Side.SELL)
        trigger_f, last = float(trigger_price), book.last
        if last is not None and (trigger_f >= last if falling else trigger_f <= last):
            raise WouldImmediatelyTrigger()
        order = SimOrder(
            client_id, self._next_id(), symbol, side, type_, qty, trigger_price, True, self.now_ms()
        )
        book.orders.append(order)
        book.refresh()
        self._orders[(symbol, client_id, True)] = order
        return order.snapshot(book.account.asset)

    def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderState:
        """Cancel an open order (limit orders: `conditional=False`); a partly filled limit order comes
        back CANCELED with its fills kept, and the margin held for its rest is released. Raises
        OrderNotFound (-2011 "Unknown order sent.") when none is open."""
        book = self.book(symbol)
        order = self._orders.get((symbol, client_id, conditional))
        if order is None or not order.status.is_open:
            raise OrderNotFound("Unknown order sent.", code=-2011)
        book.close_order(order, OrderStatus.CANCELED, self.now_ms())
        return order.snapshot(book.account.asset)

    def fetch_order(self, symbol: str, client_id: str, conditional: bool) -> OrderState | None:
        """The latest order placed with this client id, or None."""
        book = self.book(symbol)
        order = self._orders.get((symbol, client_id, conditional))
        return None if order is None else order.snapshot(book.account.asset)

    def filled_order(self, symbol: str, client_id: str) -> SimOrder | None:
        """The order with this client id on either book (normal or conditional) if any of it filled,
        without building a snapshot (read it, never change it): for reports over many closed trades."""
        for conditional in (False, True):
            order = self._orders.get((symbol, client_id, conditional))
            if order is not None and order.filled > 0:
                return order
        return None

    def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        """Open orders: resting limit orders and conditional orders, in placement order per symbol."""
        books = [self.book(symbol)] if symbol is not None else list(self._books.values())
        return [order.snapshot(book.account.asset) for book in books for order in book.orders]

    # ---- account ---------------------------------------------------------------------------------------

    def brackets_of(self, symbol: str) -> Brackets:
        """The leverage brackets this engine enforces on `symbol` (DEFAULT_BRACKETS when none were given)."""
        return self._brackets.get(symbol, DEFAULT_BRACKETS)

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """See Venue.set_leverage. Raising leverage never changes an open position's margin."""
        book = self.book(symbol)
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= 125:
            raise InvalidLeverage(f"Leverage {leverage} is not valid")
        if leverage > max_leverage_for(book.brackets, abs(book.qty) * book.entry):
            if book.qty != 0:
                raise MaxPositionExceeded()
            raise InvalidLeverage(f"Leverage {leverage} is not valid")
        if book.qty != 0 and leverage < book.leverage:
            raise LeverageReductionRejected()
        book.leverage = leverage
        for order in book.orders:
            book.reserve(order)  # a resting limit's margin follows the leverage, as on Binance

    def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """See Venue.set_margin_mode. Raises NotSupported for cross: the simulator models isolated only."""
        book = self.book(symbol)
        mode = MarginMode(mode)
        if mode is book.margin_mode:
            return
        if book.qty != 0:
            raise MarginModeLockedByPosition()
        if book.orders:
            raise MarginModeLockedByOrders()
        raise NotSupported("the simulator models isolated margin only")

    def balance(self, asset: str) -> Balance:
        """Wallet of one settle asset; unrealised PnL at the latest prices. `used` is the margin of the
        positions plus the initial margin held by resting opening limit orders; `free` what is left."""
        account = self._accounts.get(asset) or SettleAccount(asset, ZERO)
        unrealized = sum((b.unrealized_pnl() for b in self._books.values() if b.account is account), ZERO)
        return Balance(
            asset=asset,
            wallet=account.wallet,
            total=account.wallet + unrealized,
            free=account.available,
            used=account.used + account.reserved,
            unrealized_pnl=unrealized,
        )

    def account_totals(self, asset: str) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """(initial, realised PnL, fees, funding) of a settle asset.
        Invariant: wallet == initial + pnl - fees + funding."""
        account = self._accounts.get(asset) or SettleAccount(asset, ZERO)
        return account.initial, account.realized_pnl, account.fees, account.funding

    def positions(self) -> list[Position]:
        """Every non-zero position, marked at the latest price."""
        out = []
        for book in self._books.values():
            if book.qty == 0:
                continue
            mark = to_decimal(book.last) if book.last is not None else book.entry
            out.append(
                Position(
                    symbol=book.market.symbol,
                    side=PositionSide.LONG if book.qty > 0 else PositionSide.SHORT,
                    qty=abs(book.qty),
                    entry_price=book.entry,
                    mark_price=mark,
                    unrealized_pnl=(mark - book.entry) * book.qty,
                    leverage=book.leverage,
                    margin_mode=book.margin_mode,
                    margin=book.margin,
                    liquidation_price=book.liq_price,
                )
            )
        return out

