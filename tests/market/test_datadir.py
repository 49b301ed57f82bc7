"""Finding a symbol's candles in a data folder, in any format, with the USDC → USDT twin fallback."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from engine.market.datadir import CandleFormat, CandlesNotFoundError, DataDir, classify, find_candles
from engine.market.loaders import load_klines_csv
from engine.venue.markets import load_exchange_info
from tests.market.kline_files import FEB_2025, JAN_2025, write_vision_zip

MAR_2025 = 1_740_787_200_000


@pytest.mark.parametrize("symbol", ["BTC/USDT:USDT", "BTCUSDT", "btcusdt"])
def test_unified_symbol_and_venue_id_find_the_same_file(shared_data: Path, symbol: str) -> None:
    series = find_candles(shared_data, symbol, "5m", JAN_2025, FEB_2025)
    assert len(series.frame) == 31 * 288
    assert not series.is_twin_fallback and not series.synthetic
    assert "BTCUSDT-5m.csv.gz" in series.source


@pytest.mark.parametrize("symbol", ["ETH/USDC:USDC", "ETHUSDC"])
def test_usdc_symbol_falls_back_to_usdt_twin_and_says_so(shared_data: Path, symbol: str) -> None:
    series = find_candles(shared_data, symbol, "5m")
    twin = find_candles(shared_data, "ETHUSDT", "5m")
    pd.testing.assert_frame_equal(series.frame, twin.frame)
    assert series.symbol == symbol
    assert series.is_twin_fallback
    assert series.candles_of == ("ETH/USDT:USDT" if "/" in symbol else "ETHUSDT")
    assert "stand in" in series.provenance and series.frame.attrs["candles_of"] == series.candles_of


def test_market_object_is_accepted(shared_data: Path, mainnet_exchange_info: Path) -> None:
    markets = load_exchange_info(mainnet_exchange_info)
    sol = find_candles(shared_data, markets["SOL/USDC:USDC"], "5m")
    assert sol.symbol == "SOL/USDC:USDC" and sol.candles_of == "SOL/USDT:USDT"


def test_twin_fallback_can_be_refused(shared_data: Path) -> None:
    with pytest.raises(CandlesNotFoundError, match="no 5m candles for BTC/USDC:USDC"):
        find_candles(shared_data, "BTC/USDC:USDC", "5m", allow_twin=False)


def test_missing_symbol_error_says_where_it_looked(shared_data: Path) -> None:
    with pytest.raises(CandlesNotFoundError, match=r"NOPEUSDC or its USDT twin NOPEUSDT.*klines"):
        find_candles(shared_data, "NOPE/USDC:USDC", "5m")


def test_listing_matches_the_manifest(shared_data: Path) -> None:
    with (shared_data / "klines" / "MANIFEST.csv").open() as fh:
        manifest = list(csv.DictReader(fh))
    data = DataDir(shared_data)
    assert sorted(f.path.name for f in data.files()) == sorted(r["file"] for r in manifest)
    assert data.venue_ids("5m") == sorted(r["symbol"] for r in manifest if r["timeframe"] == "5m")


@pytest.mark.parametrize(
    ("name", "venue_id", "timeframe", "fmt"),
    [
        ("BTCUSDT-5m.csv.gz", "BTCUSDT", "5m", CandleFormat.KLINES_CSV),
        ("1000PEPEUSDC-1m.csv", "1000PEPEUSDC", "1m", CandleFormat.KLINES_CSV),
        ("BTC_USDT_USDT-5m-futures.feather", "BTCUSDT", "5m", CandleFormat.FREQTRADE_FEATHER),
        ("BTCUSDT-5m-2025-01.zip", "BTCUSDT", "5m", CandleFormat.BINANCE_VISION),
        ("BTCUSDT-15m-2025-01-31.csv", "BTCUSDT", "15m", CandleFormat.BINANCE_VISION),
    ],
)
def test_file_names_are_classified(name: str, venue_id: str, timeframe: str, fmt: CandleFormat) -> None:
    entry = classify(Path(name))
    assert entry is not None
    assert (entry.venue_id, entry.timeframe, entry.format) == (venue_id, timeframe, fmt)


@pytest.mark.parametrize(
    "name", ["MANIFEST.csv", "PROVENANCE.txt", "BTC_USDT-5m.feather", "BTCUSDT-1M-2025-01.zip"]
)
def test_other_files_are_ignored(name: str) -> None:
    assert classify(Path(name)) is None


def test_monthly_binance_vision_files_are_joined(tmp_path: Path, shared_data: Path) -> None:
    real = load_klines_csv(shared_data / "klines" / "SOLUSDT-5m.csv.gz", JAN_2025, MAR_2025)
    folder = tmp_path / "futures"
    folder.mkdir()
    write_vision_zip(folder, "SOLUSDT-5m-2025-01", real.loc[: FEB_2025 - 1], header=False, microseconds=False)
    write_vision_zip(folder, "SOLUSDT-5m-2025-02", real.loc[FEB_2025:], header=True, microseconds=True)
    series = find_candles(tmp_path, "SOL/USDC:USDC", "5m")
    pd.testing.assert_frame_equal(series.frame, real)
    assert series.source.startswith("binance-vision 2 files") and series.is_twin_fallback
    feb = find_candles(tmp_path, "SOLUSDT", "5m", FEB_2025, MAR_2025)
    pd.testing.assert_frame_equal(feb.frame, real.loc[FEB_2025:])


def test_klines_csv_is_preferred_over_other_formats(tmp_path: Path, shared_data: Path) -> None:
    shutil.copy(shared_data / "klines" / "ZECUSDT-5m.csv.gz", tmp_path)
    real = load_klines_csv(tmp_path / "ZECUSDT-5m.csv.gz", JAN_2025, FEB_2025)
    write_vision_zip(tmp_path, "ZECUSDT-5m-2025-01", real.iloc[:10], header=True, microseconds=False)
    data = DataDir(tmp_path)
    assert [f.format for f in data.locate("ZECUSDT", "5m")] == [CandleFormat.KLINES_CSV]
    assert len(data.load("ZECUSDT", "5m", JAN_2025, FEB_2025).frame) == len(real)
