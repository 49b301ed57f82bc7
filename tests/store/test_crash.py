"""Crash consistency: a process killed at any instant resumes to a consistent state.

The worker runs in a real subprocess and dies without cleanup (os._exit at an injected point, or
SIGKILL from here at a random transition). After every death the state folder must open, the
journal must replay to exactly the snapshot's live positions, and trading must continue without
reusing a client order id.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.positions.book import HISTORY_FILE, JOURNAL_FILE, PositionBook, replay_journal
from engine.store.history import History
from engine.store.journal import read_records
from tests.positions.support import REPO, machine

POINTS = ["journal_mid", "after_journal", "snapshot_mid", "after_snapshot", "history_mid"]


def worker(state_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_worker", str(state_dir), *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def assert_consistent(state_dir: Path) -> PositionBook:
    book = PositionBook(machine(), state_dir)
    book.open()
    records = list(read_records(state_dir / JOURNAL_FILE))
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    replayed = replay_journal(machine(), records)
    live = {pid: p.to_dict() for pid, p in replayed.items() if p.state != "closed"}
    assert {pid: p.to_dict() for pid, p in book.live.items()} == live
    closed_ids = [pid for pid, p in replayed.items() if p.state == "closed"]
    history = list(History(state_dir / HISTORY_FILE))
    assert sorted(h["id"] for h in history) == sorted(closed_ids), "history must hold each closed position once"
    ids = [i["client_id"] for r in records for i in r["intents"]]
    assert len(ids) == len(set(ids)), "a client order id was issued twice"
    return book


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("nth", [1, 5, 12])
def test_death_at_each_write_point_resumes_consistently(tmp_path: Path, point: str, nth: int) -> None:
    proc = worker(tmp_path, point, str(nth))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 137, err
    book = assert_consistent(tmp_path)
    book.close()
    # and the bot carries on from there
    proc = subprocess.run([sys.executable, "-m", "tests.store.crash_worker", str(tmp_path), "after_journal",
                           "6"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 137, proc.stderr
    assert_consistent(tmp_path).close()


def test_sigkill_at_random_instants(tmp_path: Path) -> None:
    rng = random.Random(20251123)
    kills = 0
    for _ in range(6):
        proc = worker(tmp_path)
        target = rng.randint(3, 40)
        seen = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("seq "):
                seen += 1
                if seen >= target:
                    proc.send_signal(signal.SIGKILL)
                    break
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        assert_consistent(tmp_path).close()
    assert kills == 6
    assert len(list(read_records(tmp_path / JOURNAL_FILE))) > 20
