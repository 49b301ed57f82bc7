"""Where signals come from: the strategy over a whole history at once (backtest) or over a rolling
window of recent candles (paper and live). Both run the same ScalpingV1 code.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Protocol

import numpy as np
import pandas as pd

from engine.market.candles import Row, Stamped
from engine.strategy.params import ScalpingParams
from engine.strategy.scalping_v1 import ScalpingV1, signals_frame
from engine.strategy.signal import Signal, build_signal


def window_frame(rows: Iterable[Stamped]) -> pd.DataFrame:
    """The strategy's candle frame from (open_ms, open, high, low, close, volume) rows."""
    frame = pd.DataFrame(list(rows), columns=["open_time_ms", "open", "high", "low", "close", "volume"])
    frame = frame.set_index("open_time_ms")
    frame.index = frame.index.astype("int64")
    return frame


class SignalSource(Protocol):
    def on_candle(self, symbol: str, open_ms: int, row: Row) -> Signal | None: ...


class VectorSignals:
    """Backtest: signals computed once over each symbol's whole history (the same code as live)."""

    def __init__(self, candles: dict[str, pd.DataFrame], params: ScalpingParams) -> None:
        self.params = params
        # Only the rows that carry a side are kept, as one float matrix per symbol (a dict of values per
        # signal held 40 MB on 26,000 signals; a pandas lookup per signal would cost more than the rest of
        # the backtest step). A signal's row comes out as Python floats in one `tolist`: build_signal
        # reads every value through float()/int()/bool(), which give the same on a float as on the
        # int8/bool column it came from (a vote, a flag, a count are exact in a float64).
        self._hits: dict[str, dict[int, int]] = {}  # symbol → open_ms → row of its matrix
        self._names: dict[str, list[str]] = {}
        self._rows: dict[str, np.ndarray] = {}
        for symbol, frame in candles.items():
            signals = signals_frame(frame, params)
            rows = np.flatnonzero(signals["side"].to_numpy() != "none")
            names = [c for c in signals.columns if c != "side"]
            matrix = np.empty((len(rows), len(names) + 1), dtype=np.float64)
            for j, c in enumerate(names):
                matrix[:, j] = signals[c].to_numpy()[rows]
            matrix[:, -1] = rows + 1
            index = signals.index.to_numpy()[rows]
            self._hits[symbol] = dict(zip(index.tolist(), range(len(rows)), strict=True))
            self._names[symbol] = [*names, "candles_seen"]
            self._rows[symbol] = matrix

    def signal_times(self) -> dict[str, np.ndarray]:
        """Each symbol's open times with a signal (int64): the events of a backtest."""
        return {s: np.fromiter(hits, dtype=np.int64, count=len(hits)) for s, hits in self._hits.items()}

    def on_candle(self, symbol: str, open_ms: int, row: Row) -> Signal | None:
        k = self._hits.get(symbol, {}).get(open_ms)
        if k is None:
            return None
        values = dict(zip(self._names[symbol], self._rows[symbol][k].tolist(), strict=True))
        return build_signal(symbol, open_ms, values, self.params)


WINDOW = 150  # candles a live symbol's window holds (and a start fetches) at least


def window_for(params: ScalpingParams) -> int:
    """Candles a paper or live start loads per symbol: WINDOW, or the strategy's warm-up when longer (a
    higher-timeframe filter: a 1h EMA 50 on 5m candles needs 600), so the first signal comes at once."""
    return max(WINDOW, params.warmup_candles + 2)


class LiveSignals:
    """Paper/live: the incremental strategy on a rolling window of the last `window` candles."""

    def __init__(self, params: ScalpingParams, window: int = WINDOW) -> None:
        self.strategy = ScalpingV1(params)
        self.window = max(window, window_for(params))  # a filter with a long warm-up needs more
        self._rows: dict[str, deque[Stamped]] = {}

    def warm(self, symbol: str, frame: pd.DataFrame) -> None:
        rows = self._rows.setdefault(symbol, deque(maxlen=self.window))
        for open_ms, o, h, lo, c, v in zip(frame.index, frame["open"], frame["high"], frame["low"],
                                            frame["close"], frame["volume"], strict=True):
            rows.append((int(open_ms), float(o), float(h), float(lo), float(c), float(v)))

    def on_candle(self, symbol: str, open_ms: int, row: Row) -> Signal | None:
        rows = self._rows.setdefault(symbol, deque(maxlen=self.window))
        rows.append((open_ms, *row))
        if len(rows) < self.strategy_warmup:
            return None
        signal = self.strategy.on_candle(symbol, window_frame(rows))
        return signal if signal.side.value != "none" else None

    def reset(self) -> None:
        """Forget every window (after a hole in the data: indicators must not bridge it)."""
        self._rows.clear()

    def last_row(self, symbol: str) -> Stamped | None:
        """The newest candle in the symbol's window, as (open_ms, open, high, low, close, volume)."""
        rows = self._rows.get(symbol)
        return rows[-1] if rows else None

    @property
    def strategy_warmup(self) -> int:
        return self.strategy.params.warmup_candles + 2
