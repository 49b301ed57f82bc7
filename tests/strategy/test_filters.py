"""The optional strategy filters: the higher-timeframe trend without look-ahead, the volatility rank
on hand-worked figures, the breakdown naming the filter that blocked a candidate, and both filters
off by default (the strategy's frame and warm-up exactly as before)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from engine.strategy import ScalpingParams, Side, signal_at, signals_frame
from engine.strategy.filters import htf_columns, vol_rank
from engine.strategy.signal import Role, build_signal, decide
from tests.strategy.conftest import FIVE_MINUTES_MS, JAN_2025_MS

HOUR_MS = 3_600_000
HTF = {"enabled": True, "timeframe": "1h", "ema": 3}


def candles_at(times: np.ndarray, close: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close,
                         "volume": np.ones(len(close))}, index=pd.Index(times.astype(np.int64), name="open_time_ms"))


# --- higher-timeframe trend: no look-ahead -------------------------------------------------------------


def test_the_open_higher_timeframe_candle_never_leaks() -> None:
    # 5m candles from 00:00; closes 1, 2, 3, ...: the 1h bucket 00:00-01:00 closes with the 00:55 candle
    # (close 12), the next with 01:55 (close 24). Until 00:55 nothing has closed; from 00:55 to 01:50
    # the value is 12 (01:00 … 01:50 are inside the open bucket and must not show 13 … 23).
    n = 40
    times = JAN_2025_MS + FIVE_MINUTES_MS * np.arange(n)
    close = np.arange(1.0, n + 1)
    cols = htf_columns(times, close, ScalpingParams(htf_trend=HTF))
    assert np.isnan(cols["htf_close"][:11]).all()
    assert (cols["htf_close"][11:23] == 12.0).all()
    assert (cols["htf_close"][23:35] == 24.0).all()
    assert cols["htf_close"][35] == 36.0
    # EMA3 of the bucket closes 12, 24, 36: undefined until the third, then their mean, 24
    assert np.isnan(cols["htf_ema"][:35]).all() and cols["htf_ema"][35] == 24.0


def test_a_row_depends_only_on_candles_up_to_it(klines: Callable[..., pd.DataFrame]) -> None:
    candles = klines("ETHUSDT", 1500)
    params = ScalpingParams(htf_trend={"enabled": True, "timeframe": "1h", "ema": 20},
                            vol_regime={"enabled": True, "window": 100, "min_pct": 10, "max_pct": 90})
    full = signals_frame(candles, params)
    columns = ["htf_close", "htf_ema", "vote_htf_trend", "vol_rank", "direction"]
    for end in (300, 611, 612, 899, 1000, 1333):
        # the future replaced by a wild move: nothing up to `end` may change
        future = candles.copy()
        future.iloc[end + 1:, :4] *= 3.0
        cut = signals_frame(candles.iloc[: end + 1], params)
        moved = signals_frame(future, params)
        for frame in (cut, moved.iloc[: end + 1]):
            pd.testing.assert_frame_equal(frame[columns], full[columns].iloc[: end + 1])


def test_the_trend_filter_lets_only_the_trend_side_through(klines: Callable[..., pd.DataFrame]) -> None:
    candles = klines("BTCUSDT", 5000)
    base = signals_frame(candles, ScalpingParams())
    params = ScalpingParams(htf_trend={"enabled": True, "timeframe": "1h", "ema": 20})
    frame = signals_frame(candles, params)
    warm = frame["warm"].to_numpy()
    fired, kept = base["direction"].to_numpy()[warm], frame["direction"].to_numpy()[warm]
    trend = frame["vote_htf_trend"].to_numpy()[warm]
    assert ((kept == 0) | (kept == trend)).all()  # every signal left is on the trend's side
    assert (kept[kept != 0] == fired[kept != 0]).all()  # the filter only removes signals
    blocked = (fired != 0) & (kept == 0)
    assert blocked.any() and (kept != 0).any()
    assert (trend[blocked] != fired[blocked]).all()  # each removed one was against the trend


# --- volatility regime ----------------------------------------------------------------------------------


def test_vol_rank_hand_worked() -> None:
    atr = np.array([np.nan, 3.0, 1.0, 2.0, 2.0, 5.0, 0.5])
    # window 3, the current value included: [nan,3,1] → nan; [3,1,2]: 2 of 3 are <= 2; [1,2,2]: 3 of 3
    # (ties count); [2,2,5]: 3; [2,5,0.5]: 1
    expected = [np.nan, np.nan, np.nan, 200 / 3, 100.0, 100.0, 100 / 3]
    np.testing.assert_array_equal(vol_rank(atr, 3), np.array(expected))


def test_the_volatility_band_blocks_outside_it(klines: Callable[..., pd.DataFrame]) -> None:
    candles = klines("SOLUSDT", 4000)
    params = ScalpingParams(vol_regime={"enabled": True, "window": 288, "min_pct": 30, "max_pct": 70})
    frame = signals_frame(candles, params)
    fired = frame["direction"].to_numpy() != 0
    rank = frame["vol_rank"].to_numpy()
    assert fired.any() and ((rank[fired] >= 30) & (rank[fired] <= 70)).all()
    base = signals_frame(candles, ScalpingParams()).loc[frame.index]
    outside = (base["direction"].to_numpy() != 0) & frame["warm"].to_numpy() & ((rank < 30) | (rank > 70))
    assert outside.any() and not fired[outside].any()


# --- the breakdown names the filter -------------------------------------------------------------------


def _candidate(htf_close: float, htf_ema: float, rank: float) -> dict[str, np.ndarray]:
    return {"ema_fast": np.array([99.0, 101.0]), "ema_slow": np.array([100.0, 100.0]),
            "macd_hist": np.array([0.0, 0.2]), "rsi": np.array([50.0, 55.0]), "close": np.array([100.0, 100.0]),
            "atr_pct": np.array([0.3, 0.3]), "htf_close": np.array([htf_close] * 2),
            "htf_ema": np.array([htf_ema] * 2), "vol_rank": np.array([rank] * 2)}


@pytest.mark.parametrize(
    ("htf", "rank", "side", "vetoed", "text"),
    [
        ((105.0, 100.0), 50.0, Side.LONG, set(), "1h trend (close 105 vs EMA3 100) up; ATR rank 50.0% in [20%, 80%]"),
        ((95.0, 100.0), 50.0, Side.NONE, {"htf_trend"}, "vetoed: 1h trend (close 95 vs EMA3 100) down"),
        ((105.0, 100.0), 90.0, Side.NONE, {"vol_regime"}, "vetoed: ATR rank 90.0% outside [20%, 80%]"),
        ((95.0, 100.0), 10.0, Side.NONE, {"htf_trend", "vol_regime"}, "down; ATR rank 10.0% outside"),
        ((np.nan, np.nan), 50.0, Side.NONE, {"htf_trend"}, "1h trend (close nan vs EMA3 nan) not defined yet"),
    ],
)
def test_the_breakdown_names_the_filter_that_blocked(htf: tuple, rank: float, side: Side, vetoed: set,
                                                      text: str) -> None:
    params = ScalpingParams(htf_trend=HTF, vol_regime={"enabled": True})
    ind = _candidate(*htf, rank)
    out = decide(ind, np.array([True, True]), params)
    row = {k: v[-1] for k, v in (ind | out).items()} | {"atr": 0.3, "macd": 0.0, "macd_signal": 0.0,
                                                        "candles_seen": 500}
    signal = build_signal("BTCUSDT", 0, row, params)
    assert signal.side is side and text in signal.reason
    filters = {v.component: v for v in signal.breakdown if v.role is Role.FILTER}
    assert set(filters) == {"atr", "htf_trend", "vol_regime"}
    assert {name for name, v in filters.items() if v.veto} == vetoed
    assert filters["htf_trend"].values() == {"htf_close": htf[0], "htf_ema": htf[1]} or np.isnan(htf[0])


# --- off by default, validated ------------------------------------------------------------------------


def test_filters_off_leave_the_strategy_as_it_was(walk: Callable[..., pd.DataFrame]) -> None:
    params = ScalpingParams()
    assert not params.htf_trend.enabled and not params.vol_regime.enabled
    assert params.warmup_candles == 34
    frame = signals_frame(walk(300, 1), params)
    assert not {"htf_close", "htf_ema", "vote_htf_trend", "htf_ok", "vol_rank", "vol_ok"} & set(frame.columns)
    signal = signal_at(frame, -1, "SYN", params)
    assert [v.component for v in signal.breakdown if v.role is Role.FILTER] == ["atr"]


def test_warm_up_follows_the_filters() -> None:
    # 1h EMA50 on 5m candles: 50 × 12 = 600; on 15m: 50 × 4 = 200; the rank: 14 + 288 - 1 = 301
    htf = ScalpingParams(htf_trend={"enabled": True, "timeframe": "1h", "ema": 50})
    assert htf.warmup_candles == 600
    assert htf.with_candle_ms(900_000).warmup_candles == 200
    assert ScalpingParams(vol_regime={"enabled": True, "window": 288}).warmup_candles == 301


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vol_regime": {"min_pct": 80, "max_pct": 20}}, r"min_pct \(80\) must be below max_pct \(20\)"),
        ({"vol_regime": {"window": 5}}, r"greater than or equal to 10"),
        ({"htf_trend": {"timeframe": "3h"}}, r"'15m', '30m', '1h'"),
        ({"htf_trend": {"ema": 1}}, r"greater than or equal to 2"),
        ({"htf_trend": {"enabled": "yes"}}, r"valid boolean"),
    ],
)
def test_bad_filter_keys_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScalpingParams(**overrides)


def test_a_higher_timeframe_not_above_the_profiles_is_refused_naming_the_file(tmp_path: Path) -> None:
    from engine.config.loading import load_profile
    from engine.errors import UserError
    from tests.e2e.support import make_profile

    path = make_profile(tmp_path, "htf", venue={"timeframe": "15m"},
                        strategy={"htf_trend": {"enabled": True, "timeframe": "15m"}})
    with pytest.raises(UserError) as caught:
        load_profile(path)
    text = str(caught.value)
    assert str(path) in text and "strategy" in text and "whole multiple (2 or more) of the candles' 15m" in text
    ok = make_profile(tmp_path, "htf2", venue={"timeframe": "15m"},
                      strategy={"htf_trend": {"enabled": True, "timeframe": "1h"}})
    assert load_profile(ok).profile.strategy.htf_candles == 4


def test_live_signals_keep_enough_candles_for_the_filters_and_match_the_backtest(
    klines: Callable[..., pd.DataFrame],
) -> None:
    from engine.strategy.sources import LiveSignals, VectorSignals

    candles = klines("BNBUSDT", 2500)
    params = ScalpingParams(htf_trend={"enabled": True, "timeframe": "1h", "ema": 30},
                            vol_regime={"enabled": True, "window": 200, "min_pct": 15, "max_pct": 85})
    live = LiveSignals(params, window=150)
    assert live.window == params.warmup_candles + 2 == 362  # 30 × 12 = 360 candles of 1h EMA warm-up
    backtest = VectorSignals({"BNBUSDT": candles}, params)
    rows = zip(candles.index, candles["open"], candles["high"], candles["low"], candles["close"],
               candles["volume"], strict=True)
    pairs = [(live.on_candle("BNBUSDT", int(t), (o, h, lo, c, v)), backtest.on_candle("BNBUSDT", int(t), ()))
             for t, o, h, lo, c, v in rows]
    assert [repr(a) for a, _ in pairs] == [repr(b) for _, b in pairs]
    assert sum(a is not None for a, _ in pairs) >= 5


def test_paper_and_live_load_the_filters_warm_up(shared_data: Path, tmp_path: Path) -> None:
    """A start loads as much history as the strategy needs (a 1h EMA 50 on 5m candles: 600), not only the
    150 candles a window holds otherwise, so a filtered profile can signal from its first candle."""
    from engine.config.loading import load_profile
    from engine.run.paper import PaperOptions, _file_feed
    from engine.strategy.sources import WINDOW, LiveSignals, window_for
    from tests.e2e.support import make_profile

    plain = load_profile(make_profile(tmp_path, "plain", venue={"quote_assets": ["USDT"]}))
    htf = load_profile(make_profile(tmp_path, "htf", venue={"quote_assets": ["USDT"]},
                                    strategy={"htf_trend": {"enabled": True, "timeframe": "1h", "ema": 50}}))
    assert window_for(plain.profile.strategy) == WINDOW
    assert window_for(htf.profile.strategy) == htf.profile.strategy.warmup_candles + 2 == 602
    assert LiveSignals(htf.profile.strategy).window == 602
    start = 1_740_787_200_000  # 2025-03-01 00:00 UTC
    feed = _file_feed(htf, ["BTC/USDT:USDT"], PaperOptions(data_dir=shared_data, start_ms=start))
    assert feed.frames["BTC/USDT:USDT"].index[0] <= start - 602 * 300_000
