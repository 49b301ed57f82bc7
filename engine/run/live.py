"""`run` in testnet (Binance demo trading) or live mode: the engine against Binance through ccxt.

Before anything trades: keys from the environment, live mode confirmed on the command line, a health
check, the account's modes checked (the bot assumes one-way positions and single-asset margin), and
the start-up reconciliation (DESIGN.md). Then the wall-clock loop of `engine.run.live_loop`, with the
fills of resting orders read from the venue each tick.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.clock import WallClock
from engine.config.loading import LoadedProfile
from engine.errors import UserError
from engine.run.live_loop import LiveLoop
from engine.run.paper import choose_symbols, install_signal_handlers, print_status, shutdown
from engine.run.poller import CandlePoller
from engine.run.session import open_session
from engine.venue.errors import VenueError

log = logging.getLogger("engine.live")


@dataclass
class LiveOptions:
    venue_url: str | None = None  # a Binance-compatible base URL (the local fake server)
    confirm_live: bool = False
    ticks: int | None = None  # stop after N ticks (tests, demos)


class AccountModeRefused(UserError):
    """The account is set up in a way the bot cannot trade safely."""


def check_modes(hedge: bool, multi_assets: bool, where: str) -> None:
    if hedge:
        raise AccountModeRefused(
            f"{where}: the account is in hedge mode (dual-side positions); the bot's stops and reconciliation "
            "assume one-way mode. Switch Position Mode to One-way in the futures settings, then start again.")
    if multi_assets:
        raise AccountModeRefused(
            f"{where}: the account is in multi-assets margin mode; the bot sizes and limits risk per margin "
            "asset. Switch to single-asset mode in the futures settings, then start again.")


async def run_live(loaded: LoadedProfile, options: LiveOptions, out: Any) -> int:
    profile = loaded.profile
    if profile.mode == "live" and not options.confirm_live:
        raise UserError(f"{loaded.path}: mode: live trades real money; add --confirm-live to the command to go on")
    from engine.venue.binance import open_binance_venue

    venue = await open_binance_venue(profile, base_url=options.venue_url)
    try:
        health = await venue.health()
        for line in health.lines():
            out.print(line)
        modes = await venue.account_modes()
        check_modes(modes.hedge, modes.multi_assets, f"{profile.mode} account")
        markets = await venue.markets()
        symbols = choose_symbols(markets, loaded)
        if not symbols:
            raise UserError(f"{loaded.path}: no market qualifies for quote assets {profile.venue.quote_assets}")
        loaded.state_dir.mkdir(parents=True, exist_ok=True)
        session = open_session(loaded, markets, venue=venue)
        try:
            return await _trade(session, venue, symbols, options, out)
        finally:
            session.book.close()
    finally:
        await venue.close()


async def _trade(session, venue, symbols: list[str], options: LiveOptions, out: Any) -> int:  # noqa: ANN001
    profile = session.loaded.profile
    clock = WallClock()
    poller = CandlePoller(venue.fetch_ohlcv, symbols, profile.venue.timeframe)
    loop = LiveLoop(session, poller, clock=clock, settle=None, out=out)  # fills read from the venue
    out.rule(f"{profile.mode.upper()} trading · profile {profile.name}")
    out.print(f"{len(symbols)} symbols: {', '.join(symbols[:8])}{' …' if len(symbols) > 8 else ''}")
    for line in session.resume.lines():
        out.print(line)
    await loop.warm()
    await loop.start()
    out.print("ready: reconciled with the venue" if loop.entries_ok else "[red]not ready: entries blocked[/]")
    stop = asyncio.Event()
    install_signal_handlers(stop)
    started = asyncio.get_running_loop().time()
    last_status: list[datetime | None] = [None]

    async def status(now: datetime) -> None:
        if last_status[0] is None or now - last_status[0] >= profile.runtime.status_every:
            try:
                await print_status(out, session, now, started)
            except VenueError as exc:
                out.print(f"[yellow]status unavailable: {exc}[/]")
            last_status[0] = now

    await loop.run(stop, ticks=options.ticks, on_tick=status)
    await shutdown(session, clock.now(), out)
    return 0
