"""How long a backtest takes to start: imports, loading 10 pairs × 8 months of 5m candles, indicators.

The candles are first copied into a download store (parquet, `engine.market.store`, as `download` writes
it) in a temporary folder, from `../shared/data`'s klines; then a fresh Python process (nothing cached in
memory, bytecode compiled) times, in order: the imports a backtest pays (`engine.run.backtest`, the
report, the CLI), loading the ten series from the store, and ScalpingV1's signals over them
(`VectorSignals`, every indicator). The same timing on the klines CSV files themselves is printed beside.

    uv run python bench/lean_start.py [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = [f"{b}USDT" for b in ("BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "BCH", "ZEC", "INJ", "OP")]
START, END = "2025-01-01", "2025-08-31"

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import engine.cli.backtest_cmd, engine.report, engine.run.backtest  # what `python -m engine backtest` imports
from datetime import UTC, datetime
from engine.config.loading import load_profile
from engine.market.datadir import DataDir
from engine.strategy.sources import VectorSignals
t1 = time.perf_counter()
data, start, end = DataDir(sys.argv[1]), datetime.fromisoformat(sys.argv[2]).replace(tzinfo=UTC), \\
    datetime.fromisoformat(sys.argv[3]).replace(tzinfo=UTC)
frames = {s: data.load(s, "5m", start, end).frame for s in sys.argv[5:]}
t2 = time.perf_counter()
from pathlib import Path
VectorSignals(frames, load_profile(Path(sys.argv[4]), with_overrides=False).profile.strategy)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "indicators_s": t3 - t2,
                  "candles": sum(len(f) for f in frames.values())}))
"""


def build_store(data: Path, store: Path) -> None:
    """The ten series of the data folder written as the download store holds them."""
    sys.path.insert(0, str(REPO))
    from engine.market.datadir import DataDir
    from engine.market.store import write_klines

    folder = DataDir(data)
    for venue_id in SYMBOLS:
        frame = folder.load(f"{venue_id[:-4]}/USDT:USDT", "5m").frame
        times = frame.index.to_numpy()
        write_klines(store, venue_id, "5m", frame, [(int(times[0]), int(times[-1]) + 300_000)])


def timed(data: Path) -> dict[str, float]:
    symbols = [f"{s[:-4]}/USDT:USDT" for s in SYMBOLS]
    out = subprocess.run([sys.executable, "-c", CHILD, str(data), START, END,
                          str(REPO / "bench" / "seed-conservative.yaml"), *symbols],
                         cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the timed process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    if not (args.data / "klines").is_dir():
        raise SystemExit(f"no candle data at {args.data} (pass --data DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "market"
        build_store(args.data, store)
        timed(store)  # once to compile bytecode, as any second run finds it
        parquet = timed(store)
    csv = timed(args.data)
    for name, t in (("store (parquet)", parquet), ("klines CSV", csv)):
        print(f"{name:16} imports {t['import_s']:.2f} s · load {t['load_s']:.2f} s · indicators "
              f"{t['indicators_s']:.2f} s · {int(t['candles']):,} candles")
    start = parquet["load_s"] + parquet["indicators_s"]
    print(f"RESULT import_s={parquet['import_s']:.2f} load_s={parquet['load_s']:.2f} "
          f"indicators_s={parquet['indicators_s']:.2f} load_and_indicators_s={start:.2f} "
          f"csv_load_s={csv['load_s']:.2f} candles={int(parquet['candles'])}")


if __name__ == "__main__":
    main()
