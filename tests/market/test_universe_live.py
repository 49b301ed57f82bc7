"""The universe rules on live figures (engine.market.live_universe): 24 h quote volumes and recent candles
through the same Rotation a backtest uses, what happens when the tickers cannot be read, and what the
bot state, `status`, /status and the notification show of it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from engine.bot.notify.events import format_event
from engine.config.profile import Profile
from engine.errors import UserError
from engine.inspect.status import universe_lines
from engine.market.live_universe import ATR_WINDOW, open_universe, status_of
from engine.market.synthetic import synthetic_history
from engine.venue.errors import VenueUnavailable
from engine.venue.markets import Market, load_exchange_info
from engine.venue.types import Candle

HOUR = 3_600_000
NOW = 1_735_689_600_000 + 5 * 60_000  # 2025-01-01 00:05 UTC


@pytest.fixture(scope="module")
def markets(mainnet_exchange_info: Path) -> dict[str, Market]:
    return load_exchange_info(mainnet_exchange_info)


def profile(**universe: Any) -> Profile:
    return Profile.model_validate({"name": "t", "universe": {"rotation": "1h", **universe}})


class Figures:
    """Stand-ins for the venue: quote volumes by venue id, and synthetic candles for the ATR."""

    def __init__(self, markets: dict[str, Market], volumes: dict[str, float]) -> None:
        self.markets, self.volumes = markets, volumes
        self.history_calls: list[tuple[str, int]] = []
        self.fail = False

    async def quote_volumes(self) -> dict[str, float]:
        if self.fail:
            raise VenueUnavailable("24h tickers: 503")
        return dict(self.volumes)

    async def history(self, symbol: str, count: int) -> list[Candle]:
        self.history_calls.append((symbol, count))
        series = synthetic_history([self.markets[symbol]], seed=3, count=count, end_ms=NOW - 5 * 60_000)
        frame = next(iter(series.values())).frame
        return [Candle(int(t), *map(float, row)) for t, row in zip(frame.index, frame.to_numpy(), strict=True)]


class Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: str, **_: Any) -> None:
        self.lines.append(str(text))


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def test_start_picks_by_24h_volume_and_atr_and_polls_held_symbols_too(markets: dict[str, Market]) -> None:
    figures = Figures(markets, {"BTCUSDC": 9e9, "ETHUSDC": 5e9, "SOLUSDC": 2e9, "DOGEUSDC": 1e3, "BTCUSDT": 8e9})
    out = Out()
    universe, symbols = run(open_universe(
        profile(max_symbols=2, min_quote_volume_24h=1e6, atr_pct_min=0.0001), markets, figures.quote_volumes,
        figures.history, now_ms=NOW, held=["XRP/USDC:USDC"], out=out))
    assert symbols == ["BTC/USDC:USDC", "ETH/USDC:USDC", "XRP/USDC:USDC"]  # the universe, then the held one
    assert universe.rotation.symbols == {"BTC/USDC:USDC", "ETH/USDC:USDC"}
    assert "BTC/USDT:USDT" not in universe.rotation.markets  # the profile trades USDC
    # ATR candles only for the busiest volume-passing candidates (3 × max_symbols at most), one request each
    assert {s for s, _ in figures.history_calls} == {"BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC"}
    assert {n for _, n in figures.history_calls} == {ATR_WINDOW}
    excluded = {e.symbol: e.code for e in universe.rotation.current.excluded}
    assert excluded["DOGE/USDC:USDC"] == "low_volume" and excluded["SOL/USDC:USDC"] == "max_symbols"
    assert any("universe 2 symbols" in line for line in out.lines)


def test_rotation_is_due_on_the_hour_and_a_change_is_reported(markets: dict[str, Market]) -> None:
    figures = Figures(markets, {"BTCUSDC": 9e9, "ETHUSDC": 5e9, "SOLUSDC": 2e9})
    universe, _ = run(open_universe(profile(max_symbols=2), markets, figures.quote_volumes, figures.history,
                                    now_ms=NOW, held=[], out=Out()))
    assert not figures.history_calls  # no ATR bound in the profile: no candles read
    assert not universe.due(NOW + HOUR - 5 * 60_000 - 1) and universe.due(NOW + HOUR - 5 * 60_000)
    figures.volumes["SOLUSDC"] = 6e9
    change = run(universe.refresh(NOW + HOUR))
    assert change is not None and change.added == ("SOL/USDC:USDC",) and change.removed == ("ETH/USDC:USDC",)
    assert run(universe.refresh(NOW + 2 * HOUR)) is None
    kept = status_of(universe.rotation)
    assert kept["symbols"] == ["BTC/USDC:USDC", "SOL/USDC:USDC"] and len(kept["changes"]) == 2
    lines = universe_lines(kept)
    assert lines[0].startswith("universe 2 of ") and "BTC SOL" in lines[0]
    assert lines[-1].endswith("+SOL −ETH (max_symbols)")
    message = format_event("universe", {"symbols": 2, "added": list(change.added), "removed": list(change.removed)})
    assert message.title == "universe changed: 2 symbols"
    assert "in: SOL/USDC:USDC" in message.body and "out: ETH/USDC:USDC" in message.body


def test_unreadable_tickers_start_on_the_lists_alone_and_keep_the_universe_later(markets: dict[str, Market]) -> None:
    figures = Figures(markets, {"BTCUSDC": 9e9})
    figures.fail = True
    out = Out()
    universe, symbols = run(open_universe(profile(max_symbols=3, blacklist=["BTCUSDC"]), markets,
                                          figures.quote_volumes, figures.history, now_ms=NOW, held=[], out=out))
    assert len(symbols) == 3 and "BTC/USDC:USDC" not in symbols
    assert universe.rotation.current is None and universe.due(NOW)  # tried again at the first tick
    assert any("24 h tickers not read" in line for line in out.lines)
    with pytest.raises(VenueUnavailable):
        run(universe.refresh(NOW))


def test_no_market_qualifying_is_refused_with_the_reasons(markets: dict[str, Market]) -> None:
    figures = Figures(markets, {"BTCUSDC": 10.0})
    with pytest.raises(UserError, match="no market qualifies for the universe rules"):
        run(open_universe(profile(min_quote_volume_24h=1e9), markets, figures.quote_volumes, figures.history,
                          now_ms=NOW, held=[], out=Out()))
    # … unless a position is open: it is polled and managed
    _, symbols = run(open_universe(profile(min_quote_volume_24h=1e9), markets, figures.quote_volumes,
                                   figures.history, now_ms=NOW, held=["BTC/USDC:USDC"], out=Out()))
    assert symbols == ["BTC/USDC:USDC"]
