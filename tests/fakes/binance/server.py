"""The HTTP side: the route table (method, path, signed?, weight), and one dispatcher that records the
request, catches the market clock up, applies faults, checks the signature, runs the handler and answers
with Binance's headers (`X-MBX-USED-WEIGHT-1M` always, `X-MBX-ORDER-COUNT-10S/-1M` on order endpoints).

Order of checks for one request (what a client sees first wins): unknown path (404) -> latency faults ->
429/418 faults -> signature and timestamp (signed endpoints) -> -1021 faults -> reject faults -> timeout /
5xx faults before processing -> the handler -> timeout / 5xx faults after processing (`after_accept`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from engine.venue.errors import NotSupported, RequestRejected, VenueUnavailable
from tests.fakes.binance import routes_account as acct
from tests.fakes.binance import routes_orders as orders
from tests.fakes.binance import routes_public as public
from tests.fakes.binance.auth import check_signed, timestamp_error
from tests.fakes.binance.errors import UNSUPPORTED, ApiError, from_rejection, unsupported
from tests.fakes.binance.faults import NON_JSON_503, TIMEOUT_ANSWER, Fault
from tests.fakes.binance.params import Params
from tests.fakes.local_http import serve_local

if TYPE_CHECKING:
    from tests.fakes.binance.fake import FakeBinance

Handler = Callable[["FakeBinance", Params], Any]
Weight = int | Callable[[Params], int]
BACKGROUND_TICK_S = 0.2


@dataclass(frozen=True)
class Route:
    handler: Handler
    signed: bool
    weight: Weight = 1
    places_order: bool = False


def _no_symbol(with_symbol: int, without: int) -> Weight:
    return lambda p: with_symbol if "symbol" in p else without


def _kline_weight(p: Params) -> int:
    limit = p.integer("limit", 500) or 500
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/fapi/v1/ping"): Route(public.ping, False),
    ("GET", "/fapi/v1/time"): Route(public.server_time, False),
    ("GET", "/fapi/v1/exchangeInfo"): Route(public.exchange_info, False),
    ("GET", "/fapi/v1/klines"): Route(public.kline_candles, False, _kline_weight),
    ("GET", "/fapi/v1/markPriceKlines"): Route(public.kline_candles, False, _kline_weight),
    ("GET", "/fapi/v1/indexPriceKlines"): Route(public.index_price_klines, False, _kline_weight),
    ("GET", "/fapi/v1/ticker/24hr"): Route(public.ticker_24hr, False, _no_symbol(1, 40)),
    ("GET", "/fapi/v1/ticker/price"): Route(public.ticker_price, False, _no_symbol(1, 2)),
    ("GET", "/fapi/v2/ticker/price"): Route(public.ticker_price, False, _no_symbol(1, 2)),
    ("GET", "/fapi/v1/ticker/bookTicker"): Route(public.book_ticker, False, _no_symbol(2, 5)),
    ("GET", "/fapi/v1/premiumIndex"): Route(public.premium_index, False, _no_symbol(1, 10)),
    ("GET", "/fapi/v1/depth"): Route(public.depth, False, 5),
    ("GET", "/fapi/v2/account"): Route(acct.account_info, True, 5),
    ("GET", "/fapi/v3/account"): Route(acct.account_info, True, 5),
    ("GET", "/fapi/v2/balance"): Route(acct.balances, True, 5),
    ("GET", "/fapi/v3/balance"): Route(acct.balances, True, 5),
    ("GET", "/fapi/v2/positionRisk"): Route(acct.position_risk_v2, True, 5),
    ("GET", "/fapi/v3/positionRisk"): Route(acct.position_risk_v3, True, 5),
    ("GET", "/fapi/v1/leverageBracket"): Route(acct.leverage_bracket, True, 1),
    ("POST", "/fapi/v1/leverage"): Route(acct.set_leverage, True, 1),
    ("POST", "/fapi/v1/marginType"): Route(acct.set_margin_type, True, 1),
    ("GET", "/fapi/v1/positionSide/dual"): Route(acct.get_position_mode, True, 30),
    ("POST", "/fapi/v1/positionSide/dual"): Route(acct.set_position_mode, True, 1),
    ("GET", "/fapi/v1/multiAssetsMargin"): Route(acct.get_multi_assets, True, 30),
    ("POST", "/fapi/v1/multiAssetsMargin"): Route(acct.set_multi_assets, True, 1),
    ("GET", "/fapi/v1/symbolConfig"): Route(acct.symbol_config, True, 5),
    ("GET", "/fapi/v1/accountConfig"): Route(acct.account_config, True, 5),
    ("GET", "/fapi/v1/income"): Route(acct.income, True, 30),
    ("POST", "/fapi/v1/order"): Route(orders.new_order, True, 0, places_order=True),
    ("GET", "/fapi/v1/order"): Route(orders.query_order, True, 1),
    ("DELETE", "/fapi/v1/order"): Route(orders.cancel_order, True, 1),
    ("GET", "/fapi/v1/openOrder"): Route(orders.query_open_order, True, 1),
    ("GET", "/fapi/v1/openOrders"): Route(orders.open_orders, True, _no_symbol(1, 40)),
    ("DELETE", "/fapi/v1/allOpenOrders"): Route(orders.cancel_all_orders, True, 1),
    ("GET", "/fapi/v1/allOrders"): Route(orders.all_orders, True, 5),
    ("GET", "/fapi/v1/userTrades"): Route(orders.user_trades, True, 5),
    ("POST", "/fapi/v1/algoOrder"): Route(orders.new_algo_order, True, 0, places_order=True),
    ("GET", "/fapi/v1/algoOrder"): Route(orders.query_algo_order, True, 1),
    ("DELETE", "/fapi/v1/algoOrder"): Route(orders.cancel_algo_order, True, 1),
    ("GET", "/fapi/v1/openAlgoOrders"): Route(orders.open_algo_orders, True, _no_symbol(1, 40)),
    ("DELETE", "/fapi/v1/algoOpenOrders"): Route(orders.cancel_all_algo_orders, True, 1),
    ("GET", "/fapi/v1/allAlgoOrders"): Route(orders.all_algo_orders, True, 5),
}


@dataclass
class RecordedRequest:
    """One request as the fake saw it. `params` joins query and body (signature included); `status` is
    the HTTP status answered (0 while in flight)."""

    method: str
    path: str
    params: dict[str, str]
    signed: bool
    status: int = 0


class UsageCounters:
    """Request weight over the last minute and orders over the last 10 s / minute (wall clock)."""

    def __init__(self) -> None:
        self._weights: deque[tuple[float, int]] = deque()
        self._orders: deque[float] = deque()

    def add(self, weight: int, order: bool) -> dict[str, str]:
        now = time.monotonic()
        self._weights.append((now, weight))
        while self._weights and self._weights[0][0] <= now - 60:
            self._weights.popleft()
        headers = {"X-MBX-USED-WEIGHT-1M": str(sum(w for _, w in self._weights))}
        if order:
            self._orders.append(now)
            while self._orders and self._orders[0] <= now - 60:
                self._orders.popleft()
            headers["X-MBX-ORDER-COUNT-10S"] = str(sum(1 for t in self._orders if t > now - 10))
            headers["X-MBX-ORDER-COUNT-1M"] = str(len(self._orders))
        return headers


class FapiServer:
    """aiohttp server for one FakeBinance on 127.0.0.1."""

    def __init__(self, fake: FakeBinance) -> None:
        self.fake = fake
        self.usage = UsageCounters()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    async def start(self, port: int) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner, bound = await serve_local(app, port, access_log=None, shutdown_timeout=1.0)
        if self.fake.speed is not None:
            self._ticker = asyncio.create_task(self._tick())
        return f"http://127.0.0.1:{bound}"

    async def stop(self) -> None:
        self._stopping.set()  # ends held (timeout / latency) requests at once
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._runner is not None:
            await self._runner.cleanup()

    async def _tick(self) -> None:
        # With a running clock, stops fire even when nobody asks.
        while not self._stopping.is_set():
            self.fake.catch_up()
            await asyncio.sleep(BACKGROUND_TICK_S)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.raw_query_string
        body = await request.text() if request.can_read_body else ""
        values = dict(parse_qsl(query, keep_blank_values=True))
        values.update(parse_qsl(body, keep_blank_values=True))
        params = Params(values)
        route = ROUTES.get((request.method, request.path))
        record = RecordedRequest(request.method, request.path, values, route is not None and route.signed)
        self.fake.requests.append(record)
        headers: dict[str, str] = {}
        try:
            payload = await self._handle(request, route, params, query, body, headers)
            response = web.Response(text=json.dumps(payload, separators=(",", ":")),
                                    content_type="application/json", headers=headers)
        except ApiError as exc:
            headers.update(exc.headers)
            if exc.json_body:
                response = web.Response(text=json.dumps(exc.payload()), status=exc.status,
                                        content_type="application/json", headers=headers)
            else:
                response = web.Response(text=exc.msg, status=exc.status, content_type="text/html", headers=headers)
        record.status = response.status
        return response

    async def _handle(
        self, request: web.Request, route: Route | None, params: Params, query: str, body: str,
        headers: dict[str, str],
    ) -> Any:
        method, path, faults = request.method, request.path, self.fake.faults
        if route is None:
            headers.update(self.usage.add(1, False))
            raise ApiError(404, UNSUPPORTED, f"fake Binance does not serve {method} {path}")
        weight = route.weight(params) if callable(route.weight) else route.weight
        headers.update(self.usage.add(weight, route.places_order))
        self.fake.catch_up()
        for fault in faults.all_of("latency", method, path):
            faults.fire(fault, method, path)
            await self._sleep(fault.delay_s)
        limited = faults.peek(("rate_limit", "ban"), method, path)
        if limited is not None:
            faults.fire(limited, method, path)
            raise ApiError(limited.status, limited.code, limited.msg, headers={"Retry-After": str(limited.retry_after)})
        if route.signed:
            check_signed(api_key_header=request.headers.get("X-MBX-APIKEY"), params=params, query=query, body=body,
                         api_key=self.fake.api_key, secret=self.fake.secret, wall_ms=int(time.time() * 1000))
            if faults.take("bad_timestamp", method, path) is not None:
                raise timestamp_error()
        rejection = faults.take("reject", method, path, params.values)
        if rejection is not None:
            raise ApiError(rejection.status or 400, rejection.code, rejection.msg)
        failure = faults.peek(("timeout", "http_error"), method, path)
        if failure is not None and not failure.after_accept:
            faults.fire(failure, method, path)
            await self._fail(failure)
        try:
            payload = self._run(route, params)
        finally:
            self.fake.apply_vanish()
            if failure is not None and failure.after_accept:
                faults.fire(failure, method, path)
                await self._fail(failure)
        return payload

    def _run(self, route: Route, params: Params) -> Any:
        self.fake.catch_up()  # a running clock moved while the request was held
        try:
            return route.handler(self.fake, params)
        except RequestRejected as exc:
            raise from_rejection(exc) from None
        except (VenueUnavailable, NotSupported) as exc:
            raise unsupported(str(exc)) from None

    async def _fail(self, fault: Fault) -> None:
        """Answer as the fault says (always raises ApiError)."""
        if fault.kind == "timeout":
            await self._sleep(fault.delay_s)
            raise ApiError(*TIMEOUT_ANSWER)
        if not fault.json_body:
            raise ApiError(fault.status, fault.code, NON_JSON_503, json_body=False)
        raise ApiError(fault.status, fault.code, fault.msg)
