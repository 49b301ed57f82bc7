"""kill -9 in each state of the bot machine, then the state folder opened again.

A child process (ENGINE_OFFLINE=1) opens a session on a durable state folder as `run` does, drives the
bot machine into one state through its real events (each journaled and synced before `fire`
returns), says so, and waits; it is SIGKILLed there: no handler, no flush, no shutdown. The folder
must then open with the bot in exactly that state, entries allowed only where the state says so, and
the bot's journaled transitions replaying to the state the snapshot holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bot.session import open_session
from engine.config.loading import load_profile
from engine.trading.bot_machine import BOT_VALUE
from engine.trading.bot_state import replayed_state
from engine.venue.builtin_markets import builtin_markets
from tests.e2e.support import REPO, make_profile
from tests.trading.test_bot_machine import ROUTES as STATE_ROUTES  # how to reach each state

ENV = {**os.environ, "ENGINE_OFFLINE": "1", "PYTHONPATH": str(REPO)}

CHILD = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from engine.bot.session import open_session
from engine.config.loading import load_profile
from engine.venue.builtin_markets import builtin_markets

session = open_session(load_profile(Path(sys.argv[1])), builtin_markets(("USDC",)))
now = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
for event in sys.argv[2:]:
    session.bot.fire(event, now, by="kill9")
print("IN", session.bot.state, flush=True)
time.sleep(120)
"""

ROUTES = {**STATE_ROUTES, "re-armed": [*STATE_ROUTES["stopped_out"], "rearm"]}


@pytest.mark.parametrize("name", list(ROUTES))
def test_kill_9_in_each_state_resumes_into_it(tmp_path: Path, name: str) -> None:
    profile = make_profile(tmp_path, "botkill")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(profile), *ROUTES[name]], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        expected = "running" if name == "re-armed" else name
        if line.split() != ["IN", expected]:
            proc.kill()
            pytest.fail(f"the child did not reach {expected}: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    loaded = load_profile(profile)
    session = open_session(loaded, builtin_markets(("USDC",)))
    try:
        bot = session.bot
        assert bot.state == expected
        assert bot.entries_allowed("BTC/USDC:USDC") is (expected == "running")
        assert bot.model.by == ("kill9" if ROUTES[name] else None)
        assert replayed_state(loaded, session.book).to_dict() == session.book.bot.get(BOT_VALUE, bot.model.to_dict())
    finally:
        session.book.close()


def test_a_state_folder_from_before_the_bot_machine_resumes_its_pause(tmp_path: Path) -> None:
    """An older folder kept the pause in the risk document: it opens paused (by the same sender), the
    risk document is saved again without it, and the journal alone rebuilds the same bot state."""
    from engine.config.loading import load_machine_for
    from engine.positions.book import PositionBook

    profile = make_profile(tmp_path, "older")
    loaded = load_profile(profile)
    book = PositionBook(load_machine_for(loaded), loaded.state_dir)
    book.open()
    book.set_bot_value("risk", {"paused": True, "paused_by": "telegram:7", "paused_at": "2025-03-03T09:00:00+00:00",
                                "day": "2025-03-03", "day_pnl": "-4", "sl_streak": 1}, sync=True)
    book.close()
    session = open_session(loaded, builtin_markets(("USDC",)))
    try:
        assert session.bot.state == "paused" and session.bot.model.by == "telegram:7"
        assert any("older risk state" in w for w in session.resume.warnings)
        assert "paused" not in session.book.bot["risk"] and session.book.bot["risk"]["sl_streak"] == 1
        assert replayed_state(loaded, session.book).to_dict() == session.book.bot[BOT_VALUE]
    finally:
        session.book.close()
    again = open_session(loaded, builtin_markets(("USDC",)))  # and it stays paused: only resume lifts it
    try:
        assert again.bot.state == "paused" and not any("older risk state" in w for w in again.resume.warnings)
    finally:
        again.book.close()


def test_the_runs_status_line_says_the_bots_state_and_why(tmp_path: Path) -> None:
    import asyncio
    import time
    from datetime import UTC, datetime

    from rich.console import Console

    from engine.run.console import print_status

    loaded = load_profile(make_profile(tmp_path, "line"))
    session = open_session(loaded, builtin_markets(("USDC",)))
    out = Console(width=300, record=True)
    now = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    try:
        asyncio.run(print_status(out, session, now, time.monotonic()))
        session.bot.fire("loss_limit", now, reason="today's realised PnL -31.00 reached the daily loss limit")
        asyncio.run(print_status(out, session, now, time.monotonic()))
    finally:
        session.book.close()
    first, second = out.export_text().splitlines()
    assert "HALTED" not in first and "up 0m00s" in first
    assert second.endswith("· HALTED: TODAY'S REALISED PNL -31.00 REACHED THE DAILY LOSS LIMIT, "
                           "UNTIL 2025-03-04 00:00 UTC")
