"""The venue's vocabulary: plain frozen records every venue returns (simulated, paper, Binance).

Money is exact: order quantities, prices, balances, fees and PnL are `Decimal`. Market data (candles) is
`float`, because indicators work on floats and a backtest reads hundreds of thousands of candles.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from engine.values import value

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the sign the order adds to a signed position quantity."""
        return 1 if self is Side.BUY else -1


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def closing_side(self) -> Side:
        """The order side that reduces a position on this side."""
        return Side.SELL if self is PositionSide.LONG else Side.BUY


class MarginMode(StrEnum):
    ISOLATED = "isolated"
    CROSS = "cross"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"  # rests on the normal order book (GTC, or GTX when post-only)
    STOP_MARKET = "stop_market"
    TAKE_PROFIT_MARKET = "take_profit_market"

    @property
    def is_conditional(self) -> bool:
        """Conditional orders live on Binance's Algo Order API (`clientAlgoId`, `trigger=True`)."""
        return self not in (OrderType.MARKET, OrderType.LIMIT)


class Liquidity(StrEnum):
    """Which side of the book a fill was on: a resting order that was hit is the MAKER (maker fee), an
    order that crossed the book is the TAKER (taker fee). Market, stop-market and take-profit-market
    fills are always taker fills."""

    MAKER = "maker"
    TAKER = "taker"


class OrderStatus(StrEnum):
    NEW = "new"  # accepted and resting (conditional orders waiting for their trigger)
    PARTIALLY_FILLED = "partially_filled"  # a resting limit order, part of it filled, the rest still resting
    FILLED = "filled"  # for a conditional order: triggered AND its market order filled
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"  # e.g. a reduce-only order that triggered with no position left to reduce
    TRIGGERED = "triggered"  # conditional order triggered, fill of its market order not (yet) known

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class ExecutionKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"  # a fill of a LIMIT order: crossing at placement (taker) or resting (maker)
    STOP_MARKET = "stop_market"
    TAKE_PROFIT_MARKET = "take_profit_market"
    LIQUIDATION = "liquidation"
    FUNDING = "funding"


class ReportSource(StrEnum):
    """How a fill reached the engine. The event it becomes does not depend on it; it says which path
    saw the fill, for logs and tests."""

    PUSHED = "pushed"  # the venue pushed it (the simulated venue's executions of a candle)
    ANSWER = "answer"  # the answer to placing, or looking up, an entry or a close
    POLLED = "polled"  # found by polling a resting order (recovery, reconciliation)


# Binance kline intervals in milliseconds (`1s` is spot-only; fapi answers -1120).
TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}


def timeframe_ms(timeframe: str) -> int:
    """Length of a Binance kline interval in ms. Raises ValueError for an interval fapi does not serve."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValueError(
            f"unknown timeframe {timeframe!r}; expected one of {', '.join(TIMEFRAME_MS)}"
        ) from None


@value
class Candle:
    """One OHLCV candle. `open_ms` is the candle's open time (Unix ms, UTC); `volume` is base-asset volume.

    `fetch_ohlcv` returns `list[Candle]` sorted by `open_ms`, oldest first; like Binance, the last one may
    still be forming."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@value
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None  # Binance's 24h ticker carries no bid/ask; None when the venue does not know
    ask: Decimal | None
    timestamp_ms: int


@value
class Balance:
    """One settle asset of the futures wallet.

    `wallet` moves only with realised PnL, fees and funding; `total` = wallet + unrealised PnL (Binance's
    marginBalance, ccxt's `total`); `used` = margin held by positions; `free` = wallet - used."""

    asset: str
    wallet: Decimal
    total: Decimal
    free: Decimal
    used: Decimal
    unrealized_pnl: Decimal


@value
class Position:
    """A net (one-way mode) position. `qty` is always positive; `side` says long or short."""

    symbol: str
    side: PositionSide
    qty: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
    margin_mode: MarginMode
    margin: Decimal  # isolated margin held by the position
    liquidation_price: Decimal | None

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side is PositionSide.LONG else -self.qty


@value
class FillReport:
    """One fill of one of our orders, whichever way it reached the engine (`source`): the one shape
    `engine.positions.events.fill_event` turns into an event. `qty` is the order's cumulative filled
    quantity and `price` its average fill price; `at_ms` is when it filled (Unix ms)."""

    client_id: str
    symbol: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    at_ms: int
    source: ReportSource
    liquidity: Liquidity | None = None  # None where the venue did not say (older journals, recovery)


@value
class OrderState:
    """What the venue knows about one order. For a conditional order that has triggered and filled,
    `status` is FILLED and `filled`/`average_price`/`fee` describe the fill of the market order it became
    (on Binance that comes from the `actualOrderId` lookup)."""

    client_id: str
    venue_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    filled: Decimal
    average_price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    status: OrderStatus
    fee: Decimal
    fee_asset: str
    created_ms: int
    updated_ms: int
    triggered_ms: int | None = None
    price: Decimal | None = None  # a LIMIT order's limit price
    post_only: bool = False  # a LIMIT order sent as GTX
    liquidity: Liquidity | None = None  # of its fills so far; a limit that crossed and then rested: the last one

    @property
    def is_conditional(self) -> bool:
        return self.type.is_conditional

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def report(self, source: ReportSource) -> FillReport | None:
        """The order's fill so far, or None while nothing has filled.

        The price falls back to the trigger price when the venue has not (yet) said the average: a
        triggered stop whose fill is known only by its quantity still has to close the position at
        a price. A market order carries no trigger price, so without an average it falls back to 0
        (the executor's rule for entries and closes since the start). The time is when it triggered,
        for a conditional order, else its last update: fills found together are applied in that
        order."""
        if self.filled <= 0:
            return None
        return FillReport(
            client_id=self.client_id,
            symbol=self.symbol,
            qty=self.filled,
            price=self.average_price or self.trigger_price or ZERO,
            fee=self.fee,
            fee_asset=self.fee_asset,
            at_ms=self.triggered_ms or self.updated_ms,
            source=source,
            liquidity=self.liquidity,
        )


@value
class Execution:
    """One fill (or funding payment) as it changed the account.

    `realized_pnl` and `fee` are in the settle asset; the wallet moved by `realized_pnl - fee + funding`.
    `position_after` is the signed net position once this execution applied. Liquidations carry the
    client id `autoclose-<venue id>`, like Binance's liquidation orders; funding carries none."""

    client_id: str | None
    venue_id: str | None
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    realized_pnl: Decimal
    reduce_only: bool
    kind: ExecutionKind
    timestamp_ms: int
    position_after: Decimal
    funding: Decimal = ZERO
    liquidity: Liquidity = Liquidity.TAKER
    # The order's totals once this fill applied, for an order that fills in several executions (a
    # resting LIMIT order's partial fills). None: this execution is the order's only fill.
    order_filled: Decimal | None = None
    order_average: Decimal | None = None
    order_fee: Decimal | None = None

    def report(self) -> FillReport | None:
        """This execution as the fill of one of our orders, or None when it is none: funding moves
        no order, a liquidation is the venue's order (the engine treats it as a panic), and a fill
        without a client id cannot belong to a position. The report carries the ORDER's cumulative
        filled quantity, average price and fee: `order_filled`/`order_average`/`order_fee` when the
        venue set them (a limit order filling in pieces), else this execution's own figures (a market
        order fills at once, a conditional order when it triggers: one execution is the whole fill).
        The liquidity is said for limit-order fills (maker or taker); None for the others, which are
        always taker fills, as their OrderState reports them."""
        if self.kind in (ExecutionKind.FUNDING, ExecutionKind.LIQUIDATION) or not self.client_id:
            return None
        return FillReport(
            client_id=self.client_id,
            symbol=self.symbol,
            qty=self.qty if self.order_filled is None else self.order_filled,
            price=self.price if self.order_average is None else self.order_average,
            fee=self.fee if self.order_fee is None else self.order_fee,
            fee_asset=self.fee_asset,
            at_ms=self.timestamp_ms,
            source=ReportSource.PUSHED,
            liquidity=self.liquidity if self.kind is ExecutionKind.LIMIT else None,
        )
