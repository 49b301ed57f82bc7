"""Chaos benchmark: the bot trades against the fake Binance (accelerated real candles over HTTP) and is
killed with SIGKILL at random instants, then restarted; after every restart the invariants are counted.

    uv run python bench/chaos.py [--kills 100] [--seed 1] [--speed 600] [--orders market|maker-market|maker-abandon]

`--orders maker-…` trades post-only limit entries (timing out after 2 s, then entered at market or
abandoned) and limit take-profits on a fake whose resting orders fill 30 % per candle, and aims each kill
at a moment of a maker trade in turn (tests/chaos/moments.py: an entry resting, part filled, a cancel on
the wire, a take-profit resting) instead of a random instant.

Every count in the RESULT line must be 0; `ready_s` is the median time from restart (process spawn) to
trading-ready (start-up reconciliation done). See tests/chaos/harness.py for what each count means.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.chaos.harness import run_chaos  # noqa: E402
from tests.chaos.moments import LimitMoments, cancel_latency, maker_profile  # noqa: E402
from tests.fakes.binance.fixture import shared_candles  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=600.0, help="fake market ms per wall ms")
    parser.add_argument("--orders", choices=["market", "maker-market", "maker-abandon"], default="market")
    args = parser.parse_args()
    os.environ["ENGINE_OFFLINE"] = "1"  # only 127.0.0.1 is ever contacted
    data = shared_candles()
    print(f"market: {'real candles from ' + str(data) if data else 'synthetic (shared data absent)'}")
    moments = LimitMoments() if args.orders != "market" else None
    maker: dict[str, Any] = {} if moments is None else {
        "kill_when": moments, "overrides": maker_profile(args.orders.removeprefix("maker-")), "limit_fill_share": 0.3,
        "faults": [cancel_latency()]}
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run_chaos(args.kills, Path(tmp), data_dir=data, seed=args.seed, speed=args.speed,
                                       say=lambda line: print(line, flush=True), **maker))
    for finding in result.findings:
        print(f"  {finding}")
    print(f"{result.entries} entries, {result.closed} closed positions across {result.kills} kills")
    if moments is not None:
        print(f"kills aimed: hit {dict(moments.hit)}, missed {dict(moments.missed)}; journal events "
              f"{ {k: result.events[k] for k in ('entry_filled', 'entry_expired', 'entry_cancelled', 'tp_filled')} }")
    print(result.result_line())


if __name__ == "__main__":
    main()
