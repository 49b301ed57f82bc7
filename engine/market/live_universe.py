"""The universe rules on the wall clock (paper on live data, testnet, live): at each `universe.rotation`
boundary, Binance's 24 h tickers (quote volume) and the recent candles (ATR%) of the candidates that pass
the volume filter, through the same `Rotation` a backtest uses.

Candles are fetched only for the `ATR_CANDIDATES × max_symbols` busiest candidates (a handful of requests,
not one per listed contract); the quieter ones are left out of the ATR read and so of the pick, with the
reason "too few candles for ATR". A refresh that fails (tickers unreachable) keeps the universe as it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import UserError
from engine.market.candles import make_candles
from engine.market.rotation import Rotation, UniverseChange, activity_from_tickers
from engine.market.universe import (
    MarketActivity,
    activity_from_candles,
    check_market,
    choose_symbols,
    rules_from_profile,
)
from engine.venue.errors import VenueError
from engine.venue.markets import Market
from engine.venue.types import Candle

if TYPE_CHECKING:
    from engine.config.profile import Profile

log = logging.getLogger("engine.universe")
ATR_CANDIDATES = 3
ATR_WINDOW = 99  # candles read for ATR(14) (one request of weight 1); the seed weighs < 0.2 % by the last

QuoteVolumes = Callable[[], Awaitable[dict[str, float]]]
History = Callable[[str, int], Awaitable[list[Candle]]]


async def candle_windows(history: History, symbols: list[str], count: int, purpose: str) -> dict[str, list[Candle]]:
    """The last `count` candles of each symbol, fetched concurrently; a symbol whose request failed on
    the venue is logged ("no candles for <purpose>") and left out, any other error raised."""
    results = await asyncio.gather(*(history(s, count) for s in symbols), return_exceptions=True)
    out: dict[str, list[Candle]] = {}
    for symbol, result in zip(symbols, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, VenueError):
                raise result
            log.warning("%s: no candles for %s: %s", symbol, purpose, result)
            continue
        out[symbol] = result
    return out


def candidates(markets: Mapping[str, Market], settle: frozenset[str]) -> dict[str, Market]:
    """Every listed contract the universe may hold (the contract checks; the lists and the activity
    filters are the rotation's)."""
    return {s: m for s, m in markets.items() if check_market(m, settle) is None}


class LiveUniverse:
    """Picks the universe from live figures when the rotation is due."""

    def __init__(self, rotation: Rotation, quote_volumes: QuoteVolumes, history: History, timeframe: str) -> None:
        self.rotation = rotation
        self.quote_volumes = quote_volumes
        self.history = history
        self.timeframe = timeframe

    def due(self, now_ms: int) -> bool:
        return self.rotation.due(now_ms)

    async def activity(self, now_ms: int) -> dict[str, MarketActivity]:
        """Quote volumes by symbol, with ATR% for the busiest candidates that pass the volume filter."""
        rules = self.rotation.rules
        by_id = {m.id: s for s, m in self.rotation.markets.items()}
        volumes = {by_id[i]: v for i, v in (await self.quote_volumes()).items() if i in by_id}
        atr: dict[str, float | None] = {}
        if rules.min_atr_pct is not None or rules.max_atr_pct is not None:
            busy = sorted((s for s, v in volumes.items() if v >= rules.min_quote_volume_24h),
                          key=lambda s: -volumes[s])[: ATR_CANDIDATES * rules.max_symbols]
            for symbol, candles in (await candle_windows(self.history, busy, ATR_WINDOW, "its ATR")).items():
                frame = make_candles([c.open_ms for c in candles], [c.open for c in candles],
                                     [c.high for c in candles], [c.low for c in candles],
                                     [c.close for c in candles], [c.volume for c in candles])
                atr[symbol] = activity_from_candles(frame, now_ms, self.timeframe, rules.atr_period).atr_pct
        return activity_from_tickers(volumes, atr)

    async def refresh(self, now_ms: int) -> UniverseChange | None:
        """Pick at the boundary now; the change, or None when the set stayed the same. Raises VenueError
        when the tickers could not be read (the universe is then unchanged)."""
        return self.rotation.pick(await self.activity(now_ms), self.rotation.boundary(now_ms))


def status_of(rotation: Rotation, last: int = 5) -> dict[str, Any]:
    """What the bot state keeps for `status` and /status: the current symbols and the last changes."""
    summary = rotation.summary()
    summary["changes"] = summary["changes"][-last:]
    for change in summary["changes"]:
        change["excluded"] = [e for e in change["excluded"] if e["symbol"] in change["removed"]]
    return summary


async def open_universe(profile: Profile, markets: Mapping[str, Market], quote_volumes: QuoteVolumes,
                        history: History, *, now_ms: int, held: list[str], out: Any,
                        listed: Callable[[str], bool] = lambda symbol: True) -> tuple[LiveUniverse, list[str]]:
    """The universe at start and the symbols to poll (the universe's, then those a live position is on).
    When the tickers cannot be read, the run starts on the contract checks and lists alone
    (`choose_symbols`), and the rotation is tried again at the first tick. Raises UserError when no
    market qualifies and no position is open."""
    rules = rules_from_profile(profile.universe, profile.venue.quote_assets)
    pool = {s: m for s, m in candidates(markets, rules.settle).items() if listed(s)}
    universe = LiveUniverse(Rotation(rules, pool), quote_volumes, history, profile.venue.timeframe)
    try:
        change = await universe.refresh(now_ms)
        current = universe.rotation.current
        symbols = list(current.symbols) if current is not None else []
        if change is not None:
            log.info("%s", change.line())
            out.print(change.line())
    except VenueError as exc:
        log.warning("universe: 24 h tickers not read: %s", exc)
        out.print(f"[yellow]24 h tickers not read ({exc}): trading the first {profile.universe.max_symbols} "
                  "markets by name until the universe can be picked[/]")
        symbols = choose_symbols(pool, profile.universe, profile.venue.quote_assets)
    symbols += [s for s in dict.fromkeys(held) if s not in symbols]
    if not symbols:
        reasons = universe.rotation.current.excluded[:5] if universe.rotation.current else ()
        raise UserError(f"no market qualifies for the universe rules (quote assets {profile.venue.quote_assets}): "
                        + ("; ".join(str(e) for e in reasons) or "no candidates"))
    return universe, symbols
