"""The strategy's indicators are pandas-ta's, and warm-up is exactly as long as they need."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandas_ta as ta
import pytest

from engine.strategy import ScalpingParams, signals_frame
from engine.strategy.indicators import true_range

DECISION_INPUTS = ["close", "ema_fast", "ema_slow", "macd_hist", "rsi", "atr_pct"]


def _pandas_ta(candles: pd.DataFrame, p: ScalpingParams) -> dict[str, np.ndarray]:
    c = candles.reset_index(drop=True)
    macd = ta.macd(c["close"], p.macd_fast, p.macd_slow, p.macd_signal, talib=False)
    return {
        "ema_fast": ta.ema(c["close"], p.ema_fast, talib=False).to_numpy(),
        "ema_slow": ta.ema(c["close"], p.ema_slow, talib=False).to_numpy(),
        "rsi": ta.rsi(c["close"], p.rsi_period, talib=False).to_numpy(),
        "macd": macd[f"MACD_{p.macd_fast}_{p.macd_slow}_{p.macd_signal}"].to_numpy(),
        "macd_signal": macd[f"MACDs_{p.macd_fast}_{p.macd_slow}_{p.macd_signal}"].to_numpy(),
        "macd_hist": macd[f"MACDh_{p.macd_fast}_{p.macd_slow}_{p.macd_signal}"].to_numpy(),
        "atr": ta.atr(c["high"], c["low"], c["close"], p.atr_period, talib=False).to_numpy(),
    }


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_indicators_are_pandas_ta_bit_for_bit(klines: Callable[..., pd.DataFrame], symbol: str) -> None:
    candles = klines(symbol, 5000)
    assert not (candles["high"] == candles["low"]).any(), "this sample must have no zero-range candle"
    params = ScalpingParams()
    frame = signals_frame(candles, params)
    for name, expected in _pandas_ta(candles, params).items():
        np.testing.assert_array_equal(frame[name].to_numpy(), expected, err_msg=name)
    np.testing.assert_array_equal(frame["atr_pct"].to_numpy(), 100.0 * frame["atr"] / frame["close"])


def test_atr_differs_from_pandas_ta_only_by_its_epsilon_on_zero_range_candles(
    walk: Callable[..., pd.DataFrame],
) -> None:
    # pandas-ta adds machine epsilon to every high-low range once any candle has high == low,
    # which would let a later flat candle change an earlier ATR; ours stays causal.
    candles = walk(600, seed=11, flat_every=50)
    params = ScalpingParams()
    ours = signals_frame(candles, params)["atr"].to_numpy()
    theirs = _pandas_ta(candles, params)["atr"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    # Causality: our ATR up to a candle does not change when later candles are added.
    prefix = signals_frame(candles.iloc[:300], params)["atr"].to_numpy()
    np.testing.assert_array_equal(prefix, ours[:300])


def test_true_range_uses_previous_close_gaps() -> None:
    high = np.array([10.0, 12.0, 9.0])
    low = np.array([9.0, 11.5, 8.0])
    close = np.array([9.5, 11.8, 8.5])
    # first: high-low; second: gap up from 9.5 -> 12 - 9.5; third: gap down 11.8 - 8
    np.testing.assert_allclose(true_range(high, low, close), [1.0, 2.5, 3.8])


@pytest.mark.parametrize(
    "overrides",
    [{}, {"atr_period": 50}, {"ema_slow": 60}, {"macd_slow": 40, "macd_signal": 12}],
)
def test_warmup_is_the_first_candle_with_every_input_defined_now_and_before(
    walk: Callable[..., pd.DataFrame], overrides: dict[str, int]
) -> None:
    params = ScalpingParams(**overrides)
    frame = signals_frame(walk(200, seed=5), params)
    defined = frame[DECISION_INPUTS].notna().all(axis=1).to_numpy()
    defined_with_previous = defined & np.concatenate(([False], defined[:-1]))
    assert int(np.argmax(defined_with_previous)) == params.warmup_candles
    assert not frame["warm"].iloc[: params.warmup_candles].any()
    assert frame["warm"].iloc[params.warmup_candles :].all()
    assert (frame["direction"].iloc[: params.warmup_candles] == 0).all()
