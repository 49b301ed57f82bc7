"""Choosing the trading universe: which perpetuals the bot may trade right now, and why the others not.

Two stages:
1. Contract checks (`check_market`): perpetual, TRADING, margined and quoted in a configured settle
   asset (USDC, USDT), not a stablecoin pair, not a test or odd contract. Multiplier contracts such as
   1000SHIB or 1MBABYDOGE are valid; `contract_multiplier` says how many units one contract unit is.
2. Activity filters and ranking (`SymbolManager.select`): minimum 24h quote volume, an ATR% band
   (ATR(14)/close on the candles given), black- and whitelist, at most `max_symbols` by volume.

Every market that is not selected gets an `Exclusion` with a reason code and a sentence for the logs.
Time is always an argument (`now_ms`); rotation re-selects only once `rotation_interval_ms` has passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.market.candles import CandleSeries, closed_before, slice_time, timeframe_ms
from engine.venue.markets import Market

if TYPE_CHECKING:
    from engine.config.profile import UniverseSection

DAY_MS = 86_400_000
STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "TUSD", "FDUSD", "USDP", "DAI", "USDE", "PYUSD", "UST"})
_MULTIPLIER_RE = re.compile(r"^1(0{3,}|M)(?=[A-Z])")
_TEST_RE = re.compile(r"TEST")


def contract_multiplier(base: str) -> int:
    """Units of the underlying per unit of the contract's base: 1000 for 1000SHIB/1000PEPE, 1 000 000
    for 1000000MOG or 1MBABYDOGE, 1 otherwise (including 1INCH, whose '1' is part of the name)."""
    match = _MULTIPLIER_RE.match(base)
    if match is None:
        return 1
    return 1_000_000 if match.group(1) == "M" else 10 ** len(match.group(1))


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Why a symbol is not in the universe. `code` is stable (for tests and metrics), `detail` reads well
    in a log line."""

    symbol: str
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.symbol} excluded ({self.code}): {self.detail}"


@dataclass(frozen=True, slots=True)
class UniverseRules:
    """Selection settings (mapped from the profile). ATR% bounds are fractions: 0.002 means 0.2 % per
    candle. Whitelist/blacklist entries may be unified symbols or venue ids."""

    settle: frozenset[str] = frozenset({"USDC"})
    min_quote_volume_24h: float = 0.0
    min_atr_pct: float | None = None
    max_atr_pct: float | None = None
    max_symbols: int = 35
    whitelist: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()
    rotation_interval_ms: int = 4 * 3_600_000
    atr_period: int = 14

    def __post_init__(self) -> None:
        if isinstance(self.settle, str):  # frozenset("USDC") would be four letters
            raise ValueError(
                f"settle must be a set of assets like {{'USDC'}}, got the string {self.settle!r}"
            )
        object.__setattr__(self, "settle", frozenset(self.settle))
        if self.max_symbols < 1:
            raise ValueError(f"max_symbols must be at least 1, got {self.max_symbols}")
        if self.rotation_interval_ms < 0:
            raise ValueError(f"rotation_interval_ms must be >= 0, got {self.rotation_interval_ms}")
        if None not in (self.min_atr_pct, self.max_atr_pct) and self.min_atr_pct > self.max_atr_pct:  # type: ignore[operator]
            raise ValueError(f"ATR% band is empty: min {self.min_atr_pct} > max {self.max_atr_pct}")

    @property
    def needs_activity(self) -> bool:
        return self.min_quote_volume_24h > 0 or self.min_atr_pct is not None or self.max_atr_pct is not None


def check_market(market: Market, settle: Iterable[str]) -> Exclusion | None:
    """None when the contract itself may be traded (whatever its volume), else the reason it may not."""
    settle = frozenset(settle)
    base = market.base
    if not market.is_perpetual:
        return Exclusion(market.symbol, "not_perpetual", f"{market.contract_type} contract, not a perpetual")
    if not market.is_trading:
        return Exclusion(market.symbol, "not_trading", f"status {market.status}, not TRADING")
    if market.settle not in settle:
        return Exclusion(
            market.symbol, "settle", f"margined in {market.settle}, not {'/'.join(sorted(settle))}"
        )
    if market.quote != market.settle:
        return Exclusion(market.symbol, "quote", f"quoted in {market.quote}, margined in {market.settle}")
    if base.isdigit() or _TEST_RE.search(base) or _TEST_RE.search(market.id):
        return Exclusion(
            market.symbol, "odd_contract", f"base {base!r} looks like a test or placeholder contract"
        )
    if base in STABLECOINS:
        return Exclusion(market.symbol, "stablecoin", f"{base} is a stablecoin: nothing to scalp")
    return None


@dataclass(frozen=True, slots=True)
class MarketActivity:
    """What the activity filters look at. `atr_pct` is None when there were too few candles."""

    quote_volume_24h: float
    atr_pct: float | None
    candles_24h: int


def average_true_range(frame: pd.DataFrame, period: int = 14) -> float | None:
    """Wilder's ATR at the last candle (seeded with the mean of the first `period` true ranges), or None
    with fewer than `period` candles."""
    if len(frame) < period:
        return None
    frame = frame.iloc[-max(period * 30, period) :]  # older candles weigh < 1e-9 after 30 periods
    high, low, close = (frame[c].to_numpy() for c in ("high", "low", "close"))
    prev_close = np.concatenate(([close[0]], close[:-1]))
    true_range = np.maximum(high, prev_close) - np.minimum(low, prev_close)
    seeded = np.concatenate(([true_range[:period].mean()], true_range[period:]))
    return float(pd.Series(seeded).ewm(alpha=1 / period, adjust=False).mean().iloc[-1])


def activity_from_candles(
    candles: pd.DataFrame | CandleSeries, now_ms: int, timeframe: str = "5m", atr_period: int = 14
) -> MarketActivity:
    """24h quote volume (Σ volume × close, as the data has no quote volume) over candles closed in the
    24 h before `now_ms`, and ATR(atr_period)/close at the last candle closed by `now_ms`."""
    frame = candles.frame if isinstance(candles, CandleSeries) else candles
    closed = closed_before(frame, timeframe, now_ms)
    day = slice_time(closed, now_ms - DAY_MS, None)
    quote_volume = float((day["volume"] * day["close"]).sum())
    atr = average_true_range(closed, atr_period)
    atr_pct = None if atr is None or len(closed) == 0 else atr / float(closed["close"].iloc[-1])
    return MarketActivity(quote_volume, atr_pct, len(day))


def activity_by_symbol(
    candles: Mapping[str, pd.DataFrame | CandleSeries],
    now_ms: int,
    timeframe: str = "5m",
    atr_period: int = 14,
) -> dict[str, MarketActivity]:
    """`activity_from_candles` for each entry (keys kept as given)."""
    timeframe_ms(timeframe)
    return {k: activity_from_candles(v, now_ms, timeframe, atr_period) for k, v in candles.items()}


@dataclass(frozen=True, slots=True)
class Universe:
    """One selection: `symbols` in priority order (whitelist first, then by 24h quote volume)."""

    symbols: tuple[str, ...]
    markets: Mapping[str, Market]
    excluded: tuple[Exclusion, ...]
    selected_at_ms: int
    multipliers: Mapping[str, int] = field(default_factory=dict)

    def exclusion(self, symbol: str) -> Exclusion | None:
        return next((e for e in self.excluded if e.symbol == symbol), None)


def _index(markets: Mapping[str, Market] | Iterable[Market]) -> dict[str, Market]:
    values = markets.values() if isinstance(markets, Mapping) else markets
    return {m.symbol: m for m in values}


class SymbolManager:
    """Keeps the current universe and re-selects it when rotation is due."""

    def __init__(self, rules: UniverseRules) -> None:
        self.rules = rules
        self.current: Universe | None = None

    def due(self, now_ms: int) -> bool:
        """True when there is no selection yet or `rotation_interval_ms` has passed since the last."""
        if self.current is None:
            return True
        return now_ms - self.current.selected_at_ms >= self.rules.rotation_interval_ms

    def update(
        self,
        markets: Mapping[str, Market] | Iterable[Market],
        activity: Mapping[str, MarketActivity],
        now_ms: int,
    ) -> Universe:
        """The current universe, re-selected first if rotation is due (see `select`)."""
        if self.due(now_ms) or self.current is None:
            self.current = self.select(markets, activity, now_ms)
        return self.current

    def select(
        self,
        markets: Mapping[str, Market] | Iterable[Market],
        activity: Mapping[str, MarketActivity],
        now_ms: int,
    ) -> Universe:
        """Select now, regardless of rotation (does not change `current`).

        `activity` is keyed by unified symbol or venue id. Whitelisted symbols must pass the contract
        checks and not be blacklisted, but skip the volume and ATR filters (naming a symbol is a
        deliberate choice); they come first, in whitelist order. Blacklist beats whitelist. Markets with
        no activity entry are excluded only when a volume or ATR filter is set.
        """
        rules = self.rules
        by_symbol = _index(markets)
        by_id = {m.id: m for m in by_symbol.values()}
        listed = {s: by_symbol.get(s) or by_id.get(s) for s in rules.whitelist}
        blacklist = set(rules.blacklist)
        excluded: list[Exclusion] = []
        whitelisted: list[Market] = []
        ranked: list[tuple[float, Market]] = []

        for entry, market in listed.items():
            if market is None:
                excluded.append(Exclusion(entry, "unknown", "whitelisted, but no such market"))
        whitelisted_symbols = {m.symbol for m in listed.values() if m is not None}

        for market in by_symbol.values():
            if market.symbol in blacklist or market.id in blacklist:
                excluded.append(Exclusion(market.symbol, "blacklisted", "on the blacklist"))
                continue
            problem = check_market(market, rules.settle)
            if problem is not None:
                if market.symbol in whitelisted_symbols:
                    problem = Exclusion(problem.symbol, problem.code, f"whitelisted, but {problem.detail}")
                excluded.append(problem)
                continue
            seen = activity.get(market.symbol) or activity.get(market.id)
            if market.symbol in whitelisted_symbols:
                whitelisted.append(market)
                continue
            reason = self._activity_problem(seen)
            if reason is not None:
                excluded.append(Exclusion(market.symbol, *reason))
                continue
            ranked.append((seen.quote_volume_24h if seen else 0.0, market))

        order = {m.symbol: i for i, m in enumerate(listed.values()) if m is not None}
        whitelisted.sort(key=lambda m: order[m.symbol])
        ranked.sort(key=lambda vm: (-vm[0], vm[1].symbol))
        chosen = whitelisted + [m for _, m in ranked]
        for rank, market in enumerate(chosen[rules.max_symbols :], start=rules.max_symbols + 1):
            excluded.append(
                Exclusion(market.symbol, "max_symbols", f"ranked {rank}, only {rules.max_symbols} kept")
            )
        chosen = chosen[: rules.max_symbols]
        return Universe(
            symbols=tuple(m.symbol for m in chosen),
            markets={m.symbol: m for m in chosen},
            excluded=tuple(excluded),
            selected_at_ms=now_ms,
            multipliers={m.symbol: contract_multiplier(m.base) for m in chosen},
        )

    def _activity_problem(self, seen: MarketActivity | None) -> tuple[str, str] | None:
        rules = self.rules
        if not rules.needs_activity:
            return None
        if seen is None:
            return "no_activity", "no candles or volume data to judge it by"
        if seen.quote_volume_24h < rules.min_quote_volume_24h:
            return (
                "low_volume",
                f"24h quote volume {seen.quote_volume_24h:,.0f} < {rules.min_quote_volume_24h:,.0f}",
            )
        if rules.min_atr_pct is not None or rules.max_atr_pct is not None:
            if seen.atr_pct is None:
                return "no_atr", "too few candles for ATR"
            if rules.min_atr_pct is not None and seen.atr_pct < rules.min_atr_pct:
                return "atr_low", f"ATR {seen.atr_pct:.3%} < {rules.min_atr_pct:.3%} of price: too quiet"
            if rules.max_atr_pct is not None and seen.atr_pct > rules.max_atr_pct:
                return "atr_high", f"ATR {seen.atr_pct:.3%} > {rules.max_atr_pct:.3%} of price: too wild"
        return None


def rules_from_profile(universe: UniverseSection, settle: Iterable[str]) -> UniverseRules:
    """The profile's `universe:` section as selection rules. The profile gives ATR in percent of price
    (0.05 means 0.05 %); the rules take fractions. `atr_pct_min: 0` and `atr_pct_max: 100` are the
    schema's "no bound" defaults and set none."""
    return UniverseRules(
        settle=frozenset(settle),
        min_quote_volume_24h=float(universe.min_quote_volume_24h),
        min_atr_pct=universe.atr_pct_min / 100 if universe.atr_pct_min > 0 else None,
        max_atr_pct=universe.atr_pct_max / 100 if universe.atr_pct_max < 100 else None,
        max_symbols=universe.max_symbols,
        whitelist=universe.whitelist,
        blacklist=universe.blacklist,
        rotation_interval_ms=int(universe.rotation.total_seconds() * 1000),
    )


def choose_symbols(markets: Mapping[str, Market], universe: UniverseSection, quote_assets: Iterable[str]) -> list[str]:
    """The candidate symbols a run starts with: the contract checks, the lists and `max_symbols` of the
    profile's universe (no activity figures are known before the first candles or tickers; the
    activity filters apply at each rotation, see engine.market.rotation)."""
    rules = UniverseRules(settle=frozenset(quote_assets), max_symbols=universe.max_symbols,
                          whitelist=universe.whitelist, blacklist=universe.blacklist)
    return list(SymbolManager(rules).select(markets, {}, 0).symbols)
