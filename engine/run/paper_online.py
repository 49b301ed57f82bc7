"""Paper trading on Binance's live public market data: real candles through ccxt (no keys), orders
against the simulated venue, on the wall clock.

The simulated venue is fed every closed candle in order (its stops and take-profits trigger on them);
after a restart the candles missed while down are fetched and fed first, so the venue's fills are
those the market would have given. The state folder remembers that it trades live data; it never
switches silently to another market under open positions.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from engine.bot.session import open_session
from engine.bot.venues import paper_venue
from engine.clock import WallClock, to_ms
from engine.config.loading import LoadedProfile
from engine.market.feed import BinancePublicCandleSource
from engine.market.live_universe import open_universe
from engine.market.poller import CandlePoller
from engine.run.driver import feed_candle
from engine.run.live_loop import LiveLoop, trade_until_stopped
from engine.store.lock import state_lock
from engine.venue.errors import VenueUnavailable
from engine.venue.markets import Market, parse_exchange_info
from engine.venue.sim.persistent import PersistentSimVenue
from engine.venue.types import Candle

log = logging.getLogger("engine.paper")
SOURCE = "binance"


class PublicDataUnavailable(Exception):
    """Binance's public endpoints could not be reached at start."""


def public_fetch(source: BinancePublicCandleSource):  # noqa: ANN201 - returns the poller's Fetch
    import ccxt

    async def fetch(symbol: str, timeframe: str, since: int | None, limit: int | None) -> list[Candle]:
        try:
            rows = await source.exchange.fetch_ohlcv(symbol, timeframe, since, limit)
        except (ccxt.NetworkError, ccxt.ExchangeError) as exc:
            raise VenueUnavailable(f"public candles for {symbol}: {type(exc).__name__}: {exc}") from exc
        return [Candle(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in rows]

    return fetch


async def open_public(base_url: str | None) -> tuple[BinancePublicCandleSource, dict[str, Market]]:
    """The public source and Binance's own markets; PublicDataUnavailable when unreachable."""
    import ccxt

    source = BinancePublicCandleSource(base_url, allow_loopback=True)
    try:
        markets = parse_exchange_info(await source.exchange_info())
        await source.exchange.load_markets()
    except (ccxt.NetworkError, ccxt.ExchangeError, OSError) as exc:
        await source.close()
        raise PublicDataUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return source, markets


async def run_paper_online(loaded: LoadedProfile, source: BinancePublicCandleSource, markets: dict[str, Market],
                           out: Any, *, ticks: int | None = None, web: Any = None) -> int:
    try:
        with state_lock(loaded.state_dir):  # before the first read of the folder (venue.json)
            return await _trade(loaded, source, markets, out, ticks, web)
    finally:
        await source.close()


async def _trade(loaded: LoadedProfile, source: BinancePublicCandleSource, markets: dict[str, Market],
                 out: Any, ticks: int | None, web: Any = None) -> int:
    profile = loaded.profile
    venue = paper_venue(loaded, markets, loaded.state_dir)
    session = open_session(loaded, markets, venue=venue)
    clock = WallClock()
    try:
        fetch = public_fetch(source)
        # The universe rules on Binance's public 24 h tickers; symbols a position is open on are polled too.
        universe, symbols = await open_universe(
            profile, markets, _public_quote_volumes(source),
            lambda symbol, count: fetch(symbol, profile.venue.timeframe, None, count),
            now_ms=to_ms(clock.now()), held=[p.symbol for p in session.book.live.values()], out=out,
            listed=lambda symbol: symbol in source.exchange.markets)
        session.book.set_bot_value("paper", {**(session.book.bot.get("paper") or {}), "source": SOURCE})
        poller = CandlePoller(fetch, symbols, profile.venue.timeframe)
        loop = LiveLoop(session, poller, clock=clock, settle=_feeder(venue, session), out=out,
                        refresh_markets=_public_markets(source, venue, session), universe=universe)
        loop.on_new_symbols = lambda new: _prime(venue, poller, loop, new)
        out.rule(f"paper trading on live Binance data · profile {profile.name}")
        out.print(f"{len(symbols)} symbols: {', '.join(symbols[:8])}{' …' if len(symbols) > 8 else ''}")
        for line in session.resume.lines():
            out.print(line)
        await trade_until_stopped(loop, ticks=ticks, note=f"paper on {source.name}",
                                  prime=lambda: _prime(venue, poller, loop), web=web)
        return 0
    finally:
        session.book.close()


async def _prime(venue: PersistentSimVenue, poller: CandlePoller, loop: LiveLoop,
                 symbols: list[str] | None = None) -> None:
    """A fresh venue gets each symbol's last closed candle (its prices); a resumed one continues from
    the last candle it was fed, so the candles missed while down are fed by the first poll. `symbols`:
    only those (a symbol the universe just took in), default every polled one."""
    for symbol in poller.symbols if symbols is None else symbols:
        fed = venue.fed.get(symbol)
        if fed is not None:
            poller.resume_from(symbol, fed)
            continue
        row = loop.signals.last_row(symbol)
        if row is not None:
            venue.on_candle(symbol, *row)


def _public_markets(source: BinancePublicCandleSource, venue: PersistentSimVenue, session):  # noqa: ANN001, ANN202
    """Binance's exchangeInfo read again, for the simulated venue (its filters and status follow Binance's)
    and the engine alike."""
    import ccxt

    async def refresh() -> None:
        try:
            fresh = parse_exchange_info(await source.exchange_info())
        except (ccxt.NetworkError, ccxt.ExchangeError, OSError) as exc:
            raise VenueUnavailable(f"public exchangeInfo: {type(exc).__name__}: {exc}") from exc
        venue.update_markets(fresh)
        session.engine.update_markets(fresh)

    return refresh


def _public_quote_volumes(source: BinancePublicCandleSource):  # noqa: ANN202 - a QuoteVolumes
    """Binance's public 24 h tickers (quote volume by venue id), ccxt's errors as VenueUnavailable."""
    import ccxt

    from engine.venue.binance.tickers import read_quote_volumes  # (not at the top: it loads the venue package)

    async def read() -> dict[str, float]:
        try:
            return await read_quote_volumes(source.exchange)
        except (ccxt.NetworkError, ccxt.ExchangeError, OSError) as exc:
            raise VenueUnavailable(f"public 24h tickers: {type(exc).__name__}: {exc}") from exc

    return read


def _feeder(venue: PersistentSimVenue, session):  # noqa: ANN001, ANN202
    engine = session.engine

    async def settle(new: dict[str, list[Candle]], now: datetime) -> None:
        for symbol, candles in new.items():
            for c in candles:
                await feed_candle(venue, engine, symbol, c.open_ms, (c.open, c.high, c.low, c.close, c.volume), now)

    return settle
