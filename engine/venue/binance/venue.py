"""`BinanceVenue`: the `Venue` interface on Binance USD-M through ccxt (testnet = demo trading, live, or a
local base URL). See `engine.venue.base` for the promises every venue keeps; this module adds:

- `account_modes()` (hedge / multi-assets), `health()` (clock, markets, account, modes: run at start),
  `server_time_ms()`, `resync_clock()` and `fetch_my_trades()` for reconciliation;
- the plumbing every request goes through (closed check, retry policy, clock resync, markets cache).

The order methods are in `orders` (`BinanceOrders`, the base class): orders are where a request can
move money, so that code is kept apart from the reads here, to be read and reviewed on its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from engine.venue.binance import convert
from engine.venue.binance.cache import TtlCache
from engine.venue.binance.client import Mode, build_exchange, endpoint
from engine.venue.binance.convert import AccountTrade
from engine.venue.binance.credentials import Credentials
from engine.venue.binance.orders import BinanceOrders
from engine.venue.binance.retry import Requester, Sleep
from engine.venue.binance.settings import BinanceSettings
from engine.venue.binance.tickers import read_quote_volumes
from engine.venue.errors import (
    InvalidLeverage,
    InvalidSymbol,
    MarginModeUnchanged,
    VenueError,
    VenueUnavailable,
)
from engine.venue.markets import Market, parse_exchange_info
from engine.venue.symbols import to_unified
from engine.venue.types import (
    Balance,
    Candle,
    MarginMode,
    Position,
    Ticker,
    timeframe_ms,
)

log = logging.getLogger("engine.venue.binance")
T = TypeVar("T")

DEFAULT_OHLCV_LIMIT = 500  # Binance's default
KLINES_PAGE = 1000  # the most one klines request returns here (the fake answers -1130 above)
_MARKETS_KEY = "all"
MARKETS_RETRY_S = 60.0  # how long stale markets are served after a failed refresh before trying again


@dataclass(frozen=True, slots=True)
class AccountModes:
    hedge: bool  # dual-side positions (the engine trades one-way mode)
    multi_assets: bool  # USDC and USDT share margin


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What `health()` found. `ok` when nothing stands in the way of trading."""

    mode: str
    endpoint: str
    server_time_ms: int | None
    clock_offset_ms: int | None  # local clock minus Binance's, now used to sign requests
    round_trip_ms: float | None  # of the server-time request
    markets: int
    account_readable: bool
    modes: AccountModes | None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


class BinanceVenue(BinanceOrders):
    """A Venue on Binance USD-M, built from `Credentials`, a mode and its own `BinanceSettings` (the venue
    reads no profile: `engine.bot.venues.binance_venue` builds one from a profile). No request is made
    before the first call; `close()` releases the HTTP session.

    Raises OfflineRefused (a UserError) at construction when ENGINE_OFFLINE=1 and the target is not a
    loopback base URL, ValueError for a bad mode or URL."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        mode: Mode = "testnet",
        base_url: str | None = None,
        settings: BinanceSettings | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or BinanceSettings()
        self.exchange = build_exchange(
            credentials,
            mode=mode,
            base_url=base_url,
            timeout_ms=self.settings.timeout_ms,
            enable_rate_limit=self.settings.enable_rate_limit,
            recv_window_ms=self.settings.recv_window_ms,
        )
        self.mode = mode
        self.endpoint = endpoint(mode, base_url)
        self._credential_names = (credentials.key_env, credentials.secret_env)
        self._requests = Requester(self.settings.retry, resync=self._resync_for_retry, sleep=sleep, rng=rng)
        self._monotonic = monotonic
        self._markets: TtlCache[str, dict[str, Market]] = TtlCache(monotonic)
        self._tickers: TtlCache[str, Ticker] = TtlCache(monotonic)
        self._candles: TtlCache[tuple[str, str], tuple[int, list[Candle]]] = TtlCache(monotonic)
        self._symbol_by_id: dict[str, str] = {}
        self._ccxt_symbol: dict[str, str] = {}
        self._leverage: dict[str, int] = {}
        self._resync_lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        key_env, secret_env = self._credential_names
        state = ", closed" if self._closed else ""
        return (
            f"BinanceVenue(mode={self.mode!r}, endpoint={self.endpoint!r}, "
            f"credentials=${key_env}/${secret_env}{state})"
        )

    # ---- plumbing --------------------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise VenueUnavailable("the Binance venue is closed")

    async def _read(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        self._ensure_open()
        return await self._requests.read(what, call)

    async def _order(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        self._ensure_open()
        return await self._requests.order(what, call)

    def _server_now_ms(self) -> int:
        return int(self.exchange.milliseconds() - (self.exchange.options.get("timeDifference") or 0))

    async def server_time_ms(self) -> int:
        """Binance's clock (GET /fapi/v1/time)."""
        return int(await self._read("server time", self.exchange.fetch_time))

    async def resync_clock(self) -> int:
        """Measure Binance's clock and sign every later request with it; returns the offset (local minus
        server, ms). Raises VenueUnavailable when the server time cannot be read."""
        self._ensure_open()
        async with self._resync_lock:
            before = self.exchange.milliseconds()
            server = await self._requests.read("server time", self.exchange.fetch_time)
            after = self.exchange.milliseconds()
            offset = int((before + after) // 2 - int(server))
            self.exchange.options["timeDifference"] = offset
            log.info("clock resynced: local - Binance = %d ms (round trip %d ms)", offset, after - before)
            return offset

    async def _resync_for_retry(self) -> None:
        await self.resync_clock()

    # ---- markets ---------------------------------------------------------------------------------------

    async def _load_markets(self, *, fresh: bool = False) -> dict[str, Market]:
        self._ensure_open()
        cached = None if fresh else self._markets.get(_MARKETS_KEY)
        if cached is not None:
            return cached
        stale = self._markets.stale(_MARKETS_KEY)
        # ccxt keeps its own copy (amount_to_precision reads it): reload it whenever ours is renewed.
        reload = fresh or stale is not None
        try:
            await self._requests.read("load markets", lambda: self.exchange.load_markets(reload=reload))
        except VenueError as exc:
            if stale is None:
                raise
            log.warning("could not refresh markets (%s); keeping the ones loaded before for a minute", exc)
            self._markets.put(_MARKETS_KEY, stale, MARKETS_RETRY_S)
            return stale
        # The filters are parsed from the raw exchangeInfo entries ccxt keeps, by the simulator's parser.
        ccxt_markets = list(self.exchange.markets.values())
        markets = parse_exchange_info({"symbols": [m["info"] for m in ccxt_markets]})
        ccxt_by_id = {m["id"]: m["symbol"] for m in ccxt_markets}
        self._symbol_by_id = {m.id: s for s, m in markets.items()}
        self._ccxt_symbol = {s: ccxt_by_id[m.id] for s, m in markets.items() if m.id in ccxt_by_id}
        self._markets.put(_MARKETS_KEY, markets, self.settings.markets_ttl_s)
        return markets

    async def markets(self) -> dict[str, Market]:
        return dict(await self._load_markets())

    async def refresh_markets(self) -> dict[str, Market]:
        """exchangeInfo read again now, whatever the cache says (filters and status change under a running
        bot: a filter rejection or the profile's `venue.markets_refresh` asks). When the read fails the
        markets loaded before are answered (with a warning) for another minute."""
        return dict(await self._load_markets(fresh=True))

    async def _market(self, symbol: str) -> Market:
        market = (await self._load_markets()).get(symbol)
        if market is None:
            raise InvalidSymbol(f"Invalid symbol. {symbol!r} is not a Binance USD-M market")
        return market

    def _ccxt(self, symbol: str) -> str:
        return self._ccxt_symbol.get(symbol, symbol)

    def _symbol(self, venue_id: str) -> str:
        known = self._symbol_by_id.get(venue_id)
        if known is not None:
            return known
        try:
            return to_unified(venue_id)
        except ValueError:
            return venue_id

    # ---- market data -----------------------------------------------------------------------------------

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """See Venue.fetch_ohlcv. The latest candles are cached per (symbol, timeframe) until the forming
        candle could have closed (so its own OHLC may lag within that window)."""
        tf_ms = timeframe_ms(timeframe)
        await self._market(symbol)
        limit = DEFAULT_OHLCV_LIMIT if limit is None else limit
        if limit <= 0:
            return []
        key = (symbol, timeframe)
        if since_ms is None and self.settings.cache_candles:
            cached = self._candles.get(key)
            if cached is not None and cached[0] >= limit:
                return cached[1][-limit:]
        if since_ms is None:
            candles = await self._latest_klines(symbol, timeframe, limit)
        else:
            candles = await self._klines_from(symbol, timeframe, since_ms, limit, tf_ms)
        if since_ms is None and self.settings.cache_candles and candles:
            closes_in_s = (candles[-1].open_ms + tf_ms - self._server_now_ms()) / 1000
            self._candles.put(key, (limit, candles), closes_in_s)
        return candles

    async def _klines(
        self, symbol: str, timeframe: str, since_ms: int | None, limit: int, until_ms: int | None = None
    ) -> list[Candle]:
        ccxt_symbol = self._ccxt(symbol)
        params = {} if until_ms is None else {"until": until_ms}
        rows = await self._read(
            f"klines {symbol} {timeframe}",
            lambda: self.exchange.fetch_ohlcv(ccxt_symbol, timeframe, since_ms, limit, params),
        )
        return [convert.candle(row) for row in rows]

    async def _klines_from(self, symbol: str, timeframe: str, since_ms: int, limit: int, tf_ms: int) -> list[Candle]:
        """The first `limit` candles opening at or after `since_ms`, paging forward."""
        out: list[Candle] = []
        since = since_ms
        while len(out) < limit:
            page = await self._klines(symbol, timeframe, since, min(KLINES_PAGE, limit - len(out)))
            page = [c for c in page if c.open_ms >= since]
            if not page:
                break
            out.extend(page)
            since = page[-1].open_ms + tf_ms
        return out[:limit]

    async def _latest_klines(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        """The latest `limit` candles, paging backward with endTime (no dependence on our clock)."""
        out = await self._klines(symbol, timeframe, None, min(KLINES_PAGE, limit))
        while out and len(out) < limit:
            first = out[0].open_ms
            page = await self._klines(symbol, timeframe, None, min(KLINES_PAGE, limit - len(out)), until_ms=first - 1)
            page = [c for c in page if c.open_ms < first]
            if not page:
                break
            out[:0] = page
        return out[-limit:]

    async def quote_volumes_24h(self) -> dict[str, float]:
        return await self._read("24h tickers", lambda: read_quote_volumes(self.exchange))

    async def ticker(self, symbol: str) -> Ticker:
        """Last price from the 24h ticker (bid/ask None: that payload has none), cached briefly."""
        await self._market(symbol)
        cached = self._tickers.get(symbol)
        if cached is not None:
            return cached
        ccxt_symbol = self._ccxt(symbol)
        raw = await self._read(f"ticker {symbol}", lambda: self.exchange.fetch_ticker(ccxt_symbol))
        result = convert.ticker(raw["info"], symbol)
        self._tickers.put(symbol, result, self.settings.ticker_ttl_s)
        return result

    # ---- account ---------------------------------------------------------------------------------------

    async def balance(self, asset: str) -> Balance:
        """From GET /fapi/v3/account (free = Binance's availableBalance, used = initialMargin)."""
        account = await self._read("account", self.exchange.fapiPrivateV3GetAccount)
        return convert.balance(account, asset)

    async def positions(self) -> list[Position]:
        """Every non-zero row of GET /fapi/v3/positionRisk (see convert.position for leverage/mode)."""
        await self._load_markets()
        rows = await self._read("positions", self.exchange.fapiPrivateV3GetPositionRisk)
        out = []
        for row in rows:
            symbol = self._symbol(str(row.get("symbol", "")))
            found = convert.position(row, symbol, known_leverage=self._leverage.get(symbol))
            if found is not None:
                out.append(found)
        return out

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """See Venue.set_leverage; setting the current value again is accepted by Binance (a no-op)."""
        await self._market(symbol)
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= 125:
            raise InvalidLeverage(f"Leverage {leverage} is not valid")
        ccxt_symbol = self._ccxt(symbol)
        # Idempotent, so a 5xx or timeout is retried like a read.
        await self._read(f"set leverage {symbol} {leverage}", lambda: self.exchange.set_leverage(leverage, ccxt_symbol))
        self._leverage[symbol] = leverage

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """See Venue.set_margin_mode; -4046 "No need to change margin type." is the no-op it promises."""
        await self._market(symbol)
        mode = MarginMode(mode)
        ccxt_symbol = self._ccxt(symbol)
        try:
            await self._read(
                f"set margin mode {symbol} {mode.value}", lambda: self.exchange.set_margin_mode(mode.value, ccxt_symbol)
            )
        except MarginModeUnchanged:
            pass

    async def account_modes(self) -> AccountModes:
        """Position mode (GET /fapi/v1/positionSide/dual) and multi-assets mode (GET /fapi/v1/multiAssetsMargin)."""
        dual = await self._read("position mode", self.exchange.fapiPrivateGetPositionSideDual)
        multi = await self._read("multi-assets mode", self.exchange.fapiPrivateGetMultiAssetsMargin)
        return AccountModes(
            hedge=convert.flag(dual.get("dualSidePosition")), multi_assets=convert.flag(multi.get("multiAssetsMargin"))
        )

    async def fetch_my_trades(
        self, symbol: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[AccountTrade]:
        """The account's fills on `symbol` (GET /fapi/v1/userTrades), oldest first."""
        await self._market(symbol)
        ccxt_symbol = self._ccxt(symbol)
        trades = await self._read(
            f"trades {symbol}", lambda: self.exchange.fetch_my_trades(ccxt_symbol, since_ms, limit)
        )
        return [convert.account_trade(t["info"], symbol) for t in trades]

    async def health(self) -> HealthReport:
        """Check what trading needs, without raising for what is found wrong (it lands in `problems`):
        the clock (and resync it), markets, a readable account, one-way position mode. Raises
        VenueUnavailable only when the venue is closed."""
        self._ensure_open()
        problems: list[str] = []
        notes: list[str] = []
        offset = server_ms = rtt = None
        try:
            started = self._monotonic()
            offset = await self.resync_clock()
            rtt = (self._monotonic() - started) * 1000
            server_ms = self._server_now_ms()
        except VenueError as exc:
            problems.append(f"server time unreadable: {exc}")
        count = 0
        try:
            count = len(await self._load_markets())
            if count == 0:
                problems.append("exchangeInfo lists no markets")
        except VenueError as exc:
            problems.append(f"markets unreadable: {exc}")
        readable = False
        try:
            await self._read("account", self.exchange.fapiPrivateV3GetAccount)
            readable = True
        except VenueError as exc:
            problems.append(f"account unreadable (API key, permissions or IP whitelist?): {exc}")
        modes = None
        try:
            modes = await self.account_modes()
        except VenueError as exc:
            problems.append(f"account modes unreadable: {exc}")
        if modes is not None and modes.hedge:
            problems.append("hedge mode (dual-side positions) is on; the engine trades one-way mode")
        if modes is not None and modes.multi_assets:
            notes.append("multi-assets mode is on: USDC and USDT share margin, so each shows the same free balance")
        return HealthReport(
            mode=self.mode,
            endpoint=self.endpoint,
            server_time_ms=server_ms,
            clock_offset_ms=offset,
            round_trip_ms=rtt,
            markets=count,
            account_readable=readable,
            modes=modes,
            problems=tuple(problems),
            notes=tuple(notes),
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.exchange.close()
