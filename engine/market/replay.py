"""Candle feeds for paper trading: the seeded synthetic market (the offline default) or a replay of
candle files. Both are deterministic functions of time, so a restarted bot sees the same market."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from engine.market.candles import Row
from engine.market.datadir import CandlesNotFoundError, DataDir
from engine.market.finer import FinerCandles
from engine.market.synthetic import SyntheticMarket


class PaperFeed(Protocol):
    name: str
    synthetic: bool
    notes: list[str]

    def history(self, symbol: str, count: int, end_ms: int) -> pd.DataFrame: ...
    def rows(self, open_ms: int) -> list[tuple[str, Row]]: ...
    def first_open_ms(self) -> int: ...
    def last_open_ms(self) -> int | None: ...


class SyntheticFeed:
    """An endless synthetic market for `symbols`, anchored at `origin_ms`."""

    def __init__(self, symbols: list[str], *, seed: int, origin_ms: int, timeframe: str) -> None:
        self.market = SyntheticMarket(symbols, seed=seed, start_ms=origin_ms, timeframe=timeframe)
        self.symbols = symbols
        self.name = self.market.name
        self.synthetic = True
        self.notes = [f"SYNTHETIC market data ({self.market.name}): not real prices"]

    def history(self, symbol: str, count: int, end_ms: int) -> pd.DataFrame:
        return self.market.history(symbol, count, end_ms).frame

    def rows(self, open_ms: int) -> list[tuple[str, Row]]:
        out = []
        for symbol in self.symbols:
            c = self.market.candle_at(symbol, open_ms)
            out.append(
                (symbol, (float(c["open"]), float(c["high"]), float(c["low"]), float(c["close"]), float(c["volume"])))
            )
        return out

    def first_open_ms(self) -> int:
        return self.market.start_ms

    def last_open_ms(self) -> int | None:
        return None


class FileFeed:
    """A replay of candle files from a data folder (real market history). `finer`: the finer candles
    the folder holds for the same symbols (1m beside 5m), which the fill model walks inside each candle."""

    def __init__(self, data_dir: Path, symbols: list[str], *, timeframe: str, start_ms: int | None) -> None:
        data = DataDir(data_dir)
        self.frames: dict[str, pd.DataFrame] = {}
        self.notes: list[str] = []
        missing = []
        for symbol in symbols:
            try:
                series = data.load(symbol, timeframe, start_ms, None)
            except CandlesNotFoundError:  # the universe lists every market; the folder holds some of them
                missing.append(symbol)
                continue
            if not series.frame.empty:
                self.frames[symbol] = series.frame
                if series.is_twin_fallback:
                    self.notes.append(series.provenance)
        if missing:
            self.notes.append(f"not replayed (no {timeframe} candles in {data_dir}): {', '.join(missing)}")
        self.finer = FinerCandles.load(data, list(self.frames), timeframe, start_ms, None)
        self.name = f"replay of {data_dir}"
        self.synthetic = False
        self._index = {s: {int(t): i for i, t in enumerate(f.index.to_numpy(np.int64))} for s, f in self.frames.items()}
        self._values = {
            s: f[["open", "high", "low", "close", "volume"]].to_numpy(float) for s, f in self.frames.items()
        }

    def history(self, symbol: str, count: int, end_ms: int) -> pd.DataFrame:
        frame = self.frames[symbol]
        return frame[frame.index < end_ms].tail(count)

    def rows(self, open_ms: int) -> list[tuple[str, Row]]:
        out = []
        for symbol, index in self._index.items():
            i = index.get(open_ms)
            if i is not None:
                out.append((symbol, tuple(self._values[symbol][i].tolist())))  # type: ignore[arg-type]
        return out

    def first_open_ms(self) -> int:
        return min(int(f.index[0]) for f in self.frames.values())

    def last_open_ms(self) -> int | None:
        return max(int(f.index[-1]) for f in self.frames.values())

    def next_open_ms(self, at_ms: int) -> int | None:
        """The first candle opening at or after `at_ms` in any file, None past the end."""
        found = []
        for frame in self.frames.values():
            index = frame.index.to_numpy(np.int64)
            i = int(np.searchsorted(index, at_ms))
            if i < len(index):
                found.append(int(index[i]))
        return min(found) if found else None
