"""Slippage models: the flat default is exactly the old behaviour; the market-aware model moves a taker
fill by max(one tick, impact * sqrt(qty / candle volume)), from the last candle fed or the one walked."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.sim import MatchingEngine
from engine.venue.sim.slippage import MarketSlippage, slipped_price
from engine.venue.types import OrderType, Side
from tests.venue.venue_helpers import BTCUSDC, read_klines

M5 = 300_000
T0 = 1_700_000_000_000 // M5 * M5
START_MS = 1688474100000


def test_the_flat_default_gives_exactly_the_old_fills_on_real_candles(
    shared_data: Path, make_engine: Callable[..., MatchingEngine]
) -> None:
    candles = read_klines(shared_data / "klines" / "BTCUSDT-5m.csv.gz", START_MS, 120)
    default, explicit = make_engine(slippage_bps=3), make_engine(slippage_bps=3, slippage_model="flat")
    out: list[list] = [[], []]
    for n, engine in enumerate((default, explicit)):
        for i, c in enumerate(candles):
            out[n] += engine.on_candle(BTCUSDC, *c)
            if i % 10 == 5 and not engine.positions():
                entry = engine.place_market(BTCUSDC, Side.BUY, D("0.020"), f"E{i}")
                # the old rule, written out: last close + 3 bp, rounded up to the tick
                assert entry.average_price == slipped_price(D(repr(c[4])), Side.BUY, D("0.0003"), D("0.1"))
                stop, take = entry.average_price - 60, entry.average_price + 60
                engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.020"), stop, f"S{i}")
                engine.place_conditional(BTCUSDC, OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("0.020"), take, f"T{i}")
    assert out[0] == out[1] and len(out[0]) > 4
    for fill in out[0]:  # every triggered fill: its trigger moved by 3 bp, whatever the candle's volume
        order = default.fetch_order(BTCUSDC, fill.client_id, conditional=True)
        assert order is not None and order.trigger_price is not None
        if fill.price != slipped_price(order.trigger_price, Side.SELL, D("0.0003"), D("0.1")):
            assert fill.price <= order.trigger_price  # a gap through the trigger: from the open instead
    assert default.state_dict() == explicit.state_dict()
    assert default.state_dict()["config"]["slippage_model"] == "flat"


def test_market_aware_slippage_by_hand(make_engine: Callable[..., MatchingEngine]) -> None:
    e = make_engine(slippage_model="market")  # impact 10 bps for an order the size of the candle
    e.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 100.0)
    # 0.010 of 100 BTC: sqrt(0.0001) = 0.01; 60000 * 0.001 * 0.01 = 0.6 -> 60000.6
    assert e.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1").average_price == D("60000.6")
    # 1 BTC: sqrt(0.01) = 0.1 -> 6.0 below for a sell
    assert e.place_market(BTCUSDC, Side.SELL, D("1.000"), "E2").average_price == D("59994.0")
    e.on_candle(BTCUSDC, T0 + M5, 60000.0, 60000.0, 60000.0, 60000.0, 10_000_000.0)
    # 0.010 of 10 million: 0.0019 -> less than a tick: one tick
    assert e.place_market(BTCUSDC, Side.BUY, D("0.010"), "E3").average_price == D("60000.1")
    e.on_candle(BTCUSDC, T0 + 2 * M5, 60000.0, 60000.0, 60000.0, 60000.0, 0.0)
    # no volume known: as if the order were the whole candle: 60000 * 0.001 = 60
    assert e.place_market(BTCUSDC, Side.BUY, D("0.010"), "E4").average_price == D("60060.0")


def test_a_triggered_stop_slips_by_the_volume_of_the_candle_that_triggers_it(
    make_engine: Callable[..., MatchingEngine],
) -> None:
    e = make_engine(slippage_model="market", impact_bps=20)
    e.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 1.0)
    e.place_market(BTCUSDC, Side.BUY, D("0.100"), "E1")
    e.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.100"), D("59500.0"), "SL")
    (fill,) = e.on_candle(BTCUSDC, T0 + M5, 60000.0, 60000.0, 59000.0, 59100.0, 1000.0)
    # 0.1 of 1000: sqrt(0.0001) = 0.01; 59500 * 0.002 * 0.01 = 1.19 -> 59498.81 -> floor 59498.8
    assert fill.price == D("59498.8")


def test_the_market_model_settings_are_checked_and_saved(
    make_engine: Callable[..., MatchingEngine], markets: dict[str, Market], brackets: dict[str, Brackets]
) -> None:
    with pytest.raises(ValueError, match="no effect"):
        make_engine(slippage_model="market", slippage_bps=2)
    with pytest.raises(ValueError, match="unknown slippage_model"):
        make_engine(slippage_model="square")
    with pytest.raises(ValueError, match="max_volume_share"):
        make_engine(max_volume_share=0)
    e = make_engine(slippage_model="market", impact_bps=15, max_volume_share="0.25")
    e.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 3.5)
    restored = MatchingEngine.from_state(markets, e.state_dict(), brackets=brackets)
    assert (restored.slippage_model, restored.impact, restored.max_volume_share) == ("market", D("0.0015"), D("0.25"))
    assert restored.book(BTCUSDC).volume == 3.5  # the volume the next market order is measured against
    assert restored.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1") == e.place_market(
        BTCUSDC, Side.BUY, D("0.010"), "E1"
    )
    assert MarketSlippage(D("0.001")).offset(D(60000), D("0.010"), D("0.1"), 100.0) == D("0.6")


def _profile(tmp_path: Path, venue: str):  # noqa: ANN202 - a Profile
    from engine.config.loading import load_profile

    path = tmp_path / "p.yaml"
    repo = Path(__file__).resolve().parents[3]
    path.write_text(f"extends: {repo / 'profiles' / 'balanced.yaml'}\nname: slip\n{venue}")
    return load_profile(path, with_overrides=False).profile


def test_a_profile_without_slippage_bps_gets_the_market_aware_model(tmp_path: Path) -> None:
    from engine.bot.venues import sim_engine
    from engine.venue.catalog import builtin_markets

    engine = sim_engine(builtin_markets(("USDC",)), {"USDC": D(100_000)}, _profile(tmp_path, ""))
    assert engine.slippage_model == "market" and isinstance(engine._slippage, MarketSlippage)
    # one order against a candle: market-aware slips by the volume share, not a flat figure
    engine.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 100.0)
    fill = engine.place_market(BTCUSDC, Side.BUY, D("1.000"), "E1")
    assert fill.average_price == D("60000") + D("60000") * D("0.001") * D("0.1")  # sqrt(1/100) = 0.1


def test_slippage_bps_in_the_profile_pins_a_flat_figure(tmp_path: Path) -> None:
    from engine.bot.venues import sim_engine
    from engine.venue.catalog import builtin_markets

    engine = sim_engine(builtin_markets(("USDC",)), {"USDC": D(1000)},
                        _profile(tmp_path, "venue: {slippage_bps: 2}\n"))
    assert (engine.slippage_model, engine.slippage) == ("flat", D("0.0002"))
    engine.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 100.0)
    assert engine.place_market(BTCUSDC, Side.BUY, D("0.010"), "E1").average_price == D("60012.0")
