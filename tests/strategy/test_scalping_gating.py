"""The decision rule on hand-made indicator values: 1+1 gating, RSI bands, ATR veto, exits."""

from __future__ import annotations

import numpy as np
import pytest

from engine.strategy import PrimaryTrigger, ScalpingParams
from engine.strategy.signal import decide


def two_candles(
    fast: tuple[float, float] = (99.0, 101.0),
    slow: tuple[float, float] = (100.0, 100.0),
    hist: tuple[float, float] = (0.0, 0.0),
    rsi: float = 50.0,
    close: float = 100.0,
    atr_pct: float = 0.3,
) -> dict[str, np.ndarray]:
    """Previous and current candle. Defaults: EMA fast crosses up; every confirmation neutral."""
    return {
        "ema_fast": np.array(fast),
        "ema_slow": np.array(slow),
        "macd_hist": np.array(hist),
        "rsi": np.array([50.0, rsi]),
        "close": np.array([100.0, close]),
        "atr_pct": np.array([atr_pct] * 2),
    }


def last(ind: dict[str, np.ndarray], params: ScalpingParams | None = None) -> dict[str, object]:
    out = decide(ind, np.array([True, True]), params or ScalpingParams())
    return {k: v[-1] for k, v in out.items()}


CROSS_DOWN = {"fast": (101.0, 99.0)}


def test_trigger_without_any_confirmation_gives_no_side() -> None:
    out = last(two_candles())
    assert (out["primary_vote"], out["confirming"], out["direction"]) == (1, 0, 0)


@pytest.mark.parametrize("confirmation", [{"rsi": 55.0}, {"hist": (0.0, 0.2)}], ids=["rsi", "macd"])
def test_trigger_with_one_confirmation_gives_long(confirmation: dict) -> None:
    out = last(two_candles(**confirmation))
    assert (out["confirming"], out["direction"]) == (1, 1)


def test_close_vs_ema_slow_is_not_a_default_confirmation_of_the_ema_cross() -> None:
    out = last(two_candles(close=100.5))
    assert (out["vote_close_vs_ema_slow"], out["confirming"], out["direction"]) == (1, 0, 0)


def test_short_needs_confirmations_on_the_short_side() -> None:
    assert last(two_candles(**CROSS_DOWN, rsi=45.0))["direction"] == -1
    assert last(two_candles(**CROSS_DOWN, rsi=55.0))["direction"] == 0  # RSI says long: does not count


def test_confirmations_without_trigger_give_no_side() -> None:
    # EMA fast already above slow on both candles: trend, not a cross.
    out = last(two_candles(fast=(101.0, 102.0), rsi=60.0, hist=(0.1, 0.2), close=101.0))
    assert (out["primary_vote"], out["direction"]) == (0, 0)
    assert (out["vote_rsi"], out["vote_macd"], out["vote_close_vs_ema_slow"]) == (1, 1, 1)


def test_touching_then_crossing_counts_as_a_cross() -> None:
    assert last(two_candles(fast=(100.0, 100.5), rsi=55.0))["direction"] == 1
    assert last(two_candles(fast=(100.0, 100.0), rsi=55.0))["primary_vote"] == 0  # equal is not above


def test_min_confirmations_two_needs_two() -> None:
    params = ScalpingParams(min_confirmations=2)
    assert last(two_candles(rsi=55.0), params)["direction"] == 0
    assert last(two_candles(rsi=55.0, hist=(0.1, 0.2)), params)["direction"] == 1


def test_only_listed_confirmations_count() -> None:
    params = ScalpingParams(confirmations=("rsi",))
    assert last(two_candles(hist=(0.1, 0.2), close=101.0), params)["direction"] == 0
    assert last(two_candles(rsi=60.0), params)["direction"] == 1


@pytest.mark.parametrize(
    ("rsi", "vote"),
    [(50.0, 0), (50.1, 1), (70.0, 1), (70.1, 0), (49.9, -1), (30.0, -1), (29.9, 0), (float("nan"), 0)],
)
def test_rsi_confirms_on_its_side_of_the_midline_but_not_when_extreme(rsi: float, vote: int) -> None:
    assert last(two_candles(rsi=rsi))["vote_rsi"] == vote


@pytest.mark.parametrize(
    ("atr_pct", "ok"), [(0.049, False), (0.05, True), (2.0, True), (2.01, False), (float("nan"), False)]
)
def test_atr_band_vetoes_an_otherwise_valid_signal(atr_pct: float, ok: bool) -> None:
    out = last(two_candles(rsi=55.0, atr_pct=atr_pct))
    assert (out["atr_ok"], out["direction"]) == (ok, 1 if ok else 0)
    assert out["confirming"] == 1  # the veto is the filter's, not the gating's


def test_warm_up_candles_never_signal() -> None:
    out = decide(two_candles(rsi=55.0), np.array([False, False]), ScalpingParams())
    assert out["direction"][-1] == 0


def test_macd_trigger_fires_on_histogram_sign_change_confirmed_by_ema() -> None:
    params = ScalpingParams(primary_trigger=PrimaryTrigger.MACD_CROSS, confirmations=("ema",))
    flip_up = {"hist": (-0.1, 0.1), "fast": (101.0, 101.0)}
    assert last(two_candles(**flip_up), params)["direction"] == 1
    assert last(two_candles(hist=(-0.1, 0.1), fast=(99.0, 99.0)), params)["direction"] == 0
    assert last(two_candles(hist=(0.1, 0.2), fast=(101.0, 101.0)), params)["primary_vote"] == 0
    assert last(two_candles(hist=(0.1, -0.1), fast=(99.0, 99.0)), params)["direction"] == -1


def test_close_vs_ema_slow_confirms_the_macd_trigger() -> None:
    params = ScalpingParams(primary_trigger=PrimaryTrigger.MACD_CROSS, confirmations=("close_vs_ema_slow",))
    assert last(two_candles(hist=(-0.1, 0.1), close=100.5), params)["direction"] == 1
    assert last(two_candles(hist=(-0.1, 0.1), close=99.5), params)["direction"] == 0


def test_atr_scaled_exits_only_on_a_side() -> None:
    params = ScalpingParams(atr_sl_mult=1.5, atr_tp_mults=(1.0, 2.5))
    out = last(two_candles(rsi=55.0, atr_pct=0.4), params)
    assert out["sl_pct"] == pytest.approx(0.6)
    assert (out["tp1_pct"], out["tp2_pct"]) == (pytest.approx(0.4), pytest.approx(1.0))
    assert np.isnan(last(two_candles(atr_pct=0.4), params)["sl_pct"])  # no side, no exits
    off = ScalpingParams(atr_scaled_exits=False)
    assert np.isnan(last(two_candles(rsi=55.0, atr_pct=0.4), off)["sl_pct"])
