"""Merge many symbols' candles into one time-ordered stream of (open_ms, [(symbol, row), …])."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from engine.market.candles import Row


def merged_steps(candles: dict[str, pd.DataFrame]) -> Iterator[tuple[int, list[tuple[str, Row]]]]:
    """Yield each candle open time once with every symbol's candle at that time, in time order."""
    symbols = list(candles)
    times = [frame.index.to_numpy(dtype=np.int64) for frame in candles.values()]
    if not times:
        return
    owner = np.concatenate([np.full(len(t), i, dtype=np.int32) for i, t in enumerate(times)])
    row_index = np.concatenate([np.arange(len(t), dtype=np.int64) for t in times])
    all_times = np.concatenate(times)
    order = np.argsort(all_times, kind="stable")
    # Numpy rows, converted one candle at a time: Python float lists of every candle would hold
    # ~130 MB for a 10-pair, 8-month run.
    values = [frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype=float) for frame in candles.values()]
    current: int | None = None
    batch: list[tuple[str, Row]] = []
    for k in order.tolist():
        t = int(all_times[k])
        if t != current:
            if batch:
                yield current, batch  # type: ignore[misc]
            current, batch = t, []
        i = int(owner[k])
        batch.append((symbols[i], tuple(values[i][int(row_index[k])].tolist())))  # type: ignore[arg-type]
    if batch:
        yield current, batch  # type: ignore[misc]


def count_candles(candles: dict[str, pd.DataFrame]) -> int:
    return sum(len(f) for f in candles.values())
