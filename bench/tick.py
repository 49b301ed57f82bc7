"""Engine overhead of one live tick: 35 symbols × 150-candle windows, exchange time excluded.

One tick is what the paper/live loop does when a 5m candle closes: feed each symbol's candle to the
(in-process, simulated) venue, turn fills into events, fire deadlines, run the incremental strategy
on every symbol's window and act on its signals through the machine, journal included. The venue
is the in-process simulator, so no network time is counted.

    uv run python bench/tick.py [--symbols 35] [--ticks 300]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.bot.session import open_session  # noqa: E402
from engine.clock import SimulatedClock, from_ms  # noqa: E402
from engine.config.loading import load_profile  # noqa: E402
from engine.market.replay import SyntheticFeed  # noqa: E402
from engine.offline import force_offline  # noqa: E402
from engine.run.driver import CandleDriver  # noqa: E402
from engine.strategy.sources import LiveSignals  # noqa: E402
from engine.venue.markets import load_exchange_info  # noqa: E402

WINDOW = 150
STEP_MS = 300_000


def markets_for_bench(count: int) -> dict:
    snapshot = REPO.parent / "shared" / "data" / "exchangeinfo" / "fapi-exchangeInfo-mainnet-2024-10-20.json"
    if snapshot.is_file():
        markets = load_exchange_info(snapshot)
        usdt = sorted(s for s, m in markets.items() if m.settle == "USDT" and m.is_perpetual and m.is_trading
                      and m.base.isalpha())
        picked = usdt[:count]
        return {s: markets[s] for s in picked}
    from engine.venue.builtin_markets import builtin_markets

    return builtin_markets()


async def run(symbol_count: int, ticks: int) -> tuple[list[float], int]:
    force_offline()
    loaded = load_profile(REPO / "profiles" / "aggressive.yaml", with_overrides=False)
    markets = markets_for_bench(symbol_count)
    symbols = list(markets)[:symbol_count]
    with tempfile.TemporaryDirectory() as tmp:
        session = open_session(loaded, markets, state_dir=Path(tmp))
        origin = 1_735_689_600_000  # 2025-01-01
        feed = SyntheticFeed(symbols, seed=42, origin_ms=origin, timeframe="5m")
        signals = LiveSignals(loaded.profile.strategy, window=WINDOW)
        cursor = origin + (WINDOW - 1) * STEP_MS
        for symbol in symbols:
            signals.warm(symbol, feed.history(symbol, WINDOW, cursor + STEP_MS))
        clock = SimulatedClock(from_ms(cursor + STEP_MS))
        driver = CandleDriver(session.engine, session.venue, clock, "5m", signals)
        timings = []
        gc.collect()
        for _ in range(ticks):
            cursor += STEP_MS
            rows = feed.rows(cursor)  # market data arrives: not engine time
            t = time.perf_counter()
            await driver.step(cursor, rows)
            timings.append((time.perf_counter() - t) * 1000)
        session.book.close()
        return timings, session.engine.counters.entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=35)
    parser.add_argument("--ticks", type=int, default=300)
    args = parser.parse_args()
    timings, entries = asyncio.run(run(args.symbols, args.ticks))
    steady = timings[5:]
    median = statistics.median(steady)
    p95 = sorted(steady)[int(len(steady) * 0.95)]
    print(f"{args.symbols} symbols × {WINDOW}-candle windows, {len(steady)} ticks, {entries} entries")
    print(f"tick median {median:.2f} ms  p95 {p95:.2f} ms  max {max(steady):.2f} ms  (target median <= 50 ms)")
    print(f"RESULT tick_ms={median:.2f}")


if __name__ == "__main__":
    main()
