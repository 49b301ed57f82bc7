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
from engine.clock import WallClock, to_ms
from engine.config.loading import LoadedProfile
from engine.errors import UserError
from engine.market.live_universe import LiveUniverse, open_universe
from engine.market.poller import CandlePoller
from engine.run.live_loop import LiveLoop, trade_until_stopped
from engine.store.lock import state_lock

log = logging.getLogger("engine.live")


@dataclass
class LiveOptions:
    venue_url: str | None = None  # a Binance-compatible base URL (the local fake server)
    confirm_live: bool = False
    ticks: int | None = None  # stop after N ticks (tests, demos)
    web: Any = None  # --web: engine.web.bind.WebSettings, the dashboard served from this loop


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
    session = open_session(loaded, markets, venue=venue)
    try:
        # The universe rules on Binance's 24 h tickers; symbols a position is open on are polled too.
        universe, symbols = await open_universe(
            profile, markets, venue.quote_volumes_24h,
            lambda symbol, count: venue.fetch_ohlcv(symbol, profile.venue.timeframe, None, count),
            now_ms=to_ms(WallClock().now()), held=[p.symbol for p in session.book.live.values()], out=out)
        return await _trade(session, venue, symbols, universe, options, out)
    finally:
        session.book.close()


async def _trade(session, venue, symbols: list[str], universe: LiveUniverse, options: LiveOptions,  # noqa: ANN001
                 out: Any) -> int:
    profile = session.loaded.profile
    clock = WallClock()
    poller = CandlePoller(venue.fetch_ohlcv, symbols, profile.venue.timeframe)
    loop = LiveLoop(session, poller, clock=clock, settle=None, out=out, universe=universe)  # fills read from the venue
    out.rule(f"{profile.mode.upper()} trading · profile {profile.name} · {profile.venue.exchange}")
    if profile.description:
        out.print(profile.description, markup=False, highlight=False)
    out.print(f"{len(symbols)} symbols: {', '.join(symbols[:8])}{' …' if len(symbols) > 8 else ''}")
    for line in session.resume.lines():
        out.print(line)
    await trade_until_stopped(loop, ticks=options.ticks, note=f"{profile.mode} on {venue.endpoint}", web=options.web)
    return 0
