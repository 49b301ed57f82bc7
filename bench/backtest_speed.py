"""Backtest throughput: the seed's conservative profile (bench/seed-conservative.yaml, fixed: the shipped
one was re-tuned) over 10 pairs, 2025-01-01..2025-08-31, 5m candles.

Measures the whole job as a user runs it (loading files, computing signals, the engine loop, the
report's inputs) in one process, and its peak memory. The profile's equity hard stop is off unless
`--keep-hard-stop`: the conservative profile's 15 % stops the run after ~2 500 of its ~17 000 trades,
and a benchmark that stops early measures less work than the anchor did.

    uv run python bench/backtest_speed.py [--data DIR] [--from D] [--to D] [--symbols …] [--profile P]

Anchor: freqtrade 2026.9 on the same job took ~57 s wall (~12 k candles/s) and 1.2 GB peak RSS on a
machine of this kind; the target is >= 36 k candles/s and <= 600 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.config.loading import load_profile  # noqa: E402
from engine.offline import force_offline  # noqa: E402
from engine.run.backtest import run_backtest  # noqa: E402

# The data is USDT-margined; several of these pairs have no USDC perpetual, so the job runs on USDT.
DEFAULT_SYMBOLS = [f"{b}USDT" for b in ("BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "BCH", "ZEC", "INJ", "OP")]


def main() -> None:
    force_offline()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--from", dest="start", default="2025-01-01")
    parser.add_argument("--to", dest="end", default="2025-08-31")
    parser.add_argument("--symbols", nargs="+", default=DEFAULT_SYMBOLS)
    parser.add_argument("--profile", type=Path, default=REPO / "bench" / "seed-conservative.yaml",
                        help="default: the seed's conservative profile, fixed so figures stay comparable")
    parser.add_argument("--keep-hard-stop", action="store_true",
                        help="keep the profile's equity hard stop (by default off, so the whole span is traded)")
    args = parser.parse_args()
    if not (args.data / "klines").is_dir():
        raise SystemExit(f"no candle data at {args.data} (pass --data DIR)")
    loaded = load_profile(args.profile, with_overrides=False)
    if not args.keep_hard_stop:
        # The anchor trades the whole span; a run the equity hard stop ends early would measure less work.
        risk = loaded.profile.risk.model_copy(update={"max_drawdown_pct": None, "min_equity": None})
        loaded = replace(loaded, profile=loaded.profile.model_copy(update={"risk": risk}))
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    end = datetime.fromisoformat(args.end).replace(tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = asyncio.run(run_backtest(loaded, args.data, start, end, symbols=args.symbols,
                                       out_dir=Path(tmp) / "bt"))
        wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = run.candles / wall
    print(f"profile {loaded.profile.name}, {len(run.symbols)} symbols, {args.start} → {args.end}"
          + ("" if args.keep_hard_stop else " (equity hard stop off)"))
    print(f"candles {run.candles:,}  trades {len(run.trades):,}  wall {wall:.2f} s "
          f"(engine loop {run.wall_s:.2f} s)  {rate:,.0f} candles/s  peak RSS {peak_mb:.0f} MB")
    print(f"vs freqtrade anchor (57 s, 12 k candles/s, 1.2 GB): {57 / wall:.2f}x faster, "
          f"{peak_mb / 1200:.2f}x the memory")
    print(f"RESULT candles={run.candles} wall_s={wall:.2f} candles_per_s={rate:.0f} trades={len(run.trades)} "
          f"peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
