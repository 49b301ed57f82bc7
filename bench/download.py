"""Download throughput: 10 symbols × 5m and 1m candles (with funding) from local stand-ins of Binance's
archive and fapi (tests.fakes.archive, tests.market.fake_public_fapi; both on 127.0.0.1, built from the
shared data), a cold run and then a rerun, then loading 10 symbols × 8 months of 5m from the store
through DataDir, as a backtest reads it.

    uv run python bench/download.py [--data DIR] [--from D] [--to D] [--symbols …]

The spec asks for 12 months; the shared data holds 2025-01..2025-08 (8 months) for the complete symbols,
so that is what runs (printed). Targets: the rerun fetches nothing and takes < 2 s; the load < 1 s.
Ends with one line: RESULT download_s=… rerun_s=… load_s=… store_mb=…
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.cli.main import main as engine_main  # noqa: E402
from engine.market.datadir import DataDir  # noqa: E402
from engine.offline import force_offline  # noqa: E402
from tests.market.download.stand_ins import serve_stand_ins  # noqa: E402

# The shared data's symbols with complete 5m candles for 2025-01..08. Its 1m candles cover only
# 2025-05-04..2025-06-03, and only for BTC ETH BNB SOL XRP BCH of these: every other 1m month is a 404
# in the archive and an empty answer from the fapi (one request each), as a symbol not listed yet would be.
DEFAULT_SYMBOLS = [f"{b}USDT" for b in ("BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "BCH", "ZEC", "INJ", "OP")]


def _cli(args: list[str]) -> tuple[int, float]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = engine_main(args)
    return code, time.perf_counter() - started


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def main() -> None:
    force_offline()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--from", dest="start", default="2025-01-01")
    parser.add_argument("--to", dest="end", default="2025-09-01")
    parser.add_argument("--symbols", nargs="+", default=DEFAULT_SYMBOLS)
    args = parser.parse_args()
    info = args.data / "exchangeinfo" / "fapi-exchangeInfo-mainnet-2024-10-20.json"
    if not (args.data / "klines").is_dir() or not info.is_file():
        raise SystemExit(f"no candle data or exchangeInfo at {args.data} (pass --data DIR)")
    print(f"symbols {' '.join(args.symbols)}; 5m and 1m; {args.start} .. {args.end} (exclusive); funding on")
    import ccxt.async_support  # noqa: F401  (its import takes seconds here; not part of the download's time)

    with tempfile.TemporaryDirectory() as tmp, serve_stand_ins(args.data, info) as fakes:
        store = Path(tmp) / "market"
        command = ["download", "--symbols", *args.symbols, "--timeframes", "5m", "1m", "--from", args.start,
                   "--to", args.end, "--data", str(store), *fakes.flags()]
        code, download_s = _cli(command)
        if code != 0:
            raise SystemExit(f"cold download failed (exit {code})")
        cold_files, cold_fapi = len(fakes.archive.zips()), len(fakes.fapi_data_requests())
        fakes.reset()
        code, rerun_s = _cli(command)
        rerun_requests = len(fakes.archive.requests) + len(fakes.fapi.requests)
        if code != 0 or rerun_requests:
            raise SystemExit(f"rerun: exit {code}, {rerun_requests} requests (expected 0, 0)")
        for timeframe in ("5m", "1m"):
            series = [DataDir(store).load(s, timeframe, allow_twin=False).frame for s in args.symbols
                      if (store / "klines" / f"{s}-{timeframe}.parquet").is_file()]
            rows = [f for f in series if len(f)]
            when = (f"{_day(min(f.index[0] for f in rows))} .. {_day(max(f.index[-1] for f in rows))}"
                    if rows else "none")
            print(f"stored {timeframe}: {sum(map(len, rows)):,} candles, {len(rows)} symbols with data, {when}")
        store_mb = sum(p.stat().st_size for p in store.rglob("*.parquet")) / 1e6
        start = int(datetime.fromisoformat(args.start).replace(tzinfo=UTC).timestamp() * 1000)
        end = int(datetime.fromisoformat(args.end).replace(tzinfo=UTC).timestamp() * 1000)
        started = time.perf_counter()
        data = DataDir(store)
        loaded = sum(len(data.load(s, "5m", start, end).frame) for s in args.symbols)
        load_s = time.perf_counter() - started
    print(f"cold: {cold_files} archive zips, {cold_fapi} fapi klines/fundingRate requests; rerun: 0 requests")
    print(f"load: {loaded:,} 5m candles of {len(args.symbols)} symbols through DataDir")
    verdict = "ok" if rerun_s < 2 and load_s < 1 else "MISSED"
    print(f"targets rerun < 2 s, load < 1 s: {verdict}")
    print(f"RESULT download_s={download_s:.2f} rerun_s={rerun_s:.2f} load_s={load_s:.3f} store_mb={store_mb:.1f}")


if __name__ == "__main__":
    main()
