"""`run` in paper mode: the engine against the simulated venue, fed by the synthetic market (offline
default) or a replay of candle files, paced in (accelerated) real time, resumable after any stop.

Paper time is the candle stream's own time: a restart continues from the last candle processed
(`paper.cursor_ms` in the bot state), whatever the wall clock says, so positions, orders and the
market they trade in continue exactly. The simulated venue's state is saved after every change to
it, so its orders and fills survive a kill as well (`venue.json`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.bot.attach import running_services
from engine.bot.session import Session, open_session
from engine.bot.venues import paper_venue
from engine.clock import SimulatedClock, from_ms, to_ms
from engine.config.loading import LoadedProfile
from engine.errors import UserError
from engine.market.candles import timeframe_ms
from engine.market.funding import FundingHistory
from engine.market.replay import FileFeed, PaperFeed, SyntheticFeed
from engine.market.rotation import ActivityHistory, Rotation
from engine.market.universe import choose_symbols, rules_from_profile
from engine.run.console import install_signal_handlers, print_status, shutdown
from engine.run.driver import CandleDriver
from engine.store.lock import state_lock
from engine.strategy.sources import LiveSignals, window_for
from engine.venue.catalog import brackets_for, markets_for
from engine.venue.sim.persistent import PersistentSimVenue
from engine.web.attach import web_dashboard
from engine.web.bind import WebSettings

log = logging.getLogger("engine.paper")
GAP_RESET = 12  # candles missing in a row after which indicators must not bridge the hole


@dataclass
class PaperOptions:
    data_dir: Path | None = None
    speed: float = 1.0
    candles: int | None = None  # stop after this many candle steps (demos, tests)
    seed: int | None = None
    start_ms: int | None = None  # --from: first candle to trade in a file replay
    web: WebSettings | None = None  # --web: serve the dashboard from this loop


async def run_paper(loaded: LoadedProfile, options: PaperOptions, out: Any) -> int:
    """Trade until Ctrl+C / SIGTERM (or `options.candles` steps). Returns the process exit code."""
    profile = loaded.profile
    if profile.mode != "paper":
        raise UserError(f"{loaded.path}: mode {profile.mode!r} needs the Binance venue, which this version does "
                        "not have yet; use mode: paper")
    markets, market_note = markets_for(profile.venue.quote_assets, options.data_dir)
    symbols = choose_symbols(markets, profile.universe, profile.venue.quote_assets)
    if not symbols:
        raise UserError(f"{loaded.path}: no market qualifies for quote assets {profile.venue.quote_assets}")
    # Candle files are read before the state folder is touched: a bad file (exit 2) leaves no folder behind.
    file_feed = None if options.data_dir is None else _file_feed(loaded, symbols, options)
    if file_feed is not None:
        symbols = [s for s in symbols if s in file_feed.frames]
    with state_lock(loaded.state_dir):  # before the first read of the folder (venue.json)
        # a replay of a data folder uses its leverage brackets, as a backtest of it does
        brackets, _ = brackets_for(options.data_dir)
        venue = paper_venue(loaded, markets, loaded.state_dir,
                            brackets={s: b for s, b in brackets.items() if s in markets})
        session = open_session(loaded, markets, venue=venue)
        try:
            return await _trade(session, venue, symbols, options, out, market_note, file_feed)
        finally:
            session.book.close()


def _file_feed(loaded: LoadedProfile, symbols: list[str], options: PaperOptions) -> FileFeed:
    """The replay of `--data`, its candles loaded and checked; UserError when none is for the profile."""
    step = timeframe_ms(loaded.profile.venue.timeframe)
    load_from = None if options.start_ms is None else options.start_ms - window_for(loaded.profile.strategy) * step
    feed = FileFeed(options.data_dir, symbols, timeframe=loaded.profile.venue.timeframe, start_ms=load_from)
    if not any(s in feed.frames for s in symbols):
        raise UserError(f"--data {options.data_dir}: no candles for the profile's markets"
                        + ("" if options.start_ms is None else f" from {from_ms(options.start_ms):%Y-%m-%d}"))
    return feed


async def _trade(session: Session, venue: PersistentSimVenue, symbols: list[str], options: PaperOptions,
                 out: Any, market_note: str, file_feed: FileFeed | None) -> int:
    loaded, book, engine = session.loaded, session.book, session.engine
    profile = loaded.profile
    step = timeframe_ms(profile.venue.timeframe)
    warmup = window_for(profile.strategy)  # candles of history before the first one traded
    paper = dict(book.bot.get("paper") or {})
    source = "file" if options.data_dir is not None else "synthetic"
    check_source(loaded, paper, source)
    paper["source"] = source
    if file_feed is not None:
        feed: PaperFeed = file_feed
        first = feed.first_open_ms() + (warmup - 1) * step
        if options.start_ms is not None:
            first = max(first, options.start_ms - step)
        cursor = int(paper.get("cursor_ms") or first)
    else:
        seed = int(paper.get("seed") or options.seed or secrets.randbelow(2**31))
        now_ms = to_ms(datetime.now(UTC)) // step * step
        origin = int(paper.get("origin_ms") or now_ms - warmup * step)
        feed = SyntheticFeed(symbols, seed=seed, origin_ms=origin, timeframe=profile.venue.timeframe)
        cursor = int(paper.get("cursor_ms") or origin + (warmup - 1) * step)
        paper.update(seed=seed, origin_ms=origin)
    banner(out, session, feed, symbols, market_note, options)
    if file_feed is not None:
        replay_costs(out, venue, file_feed, options.data_dir, symbols)  # type: ignore[arg-type]
    clock = SimulatedClock(from_ms(cursor + step))
    signals = LiveSignals(profile.strategy, window=warmup)
    for symbol in symbols:
        history = feed.history(symbol, warmup, cursor + step)
        signals.warm(symbol, history)
        if venue.engine.last_price(symbol) is None and len(history):
            last = history.iloc[-1]
            venue.on_candle(symbol, int(history.index[-1]), float(last["open"]), float(last["high"]),
                            float(last["low"]), float(last["close"]), float(last["volume"]))
    await engine.resume(clock.now())
    driver = CandleDriver(engine, venue, clock, profile.venue.timeframe, signals,
                          None if file_feed is None else file_feed.finer)
    universe, activity = (None, None) if file_feed is None else _replay_universe(session, file_feed, symbols)
    stop = asyncio.Event()
    install_signal_handlers(stop)
    started = time.monotonic()
    last_status: datetime | None = None
    steps = 0
    delay = step / 1000 / max(options.speed, 1e-9)
    async with running_services(session, clock, signals, note=feed.name) as services, \
            web_dashboard(services, options.web, out):
        while not stop.is_set():
            open_ms = cursor + step
            last_open = feed.last_open_ms()
            if last_open is not None and open_ms > last_open:
                out.print("end of the candle files reached")
                break
            rows = feed.rows(open_ms)
            if not rows and isinstance(feed, FileFeed):
                resume_at = feed.next_open_ms(open_ms)
                if resume_at is None:
                    out.print("end of the candle files reached")
                    break
                # The files have a hole (e.g. 2023 → 2025): jump it instead of stepping through it empty.
                if resume_at - open_ms >= GAP_RESET * step:
                    out.print(f"no candles from {from_ms(open_ms):%Y-%m-%d %H:%M} to "
                              f"{from_ms(resume_at):%Y-%m-%d %H:%M}: skipping the gap (the strategy warms up again)")
                    signals.reset()
                cursor = resume_at - step
                continue
            if universe is not None and universe.due(open_ms):  # a rotation boundary: the rules pick again
                at = universe.boundary(open_ms)
                change = universe.pick(activity.at(at), at)  # type: ignore[union-attr]
                engine.gate.universe = universe.symbols
                if change is not None:
                    out.print(change.line(), markup=False, highlight=False)
            async with services.engine_lock:  # a Telegram command never lands in the middle of a step
                await driver.step(open_ms, rows)
                await engine.sweep_orphans()  # orders no live position owns (left by a crash or a race)
            cursor = open_ms
            book.set_bot_value("paper", {**paper, "cursor_ms": cursor})
            services.tick(clock.now())
            steps += 1
            # Status follows market time, so an accelerated replay reports as often per candle as live.
            if last_status is None or clock.now() - last_status >= profile.runtime.status_every:
                await print_status(out, session, clock.now(), started, services)
                last_status = clock.now()
            if options.candles is not None and steps >= options.candles:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
        async with services.engine_lock:
            await shutdown(session, clock.now(), out)
    return 0


def _replay_universe(session: Session, feed: FileFeed, symbols: list[str]) -> tuple[Rotation, ActivityHistory]:
    """A replay of candle files picks its universe as a backtest does: at every `universe.rotation`
    boundary, from the candles closed by it (the files' earlier candles give the first pick its day)."""
    profile = session.loaded.profile
    markets = {s: session.engine.markets[s] for s in symbols}
    rules = rules_from_profile(profile.universe, {*profile.venue.quote_assets, *(m.settle for m in markets.values())})
    activity = ActivityHistory({s: feed.frames[s] for s in symbols}, profile.venue.timeframe, rules.atr_period)
    session.engine.gate.universe = frozenset()  # nothing enters before the first pick
    return Rotation(rules, markets), activity


def replay_costs(out: Any, venue: PersistentSimVenue, feed: FileFeed, data_dir: Path, symbols: list[str]) -> None:
    """A replay of files charges funding from the folder's historical rates (none where it has none) and
    walks the finer candles it holds inside each candle; the banner says both. Funding is not saved
    with the account: it is set again from the files at every start."""
    funding = FundingHistory.load(data_dir, [venue.engine.markets[s] for s in symbols])
    venue.engine.set_funding(funding.schedules())
    if funding.applied:
        missing = f"; none for {', '.join(funding.missing)}" if funding.missing else ""
        out.print(f"funding: from historical rates in {funding.source}{missing}", markup=False, highlight=False)
    else:
        out.print(f"funding: not applied (no funding rates in {data_dir})", markup=False, highlight=False)
    finer = {s: [level.timeframe for level in feed.finer.levels[s]] for s in symbols if s in feed.finer.levels}
    if finer:
        named = ", ".join(f"{s} ({'/'.join(tfs)})" for s, tfs in finer.items())
        out.print(f"fills decided on finer candles where the files cover a candle whole: {named}",
                  markup=False, highlight=False)


def check_source(loaded: LoadedProfile, paper: dict[str, Any], source: str) -> None:
    """A state folder keeps the market it started on: positions opened on one market (synthetic,
    files, live data) make no sense on another."""
    was = paper.get("source") or ("synthetic" if paper.get("seed") else None)
    if was is not None and was != source:
        raise UserError(f"{loaded.state_dir}: this paper state trades the {was} market, not the {source} one; "
                        f"run it as before, or move the folder away to start afresh on the {source} market")


def banner(out: Any, session: Session, feed: PaperFeed, symbols: list[str], market_note: str,
           options: PaperOptions) -> None:
    profile = session.loaded.profile
    out.rule(f"paper trading · profile {profile.name}")
    for note in feed.notes:
        out.print(f"[bold yellow]{note}[/]")
    if market_note:
        out.print(f"[yellow]{market_note}[/]")
    out.print(f"{len(symbols)} symbols: {', '.join(symbols[:8])}{' …' if len(symbols) > 8 else ''}")
    out.print(f"speed ×{options.speed:g} · state {session.book.state_dir}")
    for line in session.resume.lines():
        out.print(line)
