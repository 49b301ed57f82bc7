"""The live path (state carried candle to candle) gives the backtest's signals, bit for bit.

Signals are compared through `repr`, which spells every float exactly (shortest round-trip form)
and shows NaN as `nan`, so "equal" here means identical bits in every value of the breakdown.
"""

from __future__ import annotations

from collections.abc import Callable

import hypothesis.strategies as st
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from engine.strategy import PrimaryTrigger, ScalpingParams, ScalpingV1, Side, signal_at, signals_frame

WINDOW = 150
# BTC and ETH: large prices; DOGE and OP: small prices with zero-range candles; ZEC: violent moves.
SYMBOLS = ["BTCUSDT", "ETHUSDT", "DOGEUSDT", "ZECUSDT", "OPUSDT"]


def replay(strategy: ScalpingV1, symbol: str, candles: pd.DataFrame, first: int, step: int = 1) -> list:
    """Live ticks: the window of the last WINDOW candles ending at each candle from `first` on."""
    return [
        (t, strategy.on_candle(symbol, candles.iloc[max(0, t - WINDOW + 1) : t + 1]))
        for t in range(first, len(candles), step)
    ]


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_live_ticks_equal_vectorised_frame_on_real_data(
    klines: Callable[..., pd.DataFrame], symbol: str
) -> None:
    candles = klines(symbol, 4000)
    params = ScalpingParams()
    frame = signals_frame(candles, params)

    ticks = replay(ScalpingV1(params), symbol, candles, first=WINDOW - 1)

    assert len(ticks) == len(candles) - WINDOW + 1
    for t, live in ticks:
        assert repr(live) == repr(signal_at(frame, t, symbol, params)), f"{symbol} candle {t}"
    sides = {live.side for _, live in ticks}
    assert sides == {Side.LONG, Side.SHORT, Side.NONE}, "the sample must exercise every outcome"


@pytest.mark.parametrize("symbol", ["BTCUSDT", "DOGEUSDT"])
def test_macd_trigger_live_equals_vectorised_on_real_data(
    klines: Callable[..., pd.DataFrame], symbol: str
) -> None:
    candles = klines(symbol, 2500, start_ms=1_746_057_600_000)  # 2025-05-01
    params = ScalpingParams(
        primary_trigger=PrimaryTrigger.MACD_CROSS,
        confirmations=("ema", "rsi"),
        min_confirmations=2,
        atr_pct_min=0.1,
        atr_pct_max=0.6,
    )
    frame = signals_frame(candles, params)
    ticks = replay(ScalpingV1(params), symbol, candles, first=WINDOW - 1)
    for t, live in ticks:
        assert repr(live) == repr(signal_at(frame, t, symbol, params)), f"{symbol} candle {t}"
    assert any(live.side is not Side.NONE for _, live in ticks)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "DOGEUSDT", "ZECUSDT"])
def test_filters_live_equal_vectorised_on_real_data(klines: Callable[..., pd.DataFrame], symbol: str) -> None:
    candles = klines(symbol, 3000)
    params = ScalpingParams(
        htf_trend={"enabled": True, "timeframe": "1h", "ema": 20},
        vol_regime={"enabled": True, "window": 288, "min_pct": 20, "max_pct": 80},
    )
    window = params.warmup_candles + 2  # what LiveSignals keeps for these filters
    frame = signals_frame(candles, params)
    strategy = ScalpingV1(params)
    ticks = [(t, strategy.on_candle(symbol, candles.iloc[max(0, t - window + 1) : t + 1]))
             for t in range(window - 1, len(candles))]
    for t, live in ticks:
        assert repr(live) == repr(signal_at(frame, t, symbol, params)), f"{symbol} candle {t}"
    vetoed = {v.component for _, live in ticks for v in live.breakdown if v.veto}
    assert {"htf_trend", "vol_regime"} <= vetoed, "the sample must exercise both filters"
    assert any(live.side is not Side.NONE for _, live in ticks)


def test_skipped_ticks_catch_up_to_the_same_signals(klines: Callable[..., pd.DataFrame]) -> None:
    candles = klines("SOLUSDT", 2000)
    params = ScalpingParams()
    frame = signals_frame(candles, params)
    # A bot that misses ticks gets several new candles at once; it must advance through all of them.
    for t, live in replay(ScalpingV1(params), "SOLUSDT", candles, first=WINDOW - 1, step=7):
        assert repr(live) == repr(signal_at(frame, t, "SOLUSDT", params))


def test_restarted_strategy_equals_backtest_started_at_its_seed_window(
    klines: Callable[..., pd.DataFrame],
) -> None:
    candles = klines("XRPUSDT", 3000)
    params = ScalpingParams()
    restart = 1700  # the fresh instance first sees the window ending here
    seed_start = restart - WINDOW + 1
    frame = signals_frame(candles.iloc[seed_start:], params)

    for t, live in replay(ScalpingV1(params), "XRPUSDT", candles, first=restart):
        assert repr(live) == repr(signal_at(frame, t - seed_start, "XRPUSDT", params))


def test_a_window_longer_than_the_gap_after_a_reset_reseeds(klines: Callable[..., pd.DataFrame]) -> None:
    candles = klines("BNBUSDT", 1200)
    params = ScalpingParams()
    strategy = ScalpingV1(params)
    strategy.on_candle("BNBUSDT", candles.iloc[:WINDOW])
    # The next window does not contain the last candle seen: the state is rebuilt from it.
    jump = candles.iloc[600 : 600 + WINDOW]
    expected = signal_at(signals_frame(jump, params), -1, "BNBUSDT", params)
    assert repr(strategy.on_candle("BNBUSDT", jump)) == repr(expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    ema_fast=st.integers(2, 15),
    ema_gap=st.integers(1, 30),
    rsi_period=st.integers(2, 30),
    macd=st.tuples(st.integers(2, 12), st.integers(1, 20), st.integers(2, 12)),
    atr_period=st.integers(2, 40),
    flat_start=st.sampled_from([0, 5, 60]),
    flat_every=st.sampled_from([0, 3, 11]),
    trigger=st.sampled_from(list(PrimaryTrigger)),
    htf=st.one_of(st.none(), st.tuples(st.sampled_from(["15m", "30m", "1h"]), st.integers(2, 8))),
    vol=st.one_of(st.none(), st.tuples(st.integers(10, 80), st.floats(0, 49), st.floats(51, 100))),
)
def test_live_equals_vectorised_for_any_periods_on_synthetic_candles(
    walk: Callable[..., pd.DataFrame],
    seed: int,
    ema_fast: int,
    ema_gap: int,
    rsi_period: int,
    macd: tuple[int, int, int],
    atr_period: int,
    flat_start: int,
    flat_every: int,
    trigger: PrimaryTrigger,
    htf: tuple[str, int] | None,
    vol: tuple[int, float, float] | None,
) -> None:
    # Flat candles make zero true ranges, zero RSI moves and 0/0 RSI (NaN): the edge cases of
    # the recursions the live path mirrors.
    candles = walk(400, seed, flat_start=flat_start, flat_every=flat_every)
    confirmations = ("rsi", "macd") if trigger is PrimaryTrigger.EMA_CROSS else ("rsi", "ema")
    params = ScalpingParams(
        ema_fast=ema_fast,
        ema_slow=ema_fast + ema_gap,
        rsi_period=rsi_period,
        macd_fast=macd[0],
        macd_slow=macd[0] + macd[1],
        macd_signal=macd[2],
        atr_period=atr_period,
        primary_trigger=trigger,
        confirmations=confirmations,
        # The filters too, on or off; synthetic candles open off the hour grid (buckets still align)
        htf_trend={"enabled": True, "timeframe": htf[0], "ema": htf[1]} if htf else {},
        vol_regime={"enabled": True, "window": vol[0], "min_pct": vol[1], "max_pct": vol[2]} if vol else {},
    )
    window = max(WINDOW, params.warmup_candles + 1)
    frame = signals_frame(candles, params)
    strategy = ScalpingV1(params)
    for t in range(window - 1, len(candles)):
        live = strategy.on_candle("SYN", candles.iloc[t - window + 1 : t + 1])
        assert repr(live) == repr(signal_at(frame, t, "SYN", params)), f"candle {t}"


def test_short_window_answers_warming_up_like_the_frame(walk: Callable[..., pd.DataFrame]) -> None:
    params = ScalpingParams()
    candles = walk(params.warmup_candles, seed=3)
    live = ScalpingV1(params).on_candle("SYN", candles)
    assert live.side is Side.NONE
    assert live.reason == f"none: warming up ({params.warmup_candles} of {params.warmup_candles + 1} candles)"
    assert repr(live) == repr(signal_at(signals_frame(candles, params), -1, "SYN", params))
