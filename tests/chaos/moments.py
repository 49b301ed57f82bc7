"""Kill timings aimed at the moments of a maker trade, for the chaos harness (`KillTiming`).

A random while rarely lands a kill while a limit entry is half filled or while its cancel is on the
wire, so `LimitMoments` waits for one named moment per cycle, in turn, by watching the fake Binance:

- `entry_resting`: a LIMIT entry of the bot rests on the book, nothing of it filled yet;
- `entry_part_filled`: a LIMIT entry rests with part of it filled (the part's stop may not be out yet);
- `cancel_in_flight`: the bot has sent a cancel of a normal-book order (the entry's at its timeout, a
  take-profit's when the stop fills) and the fake holds it (a latency fault: `CANCEL_LATENCY`), so
  the kill lands before the bot hears the answer, and the fake may still carry the cancel out;
- `tp_resting`: a reduce-only LIMIT take-profit rests on the book.

A moment that does not come within `patience` seconds is counted as missed, the bot is killed all the
same, and the next cycle waits for that moment again; `hit` and `missed` say what each cycle got.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.fakes.binance import Fault

if TYPE_CHECKING:
    from tests.chaos.harness import BotProcess
    from tests.fakes.binance import FakeBinance

ORDER = "/fapi/v1/order"
MOMENTS = ("entry_resting", "entry_part_filled", "cancel_in_flight", "tp_resting")


def maker_profile(on_timeout: str) -> dict[str, dict[str, Any]]:
    """The profile sections of the maker runs: post-only entries at the close that time out quickly (the
    fake's market runs 600x: 2 s are 20 minutes of candles), limit take-profits, and a max hold short
    enough that take-profits are cancelled often (at max hold, before the close)."""
    return {"orders": {"entry": {"type": "limit", "post_only": True, "offset_ticks": 0, "timeout": "2s",
                                 "on_timeout": on_timeout},
                       "take_profit_type": "limit"},
            "risk": {"max_hold": "30s"}}


def cancel_latency(delay_s: float = 0.8) -> Fault:
    """Every cancel of a normal-book order is held `delay_s` before the fake carries it out."""
    return Fault.latency(delay_s, method="DELETE", path=ORDER)


def _limits(fake: FakeBinance) -> list[dict[str, Any]]:
    return [o for o in fake.open_orders() if o["type"] == "LIMIT"]


def _entries(fake: FakeBinance, filled: bool) -> bool:
    return any(not o["reduceOnly"] and (Decimal(o["executedQty"]) > 0) == filled for o in _limits(fake))


CHECKS: dict[str, Callable[[FakeBinance, int], bool]] = {
    "entry_resting": lambda fake, _: _entries(fake, filled=False),
    "entry_part_filled": lambda fake, _: _entries(fake, filled=True),
    "cancel_in_flight": lambda fake, seen: any(r.method == "DELETE" and r.path == ORDER
                                               for r in fake.requests[seen:]),
    "tp_resting": lambda fake, _: any(o["reduceOnly"] for o in _limits(fake)),
}


class LimitMoments:
    """A `KillTiming` that waits for the next moment of `MOMENTS` not yet hit (in turn), then returns (the harness
    kills). `settle_s`: a random extra wait of up to this long once a resting moment is seen (a cancel in
    flight is killed at once: it lasts only as long as the latency fault holds it)."""

    def __init__(self, patience: float = 15.0, settle_s: float = 0.3, poll_s: float = 0.02,
                 moments: tuple[str, ...] = MOMENTS) -> None:
        self.patience, self.settle_s, self.poll_s = patience, settle_s, poll_s
        self.moments = moments
        self.hit: Counter[str] = Counter()
        self.missed: Counter[str] = Counter()
        self._turn = 0

    async def __call__(self, bot: BotProcess, rng: random.Random) -> None:
        moment = self.moments[self._turn % len(self.moments)]
        fake = bot.fake
        seen = len(fake.requests)
        check = CHECKS[moment]
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            if check(fake, seen):
                self.hit[moment] += 1
                self._turn += 1
                if moment != "cancel_in_flight":
                    await asyncio.sleep(rng.uniform(0, self.settle_s))
                return
            await asyncio.sleep(self.poll_s)
        self.missed[moment] += 1
