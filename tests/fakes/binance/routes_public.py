"""Public endpoints: ping, time (WALL clock), exchangeInfo, klines, tickers, bookTicker, premiumIndex,
depth. Market data comes from the tapes at the MARKET clock."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.venue.markets import Market
from engine.venue.types import TIMEFRAME_MS
from tests.fakes.binance import shapes
from tests.fakes.binance.errors import bad_request, mandatory, unsupported
from tests.fakes.binance.market import DAY_MS, aggregate, klines, with_forming
from tests.fakes.binance.params import Params

if TYPE_CHECKING:
    from tests.fakes.binance.fake import FakeBinance

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def wall_ms() -> int:
    return int(time.time() * 1000)


def ping(fake: FakeBinance, p: Params) -> Any:
    return {}


def server_time(fake: FakeBinance, p: Params) -> Any:
    return {"serverTime": wall_ms()}


def exchange_info(fake: FakeBinance, p: Params) -> Any:
    entries = [e for e in fake.symbol_entries if e["symbol"] not in fake.delisted]
    return shapes.exchange_info(entries, fake.asset_entries, wall_ms())


def _price(fake: FakeBinance, market: Market) -> float:
    price = fake.price(market)
    if price is None:
        raise unsupported(f"a price for {market.id} before the first candle of {fake.data_source}")
    return price


def kline_candles(fake: FakeBinance, p: Params, symbol_param: str = "symbol") -> Any:
    market = fake.market_param(p, symbol_param)
    interval = p.get("interval")
    if interval is None:
        raise mandatory("interval")
    if interval not in TIMEFRAME_MS:
        raise bad_request(-1120, "Invalid interval.")
    interval_ms = TIMEFRAME_MS[interval]
    if interval_ms % fake.step_ms:
        raise unsupported(f"{interval} candles: the finest candles of {fake.data_source} are {fake.step_ms} ms")
    limit = p.limit(500, 1000)
    tape = fake.tapes[market.symbol]
    bars = klines(tape, interval_ms, fake.market_time_ms, p.integer("startTime"), p.integer("endTime"), limit)
    return shapes.kline_rows(market, bars, interval_ms)


def index_price_klines(fake: FakeBinance, p: Params) -> Any:
    return kline_candles(fake, p, "pair")


def _markets(fake: FakeBinance, p: Params) -> list[Market]:
    market = fake.optional_market(p)
    return [market] if market is not None else fake.listed()


def _one_or_all(p: Params, rows: list[dict[str, Any]]) -> Any:
    return rows[0] if "symbol" in p else rows


def ticker_24hr(fake: FakeBinance, p: Params) -> Any:
    now = fake.market_time_ms
    rows = []
    for market in _markets(fake, p):
        tape = fake.tapes[market.symbol]
        times, ohlcv = with_forming(tape, now // tape.step_ms * tape.step_ms - DAY_MS, now)
        bars = aggregate(times, ohlcv, tape.step_ms)
        rows.append(shapes.ticker_24h(market, bars, _price(fake, market), now, now // 1000))
    return _one_or_all(p, rows)


def ticker_price(fake: FakeBinance, p: Params) -> Any:
    now = fake.market_time_ms
    rows = [
        {"symbol": m.id, "price": shapes.price_text(m, _price(fake, m)), "time": now} for m in _markets(fake, p)
    ]
    return _one_or_all(p, rows)


def book_ticker(fake: FakeBinance, p: Params) -> Any:
    now = fake.market_time_ms
    rows = []
    for m in _markets(fake, p):
        bid = _price(fake, m)
        rows.append({
            "symbol": m.id, "bidPrice": shapes.price_text(m, bid), "bidQty": shapes.qty_text(m, m.market_max_qty),
            "askPrice": shapes.price_text(m, bid + float(m.tick_size)),
            "askQty": shapes.qty_text(m, m.market_max_qty), "time": now, "lastUpdateId": now,
        })
    return _one_or_all(p, rows)


def premium_index(fake: FakeBinance, p: Params) -> Any:
    now = fake.market_time_ms
    rate = fake.engine.funding_rate or 0
    next_funding = (now // 28_800_000 + 1) * 28_800_000
    rows = []
    for m in _markets(fake, p):
        mark = shapes.price_text(m, _price(fake, m))
        rows.append({
            "symbol": m.id, "markPrice": mark, "indexPrice": mark, "estimatedSettlePrice": mark,
            "lastFundingRate": f"{rate:.8f}", "interestRate": "0.00010000", "nextFundingTime": next_funding,
            "time": now,
        })
    return _one_or_all(p, rows)


def depth(fake: FakeBinance, p: Params) -> Any:
    """A thin synthetic book around the price: one tick apart, the market's max quantity per level."""
    market = fake.market_param(p)
    limit = p.integer("limit", 500)
    if limit not in DEPTH_LIMITS:
        raise bad_request(-4021, "Invalid depth limit.")
    now = fake.market_time_ms
    price, tick = _price(fake, market), float(market.tick_size)
    qty = shapes.qty_text(market, market.market_max_qty)
    levels = np.arange(min(limit, 20))
    return {
        "lastUpdateId": now, "E": now, "T": now,
        "bids": [[shapes.price_text(market, price - i * tick), qty] for i in levels],
        "asks": [[shapes.price_text(market, price + (i + 1) * tick), qty] for i in levels],
    }
