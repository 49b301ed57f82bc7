"""The universe over time (engine.market.rotation): point-in-time activity from candles, picks at the
rotation boundaries, the record of changes, and the proof that a pick never sees a later candle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.config.profile import UniverseSection
from engine.market.datadir import find_candles
from engine.market.rotation import ActivityHistory, Rotation, UniverseChange, activity_from_tickers
from engine.market.synthetic import synthetic_history
from engine.market.universe import UniverseRules, activity_by_symbol, rules_from_profile
from engine.trading.engine import MarketGate
from engine.venue.markets import Market, load_exchange_info

HOUR = 3_600_000
DAY = 24 * HOUR
END = 1_735_689_600_000  # 2025-01-01 00:00 UTC


@pytest.fixture(scope="module")
def markets(mainnet_exchange_info: Path) -> dict[str, Market]:
    return load_exchange_info(mainnet_exchange_info)


@pytest.fixture(scope="module")
def usdc(markets: dict[str, Market]) -> dict[str, Market]:
    names = ["BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC", "DOGE/USDC:USDC", "XRP/USDC:USDC"]
    return {s: markets[s] for s in names if s in markets}


def frames(usdc: dict[str, Market], count: int = 3 * 288, seed: int = 7) -> dict[str, pd.DataFrame]:
    return {s: c.frame for s, c in synthetic_history(list(usdc.values()), seed=seed, count=count, end_ms=END).items()}


def test_rules_from_profile_maps_every_universe_setting() -> None:
    section = UniverseSection(max_symbols=7, min_quote_volume_24h=5e6, atr_pct_min=0.05, atr_pct_max=3.0,
                              rotation=timedelta(hours=4), whitelist=("ETHUSDC",), blacklist=("BTCUSDC",))
    rules = rules_from_profile(section, ["USDC"])
    assert rules == UniverseRules(settle=frozenset({"USDC"}), min_quote_volume_24h=5e6, min_atr_pct=0.0005,
                                  max_atr_pct=0.03, max_symbols=7, whitelist=("ETHUSDC",), blacklist=("BTCUSDC",),
                                  rotation_interval_ms=4 * HOUR)
    loose = rules_from_profile(UniverseSection(), ["USDT"])  # the schema's defaults set no ATR bound
    assert (loose.min_atr_pct, loose.max_atr_pct, loose.needs_activity) == (None, None, False)


def test_point_in_time_activity_equals_the_slicing_one(usdc: dict[str, Market]) -> None:
    candles = frames(usdc)
    history = ActivityHistory(candles, "5m")
    for now in (END - 2 * DAY + 7 * 60_000, END - DAY, END - 5 * HOUR + 1, END):
        fast, slow = history.at(now), activity_by_symbol(candles, now)
        for symbol in candles:
            assert fast[symbol].quote_volume_24h == pytest.approx(slow[symbol].quote_volume_24h, rel=1e-9)
            assert fast[symbol].candles_24h == slow[symbol].candles_24h
            assert fast[symbol].atr_pct == pytest.approx(slow[symbol].atr_pct, rel=1e-6)


def test_point_in_time_activity_on_real_candles(shared_data: Path) -> None:
    frame = find_candles(shared_data, "BTCUSDT", "5m", datetime(2025, 3, 1, tzinfo=UTC),
                         datetime(2025, 3, 5, tzinfo=UTC)).frame
    now = int(frame.index[500]) + 300_000  # the instant candle 500 closed
    fast = ActivityHistory({"BTC": frame}, "5m").at(now)["BTC"]
    slow = activity_by_symbol({"BTC": frame}, now)["BTC"]
    assert fast.candles_24h == slow.candles_24h == 288
    assert fast.quote_volume_24h == pytest.approx(slow.quote_volume_24h, rel=1e-9) and fast.quote_volume_24h > 1e9
    assert fast.atr_pct == pytest.approx(slow.atr_pct, rel=1e-6)


def test_too_few_candles_give_no_atr_and_no_volume_before_the_first_close(usdc: dict[str, Market]) -> None:
    candles = frames(usdc, count=20)
    first = int(next(iter(candles.values())).index[0])
    history = ActivityHistory(candles, "5m")
    assert all(a.quote_volume_24h == 0 and a.atr_pct is None for a in history.at(first + 299_999).values())
    assert all(a.atr_pct is None for a in history.at(first + 13 * 300_000).values())
    assert all(a.atr_pct is not None for a in history.at(first + 14 * 300_000).values())


def test_no_look_ahead_the_pick_at_t_ignores_every_candle_after_t(usdc: dict[str, Market]) -> None:
    """Change every candle that closes after t beyond recognition (prices, ranges, volumes; some symbols
    cut short): every pick at or before t is the same, activity figures bit for bit."""
    candles = frames(usdc)
    rules = UniverseRules(settle=frozenset({"USDC"}), min_quote_volume_24h=1.0, min_atr_pct=0.0005,
                          max_atr_pct=0.05, max_symbols=3, rotation_interval_ms=HOUR)
    rng = np.random.default_rng(1)
    for t in (END - 2 * DAY + 3 * HOUR, END - DAY, END - 7 * HOUR):
        later: dict[str, pd.DataFrame] = {}
        for i, (symbol, frame) in enumerate(candles.items()):
            frame = frame.copy()
            after = frame.index.to_numpy() + 300_000 > t
            scale = rng.uniform(0.2, 5.0, after.sum())
            for column in ("open", "high", "low", "close"):
                frame.loc[after, column] = frame.loc[after, column] * scale
            frame.loc[after, "high"] = frame.loc[after, ["open", "high", "low", "close"]].max(axis=1) * 1.2
            frame.loc[after, "volume"] = frame.loc[after, "volume"] * rng.uniform(0, 1e4, after.sum())
            later[symbol] = frame.iloc[: len(frame) - min(50 * i, int(after.sum()))]  # some end earlier
        before, changed = ActivityHistory(candles, "5m").at(t), ActivityHistory(later, "5m").at(t)
        assert before == changed
        picks = [Rotation(rules, usdc).pick(a, t) for a in (before, changed)]
        assert picks[0] is not None and picks[0] == picks[1]
    # … and the future really was different: a pick after the change sees it.
    assert ActivityHistory(candles, "5m").at(END) != ActivityHistory(later, "5m").at(END)


def test_picks_at_boundaries_and_changes_recorded(usdc: dict[str, Market]) -> None:
    rules = UniverseRules(settle=frozenset({"USDC"}), min_quote_volume_24h=100.0, max_symbols=2,
                          blacklist=("DOGEUSDC",), rotation_interval_ms=4 * HOUR)
    rotation = Rotation(rules, usdc)
    assert rotation.due(END + 5)
    volumes = {"BTCUSDC": 1e9, "ETHUSDC": 5e8, "SOLUSDC": 1e8, "DOGEUSDC": 9e9, "XRPUSDC": 50.0}
    first = rotation.pick(activity_from_tickers(volumes), rotation.boundary(END + 5))
    assert first is not None and first.at_ms == END and rotation.next_ms == END + 4 * HOUR
    assert first.symbols == ("BTC/USDC:USDC", "ETH/USDC:USDC") and first.added == first.symbols
    codes = {e.symbol: e.code for e in first.excluded}
    assert codes == {"DOGE/USDC:USDC": "blacklisted", "XRP/USDC:USDC": "low_volume", "SOL/USDC:USDC": "max_symbols"}
    assert not rotation.due(END + 4 * HOUR - 1) and rotation.due(END + 4 * HOUR)
    assert rotation.pick(activity_from_tickers(volumes), END + 4 * HOUR) is None  # same set: no change
    volumes["SOLUSDC"] = 2e9
    change = rotation.pick(activity_from_tickers(volumes), END + 8 * HOUR)
    assert change is not None and change.added == ("SOL/USDC:USDC",) and change.removed == ("ETH/USDC:USDC",)
    assert "− ETH/USDC:USDC (max_symbols)" in change.line() and "+ SOL/USDC:USDC" in change.line()
    assert [UniverseChange.from_dict(c) for c in rotation.summary()["changes"]] == rotation.changes
    assert rotation.picks == 3 and len(rotation.changes) == 2
    never = rotation.exclusions()
    assert set(never) == {"DOGE/USDC:USDC", "XRP/USDC:USDC"}
    assert never["DOGE/USDC:USDC"][0].detail == "on the blacklist"


def test_market_gate_refuses_entries_out_of_the_universe_only(usdc: dict[str, Market]) -> None:
    gate = MarketGate(dict(usdc))
    assert gate.tradable("BTC/USDC:USDC")  # no universe rules: every listed market
    gate.universe = frozenset({"ETH/USDC:USDC"})
    assert not gate.tradable("BTC/USDC:USDC") and gate.tradable("ETH/USDC:USDC")
    gate.busy.add("ETH/USDC:USDC")
    assert not gate.tradable("ETH/USDC:USDC")
