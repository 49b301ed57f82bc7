"""A tiny fake of Binance USD-M public REST, on 127.0.0.1 with a random port, for on-the-wire ccxt tests.

Serves `GET /fapi/v1/exchangeInfo` (a real snapshot, verbatim) and `GET /fapi/v1/klines` (12-element
arrays with string prices, built from real candle files) with Binance's paging rules: `startTime` picks
the first candle, `endTime` the last, `limit` defaults to 500 and above 1000 is error -1130.
`GET /fapi/v1/fundingRate` serves GENERATED funding (the shared data has none): the same 8-hourly
deterministic rates as the fake archive (`tests.fakes.archive.generated_funding`), limit 100 by
default, 1000 at most. Every request is recorded so tests can assert what ccxt sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aiohttp import web

from engine.market.candles import empty_candles, timeframe_ms
from engine.market.datadir import CandlesNotFoundError, DataDir
from tests.fakes.archive import generated_funding
from tests.fakes.local_http import serve_local


def _num(x: float) -> str:
    # Binance sends decimal strings, never exponents ("0.0000095", not "9.5e-06").
    return np.format_float_positional(x, trim="-")


class FakePublicFapi:
    def __init__(self, exchange_info: Path, data_dir: Path) -> None:
        self.exchange_info_bytes = exchange_info.read_bytes()
        self.symbols = {s["symbol"] for s in json.loads(self.exchange_info_bytes)["symbols"]}
        self.data = DataDir(data_dir)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/fapi/v1/exchangeInfo", self._exchange_info)
        app.router.add_get("/fapi/v1/klines", self._klines)
        app.router.add_get("/fapi/v1/fundingRate", self._funding_rate)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner, port = await serve_local(app)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    @staticmethod
    def _error(status: int, code: int, msg: str) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def _unknown(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        return self._error(404, -1000, f"fake fapi does not serve {request.method} {request.path}")

    async def _exchange_info(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        return web.Response(body=self.exchange_info_bytes, content_type="application/json")

    async def _klines(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.requests.append((request.path, q))
        symbol, interval = q.get("symbol", ""), q.get("interval", "")
        if symbol not in self.symbols:
            return self._error(400, -1121, "Invalid symbol.")
        try:
            step = timeframe_ms(interval)
        except ValueError:
            return self._error(400, -1120, "Invalid interval.")
        limit = int(q.get("limit", 500))
        if not 1 <= limit <= 1000:
            return self._error(400, -1130, "Data sent for parameter 'limit' is not valid.")
        frame = self._frame(symbol, interval)
        times = frame.index.to_numpy()
        hi = len(times) if "endTime" not in q else int(np.searchsorted(times, int(q["endTime"]), "right"))
        if "startTime" in q:
            lo = int(np.searchsorted(times, int(q["startTime"]), "left"))
            rows = frame.iloc[lo : min(hi, lo + limit)]
        else:
            rows = frame.iloc[max(0, hi - limit) : hi]
        return web.json_response([self._kline(row.Index, row, step) for row in rows.itertuples()])

    async def _funding_rate(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.requests.append((request.path, q))
        symbol = q.get("symbol", "")
        if symbol not in self.symbols:
            return self._error(400, -1121, "Invalid symbol.")
        limit = int(q.get("limit", 100))
        if not 1 <= limit <= 1000:
            return self._error(400, -1130, "Data sent for parameter 'limit' is not valid.")
        end = int(q["endTime"]) + 1 if "endTime" in q else 2**62
        events = generated_funding(symbol, int(q.get("startTime", 0)), end)
        events = events.head(limit) if "startTime" in q else events.tail(limit)
        return web.json_response([
            {"symbol": symbol, "fundingTime": int(t), "fundingRate": _num(r), "markPrice": "0"}
            for t, r in zip(events["time_ms"], events["rate"], strict=True)
        ])

    def _frame(self, symbol: str, interval: str) -> pd.DataFrame:
        key = (symbol, interval)
        if key not in self._frames:
            try:
                self._frames[key] = self.data.load(symbol, interval).frame
            except CandlesNotFoundError:
                self._frames[key] = empty_candles()
        return self._frames[key]

    @staticmethod
    def _kline(open_ms: int, row: Any, step: int) -> list[Any]:
        quote_volume = row.volume * row.close
        return [
            int(open_ms),
            _num(row.open),
            _num(row.high),
            _num(row.low),
            _num(row.close),
            _num(row.volume),
            int(open_ms) + step - 1,
            _num(round(quote_volume, 4)),
            1000,
            _num(round(row.volume / 2, 3)),
            _num(round(quote_volume / 2, 4)),
            "0",
        ]
