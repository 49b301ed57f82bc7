"""Paper trading on live public data: Binance's public candles (here the fake fapi server on 127.0.0.1,
through the same ccxt public client), orders on the simulated venue, wall-clock loop. Candles that close
while the bot runs reach the simulated venue in order; a restart feeds the ones it missed."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.bot.venues import VENUE_FILE
from engine.config.loading import load_profile
from engine.inspect.status import read_status
from engine.run.paper_online import open_public, run_paper_online
from tests.e2e.support import journal, make_profile
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.fixture import shared_candles

SYMBOLS = ["BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC"]


class Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: object = "", **_: object) -> None:
        self.lines.append(str(text))

    def rule(self, text: object = "", **_: object) -> None:
        self.lines.append(str(text))


async def _run(loaded, fake: FakeBinance, ticks: int) -> Out:  # noqa: ANN001
    out = Out()
    source, markets = await open_public(fake.base_url)
    assert await run_paper_online(loaded, source, markets, out, ticks=ticks) == 0
    return out


async def test_paper_on_public_data_feeds_every_closed_candle_and_resumes(
    tmp_path: Path, make_fake_binance: Callable[..., Awaitable[FakeBinance]]
) -> None:
    fake = await make_fake_binance(symbols=SYMBOLS, data_dir=shared_candles(), speed=3000.0)
    profile = make_profile(tmp_path, "online", universe={"max_symbols": 3, "whitelist": ["BTCUSDC", "ETHUSDC",
                                                                                      "SOLUSDC"]},
                           runtime={"tick": "50ms", "reconcile_every": "1s", "close_on_shutdown": False})
    loaded = load_profile(profile)
    out = await _run(loaded, fake, ticks=40)
    assert any("paper trading on live Binance data" in line for line in out.lines)
    assert any(line.startswith("ready: reconciled") for line in out.lines)
    state = read_status(loaded.state_dir)
    assert state.bot["paper"]["source"] == "binance"
    fed = json.loads((loaded.state_dir / VENUE_FILE).read_text())["fed"]
    assert set(fed) == set(SYMBOLS)
    first_run = dict(fed)
    assert min(fed.values()) < fake.market_time_ms
    # down for a while: the market moves on; the restart feeds the missed candles before trading
    seq_before = state.seq
    out = await _run(load_profile(profile), fake, ticks=5)
    fed = json.loads((loaded.state_dir / VENUE_FILE).read_text())["fed"]
    step = 300_000
    assert all(fed[s] > first_run[s] + step for s in SYMBOLS), "the candles missed while down were fed"
    records = journal(loaded.state_dir)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert read_status(loaded.state_dir).seq >= seq_before
