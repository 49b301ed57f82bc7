"""Benchmark of ScalpingV1 signals on real Binance USD-M 5m candles.

(a) live tick: 35 symbols, each given its window of the last 150 closed candles, one Signal per
    symbol per tick; median / p95 ms per tick over repeated ticks (target <= 20 ms for all 35).
    Also shown: the cold tick (state seeded from the window with pandas-ta) and what a tick would
    cost if every symbol recomputed pandas-ta on its whole window (no carried state).
(b) backtest: `signals_frame` over 10 symbols from 2025-01-01 to 2025-08-31, candles per second.

Usage: uv run python bench/signals.py [--data PATH] [--ticks N]
The last line printed is `RESULT tick_ms=<median> vector_candles_per_s=<rate>`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.strategy import ScalpingParams, ScalpingV1, signals_frame  # noqa: E402

WINDOW = 150
LIVE_SYMBOLS = 35
VECTOR_SYMBOLS = ["BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "BCH", "ZEC", "INJ", "OP"]
FROM_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
TO_MS = 1_756_684_800_000  # 2025-09-01 00:00 UTC (exclusive)
FIVE_MINUTES_MS = 300_000


def load(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, index_col="open_time_ms")
    frame.index = frame.index.astype(np.int64)
    return frame[["open", "high", "low", "close", "volume"]].astype(np.float64)


def last_segment(candles: pd.DataFrame) -> pd.DataFrame:
    """The last contiguous run of 5m candles (files may hold several segments)."""
    gaps = np.flatnonzero(np.diff(candles.index.to_numpy()) != FIVE_MINUTES_MS)
    return candles.iloc[gaps[-1] + 1 :] if len(gaps) else candles


def live_symbols(klines: Path, needed: int) -> dict[str, pd.DataFrame]:
    """35 symbols with `needed` contiguous candles; the 10 majors first, then alphabetical."""
    preferred = [klines / f"{s}USDT-5m.csv.gz" for s in VECTOR_SYMBOLS]
    others = sorted(p for p in klines.glob("*-5m.csv.gz") if p not in preferred)
    chosen: dict[str, pd.DataFrame] = {}
    for path in preferred + others:
        if len(chosen) == LIVE_SYMBOLS:
            break
        if not path.is_file():
            continue
        segment = last_segment(load(path))
        if len(segment) >= needed:
            chosen[path.name.split("-")[0]] = segment.iloc[-needed:]
    return chosen


def bench_live(klines: Path, ticks: int, params: ScalpingParams) -> float:
    data = live_symbols(klines, WINDOW + ticks)
    if len(data) < LIVE_SYMBOLS:
        sys.exit(f"only {len(data)} symbols have {WINDOW + ticks} contiguous 5m candles; need {LIVE_SYMBOLS}")
    # Windows are cut before timing: producing them is the candle feed's job, not the strategy's.
    windows = {s: [c.iloc[t : t + WINDOW] for t in range(ticks + 1)] for s, c in data.items()}
    strategy = ScalpingV1(params)

    start = time.perf_counter()
    for symbol, ws in windows.items():
        strategy.on_candle(symbol, ws[0])
    cold_ms = (time.perf_counter() - start) * 1000

    # The 7 000 pre-cut windows are the bench's own objects; keep the collector from walking them
    # during timed ticks (a full collection over them costs ~100 ms and is not the strategy's).
    gc.collect()
    gc.freeze()
    tick_ms: list[float] = []
    signals = 0
    for t in range(1, ticks + 1):
        start = time.perf_counter()
        for symbol, ws in windows.items():
            sig = strategy.on_candle(symbol, ws[t])
            signals += sig.side != "none"
        tick_ms.append((time.perf_counter() - start) * 1000)

    stateless: list[float] = []
    for t in range(1, min(ticks, 20) + 1):
        strategy.reset()
        start = time.perf_counter()
        for symbol, ws in windows.items():
            strategy.on_candle(symbol, ws[t])
        stateless.append((time.perf_counter() - start) * 1000)

    median = statistics.median(tick_ms)
    p95 = float(np.percentile(tick_ms, 95))
    print(
        f"(a) live tick, {len(windows)} symbols x {WINDOW}-candle windows, {ticks} ticks "
        f"({signals} long/short signals)"
    )
    print(
        f"    carried state : median {median:.2f} ms/tick, p95 {p95:.2f}, max {max(tick_ms):.2f} "
        f"({median / len(windows) * 1000:.0f} us per symbol)  target <= 20 ms: "
        f"{'met' if median <= 20 else 'NOT met'}"
    )
    print(f"    cold tick     : {cold_ms:.1f} ms (seeding every symbol from its window with pandas-ta)")
    print(
        f"    pandas-ta on the whole window every tick (no state): median "
        f"{statistics.median(stateless):.1f} ms/tick"
    )
    return median


def bench_vector(klines: Path, params: ScalpingParams) -> float:
    histories: dict[str, pd.DataFrame] = {}
    for base in VECTOR_SYMBOLS:
        path = klines / f"{base}USDT-5m.csv.gz"
        if not path.is_file():
            sys.exit(f"missing {path}; the vectorised benchmark needs all of {VECTOR_SYMBOLS}")
        candles = load(path)
        histories[base] = candles[(candles.index >= FROM_MS) & (candles.index < TO_MS)]
    signals_frame(histories["BTC"].iloc[:1000], params)  # first-call costs (imports, caches) aside

    total_candles, total_s = 0, 0.0
    print("(b) vectorised signals_frame, 5m, 2025-01-01 -> 2025-08-31")
    for base, candles in histories.items():
        start = time.perf_counter()
        frame = signals_frame(candles, params)
        elapsed = time.perf_counter() - start
        total_candles += len(candles)
        total_s += elapsed
        fired = int((frame["direction"] != 0).sum())
        print(f"    {base + 'USDT':9s} {len(candles):6d} candles {elapsed * 1000:6.1f} ms {fired:5d} signals")
    rate = total_candles / total_s
    print(f"    total {total_candles} candles in {total_s:.3f} s: {rate:,.0f} candles/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="folder holding klines/ (default: <repo>/../shared/data)",
    )
    parser.add_argument("--ticks", type=int, default=200, help="live ticks to time (default 200)")
    args = parser.parse_args()
    klines = args.data / "klines"
    if not klines.is_dir():
        sys.exit(f"market data not found: {klines} does not exist (pass --data <folder holding klines/>)")

    params = ScalpingParams()
    tick_ms = bench_live(klines, args.ticks, params)
    rate = bench_vector(klines, params)
    print(f"RESULT tick_ms={tick_ms:.2f} vector_candles_per_s={rate:.0f}")


if __name__ == "__main__":
    main()
