"""engine.strategy.ta gives pandas-ta's own values, to the bit (NaNs where it has them, None where it
returns None), on real closes and on generated ones of every length around each indicator's minimum."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pandas_ta
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.market.datadir import DataDir
from engine.strategy import ta


def _same(ours: pd.Series | pd.DataFrame | None, theirs: pd.Series | pd.DataFrame | None) -> None:
    assert (ours is None) == (theirs is None)
    if ours is None:
        return
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)  # bit for bit, not approximately


def _check(close: pd.Series, length: int, fast: int, slow: int, signal: int) -> None:
    _same(ta.ema(close, length), pandas_ta.ema(close, length, talib=False))
    _same(ta.rma(close, length), pandas_ta.rma(close, length))
    _same(ta.rsi(close, length), pandas_ta.rsi(close, length, talib=False))
    _same(ta.macd(close, fast, slow, signal), pandas_ta.macd(close, fast, slow, signal, talib=False))


def test_on_real_closes(shared_data: Path) -> None:
    frame = DataDir(shared_data).load("BTC/USDT:USDT", "5m", datetime(2025, 1, 1, tzinfo=UTC),
                                      datetime(2025, 2, 1, tzinfo=UTC)).frame
    close = pd.Series(frame["close"].to_numpy(dtype=np.float64))
    for length, fast, slow, signal in ((9, 12, 26, 9), (21, 5, 35, 5), (14, 3, 10, 16), (2, 2, 3, 2)):
        _check(close, length, fast, slow, signal)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), length=st.integers(2, 30), fast=st.integers(2, 15), slow=st.integers(3, 30),
       signal=st.integers(2, 12), seed=st.integers(0, 1000))
def test_on_generated_closes_of_every_length(n: int, length: int, fast: int, slow: int, signal: int,
                                              seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))))
    _check(close, length, fast, slow, signal)


@pytest.mark.parametrize("values", [[1.0] * 40, [5.0, 5.0, np.nan, 5.5] * 10])
def test_flat_and_holed_closes(values: list[float]) -> None:
    _check(pd.Series(values), 14, 12, 26, 9)
