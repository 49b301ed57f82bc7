"""Signals as values: breakdown, reasons, ATR veto end to end, determinism, refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest

from engine.strategy import (
    PrimaryTrigger,
    Role,
    ScalpingParams,
    ScalpingV1,
    Side,
    signal_at,
    signals_frame,
)

PARAMS = ScalpingParams()


@pytest.fixture(scope="module")
def candles(walk: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    return walk(3000, seed=42)


@pytest.fixture(scope="module")
def frame(candles: pd.DataFrame) -> pd.DataFrame:
    return signals_frame(candles, PARAMS)


def first_position(frame: pd.DataFrame, mask: pd.Series) -> int:
    hits = np.flatnonzero(mask.to_numpy())
    assert len(hits), "the synthetic sample must contain this case"
    return int(hits[0])


def test_long_signal_carries_its_full_breakdown(frame: pd.DataFrame) -> None:
    i = first_position(frame, frame["side"] == "long")
    sig = signal_at(frame, i, "SYN", PARAMS)
    row = frame.iloc[i]

    assert (sig.side, sig.open_time_ms, sig.price, sig.atr_pct) == (
        Side.LONG,
        int(frame.index[i]),
        row["close"],
        row["atr_pct"],
    )
    assert [(v.component, v.role) for v in sig.breakdown] == [
        ("ema", Role.PRIMARY),
        ("rsi", Role.CONFIRMATION),
        ("macd", Role.CONFIRMATION),
        ("atr", Role.FILTER),
    ]
    assert sig.vote("ema").vote == 1
    assert sig.vote("ema").values() == {"ema_fast": row["ema_fast"], "ema_slow": row["ema_slow"]}
    assert sig.vote("macd").values() == {
        "macd": row["macd"],
        "macd_signal": row["macd_signal"],
        "macd_hist": row["macd_hist"],
    }
    assert sig.vote("rsi").values() == {"rsi": row["rsi"]}
    assert sig.vote("atr").veto is False and sig.vote("atr").vote == 0
    agreeing = [v.component for v in sig.breakdown if v.role is Role.CONFIRMATION and v.vote == 1]
    assert len(agreeing) == row["confirming"] >= 1
    assert sig.reason.startswith(f"long: EMA9/EMA21 crossed up (long); confirmed by {', '.join(agreeing)}")
    assert "\n" not in sig.reason
    assert sig.sl_pct == pytest.approx(1.5 * row["atr_pct"])
    assert sig.tp_pcts == pytest.approx((row["atr_pct"], 2 * row["atr_pct"], 3 * row["atr_pct"]))


def test_short_signal_reason_and_votes(frame: pd.DataFrame) -> None:
    sig = signal_at(frame, first_position(frame, frame["side"] == "short"), "SYN", PARAMS)
    assert sig.side is Side.SHORT and sig.vote("ema").vote == -1
    assert sig.reason.startswith("short: EMA9/EMA21 crossed down (short); confirmed by")


def test_trigger_without_confirmation_explains_what_disagreed(candles: pd.DataFrame) -> None:
    params = ScalpingParams(confirmations=("macd",))
    frame = signals_frame(candles, params)
    mask = (frame["primary_vote"] != 0) & (frame["confirming"] == 0) & frame["warm"]
    sig = signal_at(frame, first_position(frame, mask), "SYN", params)
    assert sig.side is Side.NONE and sig.sl_pct is None and sig.tp_pcts is None
    assert sig.vote("macd").vote != sig.vote("ema").vote
    assert "but no confirmation (0, need 1): macd " in sig.reason


def test_an_ema_cross_always_has_the_close_beyond_the_slow_ema(klines: Callable[..., pd.DataFrame]) -> None:
    # Why params refuse close_vs_ema_slow as a confirmation of the EMA cross: it never disagrees.
    frame = signals_frame(klines("BTCUSDT", 20_000), PARAMS)
    crosses = (frame["vote_ema"] != 0) & frame["warm"]
    assert crosses.sum() > 500
    assert (frame.loc[crosses, "vote_close_vs_ema_slow"] == frame.loc[crosses, "vote_ema"]).all()


def test_no_trigger_reason(frame: pd.DataFrame) -> None:
    sig = signal_at(frame, first_position(frame, (frame["primary_vote"] == 0) & frame["warm"]), "SYN", PARAMS)
    assert sig.reason == "none: no EMA9/EMA21 cross"


def test_atr_band_vetoes_signals_end_to_end(candles: pd.DataFrame, frame: pd.DataFrame) -> None:
    fired = frame["direction"] != 0
    median_atr = float(frame.loc[fired, "atr_pct"].median())
    narrow = ScalpingParams(atr_pct_min=median_atr)
    vetoed = signals_frame(candles, narrow)

    below = fired & (frame["atr_pct"] < median_atr)
    assert below.any() and (vetoed.loc[below, "direction"] == 0).all()
    assert (vetoed.loc[fired & ~below, "direction"] == frame.loc[fired & ~below, "direction"]).all()
    sig = signal_at(vetoed, first_position(vetoed, below), "SYN", narrow)
    assert sig.side is Side.NONE and sig.vote("atr").veto is True
    assert "vetoed: ATR" in sig.reason and sig.reason.endswith("below it")


def test_macd_trigger_breakdown_uses_ema_as_confirmation(candles: pd.DataFrame) -> None:
    params = ScalpingParams(primary_trigger=PrimaryTrigger.MACD_CROSS, confirmations=("ema", "rsi"))
    frame = signals_frame(candles, params)
    sig = signal_at(frame, first_position(frame, frame["side"] != "none"), "SYN", params)
    assert [(v.component, v.role) for v in sig.breakdown][:3] == [
        ("macd", Role.PRIMARY),
        ("ema", Role.CONFIRMATION),
        ("rsi", Role.CONFIRMATION),
    ]
    assert "MACD histogram turned" in sig.reason


def test_frame_has_one_row_per_candle_and_no_signal_before_warm_up(
    candles: pd.DataFrame, frame: pd.DataFrame
) -> None:
    assert frame.index.equals(candles.index)
    assert set(frame["side"]) == {"long", "short", "none"}
    assert (frame["side"].map({"long": 1, "short": -1, "none": 0}) == frame["direction"]).all()
    assert frame["sl_pct"].isna().to_numpy().tolist() == (frame["direction"] == 0).tolist()


def test_determinism(candles: pd.DataFrame, frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(signals_frame(candles, PARAMS), frame)
    window = candles.iloc[1000:1150]
    a, b = ScalpingV1(PARAMS), ScalpingV1(PARAMS)
    assert a.on_candle("SYN", window) == b.on_candle("SYN", window)
    # Asking again about the same candle gives the same answer and does not advance anything.
    assert a.on_candle("SYN", window) is a.on_candle("SYN", window)


def test_signals_are_frozen(frame: pd.DataFrame) -> None:
    sig = signal_at(frame, -1, "SYN", PARAMS)
    with pytest.raises(FrozenInstanceError):
        sig.side = Side.LONG  # type: ignore[misc]
    with pytest.raises(KeyError, match="volume"):
        sig.vote("volume")


def test_revised_last_candle_reseeds_from_the_window(candles: pd.DataFrame) -> None:
    strategy = ScalpingV1(PARAMS)
    strategy.on_candle("SYN", candles.iloc[:150])
    revised = candles.iloc[1:151].copy()
    revised.iloc[-2, revised.columns.get_loc("close")] *= 1.001  # the candle already seen changed
    revised.iloc[-2, revised.columns.get_loc("high")] *= 1.001
    expected = signal_at(signals_frame(revised, PARAMS), -1, "SYN", PARAMS)
    assert repr(strategy.on_candle("SYN", revised)) == repr(expected)


def test_window_ending_before_the_last_candle_seen_is_refused(candles: pd.DataFrame) -> None:
    strategy = ScalpingV1(PARAMS)
    strategy.on_candle("SYN", candles.iloc[10:160])
    with pytest.raises(ValueError, match="before the last candle seen"):
        strategy.on_candle("SYN", candles.iloc[:150])
    strategy.reset("SYN")
    assert strategy.on_candle("SYN", candles.iloc[:150]).open_time_ms == int(candles.index[149])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda c: c.drop(columns="low"), "lack columns"),
        (lambda c: c.iloc[::-1], "strictly increasing"),
        (lambda c: c.set_axis(c.index.astype("float64")), "int64"),
        (lambda c: c.assign(close=np.where(np.arange(len(c)) == 5, np.nan, c["close"])), "NaN"),
    ],
    ids=["missing column", "unsorted", "float index", "nan"],
)
def test_malformed_candles_are_refused(
    candles: pd.DataFrame, mangle: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    bad = mangle(candles.iloc[:200])
    with pytest.raises(ValueError, match=message):
        signals_frame(bad, PARAMS)
    with pytest.raises(ValueError, match=message):
        ScalpingV1(PARAMS).on_candle("SYN", bad)


def test_nan_in_a_new_candle_is_refused_on_the_live_path(candles: pd.DataFrame) -> None:
    strategy = ScalpingV1(PARAMS)
    strategy.on_candle("SYN", candles.iloc[:150])
    nxt = candles.iloc[1:151].copy()
    nxt.iloc[-1, nxt.columns.get_loc("high")] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        strategy.on_candle("SYN", nxt)


def test_signal_at_out_of_range(frame: pd.DataFrame) -> None:
    with pytest.raises(IndexError):
        signal_at(frame, len(frame), "SYN", PARAMS)
