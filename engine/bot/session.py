"""Assemble one bot from a loaded profile: machine, book, venue, risk guard, engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.bot.venues import funded_balances, sim_engine
from engine.config.loading import LoadedProfile, load_machine_for
from engine.positions.book import PositionBook, ResumeReport
from engine.trading.bot_machine import BotMachine
from engine.trading.bot_state import open_bot_machine
from engine.trading.engine import TradingEngine
from engine.trading.risk import RiskGuard, RiskState
from engine.venue.markets import Market
from engine.venue.sim.venue import SimVenue


@dataclass
class Session:
    loaded: LoadedProfile
    book: PositionBook
    venue: SimVenue
    engine: TradingEngine
    risk: RiskGuard
    bot: BotMachine
    resume: ResumeReport
    markets: dict[str, Market]


def open_session(
    loaded: LoadedProfile,
    markets: dict[str, Market],
    *,
    state_dir: Path | None = None,
    venue: SimVenue | None = None,
    durable: bool = True,
    keep_candles: bool = True,
    on_closed=None,  # noqa: ANN001 - callback(position_dict)
    brackets: dict[str, Any] | None = None,
) -> Session:
    """Open the book (resuming whatever the state folder holds) and wire the engine to `venue`
    (a fresh simulated venue funded from the profile when none is given, with `brackets`: the leverage
    tiers by symbol, the simulator's default where absent)."""
    profile = loaded.profile
    folder = state_dir or loaded.state_dir
    machine = load_machine_for(loaded)
    book = PositionBook(machine, folder, fsync=profile.runtime.snapshot_fsync, durable=durable)
    report = book.open()
    if venue is None:
        balances = funded_balances(profile, markets)
        venue = SimVenue(sim_engine(markets, balances, profile, brackets=brackets),
                         timeframe=profile.venue.timeframe, keep_history=keep_candles)
    risk = open_risk(loaded, book)
    bot = open_bot_machine(loaded, book, risk, report)
    engine = TradingEngine(orders=profile.orders, quote_assets=profile.venue.quote_assets, book=book, venue=venue,
                           risk=risk, bot=bot, markets=markets, on_closed=on_closed)
    return Session(loaded, book, venue, engine, risk, bot, report, markets)


def open_risk(loaded: LoadedProfile, book: PositionBook) -> RiskGuard:
    """The risk guard on the counters the book holds, saved back into it at every change."""
    state = RiskState.from_dict(book.bot["risk"]) if book.bot.get("risk") else RiskState()
    return RiskGuard(loaded.profile.risk, live_positions=lambda: len(book.live), state=state,
                     on_change=lambda s: book.set_bot_value("risk", s.to_dict()))
