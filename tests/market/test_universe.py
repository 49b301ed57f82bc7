"""Selecting the trading universe: contract checks on the real mainnet snapshot, activity filters,
ranking, black/whitelist and rotation. Every exclusion carries a reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.market.candles import make_candles
from engine.market.datadir import find_candles
from engine.market.synthetic import synthetic_history
from engine.market.universe import (
    MarketActivity,
    SymbolManager,
    UniverseRules,
    activity_by_symbol,
    activity_from_candles,
    average_true_range,
    check_market,
    contract_multiplier,
)
from engine.venue.markets import Market, load_exchange_info

HOUR = 3_600_000
NOW = 1_735_689_600_000


@pytest.fixture(scope="module")
def markets(mainnet_exchange_info: Path) -> dict[str, Market]:
    return load_exchange_info(mainnet_exchange_info)


def usdc_perps(markets: dict[str, Market]) -> list[Market]:
    return [m for m in markets.values() if m.settle == "USDC" and m.is_perpetual]


def busy(volume: float, atr_pct: float = 0.004) -> MarketActivity:
    return MarketActivity(quote_volume_24h=volume, atr_pct=atr_pct, candles_24h=288)


def test_usdc_perpetuals_qualify_on_the_mainnet_snapshot(markets: dict[str, Market]) -> None:
    universe = SymbolManager(UniverseRules(settle=frozenset({"USDC"}))).select(markets, {}, NOW)
    assert len(universe.symbols) >= 25
    assert all(s.endswith("/USDC:USDC") for s in universe.symbols)
    assert {"BTC/USDC:USDC", "ETH/USDC:USDC", "1000PEPE/USDC:USDC"} <= set(universe.symbols)
    # Every other market got a reason, and every reason is for a market we did not select.
    assert len(universe.symbols) + len(universe.excluded) == len(markets)
    assert {e.code for e in universe.excluded} >= {"settle", "not_perpetual", "not_trading"}


def test_both_settle_assets(markets: dict[str, Market]) -> None:
    universe = SymbolManager(UniverseRules(settle=frozenset({"USDC", "USDT"}), max_symbols=1000)).select(
        markets, {}, NOW
    )
    assert len(universe.symbols) > 300
    assert "ETH/BTC:BTC" not in universe.symbols


@pytest.mark.parametrize(
    ("symbol", "code"),
    [
        ("ETH/BTC:BTC", "settle"),  # BTC-margined
        ("WAVES/USDT:USDT", "not_trading"),  # SETTLING (delisted)
        ("BTCST/USDT:USDT", "not_trading"),  # PENDING_TRADING
    ],
)
def test_real_odd_markets_are_excluded_with_reasons(
    markets: dict[str, Market], symbol: str, code: str
) -> None:
    problem = check_market(markets[symbol], {"USDT", "USDC"})
    assert problem is not None and problem.code == code and problem.symbol == symbol
    assert symbol in str(problem)


def test_delivery_contracts_are_excluded(markets: dict[str, Market]) -> None:
    dated = [m for m in markets.values() if not m.is_perpetual]
    assert dated
    for market in dated:
        problem = check_market(market, {"USDT"})
        assert problem is not None and problem.code == "not_perpetual"
        assert "QUARTER" in problem.detail


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"base": "1000", "id": "1000USDC", "symbol": "1000/USDC:USDC"}, "odd_contract"),
        ({"base": "TESTCOIN", "id": "TESTCOINUSDC", "symbol": "TESTCOIN/USDC:USDC"}, "odd_contract"),
        ({"status": "PENDING_TRADING"}, "not_trading"),
        ({"quote": "TUSD"}, "quote"),
        ({"base": "BUSD", "id": "BUSDUSDC", "symbol": "BUSD/USDC:USDC"}, "stablecoin"),
        ({"contract_type": "CURRENT_QUARTER"}, "not_perpetual"),
    ],
)
def test_made_up_odd_contracts_are_excluded(markets: dict[str, Market], change: dict, code: str) -> None:
    market = replace(markets["BTC/USDC:USDC"], **change)
    problem = check_market(market, {"USDC"})
    assert problem is not None and problem.code == code


@pytest.mark.parametrize(
    ("base", "multiplier"),
    [
        ("1000PEPE", 1000),
        ("1000SHIB", 1000),
        ("1MBABYDOGE", 1_000_000),
        ("1000000MOG", 1_000_000),
        ("1INCH", 1),
        ("BTC", 1),
        ("10", 1),
    ],
)
def test_contract_multiplier(base: str, multiplier: int) -> None:
    assert contract_multiplier(base) == multiplier


def test_multiplier_contracts_are_selected_and_recognised(markets: dict[str, Market]) -> None:
    universe = SymbolManager(UniverseRules()).select(markets, {}, NOW)
    assert universe.multipliers["1000PEPE/USDC:USDC"] == 1000
    assert universe.multipliers["1000BONK/USDC:USDC"] == 1000
    assert universe.multipliers["BTC/USDC:USDC"] == 1


def test_max_symbols_keeps_the_highest_volume(markets: dict[str, Market]) -> None:
    perps = usdc_perps(markets)
    activity = {m.symbol: busy(1e6 * (i + 1)) for i, m in enumerate(perps)}  # later = busier
    universe = SymbolManager(UniverseRules(max_symbols=5)).select(markets, activity, NOW)
    assert list(universe.symbols) == [m.symbol for m in reversed(perps)][:5]
    dropped = [e for e in universe.excluded if e.code == "max_symbols"]
    assert len(dropped) == len(perps) - 5 and "ranked 6, only 5 kept" in dropped[0].detail


def test_volume_and_atr_filters(markets: dict[str, Market]) -> None:
    activity = {
        "BTC/USDC:USDC": busy(5e8, 0.002),
        "ETHUSDC": busy(3e8, 0.003),  # keyed by venue id: also accepted
        "SOL/USDC:USDC": busy(1e6, 0.004),  # too little volume
        "DOGE/USDC:USDC": busy(2e8, 0.0005),  # too quiet
        "WIF/USDC:USDC": busy(2e8, 0.05),  # too wild
        "SUI/USDC:USDC": MarketActivity(2e8, None, 3),  # not enough candles for ATR
    }
    rules = UniverseRules(min_quote_volume_24h=1e7, min_atr_pct=0.001, max_atr_pct=0.02)
    universe = SymbolManager(rules).select(markets, activity, NOW)
    assert universe.symbols == ("BTC/USDC:USDC", "ETH/USDC:USDC")
    codes = {e.symbol: e.code for e in universe.excluded}
    assert codes["SOL/USDC:USDC"] == "low_volume"
    assert codes["DOGE/USDC:USDC"] == "atr_low"
    assert codes["WIF/USDC:USDC"] == "atr_high"
    assert codes["SUI/USDC:USDC"] == "no_atr"
    assert codes["BNB/USDC:USDC"] == "no_activity"
    assert "too quiet" in universe.exclusion("DOGE/USDC:USDC").detail


def test_blacklist_and_whitelist(markets: dict[str, Market]) -> None:
    activity = {m.symbol: busy(1e9) for m in usdc_perps(markets)}
    activity["NEO/USDC:USDC"] = busy(10.0)  # would fail the volume filter
    rules = UniverseRules(
        min_quote_volume_24h=1e6,
        max_symbols=4,
        whitelist=("NEO/USDC:USDC", "BTCUSDC", "ETH/BTC:BTC", "NOPE/USDC:USDC", "DOGE/USDC:USDC"),
        blacklist=("DOGEUSDC", "SOL/USDC:USDC"),
    )
    universe = SymbolManager(rules).select(markets, activity, NOW)
    # Whitelisted and valid come first in whitelist order and skip the volume filter.
    assert universe.symbols[:2] == ("NEO/USDC:USDC", "BTC/USDC:USDC")
    assert len(universe.symbols) == 4
    assert "SOL/USDC:USDC" not in universe.symbols and "DOGE/USDC:USDC" not in universe.symbols
    reasons = {e.symbol: e for e in universe.excluded}
    assert reasons["DOGE/USDC:USDC"].code == "blacklisted"  # blacklist beats whitelist
    assert reasons["SOL/USDC:USDC"].code == "blacklisted"
    assert reasons["ETH/BTC:BTC"].code == "settle" and reasons["ETH/BTC:BTC"].detail.startswith(
        "whitelisted, but"
    )
    assert reasons["NOPE/USDC:USDC"].code == "unknown"


def test_rotation_only_when_the_interval_has_passed(markets: dict[str, Market]) -> None:
    perps = usdc_perps(markets)
    manager = SymbolManager(UniverseRules(max_symbols=1, rotation_interval_ms=4 * HOUR))
    assert manager.due(NOW)
    first = manager.update(markets, {perps[0].symbol: busy(2e9), perps[1].symbol: busy(1e9)}, NOW)
    assert first.symbols == (perps[0].symbol,) and first.selected_at_ms == NOW
    flipped = {perps[0].symbol: busy(1e9), perps[1].symbol: busy(2e9)}
    assert manager.update(markets, flipped, NOW + 4 * HOUR - 1) is first
    assert not manager.due(NOW + 4 * HOUR - 1)
    rotated = manager.update(markets, flipped, NOW + 4 * HOUR)
    assert rotated.symbols == (perps[1].symbol,) and rotated.selected_at_ms == NOW + 4 * HOUR
    assert manager.current is rotated


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="max_symbols"):
        UniverseRules(max_symbols=0)
    with pytest.raises(ValueError, match="ATR% band is empty"):
        UniverseRules(min_atr_pct=0.02, max_atr_pct=0.01)
    with pytest.raises(ValueError, match="string 'USDC'"):
        UniverseRules(settle="USDC")  # type: ignore[arg-type]


def test_atr_matches_a_hand_computation() -> None:
    closes = np.array([10.0, 11, 12, 11, 13, 12, 14, 15, 13, 12, 14, 16, 15, 17, 18, 16])
    opens = np.concatenate(([10.0], closes[:-1]))
    highs, lows = np.maximum(opens, closes) + 0.5, np.minimum(opens, closes) - 0.5
    df = make_candles(np.arange(len(closes)) * 300_000, opens, highs, lows, closes, np.ones(len(closes)))
    prev = np.concatenate(([closes[0]], closes[:-1]))
    tr = np.maximum(highs, prev) - np.minimum(lows, prev)
    atr = tr[:14].mean()
    for value in tr[14:]:
        atr = (atr * 13 + value) / 14  # Wilder's smoothing
    assert average_true_range(df, 14) == pytest.approx(atr)
    assert average_true_range(df.iloc[:13], 14) is None


def test_activity_from_real_candles(shared_data: Path) -> None:
    series = find_candles(shared_data, "BTC/USDC:USDC", "5m")
    now = 1_737_331_200_000  # 2025-01-20 00:00 UTC
    seen = activity_from_candles(series, now)
    day = series.frame.loc[now - 86_400_000 : now - 1]
    assert seen.candles_24h == 288
    assert seen.quote_volume_24h == pytest.approx(float((day["volume"] * day["close"]).sum()))
    assert 1e9 < seen.quote_volume_24h < 1e11  # BTC perps trade billions a day
    assert 0.0005 < seen.atr_pct < 0.01


def test_selection_on_synthetic_candles_end_to_end(markets: dict[str, Market]) -> None:
    symbols = [m.symbol for m in usdc_perps(markets)]
    candles = synthetic_history(symbols, seed=42, count=2 * 288, end_ms=NOW)
    activity = activity_by_symbol(candles, NOW)
    rules = UniverseRules(min_quote_volume_24h=1e6, min_atr_pct=0.001, max_atr_pct=0.02, max_symbols=10)
    universe = SymbolManager(rules).select(markets, activity, NOW)
    assert len(universe.symbols) == 10
    volumes = [activity[s].quote_volume_24h for s in universe.symbols]
    assert volumes == sorted(volumes, reverse=True)
