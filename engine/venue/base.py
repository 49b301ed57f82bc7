"""`Venue`: the one async interface the engine trades through, whatever is behind it (the simulated
matching engine in backtest and paper, Binance through ccxt in testnet/live).

Conventions every implementation keeps:
- symbols are unified ccxt symbols (`BTC/USDC:USDC`); convert other spellings with `engine.venue.symbols`;
- quantities and prices are `Decimal` and must already satisfy the market's filters
  (`engine.venue.filters`); the venue rejects, it never rounds silently;
- every order carries the caller's deterministic client id; conditional orders (stop-market,
  take-profit-market) are always reduce-only and live in a separate namespace (Binance's Algo Order
  API), hence the `conditional` flag on lookups and cancels;
- failures raise `engine.venue.errors` kinds only (`OrderRejected` subclasses with Binance's code,
  `StatusUnknown`, `RateLimited`, `VenueUnavailable`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from decimal import Decimal

from engine.venue.errors import NotSupported
from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.types import (
    Balance,
    Candle,
    MarginMode,
    OrderState,
    Position,
    Side,
    Ticker,
)


class Venue(ABC):
    """Async trading venue. See the module docstring for the conventions."""

    # Whether requests wait on something outside the process (a network venue): the executor then sends
    # the orders of one wave together. An in-process venue answers each at once, in order.
    concurrent: bool = True

    @abstractmethod
    async def markets(self) -> dict[str, Market]:
        """Every market the venue lists, keyed by unified symbol."""

    async def refresh_markets(self) -> dict[str, Market]:
        """Every market as the venue lists it now, read again (filters and status change under a running
        bot). A venue whose markets never change answers `markets()`."""
        return await self.markets()

    @abstractmethod
    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """Candles oldest first. With `since_ms`: the first `limit` candles opening at or after it;
        without: the latest `limit`. `limit` defaults to 500 (Binance's default). The last candle may
        still be forming. Raises ValueError for an unknown timeframe, InvalidSymbol for an unknown symbol."""

    @abstractmethod
    async def ticker(self, symbol: str) -> Ticker:
        """Latest price of a market. Raises InvalidSymbol."""

    @abstractmethod
    async def balance(self, asset: str) -> Balance:
        """Wallet of one settle asset (`USDC`, `USDT`); zeros for an asset the account never held."""

    @abstractmethod
    async def positions(self) -> list[Position]:
        """Every non-zero position."""

    async def leverage_brackets(self, symbol: str) -> Brackets | None:
        """The symbol's leverage brackets (the highest leverage per position notional), or None when this
        venue does not say (a leverage rule then bounds by the profile only)."""
        return None

    @abstractmethod
    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Leverage for future orders on `symbol`. Raises InvalidLeverage (-4028) outside 1..bracket max,
        LeverageReductionRejected (-4161) when lowering it under an open isolated position."""

    @abstractmethod
    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """Isolated or cross. Raises MarginModeLockedByPosition (-4048) / MarginModeLockedByOrders (-4047)
        when a position or open order exists; a no-op when the mode is already set."""

    @abstractmethod
    async def place_market(
        self, symbol: str, side: Side, qty: Decimal, client_id: str, reduce_only: bool = False
    ) -> OrderState:
        """Market order; returns its final state (FILLED on success). A reduce-only order is trimmed to
        the position and refused with ReduceOnlyRejected (-2022) if it would open or increase one.
        Raises the filter rejections (-1111, -4003..-4023, -4164), MarginInsufficient (-2019),
        MaxPositionExceeded (-2027), StatusUnknown."""

    async def quote_volumes_24h(self) -> dict[str, float]:
        """Venue id → quote volume over the last 24 h for every listed contract (the universe rules'
        volume filter in live trading). A venue without 24 h tickers raises NotSupported."""
        raise NotSupported(f"{type(self).__name__} has no 24 h tickers")

    async def place_limit(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, client_id: str, *,
        reduce_only: bool = False, post_only: bool = False,
    ) -> OrderState:
        """Limit order on the normal order book (GTC; GTX when `post_only`). Returns NEW when it rests
        whole; when it crosses the book and is not post-only, the part the book fills at once fills as a
        taker and the rest rests (PARTIALLY_FILLED), or FILLED. A resting order's later fills are maker
        fills; they reach the engine as the venue reports them (pushed executions in the simulator, the
        order's state when polled on Binance), each with the order's cumulative filled quantity.
        Raises PostOnlyRejected (-5022) for a post-only order that would cross, ReduceOnlyRejected
        (-2022) for a reduce-only one with nothing to reduce, the filter rejections (-1111, -4014 price
        not on tick, -4164), MarginInsufficient, DuplicateClientOrderId (-4116), StatusUnknown.
        A venue without limit orders raises NotSupported."""
        raise NotSupported(f"{type(self).__name__} has no limit orders")

    @abstractmethod
    async def place_stop_market(
        self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        """Reduce-only stop-market (stop-loss) conditional order; returns it NEW. Raises
        WouldImmediatelyTrigger (-2021) when the price is already through the trigger,
        ReduceOnlyRejected (-2022) when there is no position it could reduce, the filter rejections,
        DuplicateClientOrderId (-4116) when an open conditional order has this client id."""

    @abstractmethod
    async def place_take_profit_market(
        self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        """Reduce-only take-profit-market conditional order; same promises and errors as
        place_stop_market."""

    @abstractmethod
    async def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderState:
        """Cancel an open order; returns it CANCELED. Raises OrderNotFound when no OPEN order has this
        client id (already filled, canceled, or never placed)."""

    @abstractmethod
    async def fetch_order(self, symbol: str, client_id: str, conditional: bool) -> OrderState | None:
        """The latest order placed with this client id, or None if the venue does not know it.
        For a triggered conditional order the state includes the fill."""

    @abstractmethod
    async def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        """Open normal AND conditional orders, for one symbol or all."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. Later calls raise VenueUnavailable."""
