"""The universe rules in paper trading on live public data (the fake fapi on 127.0.0.1): the pick comes
from the 24 h tickers at start and again at every rotation, is printed, and is kept in the bot state
where `status` reads it; only the universe's symbols (and those a position is on) are polled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.cli.main import main
from engine.config.loading import load_profile
from engine.inspect.status import read_status
from tests.e2e.support import make_profile
from tests.e2e.test_paper_online import _run
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.fixture import shared_candles

SYMBOLS = ["BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC", "XRP/USDC:USDC"]


async def test_paper_online_picks_the_universe_from_24h_tickers_and_status_shows_it(
    tmp_path: Path, make_fake_binance: Callable[..., Awaitable[FakeBinance]], capsys
) -> None:  # noqa: ANN001
    fake = await make_fake_binance(symbols=SYMBOLS, data_dir=shared_candles(), speed=3000.0)
    profile = make_profile(tmp_path, "uonline", universe={"max_symbols": 2, "min_quote_volume_24h": 1,
                                                          "blacklist": ["ETHUSDC"], "rotation": "1s"},
                           runtime={"tick": "50ms", "reconcile_every": "1s", "close_on_shutdown": False})
    loaded = load_profile(profile)
    out = await _run(loaded, fake, ticks=8)
    first = next(line for line in out.lines if " universe " in line)
    assert "universe 2 symbols: + " in first
    kept = read_status(loaded.state_dir).bot["universe"]
    assert len(kept["symbols"]) == 2 and "ETH/USDC:USDC" not in kept["symbols"]
    assert kept["picks"] >= 2, "rotation: 1s re-picks while the bot runs"
    assert kept["rules"]["blacklist"] == ["ETHUSDC"]
    capsys.readouterr()
    assert main(["status", str(profile)]) == 0
    text = capsys.readouterr().out
    assert "universe 2 of " in text
