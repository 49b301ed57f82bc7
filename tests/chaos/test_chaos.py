"""The short chaos run of CI: the bot is SIGKILLed at random instants while trading against the fake
Binance and restarted; meanwhile a second instance on the same state folder is sometimes started and
must be refused without disturbing the first; after every restart no position is naked, no order is
orphaned or duplicated, journal replay equals the snapshot, and every position the journal closes is
in the history exactly once. `bench/chaos.py` runs the long version."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.harness import run_chaos
from tests.fakes.binance.fixture import shared_candles

KILLS = 10


async def test_random_kills_leave_every_invariant_intact(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_chaos(KILLS, tmp_path, data_dir=shared_candles(), seed=11, say=lines.append)
    report = "\n".join([*lines, *result.findings])
    assert result.kills == KILLS
    assert result.entries > 0, "the bot must actually trade between kills:\n" + report
    assert result.closed > 0, "positions must close, so the history is checked:\n" + report
    assert result.intrusions > 0, "a second instance must have tried the folder:\n" + report
    assert result.violations() == (0, 0, 0, 0, 0, 0), report
