"""The plan (pure: coverage and clock in, units out) and the parquet store, without any network."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from engine.market import store
from engine.market.candles import make_candles
from engine.market.datadir import CandleFormat, DataDir
from engine.market.download.plan import FUNDING, Source, closed_end, plan_series, subtract, union
from engine.market.loaders import write_klines_csv


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_months_then_days_then_the_fapi_for_the_current_day() -> None:
    now = ms("2025-03-03 10:07")
    units = plan_series("BTCUSDT", "5m", (ms("2025-01-15"), ms("2025-04-01")), (), now)
    got = [(u.source, u.name) for u in units]
    assert got[:2] == [(Source.DAILY, "BTCUSDT-5m-2025-01-15.zip"), (Source.DAILY, "BTCUSDT-5m-2025-01-16.zip")]
    assert (Source.MONTHLY, "BTCUSDT-5m-2025-02.zip") in got
    assert got[-3:-1] == [(Source.DAILY, "BTCUSDT-5m-2025-03-01.zip"), (Source.DAILY, "BTCUSDT-5m-2025-03-02.zip")]
    # Today: from the fapi, up to the candle still forming (10:05).
    assert units[-1].source == Source.FAPI and units[-1].span == (ms("2025-03-03"), ms("2025-03-03 10:05"))
    assert units[0].path == "/data/futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2025-01-15.zip"


def test_only_what_coverage_lacks_is_planned_and_funding_is_monthly() -> None:
    now = ms("2025-06-01")
    covered = ((ms("2025-01-01"), ms("2025-02-10 12:00")),)
    units = plan_series("ETHUSDC", FUNDING, (ms("2025-01-01"), ms("2025-04-01")), covered, now)
    assert [(u.source, u.span) for u in units] == [
        (Source.FAPI, (ms("2025-02-10 12:00"), ms("2025-03-01"))),
        (Source.MONTHLY, (ms("2025-03-01"), ms("2025-04-01"))),
    ]
    assert units[1].path == "/data/futures/um/monthly/fundingRate/ETHUSDC/ETHUSDC-fundingRate-2025-03.zip"
    assert plan_series("ETHUSDC", "5m", (ms("2025-01-01"), ms("2025-02-01")), ((0, ms("2026-01-01")),), now) == []


def test_span_arithmetic_and_closed_candles() -> None:
    assert union([(5, 9), (0, 3), (3, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]
    assert subtract((0, 100), [(10, 20), (15, 30), (90, 200)]) == [(0, 10), (30, 90)]
    assert closed_end("1h", ms("2025-01-01 10:59")) == ms("2025-01-01 10:00")
    assert closed_end("1w", ms("2025-01-08 10:00")) == ms("2025-01-06")  # a Monday


def _candles(start: str, count: int, price: float = 100.0) -> pd.DataFrame:
    times = [ms(start) + k * 300_000 for k in range(count)]
    return make_candles(times, [price] * count, [price + 1] * count, [price - 1] * count, [price] * count,
                        [1.0] * count)


def test_store_round_trip_keeps_coverage_and_writes_atomically(tmp_path: Path) -> None:
    frame = _candles("2025-01-01", 10)
    path = store.write_klines(tmp_path, "BTCUSDT", "5m", frame, [(ms("2025-01-01"), ms("2025-01-02"))])
    back = store.read_klines(tmp_path, "BTCUSDT", "5m")
    pd.testing.assert_frame_equal(back.frame, frame)
    assert back.coverage == ((ms("2025-01-01"), ms("2025-01-02")),)
    assert [p.name for p in path.parent.iterdir()] == ["BTCUSDT-5m.parquet"]
    bad = frame.iloc[::-1]  # unsorted: refused before anything is written
    with pytest.raises(ValueError, match="not sorted"):
        store.write_klines(tmp_path, "BTCUSDT", "5m", bad, [])
    pd.testing.assert_frame_equal(store.read_klines(tmp_path, "BTCUSDT", "5m").frame, frame)


def test_datadir_prefers_the_store_over_other_formats(tmp_path: Path) -> None:
    store.write_klines(tmp_path, "BTCUSDT", "5m", _candles("2025-01-01", 20, 100.0), [])
    write_klines_csv(_candles("2025-01-01", 20, 200.0), tmp_path / "klines" / "BTCUSDT-5m.csv")
    data = DataDir(tmp_path)
    assert [f.format for f in data.locate("BTCUSDT", "5m")] == [CandleFormat.STORE_PARQUET]
    series = data.load("BTC/USDT:USDT", "5m", ms("2025-01-01 00:10"), ms("2025-01-01 00:30"))
    assert list(series.frame["close"]) == [100.0] * 4 and series.frame.index[0] == ms("2025-01-01 00:10")
    assert data.venue_ids("5m") == ["BTCUSDT"]


def test_a_damaged_store_file_is_bad_input_naming_it(tmp_path: Path) -> None:
    path = store.klines_path(tmp_path, "BTCUSDT", "5m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="BTCUSDT-5m.parquet: not a readable store parquet file"):
        DataDir(tmp_path).load("BTCUSDT", "5m")
