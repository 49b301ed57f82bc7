"""File formats: the shared klines CSV, data.binance.vision zips/CSVs, freqtrade feather.

Fixture files for the non-CSV formats are written into tmp_path from real candles, never committed."""

from __future__ import annotations

import csv
import importlib.util
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.market import loaders
from engine.market.candles import CandleDataError, segments
from engine.market.loaders import (
    MissingDependencyError,
    load_binance_vision,
    load_freqtrade_feather,
    load_klines_csv,
    write_klines_csv,
)
from tests.market.kline_files import FEB_2025, JAN_2025, vision_csv, write_vision_zip

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


@pytest.fixture(scope="module")
def btc_5m(shared_data: Path) -> pd.DataFrame:
    return load_klines_csv(shared_data / "klines" / "BTCUSDT-5m.csv.gz")


def manifest_rows(shared_data: Path, name: str) -> int:
    with (shared_data / "klines" / "MANIFEST.csv").open() as fh:
        return next(int(r["rows"]) for r in csv.DictReader(fh) if r["file"] == name)


def test_klines_csv_loads_whole_file_fast_with_exact_dtypes(shared_data: Path) -> None:
    path = shared_data / "klines" / "BTCUSDT-5m.csv.gz"
    started = time.perf_counter()
    df = load_klines_csv(path)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"loading {path.name} took {elapsed:.2f}s"
    assert len(df) == manifest_rows(shared_data, "BTCUSDT-5m.csv.gz")
    assert df.index.dtype == np.int64 and (df.dtypes == np.float64).all()
    assert df.index.is_monotonic_increasing and df.index.is_unique
    # A known extreme from the data README: BTC traded at 110 000 on 2025-01-20 (all-time high then).
    day = df.loc[1_737_331_200_000:1_737_417_599_999]
    assert 109_000 < day["high"].max() < 110_500


def test_klines_csv_range_filter(shared_data: Path) -> None:
    path = shared_data / "klines" / "BTCUSDT-5m.csv.gz"
    jan = load_klines_csv(path, JAN_2025, FEB_2025)
    assert jan.index[0] == JAN_2025 and jan.index[-1] == FEB_2025 - 300_000
    assert len(jan) == 31 * 288
    as_dates = load_klines_csv(path, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    pd.testing.assert_frame_equal(jan, as_dates)
    with pytest.raises(ValueError, match="no timezone"):
        load_klines_csv(path, datetime(2025, 1, 1))


def test_klines_csv_with_wrong_header_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "XUSDT-5m.csv"
    bad.write_text("time,o,h,l,c,v\n1,1,1,1,1,1\n")
    with pytest.raises(CandleDataError, match=r"XUSDT-5m\.csv: not a klines CSV"):
        load_klines_csv(bad)


def test_klines_csv_with_broken_row_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "XUSDT-5m.csv"
    bad.write_text("open_time_ms,open,high,low,close,volume\n1000,10,9,8,10,1\n")  # high below open
    with pytest.raises(CandleDataError, match=r"XUSDT-5m\.csv: inconsistent OHLC"):
        load_klines_csv(bad)


def test_write_then_read_is_exact(tmp_path: Path, btc_5m: pd.DataFrame) -> None:
    part = btc_5m.iloc[:2000]
    path = tmp_path / "BTCUSDT-5m.csv.gz"
    write_klines_csv(part, path)
    pd.testing.assert_frame_equal(load_klines_csv(path), part)


@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
@pytest.mark.parametrize("microseconds", [False, True], ids=["ms", "us"])
def test_binance_vision_zip_variants(
    tmp_path: Path, btc_5m: pd.DataFrame, header: bool, microseconds: bool
) -> None:
    jan = btc_5m.loc[JAN_2025 : FEB_2025 - 1]
    path = write_vision_zip(tmp_path, "BTCUSDT-5m-2025-01", jan, header=header, microseconds=microseconds)
    loaded = load_binance_vision(path)
    pd.testing.assert_frame_equal(loaded, jan)
    cut = load_binance_vision(path, JAN_2025 + 288 * 300_000, JAN_2025 + 2 * 288 * 300_000)
    assert len(cut) == 288 and cut.index[0] == JAN_2025 + 288 * 300_000


def test_binance_vision_plain_csv(tmp_path: Path, btc_5m: pd.DataFrame) -> None:
    part = btc_5m.iloc[-500:]
    path = tmp_path / "BTCUSDT-5m-2025-08.csv"
    path.write_text(vision_csv(part, header=True, microseconds=False))
    pd.testing.assert_frame_equal(load_binance_vision(path), part)


def test_binance_vision_zip_without_single_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-5m-2025-01.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "nothing here")
    with pytest.raises(CandleDataError, match="expected one CSV"):
        load_binance_vision(path)


def test_feather_without_pyarrow_names_the_missing_package(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loaders.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="'pyarrow'"):
        load_freqtrade_feather(tmp_path / "BTC_USDT_USDT-5m-futures.feather")


@pytest.mark.skipif(
    not HAS_PYARROW, reason="pyarrow is not installed: freqtrade feather files cannot be written or read"
)
def test_feather_round_trip(tmp_path: Path, btc_5m: pd.DataFrame) -> None:
    part = btc_5m.iloc[:3000]
    exported = pd.DataFrame(
        {
            "date": pd.to_datetime(part.index, unit="ms", utc=True),
            **{c: part[c].to_numpy() for c in part.columns},
        }
    )
    path = tmp_path / "BTC_USDT_USDT-5m-futures.feather"
    exported.to_feather(path)
    loaded = load_freqtrade_feather(path)
    pd.testing.assert_frame_equal(loaded, part)
    assert len(segments(loaded, "5m")) == 1
