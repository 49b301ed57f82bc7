"""Candle sources for the strategy tests: real Binance klines and seeded synthetic random walks."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIVE_MINUTES_MS = 300_000
JAN_2025_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC


@cache
def _read_klines(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, index_col="open_time_ms")
    frame.index = frame.index.astype(np.int64)
    return frame[["open", "high", "low", "close", "volume"]].astype(np.float64)


@pytest.fixture(scope="session")
def klines(shared_data: Path) -> Callable[..., pd.DataFrame]:
    """`klines(symbol, rows, start_ms=...)`: `rows` contiguous 5m candles of `symbol` from `start_ms`."""

    def load(symbol: str, rows: int, start_ms: int = JAN_2025_MS) -> pd.DataFrame:
        path = shared_data / "klines" / f"{symbol}-5m.csv.gz"
        if not path.is_file():
            pytest.skip(f"{path} not found")
        candles = _read_klines(path)
        candles = candles[candles.index >= start_ms].iloc[:rows]
        assert len(candles) == rows, f"{symbol}: only {len(candles)} candles from {start_ms}"
        # A slice inside one segment: the equality proofs should not depend on segment joins.
        assert (np.diff(candles.index.to_numpy()) == FIVE_MINUTES_MS).all(), f"{symbol}: gap in slice"
        return candles

    return load


def random_walk(rows: int, seed: int, flat_start: int = 0, flat_every: int = 0) -> pd.DataFrame:
    """Deterministic synthetic candles; `flat_start` leading candles and every `flat_every`-th
    candle are flat (open == high == low == close), to exercise zero ranges and zero RSI moves."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, rows)))
    close[:flat_start] = 100.0
    open_ = np.concatenate(([100.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, 0.002, rows)) * close
    high = np.maximum(open_, close) + wick
    low = np.minimum(open_, close) - wick
    flat = np.zeros(rows, dtype=bool)
    flat[:flat_start] = True
    if flat_every:
        flat[::flat_every] = True
        close[flat] = open_[flat]
    high[flat] = low[flat] = open_[flat] = close[flat]
    times = 1_700_000_000_000 + FIVE_MINUTES_MS * np.arange(rows, dtype=np.int64)
    index = pd.Index(times, name="open_time_ms")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": np.full(rows, 1.0)}, index=index
    )


@pytest.fixture(scope="session")
def walk() -> Callable[..., pd.DataFrame]:
    """`walk(rows, seed, flat_start=0, flat_every=0)`: see `random_walk`."""
    return random_walk
