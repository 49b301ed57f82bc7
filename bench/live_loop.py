"""Wall time of one live-loop tick: 35 symbols against the fake Binance over HTTP with 30 ms latency.

The bot is the real one (BinanceVenue → ccxt → HTTP → fake fapi server on 127.0.0.1, the LiveLoop with
its poller, fill sync, strategy and periodic reconciliation); the fake runs in its own process (as the
exchange does), on the real candles of the shared data folder when they cover 35 symbols, else its synthetic
market, with its market clock accelerated so candles close during the run. Every request waits the
injected latency, as a far-away exchange would.

    uv run python bench/live_loop.py [--symbols 35] [--ticks 60] [--latency-ms 30]

Prints the median and p90 tick, the bot thread's CPU per tick (`engine_ms`: our own work, ccxt's
request building and parsing included, the fake's excluded) and their ratio to the 500 ms target,
ending with `RESULT loop_ms=… engine_ms=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.bot.session import open_session  # noqa: E402
from engine.clock import WallClock  # noqa: E402
from engine.config.loading import load_profile  # noqa: E402
from engine.market.poller import CandlePoller  # noqa: E402
from engine.run.live_loop import LiveLoop  # noqa: E402
from engine.venue.binance import BinanceSettings, BinanceVenue, Credentials  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
START = "2023-07-20"


class Quiet:
    def print(self, *args: object, **kwargs: object) -> None:
        pass

    def rule(self, *args: object, **kwargs: object) -> None:
        pass


def covered_symbols(count: int) -> tuple[list[str], Path | None]:
    """USDT perpetuals whose 5m file covers the run (real data), else the first `count` synthetic ones."""
    manifest = SHARED / "klines" / "MANIFEST.csv"
    if manifest.is_file():
        with manifest.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["timeframe"] == "5m"]
        good = [r["symbol"] for r in rows if r["first_open_utc"] <= "2023-07-18" and r["last_open_utc"] >= "2023-07-25"]
        listed = _listed()
        good = [s for s in good if s in listed and _has_start(SHARED / "klines" / f"{s}-5m.csv.gz")]
        if len(good) >= count:
            return [f"{s[:-4]}/USDT:USDT" for s in sorted(good)[:count]], SHARED
    fallback = ["BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "ADA", "LINK", "AVAX", "LTC", "BCH", "DOT", "TRX",
                "ATOM", "NEAR", "FIL", "APT", "ARB", "OP", "INJ", "SUI", "ETC", "UNI", "AAVE", "XLM", "ALGO",
                "SAND", "MANA", "AXS", "CRV", "DYDX", "GALA", "CHZ", "EOS", "THETA"]
    return [f"{b}/USDT:USDT" for b in fallback[:count]], None


def _listed() -> set[str]:
    import json

    path = SHARED / "exchangeinfo" / "fapi-exchangeInfo-mainnet-2024-10-20.json"
    return {s["symbol"] for s in json.loads(path.read_text())["symbols"] if s.get("status") == "TRADING"}


def _has_start(path: Path) -> bool:
    start_ms = int(datetime(2023, 7, 19, tzinfo=UTC).timestamp() * 1000)
    with gzip.open(path, "rt") as fh:
        next(fh)
        return any(int(line.split(",", 1)[0]) <= start_ms for line in fh)


def write_profile(root: Path, symbols: list[str]) -> Path:
    folder = root / "profiles"
    folder.mkdir(parents=True)
    for shipped in (REPO / "profiles").glob("*.yaml"):
        (folder / shipped.name).write_text(shipped.read_text())
    data = {"extends": "aggressive.yaml", "name": "bench", "mode": "testnet",
            "venue": {"quote_assets": ["USDT"]},
            "universe": {"max_symbols": len(symbols), "whitelist": [s.split("/")[0] + "USDT" for s in symbols]},
            "runtime": {"state_dir": str(root / "state"), "machine": str(REPO / "machines" / "position.yaml"),
                        "tick": "1ms", "reconcile_every": "10s", "close_on_shutdown": False}}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def start_fake(symbols: list[str], data: Path | None, args: argparse.Namespace):  # noqa: ANN201
    """The fake in its own process, as the exchange is: its work never competes with the bot's."""
    cmd = [sys.executable, "-m", "tests.fakes.binance", "--port", "0", "--speed", str(args.speed),
           "--symbols", ",".join(symbols), "--latency-ms", str(args.latency_ms), "--balance", "USDT=100000"]
    if data is not None:
        cmd += ["--data", str(data), "--start", START]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, stdout=asyncio.subprocess.PIPE,
                                                env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    url = ""
    while not url:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        if not line:
            raise RuntimeError("the fake server did not start")
        if "base URL:" in line:
            url = line.split("base URL:", 1)[1].strip()
    return proc, url


async def bench(args: argparse.Namespace) -> None:
    symbols, data = covered_symbols(args.symbols)
    proc, url = await start_fake(symbols, data, args)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_profile(write_profile(Path(tmp), symbols))
        venue = BinanceVenue(Credentials("test-key", "test-secret"), mode="testnet", base_url=url,
                             settings=BinanceSettings(enable_rate_limit=False, cache_candles=False))
        try:
            markets = await venue.markets()
            session = open_session(loaded, markets, venue=venue)
            loop = LiveLoop(session, CandlePoller(venue.fetch_ohlcv, symbols, "5m"), clock=WallClock(),
                            settle=None, out=Quiet())
            await loop.warm()
            await loop.start()
            cpu: list[float] = []
            for _ in range(args.ticks):
                before = time.thread_time()
                await loop.tick()
                cpu.append((time.thread_time() - before) * 1000)
                await asyncio.sleep(args.pause_ms / 1000)
            session.book.close()
        finally:
            await venue.close()
            proc.terminate()
            await proc.wait()
    walls = loop.stats.tick_ms
    loop_ms, engine_ms = statistics.median(walls), statistics.median(cpu)
    p90 = statistics.quantiles(walls, n=10)[-1]
    print(f"{len(symbols)} symbols ({'real candles' if data else 'synthetic market'}), latency {args.latency_ms} ms, "
          f"{args.ticks} ticks, {loop.engine.counters.entries} entries, {loop.stats.reconciliations} reconciliations")
    print(f"tick wall: median {loop_ms:.0f} ms, p90 {p90:.0f} ms, max {max(walls):.0f} ms")
    print(f"bot thread CPU per tick: median {engine_ms:.0f} ms")
    print(f"ratio to the 500 ms target: {loop_ms / 500:.2f}; latency share {args.latency_ms / loop_ms:.2f}")
    print(f"RESULT loop_ms={loop_ms:.0f} engine_ms={engine_ms:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=35)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=600.0, help="fake market ms per wall ms")
    parser.add_argument("--pause-ms", type=float, default=100.0, help="wall time between ticks")
    args = parser.parse_args()
    os.environ.setdefault("ENGINE_OFFLINE", "1")  # only 127.0.0.1 is ever contacted
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
