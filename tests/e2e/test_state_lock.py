"""One bot per state folder, end to end: a real `python -m engine run` (paper, offline synthetic market)
holds its state folder; the same command started again exits 1 at once naming the folder and the
holder's pid, without a traceback and without touching a byte of the folder; `status`, `log`,
`diagram` and `validate` work beside the running bot; after kill -9 of the holder a new run starts and
resumes what the folder holds."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.inspect.status import read_status
from engine.positions.book import JOURNAL_FILE
from tests.e2e.support import REPO, make_profile, open_book, state_dir_of

ENV = {**os.environ, "ENGINE_OFFLINE": "1", "PYTHONPATH": str(REPO)}
WAIT_S = 90  # upper bound for the bot to get somewhere (it normally takes a few seconds)
SPEED = "30000"  # ~100 synthetic 5m candles a second: positions open within seconds, the CPU is not pegged


def run_command(profile: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "engine", "run", str(profile), *extra]


def wait_for(condition: Callable[[], bool], bot: subprocess.Popen, log: Path, what: str) -> None:
    """Poll the state folder until `condition` holds; fail if the bot exits or it takes too long."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if bot.poll() is not None:
            pytest.fail(f"the bot exited with {bot.returncode} before {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {WAIT_S} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def live_positions(state: Path) -> int:
    try:
        return len(read_status(state).positions)
    except FileNotFoundError:
        return 0


def journal_size(state: Path) -> int:
    path = state / JOURNAL_FILE
    return path.read_bytes().rstrip(b"\0").count(b"\n") if path.is_file() else 0


def folder_bytes(state: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(state.iterdir())}


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main(list(args))
    return rc, out.getvalue()


@contextlib.contextmanager
def reaped(bot: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """The bot, killed and reaped on the way out whatever happens (a frozen one too)."""
    try:
        yield bot
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


def freeze(bot: subprocess.Popen) -> None:
    """SIGSTOP the bot and wait until it is stopped: from then on nothing it does changes the folder."""
    bot.send_signal(signal.SIGSTOP)
    _, status = os.waitpid(bot.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status)


def check_read_only_commands(profile: Path, state: Path) -> None:
    rc, text = cli("status", str(profile), "--json")
    assert rc == 0, text
    shown = json.loads(text)
    assert shown["state_dir"] == str(state) and shown["seq"] > 0, text
    rc, text = cli("log", "--state", str(state), "--tail", "5", "--json")
    records = [json.loads(line) for line in text.splitlines()]
    assert rc == 0 and 1 <= len(records) <= 5, text
    rc, text = cli("diagram", "--state", str(state), "--position", records[-1]["position"])
    assert rc == 0 and "stateDiagram" in text, text
    rc, text = cli("validate", str(profile))
    assert rc == 0, text


def test_a_second_run_on_a_held_state_folder_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, "held", universe={"max_symbols": 3}, risk={"max_hold": "1h"},
                           runtime={"close_on_shutdown": False})
    state = state_dir_of(profile)
    log = tmp_path / "first.log"
    with log.open("wb") as out, reaped(subprocess.Popen(run_command(profile, "--speed", SPEED, "--seed", "7"),
                                                        cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                                        env=ENV)) as first:
        wait_for(lambda: live_positions(state) > 0, first, log, "live position")
        check_read_only_commands(profile, state)  # beside the bot, which trades on meanwhile

        freeze(first)
        before = folder_bytes(state)
        second = subprocess.run(run_command(profile, "--speed", SPEED, "--candles", "50"), cwd=REPO,
                                capture_output=True, text=True, env=ENV, timeout=WAIT_S)
        said = second.stdout + second.stderr
        assert second.returncode == 1, said
        assert str(state) in second.stderr and f"pid {first.pid}" in second.stderr, said
        assert "Traceback" not in said and "resumed" not in said, said
        assert folder_bytes(state) == before, "the refused run must not read its way into or write the folder"
        assert first.poll() is None, "the first run is still alive"

        seen = journal_size(state)
        first.send_signal(signal.SIGCONT)
        wait_for(lambda: journal_size(state) > seen, first, log, "journal growth after the refusal")
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL

    book = open_book(profile, state)  # what the killed run left, recovered as a restart recovers it
    try:
        live = len(book.live)
    finally:
        book.close()
    third = subprocess.run(run_command(profile, "--speed", "1e9", "--candles", "3"), cwd=REPO,
                           capture_output=True, text=True, env=ENV, timeout=WAIT_S)
    assert third.returncode == 0, third.stdout[-2000:] + third.stderr[-2000:]
    assert f"resumed {live} live position(s)" in third.stdout, third.stdout[-2000:]
