"""ScalpingV1 indicators, two ways that give bit-identical numbers.

* `indicator_columns` computes them over a whole history with pandas-ta's EMA, RMA, RSI and MACD
  (engine.strategy.ta: the same pandas calls, bit for bit, without importing pandas-ta and numba)
  (backtests, and the seed of the live path).
* `IndicatorState.advance` moves them forward by one candle in plain Python (live ticks), repeating
  the exact floating-point operations pandas performs, so a state seeded from pandas-ta and advanced
  candle by candle yields the same bits as pandas-ta run over the longer history. The strategy tests
  prove this on real data.

Why not call pandas-ta on every tick: on a 150-candle window it costs ~5 ms per symbol, and all
these indicators are recursive (EMA, Wilder's RMA), so their value depends on where the history
starts. A window would not even reproduce the backtest's numbers; carried state does, exactly.

True range is computed here rather than with `pandas_ta.true_range`: pandas-ta adds machine epsilon
to every high-low range of the input whenever any one candle in it has high == low, so its ATR at a
candle depends on candles that come later. Ours is causal and otherwise identical (same SMA seed,
same Wilder smoothing through pandas-ta's `rma`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.strategy import ta
from engine.strategy.params import ScalpingParams

CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")
INDICATOR_COLUMNS = (
    "close",
    "ema_fast",
    "ema_slow",
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "atr",
    "atr_pct",
)
# Internal recursion states the live path needs to continue where pandas-ta stopped.
STATE_COLUMNS = ("macd_ema_fast", "macd_ema_slow", "rsi_up", "rsi_down")


def validate_candles(candles: pd.DataFrame) -> None:
    """Check the project's candle format; raises ValueError naming the first problem found.

    Format: int64 index of candle open times in UTC ms, strictly increasing; float columns
    open, high, low, close, volume, all finite.
    """
    missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise ValueError(f"candles lack columns {missing}; expected {list(CANDLE_COLUMNS)}")
    if candles.index.dtype != np.int64:
        raise ValueError(f"candle index must be int64 open times in ms, got {candles.index.dtype}")
    times = candles.index.to_numpy()
    if len(times) > 1 and not bool(np.all(times[1:] > times[:-1])):
        raise ValueError("candle open times must be strictly increasing (sorted, no duplicates)")
    values = candles[["high", "low", "close"]].to_numpy(dtype=np.float64)
    if not bool(np.isfinite(values).all()):
        raise ValueError("candles contain NaN or infinite high/low/close values")


def _values(result: pd.Series | None, n: int) -> np.ndarray:
    # pandas-ta answers None when the input is shorter than the indicator's period.
    return np.full(n, np.nan) if result is None else result.to_numpy(dtype=np.float64)


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Causal true range: max(high-low, |high-prev close|, |prev close-low|); the first is high-low."""
    prev = np.concatenate(([np.nan], close[:-1]))
    # fmax skips the NaN of the first candle, as pandas' row max does in pandas_ta.true_range.
    return np.fmax(np.fmax(high - low, np.abs(high - prev)), np.abs(prev - low))


def indicator_columns(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, params: ScalpingParams, *, with_state: bool = False
) -> dict[str, np.ndarray]:
    """All indicators over a history, one value per candle (NaN while an indicator is undefined).

    Returns arrays named by INDICATOR_COLUMNS, plus STATE_COLUMNS when `with_state` (used to seed
    the live path). EMA and MACD use pandas-ta's TA-Lib-compatible SMA seed; RSI and ATR use
    Wilder's smoothing (pandas-ta defaults).
    """
    n = len(close)
    # A RangeIndex keeps pandas-ta's positional slicing unambiguous whatever the caller's index.
    cs = pd.Series(close, dtype=np.float64)
    cols: dict[str, np.ndarray] = {"close": cs.to_numpy()}
    cols["ema_fast"] = _values(ta.ema(cs, params.ema_fast), n)
    cols["ema_slow"] = _values(ta.ema(cs, params.ema_slow), n)
    cols["rsi"] = _values(ta.rsi(cs, params.rsi_period), n)

    macd = ta.macd(cs, params.macd_fast, params.macd_slow, params.macd_signal)
    if macd is None:
        cols["macd"] = cols["macd_hist"] = cols["macd_signal"] = np.full(n, np.nan)
    else:  # pandas-ta's column order: line, histogram, signal
        cols["macd"], cols["macd_hist"], cols["macd_signal"] = (
            macd.iloc[:, k].to_numpy(dtype=np.float64) for k in range(3)
        )

    length = params.atr_period
    tr = pd.Series(true_range(np.asarray(high, np.float64), np.asarray(low, np.float64), cs.to_numpy()))
    if n >= length + 1:  # pandas_ta.atr's own minimum
        seed = tr.iloc[:length].mean()  # SMA seed, as pandas_ta.atr(presma=True)
        tr.iloc[: length - 1] = np.nan
        tr.iloc[length - 1] = seed
        cols["atr"] = _values(ta.rma(tr, length), n)
    else:
        cols["atr"] = np.full(n, np.nan)
    cols["atr_pct"] = 100.0 * cols["atr"] / cols["close"]

    if with_state:
        cols["macd_ema_fast"] = _values(ta.ema(cs, params.macd_fast), n)
        cols["macd_ema_slow"] = _values(ta.ema(cs, params.macd_slow), n)
        # The two Wilder averages inside pandas_ta.rsi, built the way it builds them.
        diff = cs.diff().to_numpy()
        up, down = diff.copy(), diff.copy()
        up[up < 0] = 0.0
        down[down > 0] = 0.0
        cols["rsi_up"] = _values(ta.rma(pd.Series(up), params.rsi_period), n)
        cols["rsi_down"] = _values(ta.rma(pd.Series(down), params.rsi_period), n)
    return cols


@dataclass(frozen=True, slots=True)
class _Smoothing:
    """Coefficients of one pandas `ewm(adjust=False).mean()` recursion, derived as pandas does."""

    alpha: float
    decay: float

    @classmethod
    def span(cls, span: int) -> _Smoothing:
        return cls._from_com((span - 1) / 2)

    @classmethod
    def wilder(cls, length: int) -> _Smoothing:
        a = 1.0 / length
        return cls._from_com((1 - a) / a)  # pandas turns alpha into a centre of mass and back

    @classmethod
    def _from_com(cls, com: float) -> _Smoothing:
        alpha = 1.0 / (1.0 + com)
        return cls(alpha, 1.0 - alpha)

    def step(self, prev: float, x: float) -> float:
        # Same expression and order as pandas/_libs/window/aggregations.pyx `ewm`, including its
        # skip on an unchanged value; any rewrite (e.g. prev + alpha*(x-prev)) changes the bits.
        if prev != x:
            return (self.decay * prev + self.alpha * x) / (self.decay + self.alpha)
        return prev


@dataclass(frozen=True, slots=True)
class Smoothings:
    """The recursions of one parameter set, computed once per strategy instance."""

    ema_fast: _Smoothing
    ema_slow: _Smoothing
    macd_fast: _Smoothing
    macd_slow: _Smoothing
    macd_signal: _Smoothing
    rsi: _Smoothing
    atr: _Smoothing
    htf_ema: _Smoothing  # the higher-timeframe filter's EMA (used only when that filter is on)

    @classmethod
    def of(cls, p: ScalpingParams) -> Smoothings:
        return cls(
            _Smoothing.span(p.ema_fast),
            _Smoothing.span(p.ema_slow),
            _Smoothing.span(p.macd_fast),
            _Smoothing.span(p.macd_slow),
            _Smoothing.span(p.macd_signal),
            _Smoothing.wilder(p.rsi_period),
            _Smoothing.wilder(p.atr_period),
            _Smoothing.span(p.htf_trend.ema),
        )


@dataclass(slots=True)
class IndicatorState:
    """Indicator values on the last candle seen, plus the recursion states to continue from it."""

    open_time_ms: int
    candles_seen: int  # since the first candle of the seed history; row position = candles_seen - 1
    close: float
    ema_fast: float
    ema_slow: float
    rsi: float
    macd: float
    macd_signal: float
    macd_hist: float
    atr: float
    atr_pct: float
    macd_ema_fast: float
    macd_ema_slow: float
    rsi_up: float
    rsi_down: float

    @classmethod
    def from_columns(cls, cols: dict[str, np.ndarray], position: int, open_time_ms: int) -> IndicatorState:
        """The state at `position` of columns computed by `indicator_columns(..., with_state=True)`."""
        values = {k: float(cols[k][position]) for k in INDICATOR_COLUMNS + STATE_COLUMNS}
        return cls(open_time_ms=open_time_ms, candles_seen=position + 1, **values)

    def row(self) -> dict[str, float]:
        """Indicator values on the last candle, keyed like INDICATOR_COLUMNS."""
        return {k: getattr(self, k) for k in INDICATOR_COLUMNS}

    def advance(self, s: Smoothings, open_time_ms: int, high: float, low: float, close: float) -> None:
        """Move every indicator to the next candle, with the bits pandas-ta would produce.

        The state must come from a history long enough for every indicator to be defined (at
        least `warmup_candles + 1` candles); raises ValueError if the candle is not later.
        """
        if open_time_ms <= self.open_time_ms:
            raise ValueError(f"candle {open_time_ms} is not after the last one seen ({self.open_time_ms})")
        prev_close = self.close
        self.ema_fast = s.ema_fast.step(self.ema_fast, close)
        self.ema_slow = s.ema_slow.step(self.ema_slow, close)
        self.macd_ema_fast = s.macd_fast.step(self.macd_ema_fast, close)
        self.macd_ema_slow = s.macd_slow.step(self.macd_ema_slow, close)
        self.macd = self.macd_ema_fast - self.macd_ema_slow
        self.macd_signal = s.macd_signal.step(self.macd_signal, self.macd)
        self.macd_hist = self.macd - self.macd_signal

        diff = close - prev_close
        self.rsi_up = s.rsi.step(self.rsi_up, diff if diff > 0 else 0.0)
        self.rsi_down = s.rsi.step(self.rsi_down, diff if diff < 0 else 0.0)
        total = self.rsi_up + abs(self.rsi_down)
        # pandas-ta computes 100 * up / total; 0/0 on a flat market is NaN there.
        self.rsi = 100.0 * self.rsi_up / total if total != 0 else math.nan

        tr = max(high - low, abs(high - prev_close), abs(prev_close - low))
        self.atr = s.atr.step(self.atr, tr)
        self.atr_pct = 100.0 * self.atr / close

        self.close = close
        self.open_time_ms = open_time_ms
        self.candles_seen += 1
