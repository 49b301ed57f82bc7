"""The candle format: validation names the source and the first bad candle; segments, slicing, resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.market.candles import (
    CandleDataError,
    CandleSeries,
    Segment,
    closed_before,
    empty_candles,
    gaps,
    make_candles,
    resample_candles,
    segments,
    slice_time,
    timeframe_ms,
    validate_candles,
)
from engine.market.datadir import find_candles

T0 = 1_735_603_200_000  # 2024-12-31 00:00 UTC
FIVE_MIN = 300_000


def frame(times: list[int], closes: list[float] | None = None) -> pd.DataFrame:
    closes = closes or [100.0 + i for i in range(len(times))]
    opens = [closes[0], *closes[:-1]]
    highs = [max(o, c) + 1 for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) - 1 for o, c in zip(opens, closes, strict=True)]
    return make_candles(times, opens, highs, lows, closes, [1.0] * len(times))


@pytest.mark.parametrize(
    ("timeframe", "ms"),
    [
        ("1m", 60_000),
        ("3m", 180_000),
        ("5m", 300_000),
        ("15m", 900_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
    ],
)
def test_timeframe_strings(timeframe: str, ms: int) -> None:
    assert timeframe_ms(timeframe) == ms


@pytest.mark.parametrize("bad", ["", "5", "m5", "0m", "1M", "5 minutes", "1.5h"])
def test_bad_timeframe_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown timeframe"):
        timeframe_ms(bad)


def test_valid_frame_passes_and_has_the_promised_shape() -> None:
    df = validate_candles(frame([T0, T0 + FIVE_MIN]), "unit")
    assert df.index.name == "open_time_ms" and df.index.dtype == np.int64
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert (df.dtypes == np.float64).all()
    assert validate_candles(empty_candles(), "empty").empty


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.iloc[[1, 0, 2]], "not sorted"),
        (lambda df: df.iloc[[0, 1, 1, 2]], "duplicate candle time"),
        (
            lambda df: df.assign(high=df["high"].where(df.index != T0 + FIVE_MIN, 0.5)),
            r"high < max\(open, close\)",
        ),
        (lambda df: df.assign(low=df["low"].where(df.index != T0, 1e9)), r"low > min\(open, close\)"),
        (lambda df: df.assign(volume=-1.0), "negative volume"),
        (lambda df: df.assign(close=np.nan), "NaN"),
        (lambda df: df.assign(volume=df["volume"].astype(np.float32)), "float64"),
        (lambda df: df.drop(columns="volume"), "missing columns"),
        (lambda df: df.reset_index(drop=True), "index must be int64 'open_time_ms'"),
    ],
)
def test_invalid_frames_raise_naming_the_source(mutate, message: str) -> None:
    df = mutate(frame([T0, T0 + FIVE_MIN, T0 + 2 * FIVE_MIN]))
    with pytest.raises(CandleDataError, match=message) as info:
        validate_candles(df, "BTCUSDT-5m.csv.gz")
    assert str(info.value).startswith("BTCUSDT-5m.csv.gz:")


def test_error_names_the_offending_candle_time() -> None:
    df = frame([T0, T0 + FIVE_MIN, T0 + 2 * FIVE_MIN])
    df.loc[T0 + 2 * FIVE_MIN, "high"] = 1.0
    with pytest.raises(CandleDataError, match=str(T0 + 2 * FIVE_MIN)):
        validate_candles(df, "src")


def test_segments_and_gaps() -> None:
    times = [T0, T0 + FIVE_MIN, T0 + 2 * FIVE_MIN, T0 + 10 * FIVE_MIN, T0 + 11 * FIVE_MIN, T0 + 20 * FIVE_MIN]
    df = frame(times)
    assert segments(df, "5m") == [
        Segment(T0, T0 + 2 * FIVE_MIN, 3),
        Segment(T0 + 10 * FIVE_MIN, T0 + 11 * FIVE_MIN, 2),
        Segment(T0 + 20 * FIVE_MIN, T0 + 20 * FIVE_MIN, 1),
    ]
    assert gaps(df, "5m") == [
        (T0 + 3 * FIVE_MIN, T0 + 9 * FIVE_MIN),
        (T0 + 12 * FIVE_MIN, T0 + 19 * FIVE_MIN),
    ]
    assert segments(empty_candles(), "5m") == [] and gaps(empty_candles(), "5m") == []


def test_real_file_has_two_segments(shared_data) -> None:
    df = find_candles(shared_data, "BTCUSDT", "5m").frame
    segs = segments(df, "5m")
    assert len(segs) == 2
    assert sum(s.rows for s in segs) == len(df)
    assert segs[1].start_ms == T0 and segs[1].end_ms == 1_756_684_500_000  # 2025-08-31 23:55
    assert pd.Timestamp(segs[0].end_ms, unit="ms").year == 2023


def test_slice_time_is_half_open() -> None:
    df = frame([T0 + i * FIVE_MIN for i in range(10)])
    cut = slice_time(df, T0 + 2 * FIVE_MIN, T0 + 5 * FIVE_MIN)
    assert list(cut.index) == [T0 + 2 * FIVE_MIN, T0 + 3 * FIVE_MIN, T0 + 4 * FIVE_MIN]
    assert len(slice_time(df, None, None)) == 10


def test_closed_before_drops_the_forming_candle() -> None:
    df = frame([T0 + i * FIVE_MIN for i in range(10)])
    now = T0 + 5 * FIVE_MIN + 1  # candle opened at T0+5×5m is still forming
    assert closed_before(df, "5m", now).index[-1] == T0 + 4 * FIVE_MIN
    assert closed_before(df, "5m", T0 + 5 * FIVE_MIN).index[-1] == T0 + 4 * FIVE_MIN
    assert closed_before(df, "5m", T0 + 6 * FIVE_MIN).index[-1] == T0 + 5 * FIVE_MIN


def test_resample_aggregates_and_drops_incomplete_buckets() -> None:
    df = frame([T0 + i * FIVE_MIN for i in range(7)], closes=[10, 12, 11, 9, 13, 14, 15])
    out = resample_candles(df, "5m", "15m")
    assert list(out.index) == [T0, T0 + 3 * FIVE_MIN]  # the 7th candle alone is not a 15m candle
    first = out.loc[T0]
    assert (first.open, first.close, first.high, first.low, first.volume) == (10, 11, 13, 9, 3)
    validate_candles(out, "resampled")
    with pytest.raises(ValueError, match="whole multiple"):
        resample_candles(df, "5m", "7m")


def test_real_1m_resamples_to_real_5m(shared_data) -> None:
    one = find_candles(shared_data, "BTCUSDT", "1m").frame
    five = find_candles(shared_data, "BTCUSDT", "5m").frame
    joined = resample_candles(one, "1m", "5m").join(five, how="inner", suffixes=("", "_file"))
    assert len(joined) > 10_000
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(joined[col], joined[f"{col}_file"])
    np.testing.assert_allclose(joined["volume"], joined["volume_file"], rtol=1e-3)


def test_series_records_provenance_and_stamps_the_frame() -> None:
    own = CandleSeries("BTC/USDT:USDT", "5m", frame([T0]), "klines-csv BTCUSDT-5m.csv.gz")
    assert not own.is_twin_fallback and own.candles_of == "BTC/USDT:USDT"
    twin = CandleSeries("BTC/USDC:USDC", "5m", frame([T0]), "klines-csv", candles_of="BTC/USDT:USDT")
    assert twin.is_twin_fallback
    assert "BTC/USDT:USDT stand in" in twin.provenance
    assert twin.frame.attrs["candles_of"] == "BTC/USDT:USDT" and twin.frame.attrs["synthetic"] is False
