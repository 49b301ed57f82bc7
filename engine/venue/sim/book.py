"""Per-symbol state of the simulator: the net position, its isolated margin and liquidation price, the
resting orders (conditional orders and limit orders), and the Decimal maths of a fill. Accounts hold one
settle asset each.

Hot-path caches (floats) live beside the exact state: `fall_max` is the highest price at which something
fires when the price falls (sell stops, buy take-profits, buy limits, a long's liquidation), `rise_min`
the lowest that fires when it rises. A candle with low > fall_max and high < rise_min cannot change
anything.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from engine.venue.leverage import Bracket, isolated_liquidation_price
from engine.venue.markets import Market
from engine.venue.sim.fees import FeeSchedule
from engine.venue.types import (
    ZERO,
    Execution,
    ExecutionKind,
    Liquidity,
    MarginMode,
    OrderState,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
)

NEVER_MS = 1 << 62
_EIGHT_DP = Decimal("0.00000001")
_INF = float("inf")


def q8(value: Decimal) -> Decimal:
    """Money as Binance reports it: 8 decimal places."""
    return value.quantize(_EIGHT_DP, rounding=ROUND_HALF_UP)


def to_decimal(price: float) -> Decimal:
    """A candle float as the decimal it was written as (repr is the shortest round-tripping text)."""
    return Decimal(repr(float(price)))


class SettleAccount:
    """Wallet of one settle asset. Invariant: wallet == initial + realized_pnl - fees + funding.
    `reserved` is the initial margin held by resting opening limit orders (derived from the open
    orders, never saved)."""

    __slots__ = ("asset", "initial", "wallet", "used", "reserved", "realized_pnl", "fees", "funding")

    def __init__(self, asset: str, initial: Decimal) -> None:
        self.asset = asset
        self.initial = initial
        self.wallet = initial
        self.used = ZERO  # sum of the isolated margins of its positions
        self.reserved = ZERO
        self.realized_pnl = ZERO
        self.fees = ZERO
        self.funding = ZERO

    @property
    def available(self) -> Decimal:
        return self.wallet - self.used - self.reserved


class SimOrder:
    """A mutable order inside the simulator; callers only ever see `snapshot()`. A LIMIT order has a
    `price` (and no trigger); `trigger_f`/`falling` then describe the price the walk must pass strictly:
    a buy limit fills when the price falls through it, a sell limit when it rises through it."""

    __slots__ = (
        "client_id",
        "venue_id",
        "symbol",
        "side",
        "type",
        "qty",
        "trigger",
        "trigger_f",
        "falling",
        "reduce_only",
        "status",
        "filled",
        "average_price",
        "fee",
        "created_ms",
        "updated_ms",
        "triggered_ms",
        "price",
        "post_only",
        "liquidity",
        "reserved",
    )

    def __init__(
        self,
        client_id: str,
        venue_id: str,
        symbol: str,
        side: Side,
        type_: OrderType,
        qty: Decimal,
        trigger: Decimal | None,
        reduce_only: bool,
        now_ms: int,
        *,
        price: Decimal | None = None,
        post_only: bool = False,
    ) -> None:
        self.client_id = client_id
        self.venue_id = venue_id
        self.symbol = symbol
        self.side = side
        self.type = type_
        self.qty = qty
        self.trigger = trigger
        level = trigger if trigger is not None else price
        self.trigger_f = float(level) if level is not None else 0.0
        # A sell stop, a buy take-profit and a buy limit fire when the price falls; the others on a rise.
        self.falling = (type_ is OrderType.STOP_MARKET) == (side is Side.SELL)
        self.price = price
        self.post_only = post_only
        self.liquidity: Liquidity | None = None
        self.reserved = ZERO  # initial margin held for the unfilled rest (opening limit orders)
        self.reduce_only = reduce_only
        self.status = OrderStatus.NEW
        self.filled = ZERO
        self.average_price: Decimal | None = None
        self.fee = ZERO
        self.created_ms = now_ms
        self.updated_ms = now_ms
        self.triggered_ms: int | None = None

    def snapshot(self, fee_asset: str) -> OrderState:
        return OrderState(
            client_id=self.client_id,
            venue_id=self.venue_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            qty=self.qty,
            filled=self.filled,
            average_price=self.average_price,
            trigger_price=self.trigger,
            reduce_only=self.reduce_only,
            status=self.status,
            fee=self.fee,
            fee_asset=fee_asset,
            created_ms=self.created_ms,
            updated_ms=self.updated_ms,
            triggered_ms=self.triggered_ms,
            price=self.price,
            post_only=self.post_only,
            liquidity=self.liquidity,
        )

    @property
    def is_limit(self) -> bool:
        return self.type is OrderType.LIMIT


class SymbolBook:
    """Position and resting orders of one symbol (one-way mode: one signed net quantity)."""

    __slots__ = (
        "market",
        "brackets",
        "fees",
        "account",
        "leverage",
        "margin_mode",
        "qty",
        "entry",
        "margin",
        "liq_price",
        "orders",
        "last",
        "fall_max",
        "rise_min",
        "funding_interval_ms",
        "funding_times",
        "funding_rates",
        "next_funding_ms",
        "busy",
        "volume",
        "volume_left",
    )

    def __init__(
        self,
        market: Market,
        brackets: Sequence[Bracket],
        fees: FeeSchedule,
        account: SettleAccount,
        leverage: int,
        funding_interval_ms: int | None = None,
    ) -> None:
        self.market = market
        self.brackets = brackets
        self.fees = fees
        self.account = account
        self.leverage = leverage
        self.margin_mode = MarginMode.ISOLATED
        self.qty = ZERO  # signed: > 0 long, < 0 short
        self.entry = ZERO
        self.margin = ZERO
        self.liq_price: Decimal | None = None
        self.orders: list[SimOrder] = []  # open conditional orders, in placement order
        self.last: float | None = None
        self.fall_max = -_INF
        self.rise_min = _INF
        self.funding_interval_ms = funding_interval_ms  # None: funding off (unless a history is set)
        # Historical funding (MatchingEngine.set_funding): event times ascending, the rate of each.
        self.funding_times: list[int] | None = None
        self.funding_rates: list[Decimal] = []
        self.next_funding_ms = NEVER_MS
        self.busy = False
        self.volume = 0.0  # base volume of the latest candle fed (market-aware slippage)
        self.volume_left = ZERO  # what resting limits may still fill in the candle being walked

    @property
    def position_side(self) -> PositionSide | None:
        if self.qty == 0:
            return None
        return PositionSide.LONG if self.qty > 0 else PositionSide.SHORT

    def unrealized_pnl(self) -> Decimal:
        if self.qty == 0 or self.last is None:
            return ZERO
        return (to_decimal(self.last) - self.entry) * self.qty

    def refresh(self) -> None:
        """Recompute the hot-path caches after any change to orders or the position."""
        fall, rise = -_INF, _INF
        for order in self.orders:
            if order.falling:
                fall = max(fall, order.trigger_f)
            else:
                rise = min(rise, order.trigger_f)
        if self.liq_price is not None:
            if self.qty > 0:
                fall = max(fall, float(self.liq_price))
            else:
                rise = min(rise, float(self.liq_price))
        self.fall_max, self.rise_min = fall, rise
        self.busy = bool(self.orders) or self.qty != 0

    def reserve(self, order: SimOrder) -> None:
        """Hold initial margin for the unfilled rest of an opening (not reduce-only) limit order at the
        book's leverage; called after every change to the order's fill or the leverage, and with the
        order closed (reserving nothing)."""
        rest = order.qty - order.filled
        wanted = (
            rest * order.price / Decimal(self.leverage)
            if order.is_limit and not order.reduce_only and order.status.is_open and order.price is not None
            else ZERO
        )
        self.account.reserved += wanted - order.reserved
        order.reserved = wanted

    def close_order(self, order: SimOrder, status: OrderStatus, now_ms: int) -> None:
        """Take a resting order off the book with a final status (its fills so far are kept)."""
        order.status = status
        order.updated_ms = now_ms
        self.orders.remove(order)
        self.reserve(order)
        self.refresh()

    def _update_liquidation_price(self) -> None:
        if self.qty == 0:
            self.liq_price = None
            return
        side = PositionSide.LONG if self.qty > 0 else PositionSide.SHORT
        self.liq_price = isolated_liquidation_price(
            side, abs(self.qty), self.entry, self.margin, self.brackets
        )

    def apply_fill(
        self,
        side: Side,
        qty: Decimal,
        price: Decimal,
        *,
        kind: ExecutionKind,
        client_id: str | None,
        venue_id: str | None,
        reduce_only: bool,
        now_ms: int,
        liquidity: Liquidity = Liquidity.TAKER,
    ) -> Execution:
        """Apply a fill to the position and the account; return what it did. The fee is the taker or
        the maker rate by `liquidity`.

        Increasing: weighted-average entry, margin += added notional / leverage. Reducing: realised
        PnL = closed qty * (price - entry) * direction, margin released pro rata. Crossing zero (only
        without reduce-only): the remainder opens the other side at `price`. The wallet moves by
        realised PnL - fee, both rounded to 8 dp like Binance's trade records."""
        account = self.account
        q = self.qty
        signed = qty if side is Side.BUY else -qty
        lev = Decimal(self.leverage)
        realized = ZERO
        if q == 0 or (q > 0) == (signed > 0):
            new_q = q + signed
            self.entry = (abs(q) * self.entry + qty * price) / abs(new_q)
            added = qty * price / lev
            self.margin += added
            account.used += added
        else:
            closed = min(qty, abs(q))
            realized = q8(closed * (price - self.entry) * (1 if q > 0 else -1))
            released = self.margin if closed == abs(q) else self.margin * closed / abs(q)
            self.margin -= released
            account.used -= released
            new_q = q + signed
            if new_q == 0:
                self.entry = ZERO
            elif (new_q > 0) != (q > 0):
                self.entry = price
                self.margin = abs(new_q) * price / lev
                account.used += self.margin
        was_flat = q == 0
        self.qty = new_q
        rate = self.fees.maker if liquidity is Liquidity.MAKER else self.fees.taker
        fee = q8(qty * price * rate)
        account.wallet += realized - fee
        account.realized_pnl += realized
        account.fees += fee
        if new_q == 0:
            self.next_funding_ms = NEVER_MS
        elif was_flat:
            # Funding is paid by whoever holds the position at the next funding time (00/08/16 UTC).
            self.next_funding_ms = self.funding_after(now_ms)
        self._update_liquidation_price()
        self.refresh()
        return Execution(
            client_id=client_id,
            venue_id=venue_id,
            symbol=self.market.symbol,
            side=side,
            qty=qty,
            price=price,
            fee=fee,
            fee_asset=account.asset,
            realized_pnl=realized,
            reduce_only=reduce_only,
            kind=kind,
            timestamp_ms=now_ms,
            position_after=new_q,
            liquidity=liquidity,
        )

    def liquidate(self, price: Decimal, *, venue_id: str, now_ms: int) -> Execution:
        """Close the whole position at `price` by the liquidation engine. Isolated margin: the wallet loses
        exactly the position's margin, never more (the insurance fund covers a deficit). Realised PnL is
        the loss at `price`, floored at -margin; what remains of the margin is charged as the liquidation
        clearance fee (it includes the taker fee)."""
        account = self.account
        q = self.qty
        qty = abs(q)
        margin = self.margin
        realized = q8(max(qty * (price - self.entry) * (1 if q > 0 else -1), -margin))
        fee = q8(margin + realized)
        account.wallet += realized - fee
        account.realized_pnl += realized
        account.fees += fee
        account.used -= margin
        self.qty = ZERO
        self.entry = ZERO
        self.margin = ZERO
        self.next_funding_ms = NEVER_MS
        self._update_liquidation_price()
        self.refresh()
        side = Side.SELL if q > 0 else Side.BUY
        return Execution(
            client_id=f"autoclose-{venue_id}",
            venue_id=venue_id,
            symbol=self.market.symbol,
            side=side,
            qty=qty,
            price=price,
            fee=fee,
            fee_asset=account.asset,
            realized_pnl=realized,
            reduce_only=True,
            kind=ExecutionKind.LIQUIDATION,
            timestamp_ms=now_ms,
            position_after=ZERO,
        )

    def funding_after(self, ms: int) -> int:
        """The first funding time after `ms`: from the history when one is set (NEVER_MS past its
        end: no rate known, none charged), else every `funding_interval_ms`, else NEVER_MS."""
        times = self.funding_times
        if times is not None:
            i = bisect_right(times, ms)
            return times[i] if i < len(times) else NEVER_MS
        if self.funding_interval_ms:
            return (ms // self.funding_interval_ms + 1) * self.funding_interval_ms
        return NEVER_MS

    def funding_rate_at(self, ms: int, constant: Decimal | None) -> Decimal | None:
        """The rate of the funding event at `ms`: the history's, else the engine's constant rate."""
        times = self.funding_times
        if times is not None:
            i = bisect_left(times, ms)
            return self.funding_rates[i] if i < len(times) and times[i] == ms else None
        return constant

    def pay_funding(self, mark: Decimal, rate: Decimal, *, now_ms: int) -> Execution:
        """Funding at `mark`: longs pay shorts when `rate` > 0. In isolated mode the payment moves the
        position's margin too (so the liquidation price moves), as on Binance."""
        account = self.account
        amount = q8(-self.qty * mark * rate)
        account.wallet += amount
        account.funding += amount
        self.margin += amount
        account.used += amount
        self._update_liquidation_price()
        self.refresh()
        side = Side.SELL if self.qty > 0 else Side.BUY
        return Execution(
            client_id=None,
            venue_id=None,
            symbol=self.market.symbol,
            side=side,
            qty=ZERO,
            price=mark,
            fee=ZERO,
            fee_asset=account.asset,
            realized_pnl=ZERO,
            reduce_only=False,
            kind=ExecutionKind.FUNDING,
            timestamp_ms=now_ms,
            position_after=self.qty,
            funding=amount,
        )
