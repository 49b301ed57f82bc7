"""The shipped profiles on the windows their tuning never saw, with the seed's KPIs met or not.

    uv run python bench/profiles_oos.py [--data DIR] [--profiles P …] [--profiles-dir DIR] [--windows NAME …]

The profiles were re-tuned (README, *Re-tuned profiles*) by walk-forward studies on 2025-01-01 →
2025-06-01. Two windows were kept out of every search and of every choice made about the searches:
`2025-h2` (2025-06-01 → 2025-09-01, the three months after it) and `2023` (2023-07-18 → 2023-08-17, the
older segment of the shared data, another market regime). Each run is the real backtest (the engine
`python -m engine backtest` drives: fills on the finest candles the data folder holds, fees by liquidity,
funding where the data has rates, the universe rules, the equity hard stop).

USDC perpetuals are backtested on their USDT twins' candles (the data holds no USDC intraday history)
with the USDC markets' filters and fees; the aggressive profile also trades the USDT perpetuals. A symbol
without candles in a window is left out of it (the table says how many traded). Ends with one line
`RESULT <profile>_<window>_net=… <profile>_<window>_win=… <profile>_<window>_trades=… …`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.config.loading import load_profile  # noqa: E402
from engine.report.kpis import check_kpis  # noqa: E402
from engine.report.metrics import compute_metrics  # noqa: E402
from engine.run.backtest import run_backtest  # noqa: E402

# The USDC perpetuals with whole 2025 candles in the shared data; aggressive adds USDT-only markets.
USDC_SYMBOLS = ["BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "BCH"]
SYMBOLS = {"conservative": USDC_SYMBOLS, "balanced": USDC_SYMBOLS,
           "aggressive": [*USDC_SYMBOLS, "ZEC", "INJ", "OP"]}  # ORCA: not in the shared exchangeInfo
WINDOWS = {
    "2025-h2": (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC)),
    "2023": (datetime(2023, 7, 18, tzinfo=UTC), datetime(2023, 8, 17, tzinfo=UTC)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--profiles", nargs="+", default=list(SYMBOLS), help="profile names in --profiles-dir")
    parser.add_argument("--profiles-dir", type=Path, default=REPO / "profiles",
                        help="where the profiles are (e.g. a copy of the seed's, to compare)")
    parser.add_argument("--windows", nargs="+", default=list(WINDOWS), choices=list(WINDOWS))
    args = parser.parse_args()
    if not (args.data / "klines").is_dir():
        raise SystemExit(f"skipped: no candles under {args.data / 'klines'} (the shared data folder)")
    results: list[str] = []
    print(f"{'profile':<13} {'window':<8} {'symbols':>7} {'trades':>6} {'win %':>6} {'net PnL':>9} {'fees':>8} "
          f"{'max DD %':>8} {'worst day DD %':>14}  KPIs (win ≥ 55 %, worst day ≤ 5 %, net > 0)")
    for name in args.profiles:
        loaded = load_profile(args.profiles_dir / f"{name}.yaml", with_overrides=False)
        for window in args.windows:
            start, end = WINDOWS[window]
            symbols = SYMBOLS.get(name, USDC_SYMBOLS)
            # the engine's console lines (refusals, the bot's changes of state) are the run's own report
            with tempfile.TemporaryDirectory(prefix=f"oos-{name}-") as out, contextlib.redirect_stdout(io.StringIO()):
                run = asyncio.run(run_backtest(loaded, args.data, start, end, symbols=symbols,
                                               out_dir=Path(out) / "run"))
            m = compute_metrics(run.trades, run.starting_balance, run.start, run.end)
            kpis = check_kpis(m)
            traded = len(m.by_symbol)
            worst = m.max_daily_drawdown.drawdown_pct if m.max_daily_drawdown else 0
            marks = "  ".join(f"{k.name} {k.actual_text()} {k.mark}" for k in kpis)
            print(f"{name:<13} {window:<8} {traded:>7} {m.trades:>6} {float(m.win_rate_pct):>6.1f} "
                  f"{float(m.net_pnl):>+9.2f} {float(m.fees):>8.2f} {float(m.max_drawdown_pct):>8.1f} "
                  f"{float(worst):>14.2f}  {marks}")
            key = f"{name}_{window.replace('-', '_')}"
            results += [f"{key}_net={float(m.net_pnl):.2f}", f"{key}_win={float(m.win_rate_pct):.1f}",
                        f"{key}_trades={m.trades}"]
    print("RESULT " + " ".join(results))


if __name__ == "__main__":
    main()
