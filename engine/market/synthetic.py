"""The offline default market: seeded, deterministic, realistic-looking candles for any number of symbols.

These candles are GENERATED, not market history. Every series carries `synthetic=True` and a source
named "synthetic (seed N)", and reports must say so.

The model, per symbol, per candle (parameters are for 5m and scaled for other timeframes):
- returns r = drift + m·σ_t·z, with z a unit-variance Student-t (ν = 5, fat tails) that mixes one
  market-wide shock with the symbol's own (shock correlation 0.4: mild co-movement across symbols);
- σ_t follows GARCH(1,1) (α = 0.06, β = 0.92) around the symbol's typical 5m volatility, which gives
  volatility clustering (|r| autocorrelated while r itself is not);
- a regime chain switches between range (zero drift, weak pull back to the price where the range began,
  quieter) and up/down trends (constant drift, livelier), with geometric durations of hours;
- σ also follows the time of day (busiest around 15:00 UTC, quietest around 03:00);
- open = previous close; high/low extend beyond the body by random wicks proportional to σ_t;
  prices are rounded to the symbol's tick (a monotone rounding, so high ≥ max(open, close) survives);
- volume rises with σ_t and with the size of the candle's shock, with log-normal noise.

Determinism: candle k of symbol S depends only on (seed, timeframe, start_ms, base asset of S, k). Each
symbol draws from its own generators (seeded from the seed and its base asset) and the shared market
shocks are kept, so symbols can be added later or generated in any order and in any chunk sizes without
changing a single candle. Twins (BTC/USDC:USDC, BTC/USDT:USDT) share one path.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.market.candles import CandleSeries, make_candles, timeframe_ms
from engine.venue.markets import Market
from engine.venue.symbols import parse_symbol

BASE_TIMEFRAME_MS = 300_000  # the table below is for 5m candles

NU = 5.0  # Student-t degrees of freedom (> 4 with GARCH below keeps the 4th moment finite)
T_SCALE = float(np.sqrt((NU - 2) / NU))  # makes t(ν) unit-variance
SHOCK_CLIP = 10.0  # standardised shocks beyond ±10σ would only blow up the GARCH state
MARKET_CORRELATION = 0.4
GARCH_ALPHA, GARCH_BETA = 0.06, 0.92
RANGE, UP, DOWN = 0, 1, 2
REGIME_VOL = np.array([0.85, 1.2, 1.2])  # ranges are quieter than trends
MEAN_DURATION_5M = {RANGE: 250, UP: 100, DOWN: 100}  # candles: about 21 h of range, 8 h of trend
RANGE_PULL = 0.02  # per-candle reversion towards the range's anchor price
BLOCK = 256  # steps per vectorised block; keeps GARCH cumulative products far from overflow
WICK = 0.35  # wick length per unit σ: makes mean log(high/low) ≈ 2 × mean |return|, as on Binance 5m
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """What a base asset typically looks like on 5m: price level, log-return std, base volume, tick."""

    base: str
    price: float
    vol_5m: float
    volume_5m: float
    tick: float


# Rough 2024 levels, typed in by hand (deliberately not derived from the shared data).
_TABLE: dict[str, tuple[float, float, float, float]] = {
    "BTC": (62_000.0, 0.0016, 900.0, 0.1),
    "ETH": (2_500.0, 0.0021, 9_000.0, 0.01),
    "BNB": (580.0, 0.0019, 3_000.0, 0.01),
    "SOL": (150.0, 0.0030, 60_000.0, 0.01),
    "XRP": (0.55, 0.0026, 8e6, 0.0001),
    "DOGE": (0.12, 0.0033, 4e7, 0.00001),
    "ADA": (0.36, 0.0028, 5e6, 0.0001),
    "AVAX": (27.0, 0.0032, 1.5e5, 0.001),
    "LINK": (11.5, 0.0030, 2e5, 0.001),
    "LTC": (68.0, 0.0025, 3e4, 0.01),
    "BCH": (340.0, 0.0026, 5e3, 0.01),
    "DOT": (4.3, 0.0030, 4e5, 0.001),
    "SUI": (1.9, 0.0045, 2e6, 0.0001),
    "NEAR": (4.8, 0.0038, 5e5, 0.001),
    "ARB": (0.55, 0.0040, 3e6, 0.0001),
    "FIL": (3.6, 0.0035, 4e5, 0.001),
    "TIA": (5.2, 0.0048, 3e5, 0.001),
    "WLD": (1.9, 0.0050, 1.5e6, 0.0001),
    "WIF": (2.2, 0.0060, 2e6, 0.0001),
    "ORDI": (32.0, 0.0050, 4e4, 0.001),
    "ENA": (0.30, 0.0055, 5e6, 0.0001),
    "ETHFI": (1.4, 0.0055, 1e6, 0.001),
    "CRV": (0.28, 0.0045, 4e6, 0.001),
    "NEO": (10.0, 0.0030, 5e4, 0.01),
    "BOME": (0.008, 0.0065, 3e8, 0.000001),
    "1000PEPE": (0.0095, 0.0055, 2e8, 0.0000001),
    "1000SHIB": (0.018, 0.0035, 1e8, 0.000001),
    "1000BONK": (0.022, 0.0060, 1e8, 0.000001),
}


def symbol_profile(base: str) -> SymbolProfile:
    """The table entry for `base`, or a plausible mid-cap profile derived deterministically from its
    name (so an unknown symbol still gets stable, realistic-looking candles)."""
    if base in _TABLE:
        return SymbolProfile(base, *_TABLE[base])
    rng = np.random.default_rng(zlib.crc32(base.encode()))
    price = float(10 ** rng.uniform(-2, 2))
    tick = float(10 ** (np.floor(np.log10(price)) - 4))
    return SymbolProfile(base, price, float(rng.uniform(0.003, 0.006)), 2e5 / price, tick)


def intraday_activity(open_ms: np.ndarray) -> np.ndarray:
    """Volatility multiplier by UTC time of day (averages 1): quietest around 03:00, busiest around
    15:00 when US and European sessions overlap. Part of why |returns| stay autocorrelated."""
    hours = (open_ms % DAY_MS) / 3_600_000
    return 1.0 + 0.3 * np.cos(2 * np.pi * (hours - 15.0) / 24.0)


def _base_of(symbol: str | Market) -> tuple[str, str]:
    """(unified name, base asset). Raises ValueError for a symbol engine.venue.symbols refuses."""
    if isinstance(symbol, Market):
        return symbol.symbol, symbol.base
    parts = parse_symbol(symbol)
    return parts.unified, parts.base


class _SymbolPath:
    """One symbol's process state and the candles generated so far."""

    def __init__(self, seed: int, profile: SymbolProfile, start_ms: int, step_ms: int) -> None:
        step_fraction = step_ms / BASE_TIMEFRAME_MS
        self.start_ms, self.step_ms = start_ms, step_ms
        seq = np.random.SeedSequence(seed, spawn_key=(1, zlib.crc32(profile.base.encode())))
        # One generator per kind of draw: each then consumes a fixed count per candle (or per regime
        # switch), which is what makes the output independent of chunking.
        self.shocks, self.regimes, self.wicks, self.noise = (np.random.default_rng(s) for s in seq.spawn(4))
        self.profile = profile
        self.sigma = profile.vol_5m * np.sqrt(step_fraction)  # long-run per-candle std
        self.volume = profile.volume_5m * step_fraction
        self.omega = self.sigma**2 * (1 - GARCH_ALPHA - GARCH_BETA)
        self.decimals = max(0, int(round(-np.log10(profile.tick))))
        self.mean_steps = {k: max(2.0, v / step_fraction) for k, v in MEAN_DURATION_5M.items()}
        # Start within ±10 % or so of the table level, so seeds differ from the first candle on.
        self.log_price = float(np.log(profile.price) + 0.05 * self.regimes.standard_normal())
        self.var = self.sigma**2
        self.regime, self.left, self.drift, self.anchor = RANGE, 0, 0.0, self.log_price
        self.steps = 0
        self.chunks: list[np.ndarray] = []  # (n, 5) arrays: open, high, low, close, volume
        self._joined: np.ndarray | None = None

    def _switch_regime(self) -> None:
        # Always three draws per switch, so the regime stream does not depend on chunking.
        u, strength = self.regimes.random(2)
        if self.regime == RANGE:
            self.regime = UP if u < 0.5 else DOWN
        else:
            self.regime = RANGE if u < 0.8 else (DOWN if self.regime == UP else UP)
        self.left = int(self.regimes.geometric(1.0 / self.mean_steps[self.regime]))
        sign = {RANGE: 0.0, UP: 1.0, DOWN: -1.0}[self.regime]
        self.drift = sign * (0.04 + 0.08 * strength) * self.sigma
        self.anchor = self.log_price

    def extend(self, market_shocks: np.ndarray) -> None:
        """Generate one candle per market shock given (the next len(market_shocks) steps)."""
        n = len(market_shocks)
        if n == 0:
            return
        own = np.clip(self.shocks.standard_t(NU, n) * T_SCALE, -SHOCK_CLIP, SHOCK_CLIP)
        z = np.sqrt(MARKET_CORRELATION) * market_shocks + np.sqrt(1 - MARKET_CORRELATION) * own
        wicks = self.wicks.exponential(size=(n, 2))
        open_ms = self.start_ms + self.step_ms * np.arange(self.steps, self.steps + n, dtype=np.int64)
        season = intraday_activity(open_ms)
        noise = self.noise.standard_normal(n)
        out = np.empty((n, 5))
        pos = 0
        while pos < n:
            if self.left == 0:
                self._switch_regime()
            # Blocks end on absolute multiples of BLOCK (and at regime switches), never where a caller
            # happened to stop: float results then do not depend on how generation was chunked.
            length = min(self.left, n - pos, BLOCK - (self.steps + pos) % BLOCK)
            part = slice(pos, pos + length)
            self._block(z[part], season[part], wicks[part], noise[part], out[part])
            self.left -= length
            pos += length
        self.chunks.append(out)
        self.steps += n
        self._joined = None

    def _block(
        self, z: np.ndarray, season: np.ndarray, wicks: np.ndarray, noise: np.ndarray, out: np.ndarray
    ) -> None:
        mult = REGIME_VOL[self.regime]
        # GARCH: var[t+1] = omega + a[t]·var[t] with a[t] known in advance, so it has a closed form
        # var[t] = P[t]·(var[0] + omega·Σ_{j<=t} 1/P[j]), P = cumulative product of a (block ≤ 256 steps).
        # The regime scales the output only; feeding it into a[t] would push persistence above 1.
        a = GARCH_BETA + GARCH_ALPHA * z**2
        p = np.cumprod(a)
        var = np.concatenate(([1.0], p)) * (self.var + self.omega * np.concatenate(([0.0], np.cumsum(1 / p))))
        sd = mult * season * np.sqrt(var[:-1])
        eps = sd * z
        if self.regime == RANGE:
            # x[t+1] = phi·x[t] + eps[t] around the anchor, again in closed form for the block.
            phi = 1.0 - RANGE_PULL
            powers = phi ** np.arange(1, len(z) + 1)
            x0 = self.log_price - self.anchor
            closes = self.anchor + powers * (x0 + np.cumsum(eps / powers))
        else:
            closes = self.log_price + np.cumsum(self.drift + eps)
        opens = np.concatenate(([self.log_price], closes[:-1]))
        highs = np.maximum(opens, closes) + WICK * sd * wicks[:, 0]
        lows = np.minimum(opens, closes) - WICK * sd * wicks[:, 1]
        tick = self.profile.tick
        for col, values in enumerate((opens, highs, lows, closes)):
            # Rounding is monotone, so the OHLC ordering survives it; clip keeps prices above zero.
            out[:, col] = np.maximum(np.round(np.exp(values), self.decimals), tick)
        log_volume = np.log(sd / self.sigma) + 0.4 * (np.abs(z) - 0.8) + 0.3 * noise
        out[:, 4] = np.round(self.volume * np.exp(log_volume), 3)
        self.log_price, self.var = float(closes[-1]), float(var[-1])

    def candles(self) -> np.ndarray:
        if self._joined is None:
            self._joined = np.concatenate(self.chunks) if self.chunks else np.empty((0, 5))
            self.chunks = [self._joined]
        return self._joined


class SyntheticMarket:
    """A deterministic synthetic market whose first candle opens at `start_ms`.

    Candles are a pure function of (seed, timeframe, start_ms, symbol's base asset, candle index): a
    history and a live stream of the same market agree candle for candle. Symbols are added on first
    use. Raises ValueError for a start time off the timeframe grid or a symbol that is not a USDC/USDT
    perpetual in any spelling engine.venue.symbols accepts (results always use the unified name).
    """

    synthetic = True

    def __init__(
        self, symbols: Iterable[str | Market] = (), *, seed: int, start_ms: int, timeframe: str = "5m"
    ) -> None:
        self.timeframe = timeframe
        self.step_ms = timeframe_ms(timeframe)
        if start_ms % self.step_ms:
            raise ValueError(f"start_ms {start_ms} is not on the {timeframe} grid")
        self.seed = seed
        self.start_ms = start_ms
        self._market_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
        self._market_shocks = np.empty(0)
        self._paths: dict[str, _SymbolPath] = {}
        self._names: dict[str, str] = {}  # symbol -> base
        for symbol in symbols:
            self.add_symbol(symbol)

    @property
    def name(self) -> str:
        return f"synthetic (seed {self.seed})"

    @property
    def symbols(self) -> list[str]:
        return list(self._names)

    def add_symbol(self, symbol: str | Market) -> str:
        """Make `symbol` part of the market (idempotent); returns its unified name."""
        name, base = _base_of(symbol)
        self._names.setdefault(name, base)
        if base not in self._paths:
            self._paths[base] = _SymbolPath(self.seed, symbol_profile(base), self.start_ms, self.step_ms)
        return name

    def _ensure(self, base: str, steps: int) -> _SymbolPath:
        steps = -(-steps // BLOCK) * BLOCK  # whole blocks only; see _SymbolPath.extend
        if steps > len(self._market_shocks):
            more = self._market_rng.standard_t(NU, steps - len(self._market_shocks)) * T_SCALE
            self._market_shocks = np.concatenate(
                (self._market_shocks, np.clip(more, -SHOCK_CLIP, SHOCK_CLIP))
            )
        path = self._paths[base]
        if steps > path.steps:
            path.extend(self._market_shocks[path.steps : steps])
        return path

    def candles(self, symbol: str | Market, start_ms: int | None, end_ms: int) -> CandleSeries:
        """Closed candles of `symbol` with open time in [start_ms, end_ms - timeframe], i.e. every candle
        that has closed by `end_ms`. Nothing exists before `start_ms` of the market (the series then
        simply starts there)."""
        name = self.add_symbol(symbol)
        stop = max(0, (end_ms - self.start_ms) // self.step_ms)
        # Index arithmetic instead of slicing a full frame: a live stream asks for one candle at a time.
        first = 0 if start_ms is None else min(stop, max(0, -(-(start_ms - self.start_ms) // self.step_ms)))
        raw = self._ensure(self._names[name], stop).candles()[first:stop]
        times = self.start_ms + self.step_ms * np.arange(first, stop, dtype=np.int64)
        frame = make_candles(times, *raw.T)
        return CandleSeries(name, self.timeframe, frame, self.name, synthetic=True)

    def history(self, symbol: str | Market, count: int, end_ms: int) -> CandleSeries:
        """The last `count` candles closed by `end_ms`. Raises ValueError if that reaches back before
        the market's start (build the market with an earlier `start_ms`)."""
        first = (end_ms // self.step_ms - count) * self.step_ms
        if first < self.start_ms:
            raise ValueError(
                f"{self.name} starts at {self.start_ms}; {count} {self.timeframe} candles before {end_ms} "
                f"would begin at {first}"
            )
        return self.candles(symbol, first, end_ms)

    def candle_at(self, symbol: str | Market, open_ms: int) -> pd.Series:
        """The one candle opening at `open_ms` (on the grid, not before the start): the live stream's
        'next candle' is `candle_at(symbol, last_open_ms + step)`. Raises ValueError off the grid."""
        if open_ms % self.step_ms or open_ms < self.start_ms:
            raise ValueError(f"no {self.timeframe} candle of {self.name} opens at {open_ms}")
        frame = self.candles(symbol, open_ms, open_ms + self.step_ms).frame
        return frame.iloc[0]

    def stream(
        self, symbols: Iterable[str | Market], after_ms: int
    ) -> Iterator[tuple[int, dict[str, pd.Series]]]:
        """Endless live stream: yields (open_ms, {symbol: candle}) for each candle after `after_ms`,
        continuing exactly the process that `history` shows."""
        names = [self.add_symbol(s) for s in symbols]
        open_ms = max(self.start_ms, (after_ms // self.step_ms + 1) * self.step_ms)
        while True:
            yield open_ms, {n: self.candle_at(n, open_ms) for n in names}
            open_ms += self.step_ms


def synthetic_history(
    symbols: Iterable[str | Market], *, seed: int, count: int, end_ms: int, timeframe: str = "5m"
) -> dict[str, CandleSeries]:
    """`count` synthetic candles per symbol, closed by `end_ms`, from a market that starts exactly there."""
    step = timeframe_ms(timeframe)
    market = SyntheticMarket(
        symbols, seed=seed, start_ms=(end_ms // step - count) * step, timeframe=timeframe
    )
    return {s: market.history(s, count, end_ms) for s in market.symbols}
