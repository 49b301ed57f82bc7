"""The finer candles a data folder holds inside each candle of a run's timeframe, for the fill model.

A 5m candle says open, high, low and close, not which extreme came first; when a stop and a take-profit
(or a resting limit) both lie inside it, the simulator must assume the worse order. 1m candles of the
same five minutes settle most of those cases. `FinerCandles` loads, per symbol, every timeframe of the
folder finer than the run's that divides it (1m and 3m beside 5m, say), and answers for each candle of
the run the candles of the finest one that covers it WHOLE (five 1m candles for a 5m one): a candle
only partly covered gets a coarser level or none, never a partial walk that would skip prices.

Lookups are index arithmetic on arrays built once at load (no per-candle DataFrame work): the answer
is a numpy view the simulator converts only when the symbol has orders or a position to walk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.market.candles import timeframe_ms
from engine.market.datadir import CandlesNotFoundError, DataDir
from engine.market.loaders import TimeBound


@dataclass(frozen=True, slots=True)
class _Level:
    """One finer timeframe of one symbol: (open_ms, o, h, l, c) rows and, per covered candle of the
    run's timeframe, where its `per` rows start."""

    timeframe: str
    rows: np.ndarray  # float64 (n, 5); open_ms is exact in float64 (< 2**53)
    start: dict[int, int]  # open_ms of a wholly covered run candle → index of its first finer row
    per: int  # finer candles per run candle


@dataclass
class FinerCandles:
    """Per symbol, the finer levels found (finest first). `used[symbol][timeframe]` counts the run's
    candles each level covers (`survey`), so a report can say which resolution decided."""

    timeframe: str
    levels: dict[str, list[_Level]] = field(default_factory=dict)
    used: dict[str, dict[str, int]] = field(default_factory=dict)
    asked: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, data: DataDir, symbols: Iterable[str], timeframe: str, start: TimeBound = None,
             end: TimeBound = None) -> FinerCandles:
        """The finer candles of `symbols` in [start, end) in `data` (USDC symbols: their USDT twin's,
        as for the run's own candles). Raises what DataDir.load raises for an unreadable file."""
        step = timeframe_ms(timeframe)
        finer = sorted((tf for tf in _timeframes(data) if timeframe_ms(tf) < step and step % timeframe_ms(tf) == 0),
                       key=timeframe_ms)
        out = cls(timeframe)
        for symbol in symbols:
            levels = []
            for tf in finer:
                try:
                    frame = data.load(symbol, tf, start, end).frame
                except CandlesNotFoundError:
                    continue
                level = _level(frame, tf, step)
                if level is not None:
                    levels.append(level)
            if levels:
                out.levels[symbol] = levels
        return out

    def inside(self, symbol: str, open_ms: int) -> np.ndarray | None:
        """The (open_ms, o, h, l, c) rows of the finest level covering the candle opening at `open_ms`
        whole, or None (the simulator then applies its conservative rule)."""
        levels = self.levels.get(symbol)
        if levels is None:
            return None  # most symbols of a run: nothing to look up
        for level in levels:
            i = level.start.get(open_ms)
            if i is not None:
                return level.rows[i:i + level.per]
        return None

    def survey(self, candles: Mapping[str, pd.DataFrame]) -> FinerCandles:
        """Count, for every run candle (not only the ones a run fed: a backtest jumps the candles where nothing
        can happen), which level covers it, as `inside` answers. Returns self."""
        self.asked, self.used = {}, {}
        for symbol, frame in candles.items():
            times = frame.index.to_numpy(dtype=np.int64)
            self.asked[symbol] = len(times)
            left = np.ones(len(times), dtype=bool)
            for level in self.levels.get(symbol, []):
                covered = left & np.isin(times, np.fromiter(level.start, dtype=np.int64, count=len(level.start)))
                if covered.any():
                    self.used.setdefault(symbol, {})[level.timeframe] = int(covered.sum())
                left &= ~covered
        return self

    def describe(self, symbols: Iterable[str]) -> str:
        """One line for the report: which resolution decided the fills, per symbol where they differ,
        e.g. `fills decided on 1m candles for BTC/USDT:USDT; 5m candles for SOL/USDT:USDT (no finer data)`."""
        groups: dict[tuple[str, str], list[str]] = {}
        for symbol in symbols:
            groups.setdefault(self._resolution(symbol), []).append(symbol)
        return "fills decided on " + "; ".join(
            f"{label} for {', '.join(names)}" + (f" ({why})" if why else "") for (label, why), names in groups.items())

    def _resolution(self, symbol: str) -> tuple[str, str]:
        """(what decided, why) for one symbol: `1m candles`, or `5m candles` with the reason, or the
        shares of a mix where the finer files cover only part of the run."""
        asked, used = self.asked.get(symbol, 0), self.used.get(symbol, {})
        if symbol not in self.levels:
            return f"{self.timeframe} candles", "no finer data"
        if not used:
            return f"{self.timeframe} candles", "the finer data lies outside the run"
        rest = asked - sum(used.values())
        if rest == 0 and len(used) == 1:
            return f"{next(iter(used))} candles", ""
        shares = [f"{tf} {n / asked:.0%}" for tf, n in sorted(used.items(), key=lambda kv: timeframe_ms(kv[0]))]
        if rest:
            shares.append(f"{self.timeframe} {rest / asked:.0%}")
        return "candles of mixed resolution", "the finer files cover part of the run: " + ", ".join(shares)


def _timeframes(data: DataDir) -> set[str]:
    return {f.timeframe for f in data.files()}


def _level(frame, timeframe: str, step: int) -> _Level | None:  # noqa: ANN001 - a candle frame
    """The level of one finer candle frame: only run candles it covers with all `per` finer candles."""
    if frame.empty:
        return None
    fine = timeframe_ms(timeframe)
    per = step // fine
    times = frame.index.to_numpy(dtype=np.int64)
    owners = times - times % step  # the run candle each finer candle lies in (open times are aligned)
    keys, first, counts = np.unique(owners, return_index=True, return_counts=True)
    # A covered candle holds `per` consecutive finer candles, so its first one opens at the candle's open.
    whole = (counts == per) & (times[first] == keys)
    if not whole.any():
        return None
    rows = np.column_stack([times.astype(np.float64),
                            frame[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)])
    return _Level(timeframe, rows, dict(zip(keys[whole].tolist(), first[whole].tolist(), strict=True)), per)
