"""The fake's market: a clock, and one tape of candles per symbol that klines, tickers and the matching
engine all read, so every answer agrees with every fill.

Two clocks exist. The WALL clock signs requests and answers `/fapi/v1/time`. The MARKET clock (here)
decides which candles exist: manual (moves only with `advance`) or `speed` market ms per wall ms.

A tape holds candles at its `step` (the finest interval served): the data files' timeframe, or 1m for
the seeded synthetic market (so 1m/3m/5m/15m all come from one path). Candles that closed by the market
time are history; the one opening at the current fine grid point is "forming" and only its OPEN is known
(never its high, low or close: that would leak the future). Longer intervals are aggregated on the fly,
the forming bucket from its closed fine candles plus the forming open, exactly what Binance would show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.market.candles import timeframe_ms
from engine.market.datadir import CandlesNotFoundError, DataDir
from engine.market.synthetic import SyntheticMarket
from engine.venue.markets import Market

DAY_MS = 86_400_000
SYNTHETIC_STEP = "1m"
SYNTHETIC_DEFAULT_START = "2025-03-01"
SYNTHETIC_HISTORY = 1500  # timeframe candles of synthetic history before the start
FILE_HISTORY = 200  # the default start leaves this many timeframe candles of history in the files
_GROW = 4096  # synthetic candles generated per extension

Grow = Callable[[int, int], tuple[np.ndarray, np.ndarray]]
_FILE_CACHE: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, str]] = {}


def parse_time(value: str | int) -> int:
    """Unix ms from ms or an ISO date/time (UTC when no zone is given)."""
    if isinstance(value, int):
        return value
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def tick_decimals(market: Market) -> int:
    exponent = market.tick_size.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class Tape:
    """Candles of one symbol at `step_ms`, oldest first: `times` (open ms) and `ohlcv` (n x 5)."""

    def __init__(
        self,
        step_ms: int,
        times: np.ndarray,
        ohlcv: np.ndarray,
        decimals: int,
        *,
        grow: Grow | None = None,
        grow_from_ms: int = 0,
        source: str = "",
    ) -> None:
        self.step_ms = step_ms
        self.times = times
        self.ohlcv = ohlcv
        self.decimals = decimals
        self.source = source
        self._grow = grow
        self._owned = grow is not None  # file arrays are shared between fakes: copy before changing them
        self._tail_factor = 1.0
        self._end_ms = int(times[-1]) + step_ms if len(times) else grow_from_ms

    @property
    def first_ms(self) -> int | None:
        return int(self.times[0]) if len(self.times) else None

    @property
    def growing(self) -> bool:
        return self._grow is not None

    @property
    def end_ms(self) -> int:
        """Open time just past the last candle held (a synthetic tape grows past it on demand)."""
        return self._end_ms

    def ensure(self, until_ms: int) -> None:
        """Make every candle opening before `until_ms` available (synthetic tapes only grow)."""
        if self._grow is None or until_ms <= self._end_ms:
            return
        stop = until_ms + _GROW * self.step_ms
        times, ohlcv = self._grow(self._end_ms, stop)
        if self._tail_factor != 1.0:
            ohlcv = ohlcv.copy()
            ohlcv[:, :4] = np.round(ohlcv[:, :4] * self._tail_factor, self.decimals)
        self.times = np.concatenate((self.times, times))
        self.ohlcv = np.concatenate((self.ohlcv, ohlcv))
        self._end_ms = stop

    def span(self, start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Candles opening in [start_ms, end_ms)."""
        self.ensure(end_ms)
        lo, hi = np.searchsorted(self.times, (start_ms, end_ms), side="left")
        return self.times[lo:hi], self.ohlcv[lo:hi]

    def at(self, open_ms: int) -> np.ndarray | None:
        """The candle opening exactly at `open_ms`, or None (before the data, in a gap, past its end)."""
        self.ensure(open_ms + self.step_ms)
        i = int(np.searchsorted(self.times, open_ms, side="left"))
        if i < len(self.times) and int(self.times[i]) == open_ms:
            return self.ohlcv[i]
        return None

    def last_close_before(self, ms: int) -> float | None:
        self.ensure(ms)
        i = int(np.searchsorted(self.times, ms, side="left"))
        return float(self.ohlcv[i - 1, 3]) if i > 0 else None

    def rescale_from(self, open_ms: int, factor: float) -> None:
        """Multiply the prices of every candle opening at or after `open_ms` (and of candles generated
        later) by `factor`, rounded to the tick decimals: the price level jumps there and moves on."""
        if not self._owned:
            self.times, self.ohlcv, self._owned = self.times.copy(), self.ohlcv.copy(), True
        i = int(np.searchsorted(self.times, open_ms, side="left"))
        self.ohlcv[i:, :4] = np.round(self.ohlcv[i:, :4] * factor, self.decimals)
        self._tail_factor *= factor


def synthetic_tapes(markets: Sequence[Market], seed: int, start_ms: int) -> dict[str, Tape]:
    """1m tapes of the seeded synthetic market (engine.market.synthetic), first candle at `start_ms`."""
    generator = SyntheticMarket([m.symbol for m in markets], seed=seed, start_ms=start_ms, timeframe=SYNTHETIC_STEP)
    step = timeframe_ms(SYNTHETIC_STEP)
    tapes = {}
    for market in markets:
        def grow(start: int, stop: int, symbol: str = market.symbol) -> tuple[np.ndarray, np.ndarray]:
            frame = generator.candles(symbol, start, stop).frame
            return frame.index.to_numpy(np.int64), frame.to_numpy(np.float64)

        empty_t, empty_v = np.empty(0, np.int64), np.empty((0, 5))
        tapes[market.symbol] = Tape(
            step, empty_t, empty_v, tick_decimals(market), grow=grow, grow_from_ms=start_ms, source=generator.name
        )
    return tapes


def file_tapes(markets: Sequence[Market], data_dir: Path, timeframe: str) -> dict[str, Tape]:
    """Tapes from candle files (a USDC market without files uses its USDT twin, as DataDir does).
    Raises CandlesNotFoundError naming the symbol when one has no candles at `timeframe`."""
    tapes = {}
    for market in markets:
        times, ohlcv, source = _load(data_dir, market, timeframe)
        tapes[market.symbol] = Tape(timeframe_ms(timeframe), times, ohlcv, tick_decimals(market), source=source)
    return tapes


def _load(data_dir: Path, market: Market, timeframe: str) -> tuple[np.ndarray, np.ndarray, str]:
    # Every test builds a fake; the files are read once per process and shared read-only.
    key = (str(Path(data_dir).resolve()), market.id, timeframe)
    if key not in _FILE_CACHE:
        try:
            series = DataDir(data_dir).load(market, timeframe)
        except CandlesNotFoundError as exc:
            raise CandlesNotFoundError(f"fake Binance: {exc}") from None
        times = series.frame.index.to_numpy(np.int64)
        ohlcv = np.ascontiguousarray(series.frame.to_numpy(np.float64))
        times.flags.writeable = False
        ohlcv.flags.writeable = False
        _FILE_CACHE[key] = (times, ohlcv, series.provenance)
    return _FILE_CACHE[key]


@dataclass(frozen=True, slots=True)
class Bars:
    """Aggregated candles: open times, (m x 5) ohlcv, quote volume and fine-candle count per bar."""

    times: np.ndarray
    ohlcv: np.ndarray
    quote: np.ndarray
    counts: np.ndarray


def aggregate(times: np.ndarray, ohlcv: np.ndarray, bucket_ms: int) -> Bars:
    """Group consecutive candles into `bucket_ms` bars aligned on the epoch (like Binance's)."""
    if len(times) == 0:
        return Bars(np.empty(0, np.int64), np.empty((0, 5)), np.empty(0), np.empty(0, np.int64))
    buckets = times // bucket_ms * bucket_ms
    starts = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    ends = np.concatenate((starts[1:], [len(times)])) - 1
    out = np.empty((len(starts), 5))
    out[:, 0] = ohlcv[starts, 0]
    out[:, 1] = np.maximum.reduceat(ohlcv[:, 1], starts)
    out[:, 2] = np.minimum.reduceat(ohlcv[:, 2], starts)
    out[:, 3] = ohlcv[ends, 3]
    out[:, 4] = np.add.reduceat(ohlcv[:, 4], starts)
    quote = np.add.reduceat(ohlcv[:, 4] * ohlcv[:, 3], starts)
    return Bars(buckets[starts], out, quote, ends - starts + 1)


def with_forming(tape: Tape, start_ms: int, now_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed candles opening in [start_ms, now) plus the forming one (open only, volume 0)."""
    grid = now_ms // tape.step_ms * tape.step_ms
    times, ohlcv = tape.span(start_ms, grid)
    forming = tape.at(grid) if grid >= start_ms else None
    if forming is None:
        return times, ohlcv
    o = float(forming[0])
    return np.append(times, grid), np.vstack((ohlcv, [[o, o, o, o, 0.0]]))


def klines(
    tape: Tape, interval_ms: int, now_ms: int, start_ms: int | None, end_ms: int | None, limit: int
) -> Bars:
    """Binance's kline selection: bars opening in [startTime, endTime] (never after now), the first `limit`
    from startTime, else the latest `limit`; the last bar may be forming."""
    grid = now_ms // tape.step_ms * tape.step_ms
    last = grid // interval_ms * interval_ms
    if end_ms is not None:
        last = min(last, end_ms // interval_ms * interval_ms)
    if start_ms is not None:
        first = -(-start_ms // interval_ms) * interval_ms
        last = min(last, first + (limit - 1) * interval_ms)
    else:
        first = last - (limit - 1) * interval_ms
    if last < first:
        return aggregate(np.empty(0, np.int64), np.empty((0, 5)), interval_ms)
    upto = min(last + interval_ms, grid + tape.step_ms)
    times, ohlcv = with_forming(tape, first, now_ms) if upto > grid else tape.span(first, upto)
    return aggregate(times, ohlcv, interval_ms)


def current_price(tape: Tape, now_ms: int) -> float | None:
    """The price now: the forming candle's open, else (in a gap or past the data) the last close."""
    grid = now_ms // tape.step_ms * tape.step_ms
    forming = tape.at(grid)
    return float(forming[0]) if forming is not None else tape.last_close_before(grid)


class MarketClock:
    """Market time in Unix ms: `start_ms` plus what `advance` added plus, with `speed`, the wall time
    elapsed since creation (less the time spent paused) times `speed`."""

    def __init__(self, start_ms: int, speed: float | None, wall: Callable[[], float] = time.monotonic) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive (market ms per wall ms), got {speed}")
        self.start_ms = start_ms
        self.speed = speed
        self._offset = 0
        self._wall = wall
        self._wall0 = wall()
        self._paused_at: float | None = None

    def now_ms(self) -> int:
        wall = self._wall() if self._paused_at is None else self._paused_at
        elapsed = 0 if self.speed is None else int((wall - self._wall0) * 1000 * self.speed)
        return self.start_ms + self._offset + elapsed

    def pause(self) -> None:
        """Hold a running market still (nothing trades, nothing fills) until `resume`."""
        if self._paused_at is None:
            self._paused_at = self._wall()

    def resume(self) -> None:
        """Let a paused market run on from where it stood."""
        if self._paused_at is not None:
            self._wall0 += self._wall() - self._paused_at
            self._paused_at = None

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("the market clock never goes back")
        self._offset += ms
