"""Where candles come from while the bot runs: one interface, three implementations.

Every source answers the same question — "the closed candles of this symbol with open time from
`start_ms` that had closed by `end_ms`" — so a backtest (files), offline paper trading (synthetic) and
online paper trading (Binance public data) drive the engine through identical code. Callers pass the
times (from their Clock); no source reads the wall clock.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from engine.market.candles import (
    CandleSeries,
    closed_before,
    concat_candles,
    empty_candles,
    make_candles,
    resample_candles,
    slice_time,
    timeframe_ms,
    validate_candles,
)
from engine.market.datadir import CandlesNotFoundError, DataDir
from engine.market.synthetic import SyntheticMarket
from engine.offline import OFFLINE_ENV, is_offline
from engine.venue.fapi import point_at

# Finer timeframes a file source may aggregate from when no file has the one asked for.
_AGGREGATE_FROM: tuple[str, ...] = ("5m", "3m", "1m")
BINANCE_KLINES_LIMIT = 1000  # Binance answers -1130 above this


class OfflineError(RuntimeError):
    """A network data source was asked for while the bot is in offline mode."""


class CandleSource(ABC):
    """A supply of closed candles. Implementations: FileCandleSource, SyntheticCandleSource,
    BinancePublicCandleSource. Use as an async context manager, or call `close()`."""

    name: str = "candles"
    synthetic: bool = False

    @abstractmethod
    async def closed_candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleSeries:
        """Candles with open time >= start_ms that had closed by end_ms (open + timeframe <= end_ms),
        in time order; possibly none. A still-forming candle is never returned."""

    async def close(self) -> None:
        """Release connections; the default has none."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class FileCandleSource(CandleSource):
    """Replays candles from a data folder (any format `DataDir` reads). Files are read once per
    symbol and timeframe and kept in memory. A timeframe without a file is aggregated from a finer
    one when possible (5m → 15m). USDC symbols without files use their USDT twin (flagged on the
    result). Raises CandlesNotFoundError when nothing fits."""

    def __init__(self, data_dir: Path | str | DataDir, *, allow_twin: bool = True) -> None:
        self.data = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
        self.allow_twin = allow_twin
        self.name = f"files in {self.data.root}"
        self._cache: dict[tuple[str, str], CandleSeries] = {}

    def series(self, symbol: str, timeframe: str) -> CandleSeries:
        """All candles on file for `symbol` at `timeframe` (cached)."""
        key = (symbol, timeframe)
        if key not in self._cache:
            self._cache[key] = self._load(symbol, timeframe)
        return self._cache[key]

    def _load(self, symbol: str, timeframe: str) -> CandleSeries:
        try:
            return self.data.load(symbol, timeframe, allow_twin=self.allow_twin)
        except CandlesNotFoundError as missing:
            wanted = timeframe_ms(timeframe)
            for finer in _AGGREGATE_FROM:
                if timeframe_ms(finer) < wanted and wanted % timeframe_ms(finer) == 0:
                    try:
                        base = self.data.load(symbol, finer, allow_twin=self.allow_twin)
                    except CandlesNotFoundError:
                        continue
                    return CandleSeries(
                        symbol,
                        timeframe,
                        resample_candles(base.frame, finer, timeframe),
                        f"{base.source}, aggregated {finer} → {timeframe}",
                        candles_of=base.candles_of,
                    )
            raise missing

    async def closed_candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleSeries:
        whole = self.series(symbol, timeframe)
        frame = closed_before(slice_time(whole.frame, start_ms, None), timeframe, end_ms)
        return CandleSeries(symbol, timeframe, frame, whole.source, candles_of=whole.candles_of)


class SyntheticCandleSource(CandleSource):
    """The offline default: candles from the seeded SyntheticMarket (see engine.market.synthetic).
    Longer timeframes that are multiples of the market's are aggregated from it. Every result has
    `synthetic=True` and the source "synthetic (seed N)"."""

    synthetic = True

    def __init__(
        self, *, seed: int, start_ms: int, timeframe: str = "5m", symbols: tuple[str, ...] = ()
    ) -> None:
        self.market = SyntheticMarket(symbols, seed=seed, start_ms=start_ms, timeframe=timeframe)
        self.name = self.market.name

    async def closed_candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleSeries:
        base_tf = self.market.timeframe
        step = timeframe_ms(timeframe)
        # Read from the start of the first wanted bucket so aggregation never sees half a bucket.
        base = self.market.candles(symbol, (start_ms // step) * step, end_ms)
        frame = resample_candles(base.frame, base_tf, timeframe)
        frame = closed_before(slice_time(frame, start_ms, None), timeframe, end_ms)
        return CandleSeries(base.symbol, timeframe, frame, self.name, synthetic=True)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BinancePublicCandleSource(CandleSource):
    """Live candles from Binance USD-M public endpoints through ccxt (`binanceusdm`, no API keys).

    `base_url=None` means the real Binance. A `base_url` (e.g. a local fake fapi server) replaces every
    fapi URL. Offline mode (ENGINE_OFFLINE=1) refuses construction, and refuses again at each request,
    with OfflineError — except for a loopback `base_url` explicitly allowed with `allow_loopback=True`,
    which cannot leave the machine.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        allow_loopback: bool = False,
        timeout_ms: int = 10_000,
        rate_limit: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.allow_loopback = allow_loopback
        self._check_allowed()
        import ccxt.async_support as ccxt_async  # imported late: offline runs never load it

        self.exchange: Any = ccxt_async.binanceusdm(
            {"enableRateLimit": rate_limit, "timeout": timeout_ms, "options": {"fetchCurrencies": False}}
        )
        if self.base_url:
            point_at(self.exchange, self.base_url)
        self.name = f"binance public fapi ({self.base_url or 'fapi.binance.com'})"
        self._markets_loaded = False

    def _check_allowed(self) -> None:
        if not is_offline():
            return
        if self.base_url and self.allow_loopback and _is_loopback(self.base_url):
            return
        target = self.base_url or "Binance (fapi.binance.com)"
        hint = "" if self.base_url is None or _is_loopback(self.base_url) else " (not a loopback address)"
        raise OfflineError(
            f"offline mode is on ({OFFLINE_ENV}=1): refusing to fetch live candles from {target}{hint}; "
            "use SyntheticCandleSource or FileCandleSource, or unset the variable to go online"
        )

    async def _connect(self) -> None:
        self._check_allowed()
        if not self._markets_loaded:
            await self.exchange.load_markets()
            self._markets_loaded = True

    async def closed_candles(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> CandleSeries:
        """Pages through `fetch_ohlcv` (1000 candles per request) from start_ms to end_ms and drops the
        still-open candle. Raises OfflineError as described on the class and ccxt's errors as they come
        (network failures are not retried here: the caller decides)."""
        await self._connect()
        step = timeframe_ms(timeframe)
        frames: list[pd.DataFrame] = []
        since = start_ms
        while since <= end_ms - step:
            rows = await self.exchange.fetch_ohlcv(
                symbol, timeframe, since, BINANCE_KLINES_LIMIT, {"until": end_ms - 1}
            )
            rows = [r for r in rows if r[0] >= since]
            if not rows:
                break
            frames.append(_ohlcv_frame(rows))
            since = int(rows[-1][0]) + step
        source = self.name
        frame = concat_candles(frames, f"{source} {symbol} {timeframe}") if frames else empty_candles()
        frame = closed_before(frame, timeframe, end_ms)
        return CandleSeries(symbol, timeframe, frame, source)

    async def exchange_info(self) -> dict[str, Any]:
        """Binance's own `GET /fapi/v1/exchangeInfo` answer (raw), for market filters when online.
        Parse it with `engine.venue.markets.parse_exchange_info`. Raises OfflineError as the class says."""
        self._check_allowed()
        return await self.exchange.fapiPublicGetExchangeInfo()

    async def close(self) -> None:
        await self.exchange.close()


def _ohlcv_frame(rows: list[list[Any]]) -> pd.DataFrame:
    array = np.asarray(rows, dtype=np.float64)
    frame = make_candles(array[:, 0].astype(np.int64), *(array[:, i] for i in range(1, 6)))
    return validate_candles(frame, "binance fetch_ohlcv")
