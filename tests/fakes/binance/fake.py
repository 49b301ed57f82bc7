"""`FakeBinance`: a Binance USD-M (fapi) account and market behind an HTTP server on 127.0.0.1, for
driving the real ccxt client (and the bot) on the wire. See the package docstring for the public API.

The market clock feeds the matching engine lazily: whenever anything asks (a request, `advance`, the
background task with `speed`), every fine candle that has closed is fed in time order across symbols,
then the forming candle's open (o=h=l=c), so the engine's price is always the price klines and tickers
show. A gap between the last close and the next open fills crossed stops at the open, as on Binance.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.market.candles import timeframe_ms
from engine.venue.builtin_markets import builtin_markets
from engine.venue.leverage import Brackets, load_leverage_tiers
from engine.venue.markets import Market, parse_exchange_info
from engine.venue.sim import MatchingEngine
from engine.venue.symbols import to_unified
from engine.venue.types import TIMEFRAME_MS
from tests.fakes.binance import market as tapes_mod
from tests.fakes.binance.account import AccountSettings, asset_row, position_row_v3
from tests.fakes.binance.errors import invalid_symbol, mandatory
from tests.fakes.binance.faults import Fault, FaultBook, FiredFault
from tests.fakes.binance.market import MarketClock, Tape, current_price, parse_time
from tests.fakes.binance.orders import OrderDesk
from tests.fakes.binance.params import Params
from tests.fakes.binance.server import FapiServer, RecordedRequest
from tests.fakes.binance.shapes import algo_json, decimals, order_json, plain, symbol_entry, with_order_types

DEFAULT_SYMBOLS = ("BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC", "BNB/USDC:USDC", "XRP/USDC:USDC",
                   "DOGE/USDC:USDC")
DEFAULT_BALANCES = {"USDC": "10000", "USDT": "10000"}
DEFAULT_LEVERAGE = 20  # Binance's default for a symbol never traded
MAINNET_SNAPSHOT = "exchangeinfo/fapi-exchangeInfo-mainnet-2024-10-20.json"
LEVERAGE_TIERS = "leverage/binance-leverage-tiers.json"


def default_shared_data() -> Path:
    """The shared data folder beside the project (ENGINE_SHARED_DATA overrides), as tests/conftest.py."""
    repo = Path(__file__).resolve().parents[3]
    return Path(os.environ.get("ENGINE_SHARED_DATA", repo.parent / "shared" / "data"))


@cache
def _snapshot(path: str) -> tuple[dict[str, Market], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    raw = {s["symbol"]: s for s in payload.get("symbols", [])}
    return parse_exchange_info(payload), raw, payload.get("assets", [])


@cache
def _tiers(path: str) -> dict[str, Brackets]:
    return load_leverage_tiers(Path(path))


class FakeBinance:
    """A fake Binance USD-M account and market served on 127.0.0.1 (see the package docstring).

    `symbols`: unified symbols (default DEFAULT_SYMBOLS); `data_dir`: candle files (DataDir; USDC markets
    fall back to their USDT twins), None for the seeded synthetic market (`seed`, 1m candles);
    `exchange_info`: snapshot JSON (default: the shared mainnet snapshot, else the built-in markets);
    `start`: first market time, ISO or ms (default: files: the latest first candle + 200 candles;
    synthetic: 2025-03-01 with 1500 candles of history); `timeframe`: what `advance(candles=n)` moves by;
    `speed`: None for a manual clock, else market ms per wall ms; `balances` per settle asset;
    `api_key`/`secret` for signed requests; `leverage_tiers` (default: the shared tiers, else one strict
    tier), `slippage_bps` and `funding_rate` go to the matching engine; `limit_fill_share`: the most of a
    resting LIMIT order one candle fills (tests/fakes/binance/limits.py). Raises ValueError for a symbol
    not in the exchangeInfo (or a share outside (0, 1]), CandlesNotFoundError for one without candles
    in `data_dir`."""

    def __init__(
        self,
        symbols: list[str] | tuple[str, ...] | None = None,
        data_dir: Path | None = None,
        exchange_info: Path | None = None,
        start: str | int | None = None,
        timeframe: str = "5m",
        speed: float | None = None,
        balances: Mapping[str, str | int | Decimal] | None = None,
        api_key: str = "test-key",
        secret: str = "test-secret",
        seed: int = 7,
        *,
        leverage_tiers: Path | None = None,
        slippage_bps: Decimal | int | str = 0,
        funding_rate: Decimal | None = None,
        limit_fill_share: float = 1.0,
    ) -> None:
        if timeframe not in TIMEFRAME_MS:
            raise ValueError(f"timeframe {timeframe!r} is not a Binance kline interval")
        self.timeframe = timeframe
        self.api_key, self.secret = api_key, secret
        shared = default_shared_data()
        self.markets, self.symbol_entries, self.asset_entries = self._load_markets(symbols, exchange_info, shared)
        self.by_id = {m.id: m for m in self.markets.values()}
        tf_ms = timeframe_ms(timeframe)
        market_list = list(self.markets.values())
        if data_dir is not None:
            self.tapes: dict[str, Tape] = tapes_mod.file_tapes(market_list, Path(data_dir), timeframe)
            first = max(t.first_ms or 0 for t in self.tapes.values())
            start_ms = parse_time(start) if start is not None else first + tapes_mod.FILE_HISTORY * tf_ms
            self.data_source = f"candle files in {data_dir}"
        else:
            start_ms = parse_time(start if start is not None else tapes_mod.SYNTHETIC_DEFAULT_START)
            start_ms = start_ms // tf_ms * tf_ms
            history = start_ms - tapes_mod.SYNTHETIC_HISTORY * tf_ms
            self.tapes = tapes_mod.synthetic_tapes(market_list, seed, history)
            self.data_source = f"synthetic market (seed {seed})"
        self.step_ms = next(iter(self.tapes.values())).step_ms
        if tf_ms % self.step_ms:
            raise ValueError(f"timeframe {timeframe} is not a multiple of the data's {self.step_ms} ms candles")
        self.start_ms = start_ms // self.step_ms * self.step_ms
        self.clock = MarketClock(self.start_ms, speed)
        tiers_path = leverage_tiers or shared / LEVERAGE_TIERS
        brackets = _tiers(str(tiers_path)) if Path(tiers_path).is_file() else {}
        self.assets = list((balances or DEFAULT_BALANCES).keys())
        self.engine = MatchingEngine(
            self.markets,
            balances={k: Decimal(str(v)) for k, v in (balances or DEFAULT_BALANCES).items()},
            brackets={s: b for s, b in brackets.items() if s in self.markets},
            default_leverage=DEFAULT_LEVERAGE,
            slippage_bps=slippage_bps,
            funding_rate=funding_rate,
        )
        self.desk = OrderDesk(self.engine, lambda: self.clock.now_ms(), limit_fill_share)
        self.settings = AccountSettings()
        self.faults = FaultBook()
        self.delisted: set[str] = set()  # venue ids taken out of exchangeInfo (`delist`)
        self.requests: list[RecordedRequest] = []
        self._fed_until = self.start_ms
        self._forming_at: int | None = None
        self._server: FapiServer | None = None
        self.base_url = ""
        self.catch_up()

    @staticmethod
    def _load_markets(
        symbols: list[str] | tuple[str, ...] | None, exchange_info: Path | None, shared: Path
    ) -> tuple[dict[str, Market], list[dict[str, Any]], list[dict[str, Any]]]:
        path = exchange_info if exchange_info is not None else shared / MAINNET_SNAPSHOT
        names = [to_unified(s) for s in (symbols or DEFAULT_SYMBOLS)]
        if Path(path).is_file():
            parsed, raw, assets = _snapshot(str(path))
        elif exchange_info is not None:
            raise FileNotFoundError(f"exchangeInfo snapshot not found: {exchange_info}")
        else:
            parsed, raw, assets = builtin_markets(), {}, []
        missing = [n for n in names if n not in parsed]
        if missing:
            raise ValueError(f"fake Binance: {', '.join(missing)} not in the exchangeInfo ({path})")
        markets = {n: parsed[n] for n in names}
        entries = [with_order_types(raw[m.id]) if m.id in raw else symbol_entry(m) for m in markets.values()]
        settles = {m.settle for m in markets.values()}
        kept = [a for a in assets if a.get("asset") in settles] or [
            {"asset": s, "marginAvailable": True, "autoAssetExchange": "-10000"} for s in sorted(settles)
        ]
        return markets, entries, kept

    # ---- server ----------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:`port` (0: a free one); returns the base URL "http://127.0.0.1:PORT"."""
        self._server = FapiServer(self)
        self.base_url = await self._server.start(port)
        return self.base_url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # ---- market clock ----------------------------------------------------------------------------------

    @property
    def market_time_ms(self) -> int:
        return self.clock.now_ms()

    @property
    def speed(self) -> float | None:
        return self.clock.speed

    def catch_up(self) -> None:
        """Feed the engine every fine candle closed by the market time, then the forming candle's open."""
        now = self.clock.now_ms()
        grid = now // self.step_ms * self.step_ms
        if grid > self._fed_until:
            self._feed_closed(self._fed_until, grid)
            self._fed_until = grid
        if self._forming_at != grid:
            for symbol, tape in self.tapes.items():
                row = tape.at(grid)
                if row is not None:
                    o = float(row[0])
                    self._feed(symbol, grid, o, o, o, o, 0.0)
            self._forming_at = grid
        self.apply_vanish()

    def _feed_closed(self, start_ms: int, end_ms: int) -> None:
        spans = [(symbol, *tape.span(start_ms, end_ms)) for symbol, tape in self.tapes.items()]
        order = np.argsort(np.concatenate([times for _, times, _ in spans]), kind="stable")
        # Plain floats: the engine compares directions with `is` (a numpy bool would never match).
        rows = [(symbol, t, row) for symbol, times, ohlcv in spans for t, row in zip(times.tolist(), ohlcv.tolist(),
                                                                                    strict=True)]
        for i in order:
            symbol, t, (o, h, lo, c, v) = rows[i]
            self._feed(symbol, t, o, h, lo, c, v)

    def _feed(self, symbol: str, open_ms: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        """One candle (or the forming open, or a `set_price` walk): stops and take-profits first, then
        the resting LIMIT orders it traded through."""
        self.desk.after_candle(symbol, self.engine.on_candle(symbol, open_ms, o, h, lo, c, v))
        self.desk.match_limits(symbol, open_ms, h, lo)

    def advance(self, candles: int = 1) -> int:
        """Move the market clock by `candles` timeframe candles (closing them: stops and take-profits they
        cross fire) and return the new market time. Raises ValueError past the end of the data files."""
        if candles < 1:
            raise ValueError("advance needs at least one candle")
        target = self.clock.now_ms() + candles * timeframe_ms(self.timeframe)
        ends = [t.end_ms for t in self.tapes.values() if not t.growing]
        if ends and target >= min(ends):
            raise ValueError(f"no candles after {min(ends)} in {self.data_source}: cannot advance to {target}")
        self.clock.advance(candles * timeframe_ms(self.timeframe))
        self.catch_up()
        return self.clock.now_ms()

    def set_price(self, symbol: str, price: Decimal | float | str) -> None:
        """Move `symbol`'s price to `price` now (the walk from the current price fills any stop or
        take-profit it crosses at its trigger); later candles continue from the new level."""
        self.catch_up()
        market = self.market(symbol)
        tape = self.tapes[market.symbol]
        grid = self.clock.now_ms() // self.step_ms * self.step_ms
        row = tape.at(grid)
        if row is None:
            raise ValueError(f"no {market.id} candle at market time {grid} in {self.data_source}")
        target = round(float(price), tape.decimals)
        last = self.engine.book(market.symbol).last
        current = float(row[0]) if last is None else last
        tape.rescale_from(grid, target / float(row[0]))
        hi, lo = max(current, target), min(current, target)
        self._feed(market.symbol, grid, current, hi, lo, target, 0.0)

    def price(self, market: Market) -> float | None:
        """The current price of a market (the forming candle's open; the last close in a data gap)."""
        return current_price(self.tapes[market.symbol], self.clock.now_ms())

    # ---- symbols ---------------------------------------------------------------------------------------

    def market(self, symbol: str) -> Market:
        """A fake market by unified symbol or venue id. Raises KeyError."""
        if symbol in self.by_id:
            return self.by_id[symbol]
        return self.markets[to_unified(symbol)]

    def market_param(self, params: Params, name: str = "symbol") -> Market:
        """The market a request names; -1102 when missing, -1121 when unknown or delisted."""
        value = params.get(name)
        if value is None:
            raise mandatory(name)
        market = self.by_id.get(value)
        if market is None or value in self.delisted:
            raise invalid_symbol()
        return market

    def listed(self) -> list[Market]:
        """The markets exchangeInfo lists (every one but the delisted)."""
        return [m for m in self.markets.values() if m.id not in self.delisted]

    # ---- what Binance changes under a running bot (admin hooks for tests) -------------------------------

    def set_filters(self, symbol: str, *, step_size: Decimal | str | None = None,
                    tick_size: Decimal | str | None = None, min_notional: Decimal | str | None = None) -> Market:
        """Change a market's filters now, as Binance does now and then under open positions: exchangeInfo
        answers the new values (LOT_SIZE and MARKET_LOT_SIZE steps and minimums, PRICE_FILTER tick and
        minimum, MIN_NOTIONAL, the precisions) and every later order is checked against them. Positions
        and resting orders are left as they are. Returns the new market."""
        market = self.market(symbol)
        changes: dict[str, Any] = {}
        if step_size is not None:
            step = Decimal(str(step_size))
            changes.update(step_size=step, min_qty=step, market_step_size=step, market_min_qty=step)
        if tick_size is not None:
            tick = Decimal(str(tick_size))
            changes.update(tick_size=tick, min_price=tick)
        if min_notional is not None:
            changes.update(min_notional=Decimal(str(min_notional)))
        return self._replace_market(market, **changes)

    def set_status(self, symbol: str, status: str) -> Market:
        """Set a market's exchangeInfo `status` (SETTLING, DELIVERING, BREAK, PENDING_TRADING, TRADING):
        outside TRADING the matching engine refuses orders that open or increase a position (-4140)
        and still fills reduce-only ones."""
        return self._replace_market(self.market(symbol), status=status)

    def delist(self, symbol: str) -> None:
        """Take a market out of exchangeInfo: every request naming it answers -1121 "Invalid symbol."
        and symbol-less tickers skip it, while its position and resting orders stay on the account
        (listed by positionRisk and the symbol-less open-order lists, still filled by the market) until
        `relist`: the moment between Binance dropping a symbol and settling what is left on it."""
        self.delisted.add(self.market(symbol).id)

    def relist(self, symbol: str) -> None:
        self.delisted.discard(self.market(symbol).id)

    def _replace_market(self, market: Market, **changes: Any) -> Market:
        new = replace(market, **changes)
        self.markets[new.symbol] = new
        self.by_id[new.id] = new
        self.engine.update_market(new)
        entry = next(e for e in self.symbol_entries if e["symbol"] == new.id)
        filters = {f["filterType"]: dict(f) for f in entry.get("filters", [])}
        for kind, fields in (("PRICE_FILTER", {"tickSize": new.tick_size, "minPrice": new.min_price}),
                             ("LOT_SIZE", {"stepSize": new.step_size, "minQty": new.min_qty}),
                             ("MARKET_LOT_SIZE", {"stepSize": new.market_step_size, "minQty": new.market_min_qty}),
                             ("MIN_NOTIONAL", {"notional": new.min_notional})):
            filters.setdefault(kind, {"filterType": kind}).update({k: plain(v) for k, v in fields.items()})
        updated = {**entry, "status": new.status, "filters": list(filters.values()),
                   "pricePrecision": decimals(new.tick_size), "quantityPrecision": decimals(new.step_size)}
        self.symbol_entries[self.symbol_entries.index(entry)] = updated
        return new

    def optional_market(self, params: Params) -> Market | None:
        return self.market_param(params) if "symbol" in params else None

    # ---- faults ----------------------------------------------------------------------------------------

    @property
    def hedge_mode(self) -> bool:
        return self.settings.hedge_mode

    @hedge_mode.setter
    def hedge_mode(self, value: bool) -> None:
        self.settings.hedge_mode = value

    @property
    def multi_assets(self) -> bool:
        return self.settings.multi_assets

    @multi_assets.setter
    def multi_assets(self, value: bool) -> None:
        self.settings.multi_assets = value

    def inject(self, fault: Fault) -> Fault:
        """Activate a fault (see faults.py); returns it (its `times` counts down as it fires)."""
        self.faults.add(fault)
        self.apply_vanish()
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def fired(self) -> list[FiredFault]:
        """Every fault that acted, in order."""
        return self.faults.fired

    def apply_vanish(self) -> None:
        for fault in [f for f in self.faults.active if f.kind == "vanish"]:
            record = self.desk.find_open_algo(fault.client_id or "")
            if record is not None:
                self.desk.cancel_algo(record)
                self.faults.fire(fault, "-", f"vanish {record.client_algo_id}")

    # ---- inspection (plain data, Binance shapes) -------------------------------------------------------

    def open_orders(self) -> list[dict[str, Any]]:
        """Open normal orders (resting LIMIT orders; MARKET orders never rest)."""
        self.catch_up()
        return [order_json(o, query=True) for o in self.desk.open_limits()]

    def open_algo_orders(self) -> list[dict[str, Any]]:
        self.catch_up()
        return [algo_json(a) for a in self.desk.open_algos()]

    def positions(self) -> list[dict[str, Any]]:
        """Non-zero positions as `/fapi/v3/positionRisk` rows."""
        self.catch_up()
        return [
            position_row_v3(self.engine.book(p.symbol), self.settings, self.clock.now_ms())
            for p in self.engine.positions()
        ]

    def balance(self, asset: str) -> dict[str, Any]:
        return asset_row(self.engine, asset, self.clock.now_ms())

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]
