"""`backtest`: the paper engine on a simulated clock over candle files.

Everything above the venue is the code that trades paper and live: the same machine, book, sizing,
risk rules and executor, against the same simulated matching engine. Only the clock (jumping candle
to candle), the signal path (the strategy's vectorised form, proven equal to the live one) and the
journal fsync (a reproducible run needs none) differ.

The symbols named (`--symbols`, else every market of the profile's quote assets with candles in the
data) are the candidates; the profile's universe rules choose among them at each `universe.rotation`
boundary from the candles closed before it (engine.market.rotation). A symbol out of the universe gets
no new entry; what is open on it runs to its end.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.bot.session import open_session
from engine.clock import SimulatedClock, from_ms, to_ms
from engine.config.loading import LoadedProfile
from engine.errors import UserError
from engine.exits import ExitReason
from engine.market.candles import slice_time, timeframe_ms
from engine.market.datadir import DataDir
from engine.market.finer import FinerCandles
from engine.market.funding import FundingHistory, funding_line
from engine.market.rotation import ActivityHistory, Rotation
from engine.market.universe import DAY_MS, Exclusion, rules_from_profile
from engine.run.driver import CandleDriver
from engine.run.events import CandleGrid, EventLoop
from engine.run.timeline import count_candles, merged_steps
from engine.run.trade_log import TradeLog
from engine.strategy.sources import VectorSignals
from engine.venue.catalog import brackets_for, markets_for
from engine.venue.markets import Market
from engine.venue.sim.fills import recording_fills

MARKER = "backtest.json"
UNIVERSE_FILE = "universe.json"
# Exclusions no rotation can undo during a run: the contract itself, or the lists.
STATIC_EXCLUSIONS = frozenset({"blacklisted", "not_perpetual", "not_trading", "settle", "quote", "odd_contract",
                               "stablecoin"})


@dataclass
class BacktestRun:
    out_dir: Path
    trades: Sequence[dict[str, Any]]  # closed positions as history.jsonl has them (without their open orders and
    # intents: HEAVY_KEYS), plus their `fills` (engine.venue.sim.fills); kept compact (engine.run.trade_log)
    candles: int
    wall_s: float
    start: datetime
    end: datetime
    starting_balance: Any
    final_balance: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    universe: Rotation | None = None
    data_source: str = ""
    fills_resolution: str = ""  # which candles decided the fills (FinerCandles.describe)
    funding: str = ""  # the report's funding line (engine.market.funding)
    steps: int = 0  # distinct candle times of the run
    steps_worked: int = 0  # the ones the event loop worked (all of them candle by candle)


def resolve_symbols(requested: list[str] | None, markets: dict[str, Market], quotes: tuple[str, ...],
                    data: DataDir, timeframe: str) -> list[str]:
    """Unified symbols to trade: the ones asked for (BTC, BTCUSDC or BTC/USDC:USDC), else every market
    of the profile's quote assets that has candles in the data folder."""
    if requested:
        out = []
        for name in requested:
            name = name.strip()
            if "/" in name:
                candidates = [name if ":" in name else f"{name}:{name.split('/')[1]}"]
            elif any(name.upper().endswith(q) for q in ("USDC", "USDT")):
                candidates = [m.symbol for m in markets.values() if m.id == name.upper()]
            else:
                candidates = [f"{name.upper()}/{q}:{q}" for q in quotes]
            found = [c for c in candidates if c in markets]
            if not found:
                raise UserError(f"--symbols {name}: no such perpetual for quote assets {', '.join(quotes)}")
            out.extend(found)
        return list(dict.fromkeys(out))
    have = set(data.venue_ids(timeframe))
    return sorted(m.symbol for m in markets.values()
                  if m.settle in quotes and m.is_perpetual and m.is_trading and m.id in have)


def prepare_out_dir(out_dir: Path) -> None:
    """A backtest starts from an empty folder; we only ever wipe folders a backtest made."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).is_file():
            raise UserError(f"--out {out_dir}: folder exists and was not made by a backtest; choose another")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


async def run_backtest(
    loaded: LoadedProfile,
    data_dir: Path,
    start: datetime,
    end: datetime,
    *,
    symbols: list[str] | None = None,
    out_dir: Path,
    progress: Any = None,
    data: DataDir | None = None,
    every_candle: bool = False,
) -> BacktestRun:
    """`data` may be handed in (an optimiser's candles loaded once and shared by its trials); it must
    read the folder `data_dir` names, which still supplies the markets and the funding rates.
    `every_candle` steps through every candle of every symbol as paper does, instead of jumping from event
    to event (engine.run.events): slower, the same result; kept as the reference the fast loop is tested on."""
    profile = loaded.profile
    timeframe = profile.venue.timeframe
    data = DataDir(data_dir) if data is None else data
    markets, market_note = markets_for(profile.venue.quote_assets, data_dir)
    chosen = resolve_symbols(symbols, markets, profile.venue.quote_assets, data, timeframe)
    notes = [market_note] if market_note else []
    extra = sorted({markets[s].settle for s in chosen} - set(profile.venue.quote_assets))
    if extra:
        notes.append(f"symbols margined in {', '.join(extra)} (not in the profile's quote assets) were traded "
                     f"with their own {profile.venue.starting_balance} starting balance")
    settle = {*profile.venue.quote_assets, *(markets[s].settle for s in chosen)}  # naming one is choosing it
    rules = rules_from_profile(profile.universe, settle)
    start_ms = to_ms(start)
    # The first pick needs the day before the start (24 h volume) and the ATR's warm-up.
    lookback_ms = DAY_MS + 30 * rules.atr_period * timeframe_ms(timeframe)
    history: dict[str, pd.DataFrame] = {}
    candles: dict[str, pd.DataFrame] = {}
    sources: list[str] = []
    for symbol in chosen:
        series = data.load(symbol, timeframe, from_ms(start_ms - lookback_ms), end)
        frame = slice_time(series.frame, start_ms, None)
        if frame.empty:
            continue
        history[symbol], candles[symbol] = series.frame, frame
        sources.append(series.source)
        if series.is_twin_fallback:
            notes.append(series.provenance)
    if not candles:
        raise UserError(f"no {timeframe} candles in {data_dir} between {start:%Y-%m-%d} and {end:%Y-%m-%d} "
                        f"for {', '.join(chosen) or 'the profile’s markets'}")
    rotation = Rotation(rules, {s: markets[s] for s in candles})
    static = _static_exclusions(rotation)
    if static:
        if len(static) == len(candles):
            raise UserError("no symbol may be traded under the profile's universe rules: "
                            + "; ".join(str(e) for e in static.values()))
        notes.extend(f"{e.symbol} is not traded: {e.detail} (universe rules)" for e in static.values())
        candles = {s: f for s, f in candles.items() if s not in static}
    activity = ActivityHistory({s: history[s] for s in rotation.markets}, timeframe, rules.atr_period)
    notes.extend(gap_notes(candles, timeframe))
    finer = FinerCandles.load(data, candles, timeframe, start, end)
    prepare_out_dir(out_dir)
    (out_dir / MARKER).write_text(json.dumps({"profile": profile.name, "from": start.isoformat(),
                                              "to": end.isoformat(), "symbols": list(candles),
                                              "data": str(data_dir)}))
    trades = TradeLog()
    clock = SimulatedClock(start)
    brackets, brackets_note = brackets_for(data_dir)
    if brackets_note:
        notes.append(brackets_note)
    session = open_session(loaded, {s: markets[s] for s in candles}, state_dir=out_dir, durable=False,
                           keep_candles=False, on_closed=trades.append,
                           brackets={s: b for s, b in brackets.items() if s in candles})
    session.venue.engine.keep_executions = False  # the report reads closed positions, not the fill log
    session.engine.on_closed = recording_fills(session.venue.engine, trades.append)  # each fill's liquidity
    funding = FundingHistory.load(data_dir, [markets[s] for s in candles], start_ms, to_ms(end))
    session.venue.engine.set_funding(funding.schedules())
    signals = VectorSignals(candles, profile.strategy)
    driver = CandleDriver(session.engine, session.venue, clock, timeframe, signals, finer)
    total = count_candles(candles)
    wall = time.perf_counter()
    gate = session.engine.gate
    gate.universe = frozenset()

    async def rotate(open_ms: int) -> int | None:
        """A rotation boundary: pick from the candles closed by it; returns when the next one falls."""
        at = rotation.boundary(open_ms)
        rotation.pick(activity.at(at), at)
        gate.universe = rotation.symbols
        return rotation.next_ms

    if every_candle:
        await _candle_by_candle(driver, candles, rotate, progress, total)
        steps = worked = len(np.unique(np.concatenate([f.index.to_numpy(dtype=np.int64) for f in candles.values()])))
    else:
        grid = CandleGrid.build(candles)
        loop = EventLoop(driver, grid, signals.signal_times(), rotate)
        task = progress.add_task("backtest", total=total) if progress is not None else None
        span = max(len(grid.times), 1)
        await loop.run(None if task is None else lambda done: progress.update(task, completed=total * done // span))
        steps, worked = len(grid.times), loop.worked
    last = clock.now()
    await session.engine.close_all(last, reason=ExitReason.END_OF_BACKTEST)
    await session.engine.on_timeouts(last)
    wall_s = time.perf_counter() - wall
    settles = dict.fromkeys([*profile.venue.quote_assets, *(markets[s].settle for s in candles)])
    final = {q: (await session.venue.balance(q)).total for q in settles}
    session.book.close()
    tally = session.venue.engine.funding_tally
    (out_dir / UNIVERSE_FILE).write_text(json.dumps(rotation.summary(), indent=1))
    # Every funded wallet started with the profile's balance; equity is their sum.
    starting = profile.venue.starting_balance * len(final)
    if len(final) > 1:
        notes.append(f"{len(final)} wallets ({', '.join(final)}) of {profile.venue.starting_balance} each; "
                     "equity figures are their sum")
    return BacktestRun(out_dir, trades, total, wall_s, from_ms(to_ms(start)), last, starting, final, notes,
                       list(candles), rotation, data_source(data_dir, sources), finer.survey(candles).describe(candles),
                       funding_line(funding, tally.paid, tally.received, tally.settlements), steps, worked)


async def _candle_by_candle(driver: CandleDriver, candles: dict[str, pd.DataFrame], rotate: Any, progress: Any,
                            total: int) -> None:
    """Every candle of every symbol through the driver, as paper does: the reference the event-skipping
    loop is proven equal to (tests/e2e/test_event_skipping.py)."""
    task = progress.add_task("backtest", total=total) if progress is not None else None
    done, next_pick = 0, -1
    for open_ms, rows in merged_steps(candles):
        if open_ms >= next_pick:
            next_pick = await rotate(open_ms)
        await driver.step(open_ms, rows)
        done += len(rows)
        if task is not None and done % 5000 < len(rows):
            progress.update(task, completed=done)


def _static_exclusions(rotation: Rotation) -> dict[str, Exclusion]:
    """Candidates the rules exclude whatever the market does (blacklist, contract checks)."""
    first = rotation.manager.select(rotation.markets, {}, 0)
    return {e.symbol: e for e in first.excluded if e.code in STATIC_EXCLUSIONS}


def data_source(data_dir: Path, sources: list[str]) -> str:
    """`data: <folder> (store-parquet, 3 series)` — where the candles came from, for the report."""
    kinds = sorted({s.split(" ", 1)[0] for s in sources})
    return f"{data_dir} ({', '.join(kinds)}, {len(sources)} series)"


def gap_notes(candles: dict[str, pd.DataFrame], timeframe: str, limit: int = 5) -> list[str]:
    """One note per hole in the candles the run stepped over (the same hole in several symbols once)."""
    from engine.market.store import gaps  # pyarrow is imported only when there is a run to report on

    step = timeframe_ms(timeframe)
    holes: dict[tuple[int, int], list[str]] = {}
    for symbol, frame in candles.items():
        for span in gaps(frame.index.to_numpy(dtype="int64"), step):
            holes.setdefault(span, []).append(symbol)
    notes = [f"no candles from {from_ms(a):%Y-%m-%d %H:%M} to {from_ms(b):%Y-%m-%d %H:%M} for "
             f"{', '.join(names)}: the run jumped the gap" for (a, b), names in sorted(holes.items())[:limit]]
    if len(holes) > limit:
        notes.append(f"… and {len(holes) - limit} more gaps in the candles")
    return notes

