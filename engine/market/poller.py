"""Closed candles from a venue that serves them like Binance: the latest candles on request, the last
one still forming.

Each poll asks every symbol for its newest candles at once (bounded concurrency) and returns only the
candles that closed since the previous poll, oldest first. After a gap (a restart, a slow network) the
missed candles are fetched from where the symbol left off, so nothing the strategy or the paper venue
must see is skipped. The forming candle is never returned: a candle counts as closed once a later one
exists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from engine.venue.errors import VenueError
from engine.venue.types import Candle, timeframe_ms

log = logging.getLogger("engine.poller")

Fetch = Callable[[str, str, int | None, int | None], Awaitable[list[Candle]]]
BINANCE_MAX_LIMIT = 1000
RECENT = 3  # the forming candle, the one that just closed, and one spare for a late poll


class CandlePoller:
    def __init__(self, fetch: Fetch, symbols: list[str], timeframe: str, *, concurrency: int = 16) -> None:
        self.fetch = fetch
        self.symbols = list(symbols)
        self.timeframe = timeframe
        self.step = timeframe_ms(timeframe)
        self.last: dict[str, int] = {}  # symbol -> open time of the newest closed candle handed out
        self._limit = asyncio.Semaphore(concurrency)
        self.failures: dict[str, str] = {}  # symbol -> last error, for the status line

    async def history(self, symbol: str, count: int) -> list[Candle]:
        """The last `count` closed candles (warm-up); marks them as seen."""
        candles = await self.fetch(symbol, self.timeframe, None, min(count + 1, BINANCE_MAX_LIMIT))
        closed = candles[:-1][-count:]
        if closed:
            self.last[symbol] = max(self.last.get(symbol, 0), closed[-1].open_ms)
        return closed

    def resume_from(self, symbol: str, last_open_ms: int) -> None:
        """Continue after `last_open_ms` (the newest candle already processed before a restart)."""
        self.last[symbol] = last_open_ms

    async def poll(self) -> dict[str, list[Candle]]:
        """New closed candles per symbol (symbols without any are left out). A symbol whose request
        failed is retried next poll and named in `failures`; the others go on."""
        results = await asyncio.gather(*(self._symbol(s) for s in self.symbols), return_exceptions=True)
        out: dict[str, list[Candle]] = {}
        for symbol, result in zip(self.symbols, results, strict=True):
            if isinstance(result, VenueError):
                self.failures[symbol] = str(result)
                log.warning("%s: candles not fetched: %s", symbol, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                self.failures.pop(symbol, None)
                if result:
                    out[symbol] = result
        return out

    async def _symbol(self, symbol: str) -> list[Candle]:
        async with self._limit:
            last = self.last.get(symbol)
            candles = await self.fetch(symbol, self.timeframe, None, RECENT)
            if last is not None and candles and candles[0].open_ms > last + self.step:
                # A gap: more candles closed than one request of RECENT covers; page from `last`.
                candles = await self._since(symbol, last + self.step)
        closed = [c for c in candles[:-1] if last is None or c.open_ms > last]
        if closed:
            self.last[symbol] = closed[-1].open_ms
        return closed

    async def _since(self, symbol: str, start_ms: int) -> list[Candle]:
        out: list[Candle] = []
        since = start_ms
        while True:
            page = await self.fetch(symbol, self.timeframe, since, BINANCE_MAX_LIMIT)
            page = [c for c in page if c.open_ms >= since]
            out.extend(page)
            if len(page) < BINANCE_MAX_LIMIT:
                return out
            since = page[-1].open_ms + self.step
