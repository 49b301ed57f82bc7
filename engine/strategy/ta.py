"""The four pandas-ta indicators the strategy uses (EMA, Wilder's RMA, RSI, MACD), made by the same pandas
calls pandas-ta 0.4 makes with `talib=False` (an SMA seed, then `ewm(adjust=False)`), so equal to the bit:
tests/strategy/test_ta.py holds them against pandas-ta itself on real and generated closes.

Why not call pandas-ta: importing it imports numba (half a second and 50 MB for every backtest, paper and
live start), which none of these four uses. pandas-ta stays the reference the tests compare with.
Each returns None where pandas-ta does (fewer values than the indicator's minimum).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def ema(close: pd.Series, length: int) -> pd.Series | None:
    """pandas_ta.ema(close, length, talib=False): seeded with the SMA of the first `length` values."""
    if close.size < length:
        return None
    close = close.copy()
    seed = close.iloc[0:length].mean()
    close.iloc[: length - 1] = np.nan
    close.iloc[length - 1] = seed
    return close.ewm(span=length, adjust=False).mean()


def rma(close: pd.Series, length: int) -> pd.Series | None:
    """pandas_ta.rma(close, length): Wilder's smoothing, alpha 1/length, no seed."""
    if close.size < length:
        return None
    return close.ewm(alpha=(1.0 / length) if length > 0 else 0.5, adjust=False).mean()


def rsi(close: pd.Series, length: int) -> pd.Series | None:
    """pandas_ta.rsi(close, length, talib=False): 100 × RMA(gains) / (RMA(gains) + |RMA(losses)|)."""
    if close.size < length + 1:
        return None
    negative = close.diff(1)
    positive = negative.copy()
    positive[positive < 0] = 0
    negative[negative > 0] = 0
    up, down = rma(positive, length), rma(negative, length)
    return 100 * up / (up + down.abs())  # type: ignore[operator, union-attr]


def macd(close: pd.Series, fast: int, slow: int, signal: int) -> pd.DataFrame | None:
    """pandas_ta.macd(close, fast, slow, signal, talib=False): columns line, histogram, signal."""
    if slow < fast:
        fast, slow = slow, fast
    if close.size < slow + signal - 1:
        return None
    line = ema(close, fast) - ema(close, slow)  # type: ignore[operator]
    first = line.loc[line.first_valid_index():, ]
    signal_line = ema(first, signal)
    histogram = line - signal_line
    return pd.DataFrame({"macd": line, "histogram": histogram, "signal": signal_line})
