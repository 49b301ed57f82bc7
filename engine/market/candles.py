"""The one in-memory candle format, its validator, and helpers for timeframes and contiguous segments.

A candle frame is a pandas DataFrame with:
- index `open_time_ms`: int64 Unix milliseconds (UTC) of each candle's open, sorted ascending, unique;
- float64 columns `open, high, low, close, volume` (volume in the base asset), in that order.

Every loader, generator and feed in `engine.market` returns this shape and nothing else, so indicators,
the simulated matching engine and reports never have to guess units or time zones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import UserError

INDEX_NAME = "open_time_ms"

Row = tuple[float, float, float, float, float]  # one candle as open, high, low, close, volume
Stamped = tuple[int, float, float, float, float, float]  # open_ms, then a Row
CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_TIMEFRAME_RE = re.compile(r"^(\d+)([smhdw])$")


class CandleDataError(ValueError):
    """Candles that break the format's promises. The message always names where they came from."""


class CandleFileError(CandleDataError, UserError):
    """A candle file the user pointed us at that cannot be read: not the compression its name says,
    truncated, not CSV, or rows that break the format. The message names the file (and the line when
    known); the CLI reports it as bad input (exit 2)."""


def timeframe_ms(timeframe: str) -> int:
    """Length of a timeframe string such as "1m", "5m", "15m", "1h", "1d" in milliseconds.

    Raises ValueError for anything that is not <positive integer><s|m|h|d|w> (month "1M" is refused
    because its length is not fixed).
    """
    match = _TIMEFRAME_RE.match(timeframe.strip()) if isinstance(timeframe, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"unknown timeframe {timeframe!r}: expected e.g. '1m', '5m', '15m', '1h'")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def empty_candles() -> pd.DataFrame:
    """A candle frame with no rows (still with the right index and dtypes)."""
    return make_candles(np.empty(0, np.int64), *(np.empty(0) for _ in CANDLE_COLUMNS))


def make_candles(
    open_time_ms: np.ndarray | list[int],
    open_: np.ndarray | list[float],
    high: np.ndarray | list[float],
    low: np.ndarray | list[float],
    close: np.ndarray | list[float],
    volume: np.ndarray | list[float],
) -> pd.DataFrame:
    """Build a candle frame from column arrays (coerced to int64 / float64). Does not validate."""
    index = pd.Index(np.asarray(open_time_ms, dtype=np.int64), name=INDEX_NAME)
    data = {
        name: np.asarray(values, dtype=np.float64)
        for name, values in zip(CANDLE_COLUMNS, (open_, high, low, close, volume), strict=True)
    }
    return pd.DataFrame(data, index=index)


def validate_candles(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check that `df` is a well-formed candle frame and return it unchanged.

    Promises on return: int64 index named `open_time_ms`, strictly increasing (sorted, no duplicates);
    the five float64 columns present; no NaN; low <= min(open, close) and high >= max(open, close);
    volume >= 0. Raises CandleDataError naming `source` and the first offending time otherwise.
    """
    if not isinstance(df, pd.DataFrame):
        raise CandleDataError(f"{source}: candles must be a pandas DataFrame, got {type(df).__name__}")
    if df.index.name != INDEX_NAME or df.index.dtype != np.int64:
        raise CandleDataError(
            f"{source}: index must be int64 '{INDEX_NAME}', got {df.index.dtype} {df.index.name!r}"
        )
    missing = [c for c in CANDLE_COLUMNS if c not in df.columns]
    if missing:
        raise CandleDataError(f"{source}: missing columns {missing}")
    wrong = [c for c in CANDLE_COLUMNS if df[c].dtype != np.float64]
    if wrong:
        raise CandleDataError(f"{source}: columns {wrong} must be float64")
    if len(df) == 0:
        return df

    times = df.index.to_numpy()
    steps = np.diff(times)
    if (steps == 0).any():
        raise CandleDataError(f"{source}: duplicate candle time {_at(times[1:][steps == 0][0])}")
    if (steps < 0).any():
        raise CandleDataError(f"{source}: candles not sorted by time at {_at(times[1:][steps < 0][0])}")

    o, h, low, c, v = (df[col].to_numpy() for col in CANDLE_COLUMNS)
    nan_rows = np.isnan(o) | np.isnan(h) | np.isnan(low) | np.isnan(c) | np.isnan(v)
    if nan_rows.any():
        raise CandleDataError(f"{source}: missing value (NaN) in candle {_at(times[nan_rows][0])}")
    checks = (
        (h < np.maximum(o, c), "high < max(open, close)"),
        (low > np.minimum(o, c), "low > min(open, close)"),
        (low <= 0, "non-positive low price"),
        (v < 0, "negative volume"),
    )
    for bad, what in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CandleDataError(
                f"{source}: inconsistent OHLC ({what}) in candle {_at(times[i])}: "
                f"o={o[i]} h={h[i]} l={low[i]} c={c[i]} v={v[i]}"
            )
    return df


def _at(ms: int) -> str:
    return f"{int(ms)} ({pd.Timestamp(int(ms), unit='ms', tz='UTC').isoformat()})"


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of candles with no missing candle in between. `end_ms` is the open time of the last one."""

    start_ms: int
    end_ms: int
    rows: int


def segments(df: pd.DataFrame, timeframe: str) -> list[Segment]:
    """Contiguous runs of candles: a new segment starts wherever the step between open times is not
    exactly one timeframe. Expects a validated frame (sorted, unique times)."""
    if len(df) == 0:
        return []
    step = timeframe_ms(timeframe)
    times = df.index.to_numpy()
    breaks = np.flatnonzero(np.diff(times) != step) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(times)])) - 1
    return [Segment(int(times[s]), int(times[e]), int(e - s + 1)) for s, e in zip(starts, ends, strict=True)]


def gaps(df: pd.DataFrame, timeframe: str) -> list[tuple[int, int]]:
    """Missing stretches as (first missing open time, last missing open time) pairs, in order."""
    step = timeframe_ms(timeframe)
    segs = segments(df, timeframe)
    return [(a.end_ms + step, b.start_ms - step) for a, b in zip(segs, segs[1:], strict=False)]


def slice_time(df: pd.DataFrame, start_ms: int | None = None, end_ms: int | None = None) -> pd.DataFrame:
    """Candles whose open time is in [start_ms, end_ms) (either bound optional). Uses binary search on the
    sorted index, so it is cheap on large frames."""
    times = df.index.to_numpy()
    lo = 0 if start_ms is None else int(np.searchsorted(times, start_ms, side="left"))
    hi = len(times) if end_ms is None else int(np.searchsorted(times, end_ms, side="left"))
    return df.iloc[lo:hi]


def closed_before(df: pd.DataFrame, timeframe: str, now_ms: int) -> pd.DataFrame:
    """Only candles that had closed at `now_ms` (open time + timeframe <= now_ms): a still-forming
    candle must never reach a strategy as if it were final."""
    return slice_time(df, None, now_ms - timeframe_ms(timeframe) + 1)


def concat_candles(frames: list[pd.DataFrame], source: str) -> pd.DataFrame:
    """Join candle frames in time order and validate the result; overlapping times raise (they would be
    ambiguous), so callers de-duplicate deliberately."""
    if not frames:
        return empty_candles()
    joined = pd.concat(frames).sort_index(kind="stable")
    return validate_candles(joined, source)


@dataclass(frozen=True, slots=True, eq=False)
class CandleSeries:
    """Candles for one symbol and timeframe, with where they came from.

    `candles_of` names the market whose candles these really are. It differs from `symbol` when a twin
    stands in (a USDC perpetual replayed on its USDT twin's candles, as the data README allows); reports
    must then say so, and `provenance` gives the sentence to print. `synthetic` is True for generated
    candles, which must never be presented as market history.
    """

    symbol: str
    timeframe: str
    frame: pd.DataFrame
    source: str
    synthetic: bool = False
    candles_of: str = ""

    def __post_init__(self) -> None:
        if not self.candles_of:
            object.__setattr__(self, "candles_of", self.symbol)
        # Stamp the frame too, so the label survives when only the DataFrame is passed on.
        self.frame.attrs.update(
            source=self.source, synthetic=self.synthetic, symbol=self.symbol, candles_of=self.candles_of
        )

    @property
    def is_twin_fallback(self) -> bool:
        return self.candles_of != self.symbol

    @property
    def provenance(self) -> str:
        """One line for logs and reports."""
        text = f"{self.symbol} {self.timeframe}: {self.source}"
        if self.is_twin_fallback:
            text += f" (candles of {self.candles_of} stand in: no history of its own)"
        return text


def resample_candles(df: pd.DataFrame, from_timeframe: str, to_timeframe: str) -> pd.DataFrame:
    """Aggregate candles to a longer timeframe that is a whole multiple of the shorter one (5m → 15m).

    Output candles open on the `to_timeframe` grid (UTC epoch-aligned, like Binance's); a bucket with any
    source candle missing is dropped rather than reported as a complete candle. Raises ValueError when
    `to_timeframe` is not a multiple of `from_timeframe`.
    """
    src, dst = timeframe_ms(from_timeframe), timeframe_ms(to_timeframe)
    if dst % src:
        raise ValueError(f"cannot resample {from_timeframe} to {to_timeframe}: not a whole multiple")
    if dst == src or len(df) == 0:
        return df
    bucket = (df.index.to_numpy() // dst) * dst
    grouped = df.groupby(bucket, sort=True)
    out = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    complete = grouped.size().to_numpy() == dst // src
    out = out[complete]
    return make_candles(out.index.to_numpy(np.int64), *(out[c].to_numpy() for c in CANDLE_COLUMNS))
