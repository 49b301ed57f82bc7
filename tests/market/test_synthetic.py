"""The synthetic market: stylised facts of real 5m crypto returns, determinism, labelling, continuity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.market.candles import validate_candles
from engine.market.synthetic import SyntheticMarket, symbol_profile, synthetic_history

START = 1_735_689_600_000  # 2025-01-01 00:00 UTC
STEP = 300_000
SYMBOLS = ["BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC", "1000PEPE/USDC:USDC"]
MONTHS = 3 * 30 * 288  # about three months of 5m candles


@pytest.fixture(scope="module")
def long_run() -> dict[str, pd.DataFrame]:
    market = SyntheticMarket(SYMBOLS, seed=42, start_ms=START)
    return {s: market.candles(s, None, START + MONTHS * STEP).frame for s in SYMBOLS}


def log_returns(df: pd.DataFrame) -> pd.Series:
    return pd.Series(np.diff(np.log(df["close"].to_numpy())))


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_candles_are_well_formed_and_on_the_grid(long_run: dict[str, pd.DataFrame], symbol: str) -> None:
    df = validate_candles(long_run[symbol], symbol)
    assert len(df) == MONTHS
    assert (np.diff(df.index.to_numpy()) == STEP).all() and df.index[0] == START
    # open is the previous close, as on Binance
    np.testing.assert_array_equal(df["open"].to_numpy()[1:], df["close"].to_numpy()[:-1])
    assert (df["volume"] > 0).all()


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_returns_have_fat_tails(long_run: dict[str, pd.DataFrame], symbol: str) -> None:
    kurtosis = log_returns(long_run[symbol]).kurt() + 3  # pandas gives excess kurtosis
    assert kurtosis > 5, f"kurtosis {kurtosis:.1f}: a normal distribution has 3"


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_volatility_clusters_but_returns_are_unpredictable(
    long_run: dict[str, pd.DataFrame], symbol: str
) -> None:
    r = log_returns(long_run[symbol])
    # With ~26 000 returns one standard error of an autocorrelation is ~0.006.
    for lag in range(1, 11):
        assert r.abs().autocorr(lag) > 0.1, f"|r| autocorrelation at lag {lag}"
        assert abs(r.autocorr(lag)) < 0.04, f"r autocorrelation at lag {lag}"


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_level_and_volatility_are_realistic(long_run: dict[str, pd.DataFrame], symbol: str) -> None:
    profile = symbol_profile(symbol.split("/")[0])
    df = long_run[symbol]
    r = log_returns(df)
    assert 0.7 * profile.vol_5m < r.std() < 1.4 * profile.vol_5m
    assert 0.3 * profile.price < df["close"].median() < 3 * profile.price
    # High-low range ≈ 1.5-3 × |return|, as in real 5m candles.
    ratio = np.log(df["high"] / df["low"]).mean() / r.abs().mean()
    assert 1.5 < ratio < 3


def test_volume_rises_with_volatility(long_run: dict[str, pd.DataFrame]) -> None:
    df = long_run["BTC/USDC:USDC"]
    corr = np.corrcoef(df["volume"].to_numpy()[1:], log_returns(df).abs())[0, 1]
    assert corr > 0.3


def test_symbols_are_mildly_correlated(long_run: dict[str, pd.DataFrame]) -> None:
    btc, eth = log_returns(long_run["BTC/USDC:USDC"]), log_returns(long_run["ETH/USDC:USDC"])
    assert 0.1 < btc.corr(eth) < 0.7


def test_same_seed_same_candles_and_different_seed_different() -> None:
    end = START + 2000 * STEP
    a = SyntheticMarket(SYMBOLS, seed=7, start_ms=START).candles("ETH/USDC:USDC", None, end).frame
    b = SyntheticMarket(SYMBOLS, seed=7, start_ms=START).candles("ETH/USDC:USDC", None, end).frame
    c = SyntheticMarket(SYMBOLS, seed=8, start_ms=START).candles("ETH/USDC:USDC", None, end).frame
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], c["close"])
    assert (a["close"] != c["close"]).mean() > 0.99


def test_history_then_stream_equals_one_long_history() -> None:
    whole = SyntheticMarket(["SOL/USDC:USDC"], seed=3, start_ms=START).candles(
        "SOL/USDC:USDC", None, START + 900 * STEP
    )
    market = SyntheticMarket([], seed=3, start_ms=START)
    history = market.history("SOL/USDC:USDC", 300, START + 600 * STEP)
    pd.testing.assert_frame_equal(history.frame, whole.frame.iloc[300:600])
    stream = market.stream(["SOL/USDC:USDC"], after_ms=history.frame.index[-1])
    for i in range(600, 900):
        open_ms, candles = next(stream)
        assert open_ms == START + i * STEP
        pd.testing.assert_series_equal(candles["SOL/USDC:USDC"], whole.frame.iloc[i], check_names=False)


def test_a_symbol_does_not_depend_on_which_others_exist() -> None:
    end = START + 1000 * STEP
    alone = SyntheticMarket(["BTC/USDC:USDC"], seed=1, start_ms=START).candles("BTC/USDC:USDC", None, end)
    crowd = SyntheticMarket(["DOGE/USDC:USDC", "BTC/USDC:USDC"], seed=1, start_ms=START)
    crowd.candles("DOGE/USDC:USDC", None, end + 5000 * STEP)
    pd.testing.assert_frame_equal(alone.frame, crowd.candles("BTC/USDC:USDC", None, end).frame)


def test_everything_is_labelled_synthetic() -> None:
    histories = synthetic_history(["BTC/USDC:USDC", "NEWCOIN/USDC:USDC"], seed=42, count=500, end_ms=START)
    for symbol, series in histories.items():
        assert series.synthetic is True and series.source == "synthetic (seed 42)"
        assert (
            series.frame.attrs["synthetic"] is True and series.frame.attrs["source"] == "synthetic (seed 42)"
        )
        assert len(series.frame) == 500 and series.frame.index[-1] == START - STEP
        validate_candles(series.frame, symbol)


def test_any_spelling_names_the_same_path() -> None:
    market = SyntheticMarket(["BTCUSDC"], seed=1, start_ms=START)
    assert market.symbols == ["BTC/USDC:USDC"]
    a = market.candles("btc/usdc:usdc", None, START + 10 * STEP)
    assert a.symbol == "BTC/USDC:USDC"
    pd.testing.assert_frame_equal(a.frame, market.candles("BTC/USDC", None, START + 10 * STEP).frame)


def test_unknown_base_gets_a_stable_plausible_profile() -> None:
    a, b = symbol_profile("NEWCOIN"), symbol_profile("NEWCOIN")
    assert a == b and 0.01 <= a.price <= 100 and 0.003 <= a.vol_5m <= 0.006


def test_errors_are_explicit() -> None:
    with pytest.raises(ValueError, match="grid"):
        SyntheticMarket([], seed=1, start_ms=START + 1)
    with pytest.raises(ValueError, match="quote asset"):
        SyntheticMarket(["ETH/BTC:BTC"], seed=1, start_ms=START)
    market = SyntheticMarket([], seed=1, start_ms=START)
    with pytest.raises(ValueError, match="starts at"):
        market.history("BTC/USDC:USDC", 10, START + 5 * STEP)
