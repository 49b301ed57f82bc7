"""The same profile with market execution and with maker execution, side by side, over real candles.

    uv run python bench/maker_vs_taker.py [--profile P] [--data DIR] [--from D] [--to D] [--symbols …]

Taker: the profile with a market entry and TAKE_PROFIT_MARKET slices. Maker: the same profile with
`orders.entry: {type: limit, post_only: true, offset_ticks: 0, timeout: 20s, on_timeout: market}` and
`orders.take_profit_type: limit`. Both through `python -m engine backtest` as a user runs it; figures
from each run's `trades.csv` (fees split by liquidity, net PnL after fees) and `history.jsonl` (the
limit entries' ordered and filled sizes: the fill ratio). The shared data is USDT-margined: the runs
trade USDT perpetuals (maker 0.02 %, taker 0.05 %). The shared data has no funding rates, so neither run
pays funding (the report says so). Both run without the profile's equity hard stop unless
`--keep-hard-stop` (it would end them at different times). In-sample: nothing here was tuned.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.report.metrics import EntryFills, entry_fills  # noqa: E402

TAKER = {"entry": {"type": "market"}, "take_profit_type": "market"}
MAKER = {"entry": {"type": "limit", "post_only": True, "offset_ticks": 0, "timeout": "20s", "on_timeout": "market"},
         "take_profit_type": "limit"}


def run(profile: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "engine", "--offline", "backtest", str(profile), "--data", str(args.data),
               "--from", args.start, "--to", args.end, "--out", str(out), "--symbols", *args.symbols]
    subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "ENGINE_OFFLINE": "1"},
                   stdout=subprocess.DEVNULL)
    with (out / "trades.csv").open() as fh:
        trades = list(csv.DictReader(fh))
    # Every closed position, traded or not (an abandoned entry is no trade but counts in the fill ratio).
    lines = (line.strip("\0 ") for line in (out / "history.jsonl").read_text().splitlines())
    records = [json.loads(line) for line in lines if line]
    return {"trades": len(trades), "fees": sum(Decimal(t["fees"]) for t in trades),
            "maker": sum(Decimal(t["fees_maker"] or 0) for t in trades),
            "taker": sum(Decimal(t["fees_taker"] or 0) for t in trades),
            "net": sum(Decimal(t["realised_pnl"]) for t in trades), "entries": entry_fills(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=REPO / "profiles" / "aggressive.yaml")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--from", dest="start", default="2025-01-01")
    parser.add_argument("--to", dest="end", default="2025-03-01")
    parser.add_argument("--symbols", nargs="+", default=["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"])
    parser.add_argument("--keep-hard-stop", action="store_true", help="keep the profile's equity hard stop")
    args = parser.parse_args()
    if not (args.data / "klines").is_dir():
        sys.exit(f"skipped: no candle data in {args.data} (the shared data folder)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        profiles = root / "profiles"
        shutil.copytree(args.profile.parent, profiles)
        (root / "machines").symlink_to(REPO / "machines")
        # Both without the equity hard stop, unless kept: it would end the two runs at different times,
        # and the comparison is of the same span.
        risk = {} if args.keep_hard_stop else {"risk": {"max_drawdown_pct": None, "min_equity": None}}
        taker, maker = profiles / "bench-taker.yaml", profiles / "bench-maker.yaml"
        taker.write_text(json.dumps({"extends": args.profile.name, "name": "bench-taker", "orders": TAKER, **risk}))
        maker.write_text(json.dumps({"extends": args.profile.name, "name": "bench-maker", "orders": MAKER, **risk}))
        taker_run = run(taker, args, root / "taker")
        maker_run = run(maker, args, root / "maker")
    entries: EntryFills = maker_run["entries"]
    fill_ratio = (entries.fill_ratio_pct or Decimal(0)) / 100
    print(f"{args.profile.name} · {' '.join(args.symbols)} · {args.start} → {args.end} · funding not applied"
          + ("" if args.keep_hard_stop else " · equity hard stop off"))
    print(f"{'':12}{'trades':>8}{'fees':>12}{'maker fees':>12}{'taker fees':>12}{'net PnL':>12}")
    for name, r in (("taker", taker_run), ("maker", maker_run)):
        print(f"{name:12}{r['trades']:>8}{r['fees']:>12.2f}{r['maker']:>12.2f}{r['taker']:>12.2f}{r['net']:>12.2f}")
    print(f"limit entries: {entries.limit_entries}, filled whole: {entries.filled_whole}, cut short by the timeout: "
          f"{entries.expired} (the rest at market), rejected post-only: {entries.rejected}; "
          f"fill ratio (filled / ordered size) {fill_ratio:.1%}")
    print(f"RESULT fees_taker={taker_run['fees']:.2f} fees_maker={maker_run['fees']:.2f} "
          f"net_taker={taker_run['net']:.2f} net_maker={maker_run['net']:.2f} fill_ratio={fill_ratio:.3f}")

if __name__ == "__main__":
    main()
