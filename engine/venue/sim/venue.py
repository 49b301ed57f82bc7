"""`SimVenue`: the `Venue` interface over the in-process matching engine (backtest and paper).

The driver (backtest loop or paper feed) pushes candles with `on_candle`; the bot trades through the
async `Venue` methods and sees exactly what it would see from Binance, minus the network.

Paper trading survives a restart with `save(path)` once per tick and `SimVenue.load(path, exchange_info,
leverage_tiers=...)` at start-up (see MatchingEngine.state_dict for what is kept).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

from engine.clock import Clock
from engine.venue.base import Venue
from engine.venue.errors import VenueUnavailable
from engine.venue.leverage import Brackets, load_leverage_tiers
from engine.venue.markets import Market, load_exchange_info
from engine.venue.sim.engine import FinerCandles, MatchingEngine
from engine.venue.sim.state import STATE_VERSION, VENUE_KIND, check_header, get, read_json, write_json_atomic
from engine.venue.types import (
    Balance,
    Candle,
    Execution,
    MarginMode,
    OrderState,
    OrderType,
    Position,
    Side,
    Ticker,
    timeframe_ms,
)

DEFAULT_OHLCV_LIMIT = 500
_OPEN_MS = itemgetter(0)
Row = tuple[int, float, float, float, float, float]


class SimVenue(Venue):
    """A Venue backed by a MatchingEngine. `timeframe` is the interval of the candles fed with
    `on_candle`; `fetch_ohlcv` serves that interval and any whole multiple of it (resampled) from the
    candles fed so far. `keep_history=False` saves memory when nobody calls fetch_ohlcv."""

    concurrent = False  # a wave's orders one after another: the answers gather would give, without its tasks

    def __init__(self, engine: MatchingEngine, *, timeframe: str = "5m", keep_history: bool = True) -> None:
        self.engine = engine
        self.timeframe = timeframe
        self._base_ms = timeframe_ms(timeframe)
        self._keep_history = keep_history
        self._history: dict[str, list[Row]] = {}
        self._closed = False

    @classmethod
    def from_files(
        cls,
        exchange_info: Path,
        balances: Mapping[str, Decimal | int | str],
        *,
        leverage_tiers: Path | None = None,
        timeframe: str = "5m",
        keep_history: bool = True,
        **engine_options: Any,
    ) -> SimVenue:
        """Markets from an exchangeInfo JSON, brackets from a leverage-tiers JSON; other keyword arguments
        go to MatchingEngine (fees, slippage_bps, slippage_model, impact_bps, max_volume_share,
        default_leverage, funding_rate, clock)."""
        markets = load_exchange_info(exchange_info)
        brackets = load_leverage_tiers(leverage_tiers) if leverage_tiers is not None else None
        engine = MatchingEngine(markets, balances=balances, brackets=brackets, **engine_options)
        return cls(engine, timeframe=timeframe, keep_history=keep_history)

    # ---- persistence -----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The venue's state as JSON-safe data: the engine's `state_dict()` (see there for what is and
        is not kept) and the timeframe fed. Not kept: the candle history behind fetch_ohlcv (the driver
        feeds or re-fetches candles after a restart; until then fetch_ohlcv serves only what is fed
        after the restore), keep_history, and whether the venue was closed."""
        return {
            "version": STATE_VERSION,
            "kind": VENUE_KIND,
            "timeframe": self.timeframe,
            "engine": self.engine.state_dict(),
        }

    def save(self, path: Path) -> None:
        """Write `state_dict()` to `path` atomically (`<path>.tmp` written and fsync'd, then os.replace,
        then the directory fsync'd): after a crash `path` holds the previous save or this one, whole.
        Meant for once per bot tick; one writer per file."""
        write_json_atomic(Path(path), self.state_dict())

    @classmethod
    def from_state(
        cls,
        markets: Mapping[str, Market],
        state: Mapping[str, Any],
        *,
        brackets: Mapping[str, Brackets] | None = None,
        clock: Clock | None = None,
        keep_history: bool = True,
    ) -> SimVenue:
        """A venue continuing a `state_dict()` (engine settings from the state, see
        MatchingEngine.from_state). Raises StateError (a ValueError) for an unknown version or a
        malformed state."""
        check_header(state, VENUE_KIND)
        timeframe = get(state, "timeframe", "state")
        timeframe_ms(timeframe)  # ValueError for an interval fapi does not serve
        engine = MatchingEngine.from_state(markets, get(state, "engine", "state"), brackets=brackets, clock=clock)
        return cls(engine, timeframe=timeframe, keep_history=keep_history)

    @classmethod
    def load(
        cls,
        path: Path,
        exchange_info: Path,
        *,
        leverage_tiers: Path | None = None,
        clock: Clock | None = None,
        keep_history: bool = True,
    ) -> SimVenue:
        """The venue saved at `path` by `save`, on the markets of an exchangeInfo JSON and the brackets
        of a leverage-tiers JSON (pass the files given to `from_files`). A stale `<path>.tmp` left by an
        interrupted save is ignored. Raises FileNotFoundError when nothing was saved, StateError for a
        file that is not a version-1 saved venue."""
        state = read_json(Path(path))
        markets = load_exchange_info(exchange_info)
        brackets = load_leverage_tiers(leverage_tiers) if leverage_tiers is not None else None
        return cls.from_state(markets, state, brackets=brackets, clock=clock, keep_history=keep_history)

    # ---- driver side (synchronous) ---------------------------------------------------------------------

    def on_candle(
        self,
        symbol: str,
        open_ms: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float = 0.0,
        finer: FinerCandles | None = None,
    ) -> list[Execution]:
        """Feed one candle to the engine (see MatchingEngine.on_candle) and keep it for fetch_ohlcv."""
        executions = self.engine.on_candle(symbol, open_ms, o, h, lo, c, v, finer)
        if self._keep_history:
            rows = self._history.get(symbol)
            if rows is None:
                rows = self._history[symbol] = []
            rows.append((open_ms, o, h, lo, c, v))
        return executions

    # ---- Venue -----------------------------------------------------------------------------------------

    def _open(self) -> MatchingEngine:
        if self._closed:
            raise VenueUnavailable("venue is closed")
        return self.engine

    async def markets(self) -> dict[str, Market]:
        return dict(self._open().markets)

    def update_markets(self, markets: Mapping[str, Market]) -> None:
        """Take new filters or status for the markets it trades (paper on live data follows Binance's
        exchangeInfo); later orders are checked against them, resting ones are left as they are."""
        engine = self._open()
        for symbol, market in markets.items():
            if symbol in engine.markets:
                engine.update_market(market)

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[Candle]:
        """See Venue.fetch_ohlcv. Raises ValueError for a timeframe that is not a whole multiple of the
        one fed."""
        self._open().book(symbol)  # InvalidSymbol for an unknown symbol
        tf_ms = timeframe_ms(timeframe)
        if tf_ms % self._base_ms:
            raise ValueError(
                f"this simulated venue is fed {self.timeframe} candles; cannot serve {timeframe}"
            )
        limit = DEFAULT_OHLCV_LIMIT if limit is None else limit
        rows = self._history.get(symbol, [])
        if not rows or limit <= 0:
            return []
        if since_ms is None:
            last_bucket = rows[-1][0] // tf_ms * tf_ms
            start = bisect_left(rows, last_bucket - (limit - 1) * tf_ms, key=_OPEN_MS)
        else:
            start = bisect_left(rows, -(-since_ms // tf_ms) * tf_ms, key=_OPEN_MS)
        if tf_ms == self._base_ms:
            return [Candle(*row) for row in rows[start : start + limit]]
        return _resample(rows, start, tf_ms, limit)

    async def ticker(self, symbol: str) -> Ticker:
        """Latest price; bid/ask are None (the simulator has no book). Raises VenueUnavailable before the
        first candle."""
        engine = self._open()
        last = engine.last_price(symbol)
        if last is None:
            raise VenueUnavailable(f"no price for {symbol} yet")
        return Ticker(symbol=symbol, last=last, bid=None, ask=None, timestamp_ms=engine.now_ms())

    async def balance(self, asset: str) -> Balance:
        return self._open().balance(asset)

    async def positions(self) -> list[Position]:
        return self._open().positions()

    async def leverage_brackets(self, symbol: str) -> Brackets | None:
        return self._open().brackets_of(symbol)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        self._open().set_leverage(symbol, leverage)

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        self._open().set_margin_mode(symbol, mode)

    async def place_market(
        self, symbol: str, side: Side, qty: Decimal, client_id: str, reduce_only: bool = False
    ) -> OrderState:
        return self._open().place_market(symbol, side, qty, client_id, reduce_only)

    async def place_limit(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, client_id: str, *,
        reduce_only: bool = False, post_only: bool = False,
    ) -> OrderState:
        """See Venue.place_limit; the fill model is in `engine.venue.sim.resting`."""
        return self._open().place_limit(
            symbol, side, qty, price, client_id, reduce_only=reduce_only, post_only=post_only
        )

    async def place_stop_market(
        self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        return self._open().place_conditional(
            symbol, OrderType.STOP_MARKET, side, qty, trigger_price, client_id
        )

    async def place_take_profit_market(
        self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> OrderState:
        return self._open().place_conditional(
            symbol, OrderType.TAKE_PROFIT_MARKET, side, qty, trigger_price, client_id
        )

    async def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderState:
        return self._open().cancel(symbol, client_id, conditional)

    async def fetch_order(self, symbol: str, client_id: str, conditional: bool) -> OrderState | None:
        return self._open().fetch_order(symbol, client_id, conditional)

    async def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        return self._open().open_orders(symbol)

    async def close(self) -> None:
        self._closed = True


def _resample(rows: list[Row], start: int, tf_ms: int, limit: int) -> list[Candle]:
    """Aggregate base candles into `tf_ms` buckets (open of the first, max high, min low, close of the
    last, summed volume), at most `limit` buckets from rows[start:]."""
    out: list[Candle] = []
    bucket: list[Row] = []
    bucket_ms = None
    for row in rows[start:]:
        row_bucket = row[0] // tf_ms * tf_ms
        if row_bucket != bucket_ms:
            if bucket:
                out.append(_merge(bucket_ms, bucket))
                if len(out) == limit:
                    return out
            bucket, bucket_ms = [], row_bucket
        bucket.append(row)
    if bucket:
        out.append(_merge(bucket_ms, bucket))
    return out


def _merge(open_ms: int | None, rows: list[Row]) -> Candle:
    assert open_ms is not None
    return Candle(
        open_ms=open_ms,
        open=rows[0][1],
        high=max(r[2] for r in rows),
        low=min(r[3] for r in rows),
        close=rows[-1][4],
        volume=sum(r[5] for r in rows),
    )
