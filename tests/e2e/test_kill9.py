"""kill -9 during a paper run on real candles, then the same command again.

`python -m engine run` runs as a real subprocess (ENGINE_OFFLINE=1) replaying the shared data as fast
as it can. Once its journal holds enough records it is SIGKILLed: no handler, no flush, no shutdown.
The state folder must then open with journal replay equal to the snapshot and a loadable venue; a
restart must finish cleanly, and afterwards no client order id was issued twice, every protected
position owns exactly one stop-loss on the saved venue, no order on the venue is an orphan, and the
venue holds exactly the exposure the book says (a duplicated entry would show there). Twice, at
different points.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.positions.book import JOURNAL_FILE
from tests.e2e.support import (
    REPO,
    assert_client_ids_unique,
    assert_one_stop_per_protected_position,
    assert_replay_equals_snapshot,
    assert_venue_matches_book,
    journal,
    make_profile,
    saved_venue,
    state_dir_of,
)
from tests.e2e.test_paper import PAPER

ENV = {**os.environ, "ENGINE_OFFLINE": "1", "PYTHONPATH": str(REPO)}
WAIT_S = 90  # upper bound for a child process to write its records (it normally takes a few seconds)


def command(profile: Path, data: Path, candles: int) -> list[str]:
    return [sys.executable, "-m", "engine", "run", str(profile), "--data", str(data), "--speed", "100000",
            "--candles", str(candles)]


def journal_lines(path: Path) -> int:
    """Complete transition and command lines (bot records, such as the paper cursor journaled every
    candle, carry no seq and are not what the resume check counts)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    complete = data[: data.rfind(b"\n") + 1]
    return sum(1 for line in complete.splitlines() if line.startswith(b'{"seq":'))


def kill_after(profile: Path, data: Path, records: int, log: Path) -> int:
    """Start a long run, SIGKILL it once the journal holds `records` complete lines. Returns the count
    seen at the kill."""
    path = state_dir_of(profile) / JOURNAL_FILE
    with log.open("ab") as out:
        proc = subprocess.Popen(command(profile, data, 100_000), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env=ENV)
        try:
            deadline = time.monotonic() + WAIT_S
            seen = journal_lines(path)
            while seen < records:
                if proc.poll() is not None:
                    pytest.fail(f"run exited with {proc.returncode} before writing {records} records:\n"
                                f"{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"only {seen} journal records after {WAIT_S} s")
                time.sleep(0.005)
                seen = journal_lines(path)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return seen


def check_after_kill(profile: Path, data: Path) -> None:
    state = state_dir_of(profile)
    book = assert_replay_equals_snapshot(profile, state)  # opens: torn tail cut, snapshot rolled forward
    book.close()
    venue = saved_venue(profile, state, data)
    assert asyncio.run(venue.balance("USDC")).total > 0
    assert_client_ids_unique(journal(state))


def restart(profile: Path, data: Path, log: Path) -> str:
    proc = subprocess.run(command(profile, data, 20), cwd=REPO, capture_output=True, text=True, env=ENV,
                          timeout=WAIT_S)
    log.write_text(log.read_text() + proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "resumed" in proc.stdout
    return proc.stdout


def check_after_restart(profile: Path, data: Path) -> None:
    state = state_dir_of(profile)
    records = journal(state)
    assert_client_ids_unique(records)
    assert_one_stop_per_protected_position(records)
    signals = [r["position"] for r in records if r["event"] == "signal"]
    assert len(signals) == len(set(signals)), "a position entered twice"
    book = assert_replay_equals_snapshot(profile, state)
    try:
        asyncio.run(assert_venue_matches_book(saved_venue(profile, state, data), book))
    finally:
        book.close()


def test_kill_9_twice_then_restart_resumes_without_duplicates(tmp_path: Path, shared_data: Path) -> None:
    profile = make_profile(tmp_path, "killed", runtime={"close_on_shutdown": False}, **PAPER)
    log = tmp_path / "runs.log"
    first = kill_after(profile, shared_data, 40, log)
    check_after_kill(profile, shared_data)
    restart(profile, shared_data, log)
    check_after_restart(profile, shared_data)

    after_first = len(journal(state_dir_of(profile)))
    assert after_first >= first - 1  # at most a torn last line was cut
    second = kill_after(profile, shared_data, after_first + 37, log)
    assert second > first
    check_after_kill(profile, shared_data)
    restart(profile, shared_data, log)
    check_after_restart(profile, shared_data)
    assert len(journal(state_dir_of(profile))) >= second - 1
