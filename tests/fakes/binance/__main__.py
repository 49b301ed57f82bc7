"""Run the fake Binance USD-M server by hand (127.0.0.1 only; nothing leaves the machine).

    # synthetic market (seed 7), market time runs 60x faster than the wall clock
    uv run python -m tests.fakes.binance --port 8765 --speed 60

    # replay the real candles of the shared data folder from 2025-03-01, two symbols
    uv run python -m tests.fakes.binance --port 8765 --data ../shared/data --speed 60 \
        --symbols BTC/USDC:USDC,ETH/USDC:USDC --start 2025-03-01

It prints the base URL, the API key and the secret to use and serves until Ctrl+C. Point ccxt at it with
`urls['api']` overrides (reference §2; `tests/fakes/binance/fixture.py:ccxt_client` does it). Without
`--speed` the market clock runs at wall speed (1x). Options: `--seed`, `--timeframe`, `--api-key`,
`--secret`, `--balance ASSET=AMOUNT` (repeatable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from tests.fakes.binance.fake import DEFAULT_BALANCES, FakeBinance
from tests.fakes.binance.faults import Fault


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.binance", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--data", type=Path, default=None, help="candle data folder (default: synthetic market)")
    parser.add_argument("--speed", type=float, default=1.0, help="market ms per wall ms (default 1)")
    parser.add_argument("--symbols", default=None, help="comma-separated unified symbols")
    parser.add_argument("--start", default=None, help="first market time (ISO date or Unix ms)")
    parser.add_argument("--timeframe", default="5m")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--secret", default="test-secret")
    parser.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay every request (a far-away exchange)")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    balances = dict(DEFAULT_BALANCES)
    for item in args.balance:
        asset, _, amount = item.partition("=")
        balances[asset.upper()] = amount
    start: str | int | None = int(args.start) if args.start and args.start.isdigit() else args.start
    fake = FakeBinance(
        symbols=args.symbols.split(",") if args.symbols else None,
        data_dir=args.data,
        start=start,
        timeframe=args.timeframe,
        speed=args.speed,
        balances=balances,
        api_key=args.api_key,
        secret=args.secret,
        seed=args.seed,
    )
    if args.latency_ms > 0:
        fake.inject(Fault.latency(args.latency_ms / 1000))
    url = await fake.start(port=args.port)
    print(f"fake Binance USD-M at {url}  ({fake.data_source}, speed {args.speed}x, {len(fake.markets)} symbols)")
    print(f"  base URL: {url}\n  api key:  {fake.api_key}\n  secret:   {fake.secret}")
    # Flushed: a parent process reading the URL from a pipe must not wait for a full buffer.
    print("  ccxt urls['api'][fapiPublic|fapiPrivate] = base + '/fapi/v1' (and v2, v3); Ctrl+C stops", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parse(argv)))


if __name__ == "__main__":
    main()
