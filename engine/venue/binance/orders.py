"""The order half of `BinanceVenue`: placing, cancelling and reading orders. Kept apart from market
data and account reads because this is where a request can move money, and so where the care lies:

- exact wire values: quantities and trigger prices are checked against the market's filters (the same
  checks and Binance errors as the simulator) and against what ccxt would send, so the request carries
  exactly the caller's Decimal — a mismatch is refused, never rounded;
- conditional orders on the Algo Order API (`clientAlgoId`, `trigger=True`), reduce-only, triggered
  on the last price (see WORKING_TYPE);
- a triggered stop or take-profit has no fill of its own: it is completed from the order it became
  (`actualOrderId`);
- fees of fills come from `/fapi/v1/userTrades` of the order (the order payload has none); when that
  lookup fails the state carries fee 0 and a warning is logged. The same trades say whether the fills
  were maker or taker (`maker`); without them `convert.order_liquidity`'s rule decides;
- LIMIT orders (GTC, or GTX when post-only) rest on the normal order book, beside MARKET orders: looked
  up, cancelled and listed like them (`conditional=False`), with their cumulative fill. Binance answers a
  post-only order that would cross with -5022 (PostOnlyRejected), and the cancel of an order that has
  just filled with -2011 (OrderNotFound): `fetch_order` then shows it FILLED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from ccxt.base.errors import BaseError

from engine.venue.base import Venue
from engine.venue.binance import convert
from engine.venue.binance.convert import wire
from engine.venue.errors import OrderNotFound, PrecisionTooHigh, VenueError
from engine.venue.filters import check_min_notional, check_price, check_quantity
from engine.venue.markets import Market
from engine.venue.types import OrderState, OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from engine.venue.binance.settings import BinanceSettings

log = logging.getLogger("engine.venue.binance")
T = TypeVar("T")

# Stops and take-profits trigger on the last (contract) price, not the mark price: the simulated venue,
# the backtests and the strategy's levels all work on last-price candles, and Binance's -2021 check
# compares with the same price, so what was tested is what triggers live. The cost is exposure to
# last-price wicks, which a scalper's tight stops would meet on the mark price a moment later anyway.
WORKING_TYPE = "CONTRACT_PRICE"


class BinanceOrders(Venue):
    """The order methods of `BinanceVenue`, its base class (so its interface stays one class); the rest
    of `Venue` is left to it. They run on the venue's plumbing, declared below for the reader and the
    type checker."""

    if TYPE_CHECKING:
        exchange: Any
        settings: BinanceSettings

        async def _market(self, symbol: str) -> Market: ...
        async def _load_markets(self) -> dict[str, Market]: ...
        def _ccxt(self, symbol: str) -> str: ...
        def _symbol(self, venue_id: str) -> str: ...
        async def _read(self, what: str, call: Callable[[], Awaitable[T]]) -> T: ...
        async def _order(self, what: str, call: Callable[[], Awaitable[T]]) -> T: ...
        def _server_now_ms(self) -> int: ...

    def _exact_amount(self, symbol: str, qty: Decimal) -> str:
        return self._exact(symbol, qty, "quantity", self.exchange.amount_to_precision)

    def _exact_price(self, symbol: str, price: Decimal) -> str:
        return self._exact(symbol, price, "price", self.exchange.price_to_precision)

    def _exact(self, symbol: str, value: Decimal, what: str, to_precision: Callable[[str, str], str]) -> str:
        """`value` as sent on the wire, refused (PrecisionTooHigh) when ccxt would send anything else."""
        text = wire(value)
        try:
            sent = to_precision(self._ccxt(symbol), text)
        except (BaseError, AssertionError, ArithmeticError) as exc:
            raise PrecisionTooHigh(f"{what} {text} cannot be sent exactly: {exc}") from exc
        if Decimal(sent) != value:
            raise PrecisionTooHigh(f"ccxt would send {what} {sent} instead of {text}")
        return text

    async def place_market(
        self, symbol: str, side: Side, qty: Decimal, client_id: str, reduce_only: bool = False
    ) -> OrderState:
        """See Venue.place_market. POST /fapi/v1/order (MARKET, newOrderRespType=RESULT); the answer is
        the final state: FILLED, or EXPIRED with a partial `filled`, reported as Binance gave it."""
        market = await self._market(symbol)
        error = check_quantity(market, qty, market_order=True)
        if error is not None:
            raise error
        amount = self._exact_amount(symbol, qty)
        params: dict[str, Any] = {"newClientOrderId": client_id}
        if reduce_only:
            params["reduceOnly"] = True
        ccxt_symbol = self._ccxt(symbol)
        order = await self._order(
            f"market {side.value} {amount} {symbol} {client_id}",
            lambda: self.exchange.create_order(ccxt_symbol, "market", side.value, amount, None, params),
        )
        state = convert.order_state(order["info"], symbol=symbol, fee_asset=market.settle)
        if state.is_open:
            # RESULT normally answers the final state; if Binance answered before the match finished,
            # ask once more rather than report a market order as working.
            try:
                state = await self.fetch_order(symbol, client_id, conditional=False) or state
            except VenueError as exc:
                log.warning("%s: market order answered %s and could not be re-read (%s)", client_id,
                            state.status.value, exc)
                return state
        else:
            state = await self._with_fee(state, market)
        log.info("%s market %s %s %s: %s, filled %s at %s", client_id, side.value, amount, symbol,
                 state.status.value, state.filled, state.average_price)
        return state

    async def place_limit(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, client_id: str, *,
        reduce_only: bool = False, post_only: bool = False,
    ) -> OrderState:
        """See Venue.place_limit. POST /fapi/v1/order (LIMIT, timeInForce GTC or GTX, RESULT): the answer
        is NEW while it rests whole, PARTIALLY_FILLED or FILLED when it crossed (its fee and liquidity
        then read from its trades). The LOT_SIZE, PRICE_FILTER and MIN_NOTIONAL (at the limit price)
        filters are checked here first, with Binance's errors."""
        market = await self._market(symbol)
        error = check_quantity(market, qty, market_order=False) or check_price(market, price)
        if error is None:
            error = check_min_notional(market, qty, price, reduce_only=reduce_only)
        if error is not None:
            raise error
        amount = self._exact_amount(symbol, qty)
        limit = self._exact_price(symbol, price)
        params: dict[str, Any] = {"newClientOrderId": client_id, "timeInForce": "GTX" if post_only else "GTC"}
        if reduce_only:
            params["reduceOnly"] = True
        ccxt_symbol = self._ccxt(symbol)
        what = f"limit {params['timeInForce']} {side.value} {amount} {symbol} @ {limit} {client_id}"
        order = await self._order(
            what, lambda: self.exchange.create_order(ccxt_symbol, "limit", side.value, amount, limit, params)
        )
        state = convert.order_state(order["info"], symbol=symbol, fee_asset=market.settle, answer=True)
        state = await self._with_fee(state, market)
        log.info("%s: %s, filled %s at %s (%s)", what, state.status.value, state.filled, state.average_price,
                 state.liquidity.value if state.liquidity else "nothing filled")
        return state

    async def place_stop_market(
        self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        return await self._place_conditional(symbol, OrderType.STOP_MARKET, side, qty, trigger_price, client_id)

    async def place_take_profit_market(
        self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        return await self._place_conditional(symbol, OrderType.TAKE_PROFIT_MARKET, side, qty, trigger_price, client_id)

    async def _place_conditional(
        self, symbol: str, type_: OrderType, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        """POST /fapi/v1/algoOrder: algoType CONDITIONAL, reduce-only, clientAlgoId = client_id."""
        market = await self._market(symbol)
        error = check_quantity(market, qty, market_order=True) or check_price(market, trigger_price)
        if error is not None:
            raise error
        amount = self._exact_amount(symbol, qty)
        trigger = self._exact_price(symbol, trigger_price)
        params = {"stopPrice": trigger, "reduceOnly": True, "workingType": WORKING_TYPE, "clientOrderId": client_id}
        ccxt_symbol = self._ccxt(symbol)
        order = await self._order(
            f"{type_.value} {side.value} {amount} {symbol} @ {trigger} {client_id}",
            lambda: self.exchange.create_order(ccxt_symbol, type_.name, side.value, amount, None, params),
        )
        state = convert.algo_order_state(order["info"], symbol=symbol, fee_asset=market.settle)
        log.info("%s %s %s %s %s @ %s: %s", client_id, type_.value, side.value, amount, symbol, trigger,
                 state.status.value)
        return state

    async def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderState:
        """See Venue.cancel. A LIMIT order canceled after part of it filled comes back CANCELED with that
        part in `filled` (and its fee). An order that filled just before the cancel reached Binance
        raises OrderNotFound (-2011): `fetch_order` shows it FILLED. A conditional order is looked up
        first (the algo cancel answer carries no order details): an order that is not open raises
        OrderNotFound without a cancel being sent."""
        market = await self._market(symbol)
        ccxt_symbol = self._ccxt(symbol)
        if not conditional:
            order = await self._order(
                f"cancel {symbol} {client_id}",
                lambda: self.exchange.cancel_order(None, ccxt_symbol, {"clientOrderId": client_id}),
            )
            state = convert.order_state(order["info"], symbol=symbol, fee_asset=market.settle)
            return await self._with_fee(state, market)
        current = await self._fetch_conditional(market, client_id, resolve_fill=False)
        if current is None or not current.is_open:
            raise OrderNotFound("Unknown order sent.", code=-2011)
        order = await self._order(
            f"cancel conditional {symbol} {client_id}",
            lambda: self.exchange.cancel_order(None, ccxt_symbol, {"clientOrderId": client_id, "trigger": True}),
        )
        info = order.get("info") or {}
        if info.get("algoStatus") and info.get("side"):
            return convert.algo_order_state(info, symbol=symbol, fee_asset=market.settle)
        return replace(current, status=OrderStatus.CANCELED, updated_ms=self._server_now_ms())

    async def fetch_order(self, symbol: str, client_id: str, conditional: bool) -> OrderState | None:
        """See Venue.fetch_order. A triggered conditional order is completed from the order it became
        (`actualOrderId`): FILLED with its fill and fee, EXPIRED, or TRIGGERED while that is unknown."""
        market = await self._market(symbol)
        if conditional:
            return await self._fetch_conditional(market, client_id, resolve_fill=True)
        ccxt_symbol = self._ccxt(symbol)
        try:
            order = await self._read(
                f"order {symbol} {client_id}",
                lambda: self.exchange.fetch_order(None, ccxt_symbol, {"clientOrderId": client_id}),
            )
        except OrderNotFound:
            return None
        state = convert.order_state(order["info"], symbol=symbol, fee_asset=market.settle)
        return await self._with_fee(state, market)

    async def _fetch_conditional(self, market: Market, client_id: str, *, resolve_fill: bool) -> OrderState | None:
        ccxt_symbol = self._ccxt(market.symbol)
        try:
            order = await self._read(
                f"conditional order {market.symbol} {client_id}",
                lambda: self.exchange.fetch_order(None, ccxt_symbol, {"clientOrderId": client_id, "trigger": True}),
            )
        except OrderNotFound:
            return None
        info = order["info"]
        state = convert.algo_order_state(info, symbol=market.symbol, fee_asset=market.settle)
        actual_id = convert.actual_order_id(info)
        if not resolve_fill or state.status is not OrderStatus.TRIGGERED or actual_id is None:
            return state
        try:
            actual = await self._read(
                f"triggered order {market.symbol} {actual_id}",
                lambda: self.exchange.fetch_order(actual_id, ccxt_symbol),
            )
        except OrderNotFound:
            return state  # triggered; its order is not visible yet
        filled = convert.dec(actual["info"].get("executedQty"))
        fee, fee_asset = await self._fee(market, actual_id) if filled > 0 else (Decimal(0), market.settle)
        return convert.with_fill(state, actual["info"], fee, fee_asset)

    async def _trades(self, market: Market, order_id: str) -> list[Any] | None:
        """userTrades of one order; None with a warning when they cannot be read."""
        try:
            return await self._read(
                f"fees of order {order_id}",
                lambda: self.exchange.fapiPrivateGetUserTrades({"symbol": market.id, "orderId": order_id}),
            )
        except VenueError as exc:
            log.warning("fee of order %s on %s unknown (%s); reporting 0", order_id, market.symbol, exc)
            return None

    async def _fee(self, market: Market, order_id: str) -> tuple[Decimal, str]:
        """Fee of one order from its userTrades; (0, settle) when they cannot be read."""
        trades = await self._trades(market, order_id)
        return convert.total_fee(trades or (), market.settle)

    async def _with_fee(self, state: OrderState, market: Market) -> OrderState:
        """`state` with the fee of its fills, and their liquidity when the trades say it."""
        if not self.settings.look_up_fees or state.filled <= 0:
            return state
        trades = await self._trades(market, state.venue_id)
        if trades is None:
            return state
        fee, fee_asset = convert.total_fee(trades, market.settle)
        return replace(state, fee=fee, fee_asset=fee_asset, liquidity=convert.liquidity_of(trades) or state.liquidity)

    async def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        """See Venue.open_orders: GET /fapi/v1/openOrders (resting LIMIT orders, with their cumulative
        fill) and /fapi/v1/openAlgoOrders (gotcha 12), for one symbol or all. Orders of types the
        engine never places (STOP, TAKE_PROFIT, TRAILING_STOP_MARKET ...) are skipped with a warning:
        this venue cannot describe them."""
        if symbol is not None:
            await self._market(symbol)
        else:
            await self._load_markets()
        ccxt_symbol = self._ccxt(symbol) if symbol is not None else None
        where = symbol or "all symbols"
        plain, algo = await asyncio.gather(  # two independent lists: one round trip, not two
            self._read(f"open orders {where}", lambda: self.exchange.fetch_open_orders(ccxt_symbol)),
            self._read(
                f"open conditional orders {where}",
                lambda: self.exchange.fetch_open_orders(ccxt_symbol, None, None, {"trigger": True}),
            ),
        )
        markets = await self._load_markets()
        out: list[OrderState] = []
        for orders, parse in ((plain, convert.order_state), (algo, convert.algo_order_state)):
            for order in orders:
                info = order["info"]
                sym = self._symbol(str(info.get("symbol", "")))
                settle = markets[sym].settle if sym in markets else sym.rpartition(":")[2]
                try:
                    out.append(parse(info, symbol=sym, fee_asset=settle))
                except ValueError as exc:
                    client_id = info.get("clientOrderId") or info.get("clientAlgoId")
                    log.warning("open order %s on %s skipped: %s", client_id, sym, exc)
        return out
