"""The fapi side of a download, through ccxt (`binanceusdm`, public endpoints, no keys): the symbols
that exist (exchangeInfo), klines for what the archive does not have, and funding-rate history.

One ccxt client serves the whole run, with ccxt's rate limiter on: its throttle spaces requests by
`rateLimit` times each endpoint's weight, so concurrent series queue there instead of earning a ban.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.market.candles import concat_candles, empty_candles, make_candles, timeframe_ms
from engine.market.feed import BINANCE_KLINES_LIMIT, BinancePublicCandleSource
from engine.market.store import Span, empty_funding
from engine.venue.markets import Market, parse_exchange_info
from engine.venue.symbols import parse_symbol

FUNDING_LIMIT = 1000  # Binance's maximum for /fapi/v1/fundingRate


class VenueUnavailable(Exception):
    """The fapi could not be reached or answered with an error: a network failure."""


def _network_errors() -> tuple[type[BaseException], ...]:
    import ccxt

    return (ccxt.NetworkError, ccxt.ExchangeError, OSError, TimeoutError)


class Fapi:
    def __init__(self, base_url: str | None) -> None:
        # The caller has already refused a non-loopback host under the offline switch, so the
        # source's own offline guard may let the loopback through.
        self.source = BinancePublicCandleSource(base_url, allow_loopback=True, rate_limit=True, timeout_ms=30_000)
        self.name = self.source.name

    async def markets(self) -> dict[str, Market]:
        """Every market of the venue's exchangeInfo, keyed by unified symbol."""
        try:
            return parse_exchange_info(await self.source.exchange_info())
        except _network_errors() as exc:
            raise VenueUnavailable(f"{self.name}: exchangeInfo failed ({type(exc).__name__}: {exc})") from None

    async def klines(self, venue_id: str, timeframe: str, span: Span) -> pd.DataFrame:
        """Closed candles with open times in span (which ends at or before the forming candle), paged by
        at most BINANCE_KLINES_LIMIT. Each request asks only for the candles still wanted: Binance weighs
        a klines request by its limit (1000 costs 5 times 99), and ccxt's limiter charges accordingly."""
        unified = parse_symbol(venue_id).unified
        step = timeframe_ms(timeframe)
        frames: list[pd.DataFrame] = []
        since = span[0]
        try:
            await self.source.exchange.load_markets()  # once: ccxt keeps them
            while since < span[1]:
                limit = min(BINANCE_KLINES_LIMIT, -(-(span[1] - since) // step))
                rows = await self.source.exchange.fetch_ohlcv(unified, timeframe, since, limit, {"until": span[1] - 1})
                page = [r for r in rows if since <= r[0] < span[1]]
                if page:
                    frames.append(make_candles(*(np.asarray([r[i] for r in page]) for i in range(6))))
                # A short page means Binance reached the end of the span (a hole skips ahead instead).
                if not page or len(rows) < limit:
                    break
                since = int(page[-1][0]) + step
        except _network_errors() as exc:
            why = f"{self.name}: klines {venue_id} {timeframe} failed ({type(exc).__name__}: {exc})"
            raise VenueUnavailable(why) from None
        return concat_candles(frames, f"{self.name} {venue_id} {timeframe}") if frames else empty_candles()

    async def funding(self, venue_id: str, span: Span) -> pd.DataFrame:
        """Funding events with times in span (time_ms, rate), paged by FUNDING_LIMIT."""
        unified = parse_symbol(venue_id).unified
        frames: list[pd.DataFrame] = []
        since = span[0]
        try:
            while since < span[1]:
                rows: list[dict[str, Any]] = await self.source.exchange.fetch_funding_rate_history(
                    unified, since, FUNDING_LIMIT, {"until": span[1] - 1}
                )
                page = [r for r in rows if since <= int(r["timestamp"]) < span[1]]
                if page:
                    frames.append(pd.DataFrame({
                        "time_ms": np.array([int(r["timestamp"]) for r in page], np.int64),
                        "rate": np.array([float(r["fundingRate"]) for r in page], np.float64),
                    }))
                if not page or len(rows) < FUNDING_LIMIT:  # a short page: nothing more in the span
                    break
                since = int(page[-1]["timestamp"]) + 1
        except _network_errors() as exc:
            why = f"{self.name}: fundingRate {venue_id} failed ({type(exc).__name__}: {exc})"
            raise VenueUnavailable(why) from None
        return pd.concat(frames, ignore_index=True) if frames else empty_funding()

    async def close(self) -> None:
        await self.source.close()
