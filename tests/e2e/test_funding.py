"""Funding from history: a store filled by `download` from the fake archive (on 127.0.0.1) holds the
funding rates; the simulator charges them at each funding time, a backtest on that store reports them
on their own line and its wallet holds them; a data folder without rates says funding was not applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config.loading import load_profile
from engine.market.funding import FundingHistory
from engine.run.backtest import run_backtest
from engine.venue.catalog import builtin_markets
from engine.venue.sim import FeeSchedule, MatchingEngine
from engine.venue.types import ExecutionKind, Side
from tests.e2e.support import make_profile
from tests.market.download.stand_ins import StandIns, serve_stand_ins

JAN1 = 1_735_689_600_000  # 2025-01-01 00:00 UTC, a funding time
EIGHT_H = 8 * 3_600_000
BTC = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def store(shared_data: Path, mainnet_exchange_info: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A download store of BTCUSDT and ETHUSDT 5m candles and funding rates, 2024-12-31 → 2025-01-08."""
    root = tmp_path_factory.mktemp("store")
    with serve_stand_ins(shared_data, mainnet_exchange_info) as fakes:
        fakes: StandIns
        assert main(["download", "--symbols", "BTCUSDT", "ETHUSDT", "--timeframes", "5m", "--from", "2024-12-31",
                     "--to", "2025-01-08", "--data", str(root), *fakes.flags()]) == 0
    yield root


def test_a_long_pays_the_historical_rate_at_each_funding_time(store: Path) -> None:
    market = builtin_markets(("USDT",))[BTC]
    history = FundingHistory.load(store, [market], JAN1 - EIGHT_H, JAN1 + 3 * EIGHT_H)
    assert [t for t, _ in history.events[BTC]] == [JAN1 - EIGHT_H, JAN1, JAN1 + EIGHT_H, JAN1 + 2 * EIGHT_H]
    engine = MatchingEngine({BTC: market}, balances={"USDT": 10_000},
                            fees={"USDT": FeeSchedule(maker=Decimal(0), taker=Decimal(0))})
    engine.set_funding(history.schedules())
    engine.on_candle(BTC, JAN1 - 300_000, 93000.0, 93000.0, 93000.0, 93000.0, 10.0)
    engine.place_market(BTC, Side.BUY, Decimal("0.010"), "E1")
    (first,) = engine.on_candle(BTC, JAN1, 93500.0, 93600.0, 93400.0, 93550.0, 10.0)
    # The fake archive's rate for BTCUSDT at 2025-01-01 00:00: 0.0001 + 0.00005 * ((60267 + 70) % 5 - 2) = 0.0001
    # (60267 = the time in 8 h units, 70 = crc32("BTCUSDT") % 97): a long of 0.010 at the open 93 500 pays 0.0935.
    assert (first.kind, first.timestamp_ms, first.funding) == (ExecutionKind.FUNDING, JAN1, Decimal("-0.0935"))
    assert engine.on_candle(BTC, JAN1 + 300_000, 93550.0, 93550.0, 93550.0, 93550.0, 10.0) == []  # once
    # 08:00: (60268 + 70) % 5 = 3 → 0.00015, at the open 94 000: 0.141 more.
    (second,) = engine.on_candle(BTC, JAN1 + EIGHT_H, 94000.0, 94000.0, 94000.0, 94000.0, 10.0)
    assert second.funding == Decimal("-0.141")
    tally = engine.funding_tally
    assert (tally.paid, tally.received, tally.settlements) == (Decimal("0.2345"), Decimal(0), 2)
    assert engine.account_totals("USDT")[3] == Decimal("-0.2345")


def test_a_symbol_without_rates_pays_no_constant_rate_either(store: Path) -> None:
    markets = builtin_markets(("USDT",))
    history = FundingHistory.load(store, [markets["SOL/USDT:USDT"]])
    assert history.missing == ["SOL/USDT:USDT"] and not history.applied
    engine = MatchingEngine(markets, balances={"USDT": 10_000}, funding_rate=Decimal("0.001"))
    engine.set_funding(history.schedules())
    engine.on_candle("SOL/USDT:USDT", JAN1 - 300_000, 190.0, 190.0, 190.0, 190.0, 100.0)
    engine.place_market("SOL/USDT:USDT", Side.BUY, Decimal("1"), "E1")
    assert engine.on_candle("SOL/USDT:USDT", JAN1, 190.0, 190.0, 190.0, 190.0, 100.0) == []


def test_a_backtest_on_the_store_reports_funding_and_its_wallet_holds_it(store: Path, tmp_path: Path) -> None:
    profile = load_profile(make_profile(tmp_path, "funded", venue={"quote_assets": ["USDT"]},
                                        risk={"max_hold": "12h"}))
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC)
    run = asyncio.run(run_backtest(profile, store, start, end, symbols=["BTC", "ETH"], out_dir=tmp_path / "out"))
    assert run.funding.startswith("paid ") and f"from historical rates in {store / 'funding'}" in run.funding
    settlements = int(run.funding.split(" over ")[1].split(" ")[0])
    assert settlements > 0
    paid, received = (Decimal(run.funding.split(word)[1].split()[0].replace(",", ""))
                      for word in ("paid ", "received "))
    # The wallet is the starting balance, plus every trade's PnL after fees, plus the funding settled.
    pnl = sum((Decimal(t["realised_pnl"]) for t in run.trades), Decimal(0))
    assert abs(run.final_balance["USDT"] - (run.starting_balance + pnl + received - paid)) <= Decimal("0.01")


def test_a_backtest_without_rates_says_funding_was_not_applied(shared_data: Path, tmp_path: Path) -> None:
    profile = load_profile(make_profile(tmp_path, "unfunded", venue={"quote_assets": ["USDT"]}))
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC)
    run = asyncio.run(run_backtest(profile, shared_data, start, end, symbols=["BTC"], out_dir=tmp_path / "out"))
    assert run.funding == f"not applied (no funding rates in {shared_data})"


def test_a_paper_replay_of_the_store_charges_its_rates(store: Path, tmp_path: Path) -> None:
    import contextlib
    import io

    profile = make_profile(tmp_path, "paper-funded", venue={"quote_assets": ["USDT"]},
                           universe={"max_symbols": 2, "whitelist": ["BTCUSDT", "ETHUSDT"]})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["run", str(profile), "--data", str(store), "--from", "2025-01-02", "--speed", "1e9",
                   "--candles", "6"])
    assert rc == 0, err.getvalue()
    assert f"funding: from historical rates in {store / 'funding'}" in " ".join(out.getvalue().split())


def test_the_skipping_backtest_settles_funding_as_the_candle_by_candle_one(store: Path, tmp_path: Path) -> None:
    """Funding times are events of the skipping backtest: positions held across them (12 h holds) pay the
    same rates at the same candles as when every candle is fed."""
    from tests.e2e.test_event_skipping import _assert_same, _both

    profile = make_profile(tmp_path, "funded", venue={"quote_assets": ["USDT"]}, risk={"max_hold": "12h"})
    skipping, stepping = _both(profile, store, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC),
                               ["BTC", "ETH"], tmp_path / "out")
    assert skipping.funding == stepping.funding and skipping.funding.startswith("paid ")
    _assert_same(skipping, stepping)
