"""Candle sources: files, synthetic, and Binance public data through real ccxt against a local fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pandas as pd
import pytest

from engine.market.candles import resample_candles, timeframe_ms
from engine.market.datadir import CandlesNotFoundError, find_candles
from engine.market.feed import (
    BinancePublicCandleSource,
    CandleSource,
    FileCandleSource,
    OfflineError,
    SyntheticCandleSource,
)
from engine.market.synthetic import SyntheticMarket
from engine.offline import is_offline
from tests.market.fake_public_fapi import FakePublicFapi

JAN_2025 = 1_735_689_600_000
STEP = 300_000


# --- files ------------------------------------------------------------------------------------------


async def test_file_source_returns_only_closed_candles(shared_data: Path) -> None:
    async with FileCandleSource(shared_data) as source:
        assert isinstance(source, CandleSource) and not source.synthetic
        now = JAN_2025 + 10 * STEP + 1234  # the candle opened at +10 is still forming
        got = await source.closed_candles("BTC/USDT:USDT", "5m", JAN_2025, now)
    assert list(got.frame.index) == [JAN_2025 + i * STEP for i in range(10)]


async def test_file_source_replays_usdc_on_usdt_twin_and_flags_it(shared_data: Path) -> None:
    source = FileCandleSource(shared_data)
    got = await source.closed_candles("ETH/USDC:USDC", "5m", JAN_2025, JAN_2025 + 288 * STEP)
    assert got.is_twin_fallback and got.candles_of == "ETH/USDT:USDT" and len(got.frame) == 288


async def test_file_source_aggregates_a_missing_timeframe(shared_data: Path) -> None:
    source = FileCandleSource(shared_data)
    got = await source.closed_candles("INJUSDT", "1h", JAN_2025, JAN_2025 + 86_400_000)
    five = find_candles(shared_data, "INJUSDT", "5m", JAN_2025, JAN_2025 + 86_400_000).frame
    pd.testing.assert_frame_equal(got.frame, resample_candles(five, "5m", "1h"))
    assert len(got.frame) == 24 and "aggregated 5m → 1h" in got.source


async def test_file_source_raises_for_unknown_symbol(shared_data: Path) -> None:
    with pytest.raises(CandlesNotFoundError):
        await FileCandleSource(shared_data).closed_candles("NOPE/USDT:USDT", "5m", JAN_2025, JAN_2025 + STEP)


# --- synthetic --------------------------------------------------------------------------------------


async def test_synthetic_source_matches_the_market_and_is_labelled() -> None:
    source = SyntheticCandleSource(seed=5, start_ms=JAN_2025)
    end = JAN_2025 + 100 * STEP + 7
    got = await source.closed_candles("BTC/USDC:USDC", "5m", JAN_2025 + 50 * STEP, end)
    direct = SyntheticMarket([], seed=5, start_ms=JAN_2025).candles(
        "BTC/USDC:USDC", JAN_2025 + 50 * STEP, end
    )
    pd.testing.assert_frame_equal(got.frame, direct.frame)
    assert got.synthetic and got.source == "synthetic (seed 5)" and source.synthetic
    assert len(got.frame) == 50


async def test_synthetic_source_polling_continues_the_same_process() -> None:
    source = SyntheticCandleSource(seed=5, start_ms=JAN_2025)
    first = await source.closed_candles("SOL/USDC:USDC", "5m", JAN_2025, JAN_2025 + 20 * STEP)
    nxt = await source.closed_candles(
        "SOL/USDC:USDC", "5m", first.frame.index[-1] + STEP, JAN_2025 + 21 * STEP
    )
    whole = await source.closed_candles("SOL/USDC:USDC", "5m", JAN_2025, JAN_2025 + 21 * STEP)
    pd.testing.assert_frame_equal(pd.concat([first.frame, nxt.frame]), whole.frame)


async def test_synthetic_source_serves_longer_timeframes() -> None:
    source = SyntheticCandleSource(seed=5, start_ms=JAN_2025)
    got = await source.closed_candles("ETH/USDC:USDC", "15m", JAN_2025 + 3 * STEP, JAN_2025 + 30 * STEP)
    assert list(got.frame.index) == [JAN_2025 + k * timeframe_ms("15m") for k in range(1, 10)]


# --- Binance public data, on the wire ---------------------------------------------------------------


@pytest.fixture
async def fake_fapi(shared_data: Path, mainnet_exchange_info: Path) -> AsyncIterator[FakePublicFapi]:
    fake = FakePublicFapi(mainnet_exchange_info, shared_data)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def public_source(fake_fapi: FakePublicFapi) -> AsyncIterator[BinancePublicCandleSource]:
    source = BinancePublicCandleSource(fake_fapi.base_url, allow_loopback=True, rate_limit=False)
    try:
        yield source
    finally:
        await source.close()


async def test_ccxt_pages_through_klines_and_matches_the_file(
    fake_fapi: FakePublicFapi, public_source: BinancePublicCandleSource, shared_data: Path
) -> None:
    assert is_offline()  # loopback is allowed explicitly, offline mode stays on
    end = JAN_2025 + 2500 * STEP + 60_000  # mid-candle: the forming candle must not come back
    got = await public_source.closed_candles("BTC/USDT:USDT", "5m", JAN_2025, end)
    expected = find_candles(shared_data, "BTCUSDT", "5m", JAN_2025, JAN_2025 + 2500 * STEP).frame
    pd.testing.assert_frame_equal(got.frame, expected)
    assert got.source.startswith("binance public fapi (http://127.0.0.1:") and not got.synthetic

    klines = [q for path, q in fake_fapi.requests if path == "/fapi/v1/klines"]
    assert fake_fapi.paths()[0] == "/fapi/v1/exchangeInfo"  # load_markets: one request, no sapi
    assert len(klines) == 3
    assert [int(q["startTime"]) for q in klines] == [JAN_2025 + k * 1000 * STEP for k in range(3)]
    assert all(q["symbol"] == "BTCUSDT" and q["interval"] == "5m" and q["limit"] == "1000" for q in klines)
    assert all(int(q["endTime"]) == end - 1 for q in klines)


async def test_markets_are_loaded_once_and_usdc_symbols_resolve(
    fake_fapi: FakePublicFapi, public_source: BinancePublicCandleSource
) -> None:
    await public_source.closed_candles("BTC/USDC:USDC", "5m", JAN_2025, JAN_2025 + 3 * STEP)
    got = await public_source.closed_candles("BTC/USDC:USDC", "5m", JAN_2025 + 3 * STEP, JAN_2025 + 6 * STEP)
    assert len(got.frame) == 3
    assert fake_fapi.paths().count("/fapi/v1/exchangeInfo") == 1
    assert {q["symbol"] for p, q in fake_fapi.requests if p == "/fapi/v1/klines"} == {"BTCUSDC"}


async def test_empty_window_makes_no_kline_request(
    fake_fapi: FakePublicFapi, public_source: BinancePublicCandleSource
) -> None:
    got = await public_source.closed_candles("BTC/USDT:USDT", "5m", JAN_2025, JAN_2025 + STEP - 1)
    assert got.frame.empty
    assert "/fapi/v1/klines" not in fake_fapi.paths()


def test_real_binance_is_refused_offline() -> None:
    with pytest.raises(OfflineError, match="ENGINE_OFFLINE=1.*fapi.binance.com"):
        BinancePublicCandleSource()


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:9", False),  # loopback, but not explicitly allowed
        ("https://fapi.binance.com", True),  # allowed flag cannot open the real internet
        ("http://10.0.0.5:8080", True),
        ("http://127.0.0.1.example.com", True),
    ],
)
def test_only_explicit_loopback_is_allowed_offline(url: str, allow: bool) -> None:
    with pytest.raises(OfflineError, match="offline mode is on"):
        BinancePublicCandleSource(url, allow_loopback=allow)


async def test_offline_is_checked_again_at_request_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGINE_OFFLINE")
    source = BinancePublicCandleSource("http://192.0.2.1:1")  # TEST-NET address; never contacted
    monkeypatch.setenv("ENGINE_OFFLINE", "1")
    try:
        with pytest.raises(OfflineError):
            await source.closed_candles("BTC/USDT:USDT", "5m", JAN_2025, JAN_2025 + STEP)
    finally:
        await source.close()


async def test_exchange_info_from_the_wire_gives_the_real_filters(
    public_source: BinancePublicCandleSource, mainnet_exchange_info: Path
) -> None:
    from engine.venue.markets import load_exchange_info, parse_exchange_info

    markets = parse_exchange_info(await public_source.exchange_info())
    assert markets == load_exchange_info(mainnet_exchange_info)
    assert markets["BTC/USDC:USDC"].min_notional == 100
