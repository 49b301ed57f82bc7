"""`run` in testnet (Binance demo trading) or live mode: the engine against Binance through ccxt.

Before anything trades: keys from the environment, live mode confirmed on the command line, a health
check, the account's modes checked (the bot assumes one-way positions and single-asset margin), and
the start-up reconciliation (DESIGN.md). Then the wall-clock loop of `engine.run.live_loop`, with the
fills of resting orders read from the venue each tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from engine.bot.session import open_session
from engine.bot.venues import binance_venue
from engine.clock import WallClock
from engine.config.loading import LoadedProfile
from engine.errors import UserError
from engine.market.poller import CandlePoller
from engine.market.universe import choose_symbols
from engine.run.live_loop import LiveLoop, trade_until_stopped
from engine.store.lock import state_lock

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
    from engine.venue.binance import BinanceSettings

    # ccxt's throttle spaces every request 50 ms apart, which alone would take 1.75 s to poll 35
    # symbols. The loop's own pattern is bounded (one candle request per symbol per tick, a few
    # order-list reads) far below Binance's 2400 weight/min, and a 429/418 is honoured (Retry-After).
    # The poller asks for exactly the candles it needs, so the venue's candle cache is not used.
    settings = BinanceSettings(enable_rate_limit=False, cache_candles=False)
    venue = binance_venue(profile, base_url=options.venue_url, settings=settings)  # keys checked here
    try:
        # Before the venue is even asked: a second run on this folder must not probe, reconcile or trade.
        with state_lock(loaded.state_dir):
            return await _start(loaded, venue, options, out)
    finally:
        await venue.close()


async def _start(loaded: LoadedProfile, venue, options: LiveOptions, out: Any) -> int:  # noqa: ANN001
    """Health and account checks, then the session on the (locked) state folder."""
    profile = loaded.profile
    health = await venue.health()
    out.print(f"{health.mode} · {health.endpoint} · {health.markets} markets · clock offset "
              f"{health.clock_offset_ms} ms · round trip {health.round_trip_ms or 0:.0f} ms")
    for note in health.notes:
        out.print(f"[yellow]{note}[/]")
    if health.modes is not None:
        check_modes(health.modes.hedge, health.modes.multi_assets, f"{profile.mode} account")
    if not health.ok:
        out.print("[red]not starting: " + "; ".join(health.problems) + "[/]")
        return 1
    markets = await venue.markets()
    symbols = choose_symbols(markets, profile.universe, profile.venue.quote_assets)
    if not symbols:
        raise UserError(f"{loaded.path}: no market qualifies for quote assets {profile.venue.quote_assets}")
    session = open_session(loaded, markets, venue=venue)
    try:
        return await _trade(session, venue, symbols, options, out)
    finally:
        session.book.close()


async def _trade(session, venue, symbols: list[str], options: LiveOptions, out: Any) -> int:  # noqa: ANN001
    profile = session.loaded.profile
    clock = WallClock()
    poller = CandlePoller(venue.fetch_ohlcv, symbols, profile.venue.timeframe)
    loop = LiveLoop(session, poller, clock=clock, settle=None, out=out)  # fills read from the venue
    out.rule(f"{profile.mode.upper()} trading · profile {profile.name}")
    out.print(f"{len(symbols)} symbols: {', '.join(symbols[:8])}{' …' if len(symbols) > 8 else ''}")
    for line in session.resume.lines():
        out.print(line)
    await trade_until_stopped(loop, ticks=options.ticks, note=f"{profile.mode} on {venue.endpoint}")
    return 0
