"""The same profile with market execution and with maker execution, side by side, over real candles.

    uv run python bench/maker_vs_taker.py [--profile P] [--data DIR] [--from D] [--to D] [--symbols …]

Taker: the profile as shipped (market entry, TAKE_PROFIT_MARKET slices). Maker: the same profile with
`orders.entry: {type: limit, post_only: true, offset_ticks: 0, timeout: 20s, on_timeout: market}` and
`orders.take_profit_type: limit`. Both through `python -m engine backtest` as a user runs it; figures
from each run's `trades.csv` (fees and net PnL after fees) and journal (resting entries that filled).
The shared data is USDT-margined: the runs trade USDT perpetuals (maker 0.02 %, taker 0.05 %). Funding
is not applied by the backtest yet; both columns leave it out alike. In-sample: nothing here was tuned.
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

REPO = Path(__file__).resolve().parents[1]
MAKER = {"entry": {"type": "limit", "post_only": True, "offset_ticks": 0, "timeout": "20s", "on_timeout": "market"},
         "take_profit_type": "limit"}


def run(profile: Path, args: argparse.Namespace, out: Path) -> dict[str, Decimal | int]:
    command = [sys.executable, "-m", "engine", "--offline", "backtest", str(profile), "--data", str(args.data),
               "--from", args.start, "--to", args.end, "--out", str(out), "--symbols", *args.symbols]
    subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "ENGINE_OFFLINE": "1"},
                   stdout=subprocess.DEVNULL)
    with (out / "trades.csv").open() as fh:
        trades = list(csv.DictReader(fh))
    resting = filled = 0
    for raw in (out / "journal.jsonl").read_bytes().split(b"\n"):
        raw = raw.strip(b"\0")
        if not raw:
            continue
        record = json.loads(raw)
        if record.get("event") == "signal" and record.get("to") == "resting":
            resting += 1
        if record.get("event") == "entry_filled" and record.get("from") in ("resting", "cancelling_entry") \
                and record.get("to") == "open" and "resting" not in (record.get("payload") or {}):
            filled += 1
    return {"trades": len(trades), "fees": sum(Decimal(t["fees"]) for t in trades),
            "net": sum(Decimal(t["realised_pnl"]) for t in trades), "resting": resting, "filled": filled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, default=REPO / "profiles" / "aggressive.yaml")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--from", dest="start", default="2025-01-01")
    parser.add_argument("--to", dest="end", default="2025-03-01")
    parser.add_argument("--symbols", nargs="+", default=["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"])
    args = parser.parse_args()
    if not (args.data / "klines").is_dir():
        sys.exit(f"skipped: no candle data in {args.data} (the shared data folder)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        profiles = root / "profiles"
        shutil.copytree(args.profile.parent, profiles)
        (root / "machines").symlink_to(REPO / "machines")
        maker = profiles / "bench-maker.yaml"
        maker.write_text(json.dumps({"extends": args.profile.name, "name": "bench-maker", "orders": MAKER}))
        taker_run = run(profiles / args.profile.name, args, root / "taker")
        maker_run = run(maker, args, root / "maker")
    fill_ratio = maker_run["filled"] / maker_run["resting"] if maker_run["resting"] else 0.0
    print(f"{args.profile.name} · {' '.join(args.symbols)} · {args.start} → {args.end} · funding not applied")
    print(f"{'':12}{'trades':>8}{'fees':>12}{'net PnL':>12}")
    for name, r in (("taker", taker_run), ("maker", maker_run)):
        print(f"{name:12}{r['trades']:>8}{r['fees']:>12.2f}{r['net']:>12.2f}")
    print(f"resting entries: {maker_run['resting']}, filled whole as maker: {maker_run['filled']} "
          f"({fill_ratio:.1%}); the rest went in at market after the timeout")
    print(f"RESULT fees_taker={taker_run['fees']:.2f} fees_maker={maker_run['fees']:.2f} "
          f"net_taker={taker_run['net']:.2f} net_maker={maker_run['net']:.2f} fill_ratio={fill_ratio:.3f}")


if __name__ == "__main__":
    main()
