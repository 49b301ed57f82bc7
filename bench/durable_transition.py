"""Cost of one durable transition versus a bare fsync'd append, as closed history grows.

For 10, 1 000 and 10 000 closed positions already in the state folder, measures the median wall
time of `PositionBook.apply` (machine, journal line written over its preallocated space and
fdatasync'd, snapshot slot written, history line appended when a position closes) and, interleaved on
the same disk, the median of appending one line to a fresh file and fsync'ing it. Their ratio must not
grow with history (target <= 1.5).

    uv run python bench/durable_transition.py [--samples N] [--fsync checkpoint|always]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.config.loading import bind_machine, load_profile  # noqa: E402
from engine.positions.book import PositionBook  # noqa: E402
from engine.positions.events import load_position_machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class AllowAll:
    def allows(self, rule: str, position: object, now: object) -> bool:
        return True

    def tradable(self, symbol: str) -> bool:
        return True


class Env:
    risk = AllowAll()
    market = AllowAll()


def plan() -> dict:
    return {"side": "long", "qty": "0.010", "price": "60000.0", "stop_price": "58800.0",
            "take_profits": [{"price": "60240.0", "qty": "0.004"}, {"price": "60480.0", "qty": "0.003"},
                             {"price": "60720.0", "qty": "0.003"}],
            "step_size": "0.001", "min_notional": "100", "stop_after_tp": "breakeven"}


LIFECYCLE = [
    ("signal", lambda: {"plan": plan()}),
    ("entry_filled", lambda: {"client_id": "", "qty": "0.010", "price": "60010.0", "fee": "0.24"}),
    ("tp_filled", lambda: {"client_id": "", "qty": "0.004", "price": "60240.0", "fee": "0.1", "step": 1}),
    ("sl_filled", lambda: {"client_id": "", "qty": "0.006", "price": "60010.0", "fee": "0.14"}),
]


def machine():  # noqa: ANN201
    loaded = load_profile(REPO / "profiles" / "balanced.yaml", with_overrides=False)
    return bind_machine(load_position_machine(REPO / "machines" / "position.yaml"), loaded)


def fill_history(book: PositionBook, closed: int, now: datetime) -> datetime:
    for _ in range(closed):
        p = book.new_position("BTC/USDC:USDC")
        for event, payload in LIFECYCLE:
            now += timedelta(seconds=1)
            book.apply(p, event, payload(), now=now, env=Env())
    return now


def measure(closed: int, samples: int, fsync: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(dir=REPO / "state") as tmp:
        folder = Path(tmp)
        book = PositionBook(machine(), folder / "bot", fsync="checkpoint", checkpoint_every=10**9)
        book.open()
        now = fill_history(book, closed, T0)
        book.close()
        os.sync()  # the fill's writeback must not land in the middle of the measurement
        book = PositionBook(machine(), folder / "bot", fsync=fsync)  # type: ignore[arg-type]
        book.open()
        bare = open(folder / "bare.log", "ab", buffering=0)  # noqa: SIM115
        line = b"x" * 1200 + b"\n"  # about the size of a journal record
        durable, baseline = [], []
        live = [book.new_position("ETH/USDC:USDC") for _ in range(3)]
        stage = [0, 0, 0]
        for i in range(samples):
            k = i % 3
            if stage[k] == len(LIFECYCLE):
                live[k] = book.new_position("ETH/USDC:USDC")
                stage[k] = 0
            event, payload = LIFECYCLE[stage[k]]
            now += timedelta(seconds=1)
            args = (live[k], event, payload())
            t = time.perf_counter()
            book.apply(*args, now=now, env=Env())
            durable.append(time.perf_counter() - t)
            stage[k] += 1
            t = time.perf_counter()
            bare.write(line)
            os.fsync(bare.fileno())
            baseline.append(time.perf_counter() - t)
        bare.close()
        book.close()
        return statistics.median(durable) * 1000, statistics.median(baseline) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument("--fsync", choices=("checkpoint", "always"), default="checkpoint",
                        help="snapshot fsync policy (the journal is always fsync'd)")
    args = parser.parse_args()
    (REPO / "state").mkdir(exist_ok=True)
    print(f"durable transition vs bare fsync'd append; snapshot fsync policy: {args.fsync}")
    print(f"{'closed in history':>18} {'transition ms':>14} {'bare append ms':>15} {'ratio':>7}")
    ratios, medians = {}, []
    for closed in (10, 1000, 10000):
        durable_ms, bare_ms = measure(closed, args.samples, args.fsync)
        ratios[closed] = durable_ms / bare_ms
        medians.append(durable_ms)
        print(f"{closed:>18} {durable_ms:>14.3f} {bare_ms:>15.3f} {ratios[closed]:>7.2f}")
    print(f"RESULT median_ms={statistics.median(medians):.3f} ratio_10={ratios[10]:.2f} "
          f"ratio_1000={ratios[1000]:.2f} ratio_10000={ratios[10000]:.2f}")


if __name__ == "__main__":
    main()
