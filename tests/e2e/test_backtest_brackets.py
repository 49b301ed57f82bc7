"""A backtest on a data folder with Binance's leverage tiers uses them (not the simulator's one strict
default tier): the real BTC tiers allow a leverage the default refuses, and the report says when the
default applies."""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.config.loading import load_profile
from engine.run.backtest import run_backtest
from tests.e2e.support import make_profile

START, END = datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=UTC)


def _run(profile: Path, data: Path, out: Path):  # noqa: ANN202 - a BacktestRun
    return asyncio.run(run_backtest(load_profile(profile, with_overrides=False), data, START, END,
                                    symbols=["BTCUSDT"], out_dir=out))


def test_the_real_tiers_are_used_when_the_data_has_them(shared_data: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    # 50x: within BTC's real first tier (125x up to 50,000 notional), above the default tier's 20x.
    profile = make_profile(tmp_path, "tiers", base="testaggressive", venue={"quote_assets": ["USDT"]},
                           orders={"leverage": 50, "sizing": "fixed", "stake": 20})
    with caplog.at_level(logging.WARNING, logger="engine"):
        real = _run(profile, shared_data, tmp_path / "real")
    assert not [n for n in real.notes if "leverage brackets" in n]
    assert len(real.trades) > 0
    assert not [r for r in caplog.records if "leverage 50 refused" in r.getMessage()]
    caplog.clear()

    bare = tmp_path / "bare"  # the same candles and markets, no leverage/ folder
    (bare / "klines").mkdir(parents=True)
    shutil.copy(shared_data / "klines" / "BTCUSDT-5m.csv.gz", bare / "klines")
    shutil.copytree(shared_data / "exchangeinfo", bare / "exchangeinfo")
    with caplog.at_level(logging.WARNING, logger="engine"):
        default = _run(profile, bare, tmp_path / "default")
    assert any("leverage brackets: the simulator's default" in n for n in default.notes)
    assert [r for r in caplog.records if "BTC/USDT:USDT leverage 50 refused" in r.getMessage()]  # 20x at most
