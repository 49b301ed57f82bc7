"""A process that trades positions through the book and can be made to die at a chosen instant.

Used by test_crash.py as a subprocess:  python -m tests.store.crash_worker DIR [POINT N]
POINT is where to die (os._exit, which like SIGKILL skips every cleanup) on its N-th occurrence:
  journal_mid    half of a journal line written
  after_journal  journal line durable, snapshot not yet updated
  snapshot_mid   half of a snapshot slot written
  after_snapshot snapshot slot written, transition not yet returned
  history_mid    half of a history line written
Without POINT it runs until killed, printing "seq N" after every durable transition.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

from engine.positions.book import PositionBook
from engine.store import history, journal, snapshot
from tests.positions.support import T0, Env, fill, machine, plan

EXIT_CODE = 137


def arm(point: str, nth: int) -> None:
    hits = {"n": 0}

    def hit() -> bool:
        hits["n"] += 1
        return hits["n"] >= nth

    if point == "journal_mid":
        original = journal.Journal.write

        def torn_write(self, record):  # type: ignore[no-untyped-def]
            if hit():
                import json

                line = json.dumps(record).encode()
                self._grow(self._end + len(line))  # lands on the zero padding, as a real torn write would
                os.pwrite(self._fd, line[: len(line) // 2], self._end)
                os._exit(EXIT_CODE)
            original(self, record)

        journal.Journal.write = torn_write  # type: ignore[method-assign]
    elif point == "after_journal":
        original_sync = journal.Journal.sync

        def die_after_sync(self):  # type: ignore[no-untyped-def]
            original_sync(self)
            if hit():
                os._exit(EXIT_CODE)

        journal.Journal.sync = die_after_sync  # type: ignore[method-assign]
    elif point in ("snapshot_mid", "after_snapshot"):
        real_pwrite = os.pwrite

        def die_in_pwrite(fd, data, offset):  # type: ignore[no-untyped-def]
            if "snapshot-" in os.readlink(f"/proc/self/fd/{fd}") and hit():  # the journal writes with pwrite too
                if point == "snapshot_mid":
                    real_pwrite(fd, data[: len(data) // 2], offset)
                else:
                    real_pwrite(fd, data, offset)
                os._exit(EXIT_CODE)
            return real_pwrite(fd, data, offset)

        snapshot.os.pwrite = die_in_pwrite  # type: ignore[attr-defined]
    elif point == "history_mid":
        original_write = history.History.write

        def torn_write_line(self, pending, sync=False):  # type: ignore[no-untyped-def]
            if pending is not None and hit():
                self._fh.write(pending.line[: len(pending.line) // 2])
                os._exit(EXIT_CODE)
            original_write(self, pending, sync)

        history.History.write = torn_write_line  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")


NEXT = {
    "entering": ("entry_filled", lambda p: fill(p.plan["qty"], "60010.0")),
    "open": ("tp_filled", lambda p: fill("0.004", "60240.0", step=1)),
    "partial_tp": ("sl_filled", lambda p: fill(str(p.qty), "60010.0")),
    "closing": ("close_filled", lambda p: fill(str(p.qty), "60000.0")),
    "emergency": ("close_filled", lambda p: fill(str(p.qty), "59000.0")),
}


def run(state_dir: Path, limit: int | None) -> None:
    book = PositionBook(machine(), state_dir)
    book.open()
    last = book.journal.last_record()
    now = T0 if last is None else __import__("datetime").datetime.fromisoformat(last["time"])
    done = 0
    while limit is None or done < limit:
        now += timedelta(seconds=1)
        if len(book.live) < 3:
            p = book.new_position(("BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC")[done % 3])
            book.apply(p, "signal", {"plan": plan()}, now=now, env=Env())
        else:
            p = min(book.live.values(), key=lambda q: q.last_seq)
            if p.state == "open" and p.number % 4 == 0:
                event, payload = "panic", {}
            elif p.state == "open" and p.number % 4 == 1:
                event, payload = "max_hold", {}
            else:
                event, make = NEXT[p.state]
                payload = make(p)
            book.apply(p, event, payload, now=now, env=Env())
        done += 1
        print(f"seq {book.journal.last_seq}", flush=True)
    book.close()


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    if len(sys.argv) > 3:
        arm(sys.argv[2], int(sys.argv[3]))
        run(folder, limit=1000)
    else:
        run(folder, limit=None)
