"""The universe over time: the SymbolManager's pick at each `universe.rotation` boundary, from what was
known before that instant only, and the record of how the pick changed.

- `ActivityHistory` turns candle frames into point-in-time activity: the 24 h quote volume (Σ volume ×
  close of the candles closed in the 24 h before `now`) and ATR%/close at the last candle closed by
  `now`. It is computed once per symbol, vectorised (prefix sums and a recursive EWM, both of which
  depend on earlier candles only), so reading it at any instant is two binary searches per symbol and
  a later candle can never change an earlier pick.
- `activity_from_tickers` is the same figures from Binance's 24 h tickers (live and paper on live data):
  the venue's own quote volume, and ATR% from the recent candles when the caller has them.
- `Rotation` holds the SymbolManager and the changes: `due(now)` at each boundary (multiples of the
  rotation interval since the epoch, so a resumed or a second run picks at the same instants), `pick`
  selects and records a `UniverseChange` when the set of symbols differs from the last one.

What leaving the universe means is decided by the trading engine's market gate: no new entry, while a
position already open keeps its stops and exits to the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from engine.market.candles import timeframe_ms
from engine.market.universe import DAY_MS, Exclusion, MarketActivity, SymbolManager, Universe, UniverseRules
from engine.values import value
from engine.venue.markets import Market


@value
class UniverseChange:
    """One pick that differed from the one before (the first pick always counts)."""

    at_ms: int
    symbols: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    excluded: tuple[Exclusion, ...]

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, tz=UTC)

    def line(self) -> str:
        """`2025-03-01 04:00 universe 3 symbols: + SOL/USDC:USDC − XRP/USDC:USDC` for logs and reports."""
        head = f"{self.at:%Y-%m-%d %H:%M} universe {len(self.symbols)} symbol{'s' * (len(self.symbols) != 1)}"
        tail = []
        if self.added:
            tail.append("+ " + " ".join(self.added))
        if self.removed:
            reasons = {e.symbol: e.code for e in self.excluded}
            tail.append("− " + " ".join(f"{s} ({reasons.get(s, 'out')})" for s in self.removed))
        return head + (": " + " · ".join(tail) if tail else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "at_ms": self.at_ms,
            "symbols": list(self.symbols),
            "added": list(self.added),
            "removed": list(self.removed),
            "excluded": [{"symbol": e.symbol, "code": e.code, "detail": e.detail} for e in self.excluded],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UniverseChange:
        return cls(int(data["at_ms"]), tuple(data["symbols"]), tuple(data.get("added", ())),
                   tuple(data.get("removed", ())),
                   tuple(Exclusion(e["symbol"], e["code"], e["detail"]) for e in data.get("excluded", ())))


class ActivityHistory:
    """Point-in-time activity of candle frames (index: open time in ms, sorted; columns close, high, low,
    volume). `at(now_ms)` equals `universe.activity_by_symbol` on the same frames, up to float rounding."""

    def __init__(self, candles: Mapping[str, pd.DataFrame], timeframe: str, atr_period: int = 14) -> None:
        self.step_ms = timeframe_ms(timeframe)
        self.period = atr_period
        self._series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        for symbol, frame in candles.items():
            opens = frame.index.to_numpy(dtype=np.int64)
            close = frame["close"].to_numpy(dtype=float)
            high, low = frame["high"].to_numpy(dtype=float), frame["low"].to_numpy(dtype=float)
            volume_sum = np.concatenate(([0.0], np.cumsum(frame["volume"].to_numpy(dtype=float) * close)))
            self._series[symbol] = (opens, close, volume_sum, _atr_series(high, low, close, atr_period))

    def at(self, now_ms: int) -> dict[str, MarketActivity]:
        """Each symbol's activity from the candles closed by `now_ms` (open + step <= now_ms)."""
        out = {}
        for symbol, (opens, close, volume_sum, atr) in self._series.items():
            closed = int(np.searchsorted(opens, now_ms - self.step_ms, side="right"))
            day = min(int(np.searchsorted(opens, now_ms - DAY_MS, side="left")), closed)
            atr_pct = None
            if closed >= self.period:
                atr_pct = float(atr[closed - 1] / close[closed - 1])
            out[symbol] = MarketActivity(float(volume_sum[closed] - volume_sum[day]), atr_pct, closed - day)
        return out


def _atr_series(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's ATR at every candle (NaN before the `period`-th), seeded like `average_true_range`."""
    out = np.full(len(close), np.nan)
    if len(close) < period:
        return out
    prev_close = np.concatenate((close[:1], close[:-1]))
    true_range = np.maximum(high, prev_close) - np.minimum(low, prev_close)
    seeded = np.concatenate(([true_range[:period].mean()], true_range[period:]))
    out[period - 1 :] = pd.Series(seeded).ewm(alpha=1 / period, adjust=False).mean().to_numpy()
    return out


def activity_from_tickers(
    quote_volumes: Mapping[str, float], atr_pct: Mapping[str, float | None] | None = None
) -> dict[str, MarketActivity]:
    """Activity from 24 h tickers (`quoteVolume` by venue id or symbol) and, where known, ATR% from the
    recent candles (None: too few candles, which the ATR filter excludes)."""
    atr_pct = atr_pct or {}
    return {k: MarketActivity(float(v), atr_pct.get(k), 0) for k, v in quote_volumes.items()}


class Rotation:
    """The current universe and every change of it, re-picked at each rotation boundary."""

    def __init__(self, rules: UniverseRules, markets: Mapping[str, Market] | Iterable[Market]) -> None:
        self.manager = SymbolManager(rules)
        self.markets = dict(markets) if isinstance(markets, Mapping) else {m.symbol: m for m in markets}
        self.changes: list[UniverseChange] = []
        self.picks = 0
        self.next_ms: int | None = None

    @property
    def rules(self) -> UniverseRules:
        return self.manager.rules

    @property
    def current(self) -> Universe | None:
        return self.manager.current

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self.current.symbols) if self.current is not None else frozenset()

    def boundary(self, now_ms: int) -> int:
        """The last rotation boundary at or before `now_ms`."""
        interval = self.rules.rotation_interval_ms
        return now_ms if interval <= 0 else now_ms // interval * interval

    def due(self, now_ms: int) -> bool:
        return self.next_ms is None or now_ms >= self.next_ms

    def pick(self, activity: Mapping[str, MarketActivity], now_ms: int) -> UniverseChange | None:
        """Select from `activity` as of `now_ms` and make it current; the change when the set of symbols
        differs from the last pick (the first pick always is one), else None."""
        before = self.current
        universe = self.manager.select(self.markets, activity, now_ms)
        self.manager.current = universe
        self.picks += 1
        interval = self.rules.rotation_interval_ms
        self.next_ms = now_ms + 1 if interval <= 0 else (now_ms // interval + 1) * interval
        old = set(before.symbols) if before is not None else set()
        if before is not None and old == set(universe.symbols):
            return None
        change = UniverseChange(
            at_ms=now_ms,
            symbols=universe.symbols,
            added=tuple(s for s in universe.symbols if s not in old),
            removed=tuple(sorted(old - set(universe.symbols))),
            excluded=universe.excluded,
        )
        self.changes.append(change)
        return change

    def exclusions(self) -> dict[str, list[Exclusion]]:
        """Symbols never in the universe during the run, with the distinct reasons they were left out."""
        ever = {s for c in self.changes for s in c.symbols}
        out: dict[str, list[Exclusion]] = {}
        for change in self.changes:
            for exclusion in change.excluded:
                if exclusion.symbol in ever:
                    continue
                seen = out.setdefault(exclusion.symbol, [])
                if all(e.code != exclusion.code for e in seen):
                    seen.append(exclusion)
        return out

    def summary(self) -> dict[str, Any]:
        """What the report, `status` and the bot state keep: rules, picks, current symbols, changes."""
        rules = self.rules
        return {
            "rules": {
                "min_quote_volume_24h": rules.min_quote_volume_24h,
                "atr_pct_min": rules.min_atr_pct,
                "atr_pct_max": rules.max_atr_pct,
                "max_symbols": rules.max_symbols,
                "rotation_ms": rules.rotation_interval_ms,
                "whitelist": list(rules.whitelist),
                "blacklist": list(rules.blacklist),
            },
            "candidates": len(self.markets),
            "picks": self.picks,
            "symbols": list(self.current.symbols) if self.current is not None else [],
            "changes": [c.to_dict() for c in self.changes],
        }
