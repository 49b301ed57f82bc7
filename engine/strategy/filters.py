"""The strategy's optional filters, two ways that give bit-identical numbers (like `indicators`).

* higher-timeframe trend (`htf_trend`): the strategy's candles grouped into UTC-aligned buckets of the
  higher timeframe; a bucket's close is the close of its last candle, and it counts from that candle on
  (the candle whose close time reaches the bucket's end). A bucket whose last candle is missing (a hole
  in the data) never closes: it is skipped, and the previous bucket's values hold until the next one.
  So at any candle the value is the one of the last bucket that has *closed*: the bucket still open
  never leaks into it. The trend vote is +1 while that close is above the EMA of the bucket closes
  (pandas-ta's SMA-seeded EMA), -1 while below.
* volatility regime (`vol_regime`): the percentile rank of the current ATR % among the last `window`
  ATR % values (the current one included): 100 × (how many are <= it) / window, NaN until `window`
  ATRs are defined.

`filter_columns` computes them over a history with pandas (backtests, the live seed); `FilterState`
advances them one candle at a time in plain Python (live ticks) with the same floating-point steps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.strategy import ta
from engine.strategy.indicators import Smoothings
from engine.strategy.params import HTF_TIMEFRAME_MS, ScalpingParams

# The columns each filter adds to the strategy frame (only when the filter is on).
HTF_COLUMNS = ("htf_close", "htf_ema")
VOL_COLUMNS = ("vol_rank",)


def _ema(values: np.ndarray, length: int) -> np.ndarray:
    out = ta.ema(pd.Series(values, dtype=np.float64), length)
    return np.full(len(values), np.nan) if out is None else out.to_numpy(dtype=np.float64)


def closes_bucket(times: np.ndarray | int, candle_ms: int, htf_ms: int) -> np.ndarray | bool:
    """True for the candles that close a higher-timeframe bucket: the last candle opening inside it
    (its close time reaches the bucket's end; on Binance's aligned candles, exactly the end)."""
    return (times + candle_ms) // htf_ms != times // htf_ms


def htf_columns(times: np.ndarray, close: np.ndarray, p: ScalpingParams) -> dict[str, np.ndarray]:
    """`htf_close` and `htf_ema` at every candle: those of the last closed higher-timeframe bucket."""
    last = closes_bucket(times, p.candle_ms, HTF_TIMEFRAME_MS[p.htf_trend.timeframe])
    closes = close[last]
    ema = _ema(closes, p.htf_trend.ema)
    at = np.cumsum(last) - 1  # index of the latest closed bucket, -1 before the first
    seen = at >= 0
    pick = np.where(seen, at, 0)
    nan = np.full(len(close), np.nan)
    if not len(closes):
        return {"htf_close": nan, "htf_ema": nan.copy()}
    return {"htf_close": np.where(seen, closes[pick], np.nan), "htf_ema": np.where(seen, ema[pick], np.nan)}


def vol_rank(atr_pct: np.ndarray, window: int) -> np.ndarray:
    """Percentile rank (0-100] of each ATR % among the last `window` values, NaN while any is undefined."""
    counts = pd.Series(atr_pct, dtype=np.float64).rolling(window, min_periods=window).rank(method="max")
    return 100.0 * counts.to_numpy(dtype=np.float64) / window


def filter_columns(
    times: np.ndarray, close: np.ndarray, atr_pct: np.ndarray, p: ScalpingParams
) -> dict[str, np.ndarray]:
    """The columns of the filters that are on (none when both are off)."""
    cols: dict[str, np.ndarray] = {}
    if p.htf_trend.enabled:
        cols.update(htf_columns(times, close, p))
    if p.vol_regime.enabled:
        cols["vol_rank"] = vol_rank(atr_pct, p.vol_regime.window)
    return cols


@dataclass(slots=True)
class FilterState:
    """The filters' values on the last candle seen, and what is needed to continue from it."""

    params: ScalpingParams
    htf_close: float = math.nan
    htf_ema: float = math.nan
    htf_pending: list[float] = field(default_factory=list)  # bucket closes while the EMA is still undefined
    atr_window: deque[float] = field(default_factory=deque)
    vol_rank: float = math.nan

    @classmethod
    def seed(
        cls, times: np.ndarray, close: np.ndarray, cols: dict[str, np.ndarray], p: ScalpingParams
    ) -> FilterState:
        """The state at the last candle of a history whose columns `filter_columns` computed into `cols`."""
        state = cls(p)
        if p.htf_trend.enabled:
            state.htf_close, state.htf_ema = float(cols["htf_close"][-1]), float(cols["htf_ema"][-1])
            if math.isnan(state.htf_ema):
                last = closes_bucket(times, p.candle_ms, HTF_TIMEFRAME_MS[p.htf_trend.timeframe])
                state.htf_pending = [float(c) for c in close[last]]
        if p.vol_regime.enabled:
            window = p.vol_regime.window
            state.atr_window = deque((float(a) for a in cols["atr_pct"][-window:]), maxlen=window)
            state.vol_rank = float(cols["vol_rank"][-1])
        return state

    def row(self) -> dict[str, float]:
        """The values on the last candle, keyed like the frame's filter columns."""
        row: dict[str, float] = {}
        if self.params.htf_trend.enabled:
            row.update(htf_close=self.htf_close, htf_ema=self.htf_ema)
        if self.params.vol_regime.enabled:
            row["vol_rank"] = self.vol_rank
        return row

    def advance(self, s: Smoothings, open_time_ms: int, close: float, atr_pct: float) -> None:
        """Move the filters to the next candle (its open time, close and the ATR % `indicators` gave it)."""
        p = self.params
        if p.htf_trend.enabled and closes_bucket(open_time_ms, p.candle_ms, HTF_TIMEFRAME_MS[p.htf_trend.timeframe]):
            self.htf_close = close
            if not math.isnan(self.htf_ema):
                self.htf_ema = s.htf_ema.step(self.htf_ema, close)
            else:
                self.htf_pending.append(close)
                # The EMA's SMA seed, computed by the very code the frame uses, the candle it is defined.
                self.htf_ema = float(_ema(np.array(self.htf_pending), p.htf_trend.ema)[-1])
                if not math.isnan(self.htf_ema):
                    self.htf_pending = []
        if p.vol_regime.enabled:
            window = self.atr_window  # a deque of maxlen `window` (see `seed`)
            window.append(atr_pct)
            if len(window) < p.vol_regime.window or any(math.isnan(a) for a in window):
                self.vol_rank = math.nan
            else:
                self.vol_rank = 100.0 * sum(1 for a in window if a <= atr_pct) / p.vol_regime.window
