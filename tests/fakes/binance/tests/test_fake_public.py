"""The fake's public fapi through the real ccxt client: markets, klines (paging, intervals, the forming
candle), tickers, server time, headers, and the two clocks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.errors import BadRequest, BadSymbol

from engine.market.datadir import find_candles
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.market import MarketClock
from tests.fakes.binance.tests.conftest import MakeClient
from tests.fakes.binance.tests.support import BTC, ETH, next_candle, price

FIVE_MIN = 300_000


async def test_load_markets_is_one_request_and_parses_usdc_perpetuals(
    fake: FakeBinance, make_client: MakeClient
) -> None:
    ex = make_client(fake)
    markets = await ex.load_markets()
    assert [(r.method, r.path, r.signed) for r in fake.requests] == [("GET", "/fapi/v1/exchangeInfo", False)]
    assert set(markets) == {BTC, ETH}
    btc = markets[BTC]
    assert (btc["id"], btc["type"], btc["settle"], btc["linear"], btc["active"]) == (
        "BTCUSDC",
        "swap",
        "USDC",
        True,
        True,
    )
    assert btc["precision"]["price"] == 0.1 and btc["precision"]["amount"] == 0.001
    assert btc["limits"]["cost"]["min"] == 100
    assert {"MARKET", "LIMIT", "STOP_MARKET", "TAKE_PROFIT_MARKET"} <= set(btc["info"]["orderTypes"])


async def test_klines_page_forward_and_end_with_the_forming_candle(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    now = fake.market_time_ms
    since = now - 1500 * FIVE_MIN
    first = await ex.fetch_ohlcv(BTC, "5m", since, 1000)
    second = await ex.fetch_ohlcv(BTC, "5m", first[-1][0] + FIVE_MIN, 1000)
    candles = first + second
    assert [c[0] for c in candles] == [since + k * FIVE_MIN for k in range(1501)]
    assert [int(r.params["startTime"]) for r in fake.requests] == [since, since + 1000 * FIVE_MIN]
    forming = candles[-1]
    assert forming[0] == now and forming[5] == 0  # the candle opening now: only its open is known
    assert forming[1] == forming[2] == forming[3] == forming[4] == price(fake)
    assert forming[1] == candles[-2][4]  # the synthetic market has no gaps: open == previous close

    latest = await ex.fetch_ohlcv(BTC, "5m", limit=3)
    assert latest == candles[-3:]


async def test_the_forming_candle_does_not_leak_the_future(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    o, h, low, c = next_candle(fake)
    before = (await ex.fetch_ohlcv(BTC, "5m", limit=1))[0]
    assert before[1:5] == [o, o, o, o]
    fake.advance()
    closed, forming = await ex.fetch_ohlcv(BTC, "5m", limit=2)
    assert closed[0] == before[0] and closed[1:5] == [o, h, low, c] and closed[5] > 0
    assert forming[0] == before[0] + FIVE_MIN and forming[5] == 0


async def test_longer_and_shorter_intervals_come_from_one_path(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    fake.advance(7)  # 35 minutes into an hour-aligned start: the 15m bucket now forming holds 5m candles
    fives = await ex.fetch_ohlcv(BTC, "5m", limit=12)
    fifteens = await ex.fetch_ohlcv(BTC, "15m", limit=4)
    ones = await ex.fetch_ohlcv(BTC, "1m", limit=11)
    by_time = {c[0]: c for c in fives}
    for bar in fifteens:
        parts = [by_time[t] for t in range(bar[0], bar[0] + 900_000, FIVE_MIN) if t in by_time]
        assert bar[1] == parts[0][1] and bar[4] == parts[-1][4]
        assert bar[2] == max(p[2] for p in parts) and bar[3] == min(p[3] for p in parts)
        assert bar[5] == pytest.approx(sum(p[5] for p in parts))
    assert fifteens[-1][0] == fake.market_time_ms // 900_000 * 900_000
    assert ones[-1][0] == fake.market_time_ms and ones[-1][4] == fives[-1][4]
    five_from_ones = ones[-6:-1]  # the last closed 5m candle, from its 1m candles
    assert fives[-2][1:5] == [
        five_from_ones[0][1],
        max(c[2] for c in five_from_ones),
        min(c[3] for c in five_from_ones),
        five_from_ones[-1][4],
    ]


async def test_kline_errors_are_binance_codes(ex: ccxt_async.binanceusdm) -> None:
    with pytest.raises(BadRequest, match="-1130"):
        await ex.fapiPublicGetKlines({"symbol": "BTCUSDC", "interval": "5m", "limit": 1001})
    with pytest.raises(BadRequest, match="-1120"):
        await ex.fapiPublicGetKlines({"symbol": "BTCUSDC", "interval": "1s"})
    with pytest.raises(BadSymbol, match="-1121"):
        await ex.fapiPublicGetKlines({"symbol": "NOPEUSDC", "interval": "5m"})


async def test_klines_respect_start_end_and_never_show_the_future(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    now = fake.market_time_ms
    rows = await ex.fapiPublicGetKlines(
        {"symbol": "BTCUSDC", "interval": "5m", "startTime": now - 10 * FIVE_MIN, "endTime": now - 5 * FIVE_MIN}
    )
    assert [r[0] for r in rows] == [now - k * FIVE_MIN for k in range(10, 4, -1)]
    assert (
        len(rows[0]) == 12 and all(isinstance(x, str) for x in rows[0][1:6]) and rows[0][6] == rows[0][0] + FIVE_MIN - 1
    )
    future = await ex.fapiPublicGetKlines({"symbol": "BTCUSDC", "interval": "5m", "startTime": now + FIVE_MIN})
    assert future == []


async def test_tickers_book_and_mark_price_agree_with_the_forming_candle(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    last = price(fake)
    ticker = await ex.fetch_ticker(BTC)
    assert ticker["last"] == last and ticker["timestamp"] == fake.market_time_ms
    assert ticker["bid"] is None  # 24hr ticker has no book
    tickers = await ex.fetch_tickers()
    assert set(tickers) == {BTC, ETH} and tickers[ETH]["last"] == price(fake, ETH)
    book = await ex.fetch_bids_asks([BTC])
    assert book[BTC]["bid"] == last and book[BTC]["ask"] == pytest.approx(last + 0.1)
    mark = await ex.fapiPublicGetPremiumIndex({"symbol": "BTCUSDC"})
    assert float(mark["markPrice"]) == last and mark["time"] == fake.market_time_ms


async def test_server_time_is_the_wall_clock_not_the_market_clock(
    ex: ccxt_async.binanceusdm, fake: FakeBinance
) -> None:
    server = await ex.fetch_time()
    assert abs(server - time.time() * 1000) < 5_000
    assert abs(server - fake.market_time_ms) > 86_400_000  # the market lives in 2025-03
    assert await ex.fapiPublicGetPing() == {}


async def test_every_answer_carries_the_used_weight_header(ex: ccxt_async.binanceusdm) -> None:
    await ex.fetch_ticker(BTC)
    first = int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    await ex.fetch_tickers()  # weight 40 without a symbol
    assert int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"]) == first + 40


async def test_unknown_path_is_a_404_naming_it(fake: FakeBinance) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{fake.base_url}/fapi/v9/nothing") as response:
        assert response.status == 404
        body = await response.json()
    assert body["msg"] == "fake Binance does not serve GET /fapi/v9/nothing"
    assert fake.requests[-1].status == 404


async def test_a_running_clock_feeds_closed_candles_lazily(
    make_fake_binance: Callable[..., Awaitable[FakeBinance]], make_client: MakeClient
) -> None:
    fake = await make_fake_binance(symbols=[BTC], data_dir=None, speed=60.0)
    wall = [100.0]
    fake.clock = MarketClock(fake.start_ms, 60.0, wall=lambda: wall[0])
    ex = make_client(fake)
    start = fake.market_time_ms
    wall[0] += 12.5  # 12.5 s of wall time at 60x: 12.5 market minutes
    assert fake.market_time_ms == start + 750_000
    candles = await ex.fetch_ohlcv(BTC, "5m", limit=4)
    assert [c[0] for c in candles] == [start - FIVE_MIN, start, start + FIVE_MIN, start + 2 * FIVE_MIN]
    assert candles[-1][5] > 0  # the forming 5m bucket already holds 2 closed 1m candles
    assert fake.engine.book(BTC).last == candles[-1][4]  # the engine saw every closed minute


def test_a_paused_clock_holds_the_market_still_and_resumes_where_it_stood() -> None:
    wall = [100.0]
    clock = MarketClock(1_000_000, 60.0, wall=lambda: wall[0])
    wall[0] += 1.0  # one wall second at 60x: one market minute
    assert clock.now_ms() == 1_060_000
    clock.pause()
    wall[0] += 30.0
    assert clock.now_ms() == 1_060_000  # nothing moves while paused
    clock.resume()
    wall[0] += 2.0
    assert clock.now_ms() == 1_180_000  # two more market minutes, none for the pause


async def test_default_fixtures_serve_real_candles_when_present(
    fake_binance: FakeBinance, binance_client: ccxt_async.binanceusdm
) -> None:
    candles = await binance_client.fetch_ohlcv(BTC, "5m", limit=5)
    assert candles[-1][0] == fake_binance.market_time_ms and candles[-1][5] == 0
    assert fake_binance.data_source.startswith(("candle files", "synthetic"))


async def test_real_candles_match_the_files(
    make_fake_binance: Callable[..., Awaitable[FakeBinance]], make_client: MakeClient, shared_data: Path
) -> None:
    fake = await make_fake_binance(symbols=[BTC], data_dir=shared_data, start="2025-03-01")
    ex = make_client(fake)
    now = fake.market_time_ms
    got = await ex.fetch_ohlcv(BTC, "5m", now - 300 * FIVE_MIN, 300)
    frame = find_candles(shared_data, "BTCUSDT", "5m", now - 300 * FIVE_MIN, now).frame
    assert [c[0] for c in got] == list(frame.index)
    assert [x for c in got for x in c[1:6]] == pytest.approx(frame.to_numpy().ravel().tolist())
    assert fake.advance() == now + FIVE_MIN


async def test_without_shared_data_the_built_in_markets_are_served(
    make_fake_binance: Callable[..., Awaitable[FakeBinance]],
    make_client: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ENGINE_SHARED_DATA", str(tmp_path))  # no snapshot, no tiers, no candles
    fake = await make_fake_binance()
    ex = make_client(fake)
    markets = await ex.load_markets()
    assert len(markets) == 6 and markets[BTC]["limits"]["cost"]["min"] == 100
    assert markets["DOGE/USDC:USDC"]["precision"]["amount"] == 1
    await ex.create_order(BTC, "market", "buy", 0.01)
    [position] = await ex.fetch_positions([BTC])
    assert position["contracts"] == 0.01 and position["maintenanceMarginPercentage"] == 0.01


async def test_advancing_past_the_end_of_the_files_is_refused(
    make_fake_binance: Callable[..., Awaitable[FakeBinance]], shared_data: Path
) -> None:
    fake = await make_fake_binance(symbols=[BTC], data_dir=shared_data, start="2025-08-31T23:50")
    fake.advance()  # to 23:55, the last candle in the files
    with pytest.raises(ValueError, match="no candles after"):
        fake.advance()
