"""Finer candles reach the fill model: a backtest with 1m files beside the 5m ones decides the candles
in which a stop and a take-profit both lay on the 1m path, and the report says which resolution decided.

The real-data run uses the one stretch of 2025 where the shared data has 1m candles for BTC, ETH and
SOL (2025-05-04 → 2025-06-03); the data folders are symlinks into the shared data, never copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.cli.main import main
from engine.config.loading import load_profile
from engine.exits import ExitReason
from engine.market.datadir import DataDir
from engine.market.finer import FinerCandles
from engine.run.backtest import run_backtest
from engine.venue.catalog import builtin_markets
from engine.venue.markets import Market
from engine.venue.sim import FeeSchedule, MatchingEngine
from engine.venue.types import ExecutionKind, OrderStatus, OrderType, Side
from tests.e2e.support import make_profile

M1, M5 = 60_000, 300_000
T0 = 1_746_403_200_000  # 2025-05-05 00:00 UTC
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def _frame(rows: list[tuple[int, float, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([(t, o, h, lo, c, 10.0) for t, o, h, lo, c in rows],
                        columns=["open_time_ms", "open", "high", "low", "close", "volume"])


def _write(folder: Path, name: str, rows: list[tuple[int, float, float, float, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _frame(rows).to_csv(folder / name, index=False)


def _market() -> Market:
    return builtin_markets(("USDT",))["BTC/USDT:USDT"]


# The 5m candle touches both the stop (59 500) and the take-profit (60 500) of a long from 60 000;
# its 1m candles rise to the take-profit first. Two more 1m candles cover only part of the next 5m.
FIVE = [(T0, 60000.0, 60000.0, 60000.0, 60000.0), (T0 + M5, 60000.0, 60600.0, 59400.0, 60550.0),
        (T0 + 2 * M5, 60550.0, 60600.0, 60500.0, 60550.0)]
ONE = [(T0 + M5, 60000.0, 60300.0, 59950.0, 60250.0), (T0 + M5 + M1, 60250.0, 60600.0, 60200.0, 60400.0),
       (T0 + M5 + 2 * M1, 60400.0, 60400.0, 59400.0, 59600.0), (T0 + M5 + 3 * M1, 59600.0, 60000.0, 59550.0, 59900.0),
       (T0 + M5 + 4 * M1, 59900.0, 60550.0, 59850.0, 60550.0),
       (T0 + 2 * M5, 60550.0, 60600.0, 60500.0, 60550.0), (T0 + 2 * M5 + M1, 60550.0, 60560.0, 60540.0, 60550.0)]


def _long_with_stop_and_tp() -> MatchingEngine:
    engine = MatchingEngine({"BTC/USDT:USDT": _market()}, balances={"USDT": 10_000},
                            fees={"USDT": FeeSchedule(maker=Decimal(0), taker=Decimal(0))})
    engine.on_candle("BTC/USDT:USDT", *FIVE[0], 10.0)
    engine.place_market("BTC/USDT:USDT", Side.BUY, Decimal("0.010"), "E1")
    engine.place_conditional("BTC/USDT:USDT", OrderType.STOP_MARKET, Side.SELL, Decimal("0.010"),
                             Decimal("59500"), "SL")
    engine.place_conditional("BTC/USDT:USDT", OrderType.TAKE_PROFIT_MARKET, Side.SELL, Decimal("0.010"),
                             Decimal("60500"), "TP")
    return engine


def test_a_constructed_data_dir_decides_on_its_1m_candles(tmp_path: Path) -> None:
    _write(tmp_path / "klines", "BTCUSDT-5m.csv", FIVE)
    _write(tmp_path / "klines", "BTCUSDT-1m.csv", ONE)
    finer = FinerCandles.load(DataDir(tmp_path), ["BTC/USDT:USDT"], "5m")
    inside = finer.inside("BTC/USDT:USDT", T0 + M5)
    assert inside is not None and inside[:, 0].astype(np.int64).tolist() == [t for t, *_ in ONE[:5]]
    assert finer.inside("BTC/USDT:USDT", T0 + 2 * M5) is None  # two of five 1m candles: not walked in part

    with_finer, without = _long_with_stop_and_tp(), _long_with_stop_and_tp()
    (fill,) = with_finer.on_candle("BTC/USDT:USDT", *FIVE[1], 10.0, finer=inside)
    (conservative,) = without.on_candle("BTC/USDT:USDT", *FIVE[1], 10.0)
    assert (fill.client_id, fill.kind, fill.price, fill.timestamp_ms) == (
        "TP", ExecutionKind.TAKE_PROFIT_MARKET, Decimal("60500.0"), T0 + M5 + M1)
    assert fill.realized_pnl == Decimal("5.0000")
    assert (conservative.client_id, conservative.price) == ("SL", Decimal("59500.0"))
    assert with_finer.fetch_order("BTC/USDT:USDT", "SL", True).status is OrderStatus.EXPIRED  # type: ignore[union-attr]
    # The report's line over these two candles: 1m covers one whole, 5m decides the other.
    two = _frame([FIVE[1], FIVE[2]]).set_index("open_time_ms")
    assert finer.survey({"BTC/USDT:USDT": two}).describe(["BTC/USDT:USDT"]) == (
        "fills decided on candles of mixed resolution for BTC/USDT:USDT "
        "(the finer files cover part of the run: 1m 50%, 5m 50%)")


def test_a_symbol_without_finer_files_is_named_with_the_run_timeframe(tmp_path: Path) -> None:
    _write(tmp_path, "BTCUSDT-5m.csv", FIVE)
    _write(tmp_path, "BTCUSDT-1m.csv", ONE[:5])
    _write(tmp_path, "ETHUSDT-5m.csv", FIVE)
    finer = FinerCandles.load(DataDir(tmp_path), ["BTC/USDT:USDT", "ETH/USDT:USDT"], "5m")
    assert finer.inside("BTC/USDT:USDT", T0 + M5) is not None
    assert finer.inside("ETH/USDT:USDT", T0 + M5) is None
    one = _frame([FIVE[1]]).set_index("open_time_ms")
    assert finer.survey({"BTC/USDT:USDT": one, "ETH/USDT:USDT": one}).describe(["BTC/USDT:USDT", "ETH/USDT:USDT"]) == (
        "fills decided on 1m candles for BTC/USDT:USDT; 5m candles for ETH/USDT:USDT (no finer data)")


# --- real data ---------------------------------------------------------------------------------


def _data_dir(shared: Path, root: Path, timeframes: tuple[str, ...], symbols: list[str] = SYMBOLS) -> Path:
    """A data folder of symlinks to the shared files (exchange info and the named timeframes)."""
    (root / "klines").mkdir(parents=True)
    (root / "exchangeinfo").symlink_to(shared / "exchangeinfo")
    for symbol in symbols:
        for tf in timeframes:
            (root / "klines" / f"{symbol}-{tf}.csv.gz").symlink_to(shared / "klines" / f"{symbol}-{tf}.csv.gz")
    return root


def _exits(trades: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {(t["symbol"], t["opened_at"]): (t["exit_reason"], t["realised_pnl"]) for t in trades if t.get("opened_at")}


def test_1m_files_beside_5m_change_the_stop_losses_of_a_real_backtest(shared_data: Path, tmp_path: Path) -> None:
    if not (shared_data / "klines" / "BTCUSDT-1m.csv.gz").is_file():
        pytest.skip(f"no 1m candles in {shared_data / 'klines'}")
    # A stop and one take-profit 0.25 % either side: candles that reach both are common enough to count.
    # The loss limits are wide so that neither run stands down early (they would stop at different times).
    profile = load_profile(make_profile(
        tmp_path, "fine", orders={"stop_loss_pct": 0.25, "take_profit": [{"at_pct": 0.25, "size_pct": 100}]},
        risk={"max_hold": "1h", "daily_loss_limit_pct": 50, "max_drawdown_pct": 90}))
    start, end = datetime(2025, 5, 5, tzinfo=UTC), datetime(2025, 6, 2, tzinfo=UTC)
    runs = {}
    for name, tfs in (("coarse", ("5m",)), ("fine", ("5m", "1m"))):
        data = _data_dir(shared_data, tmp_path / f"data-{name}", tfs)
        runs[name] = asyncio.run(run_backtest(profile, data, start, end, symbols=["BTC", "ETH", "SOL"],
                                              out_dir=tmp_path / f"out-{name}"))
    coarse, fine = runs["coarse"], runs["fine"]
    assert coarse.fills_resolution.startswith("fills decided on 5m candles for")
    assert fine.fills_resolution == ("fills decided on 1m candles for "
                                     + ", ".join(fine.symbols))
    a, b = _exits(coarse.trades), _exits(fine.trades)
    stops_a = {k for k, v in a.items() if v[0] == ExitReason.STOP_LOSS}
    assert stops_a and any(v[0] == ExitReason.STOP_LOSS for v in b.values())
    # Trades the 5m walk stopped out (stop assumed first) reached their take-profit first on the 1m path.
    to_tp = {k for k in stops_a & set(b) if b[k][0] == ExitReason.take_profit(1)}
    assert to_tp, "the same stop-loss exits with and without 1m candles"
    assert sum(Decimal(v[1]) for v in a.values()) != sum(Decimal(v[1]) for v in b.values())


def test_a_paper_replay_walks_the_1m_files_and_says_so(shared_data: Path, tmp_path: Path) -> None:
    if not (shared_data / "klines" / "BTCUSDT-1m.csv.gz").is_file():
        pytest.skip(f"no 1m candles in {shared_data / 'klines'}")
    data = _data_dir(shared_data, tmp_path / "data", ("5m", "1m"))
    profile = make_profile(tmp_path, "paper-fine", universe={"max_symbols": 2, "whitelist": ["BTCUSDC", "ETHUSDC"]})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["run", str(profile), "--data", str(data), "--from", "2025-05-10", "--speed", "1e9",
                   "--candles", "6"])
    assert rc == 0, err.getvalue()
    text = " ".join(out.getvalue().split())  # rich wraps long lines
    assert ("fills decided on finer candles where the files cover a candle whole: BTC/USDC:USDC (1m), "
            "ETH/USDC:USDC (1m)") in text
    assert f"funding: not applied (no funding rates in {data})" in text
