"""Debian's chromium driven by Playwright (browser downloads do not work here), and a paper bot on a
replay of real candles serving its dashboard, as a user starts it: `python -m engine --offline run
PROFILE --data DIR --speed N --web 127.0.0.1:0` in a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = "Debian chromium not installed (apt-get install chromium; .ci/run installs it)"
# Without the background-networking flags chromium keeps calling home, which floods the closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOTS_COPY = Path("/tmp/web_shots")
TOKEN = "web-test-token-0123456789abcdef"
PAPER = {
    "universe": {"max_symbols": 3, "whitelist": ["BTCUSDC", "ETHUSDC", "SOLUSDC"]},
    # positions that live for a while, so the pages find some open
    "orders": {"stop_loss_pct": 1.0, "take_profit": [{"at_pct": 0.5, "size_pct": 50}, {"at_pct": 1.5, "size_pct": 50}]},
    "risk": {"max_hold": "2h"},
}


def chromium_or_skip() -> Path:
    if not CHROMIUM.is_file():
        pytest.skip(NO_CHROMIUM)
    return CHROMIUM


@contextmanager
def paper_bot(profile: Path, data: Path, log: Path, *, speed: int,
              env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """The bot running until the block ends (then Ctrl+C, as a user stops it); yields the dashboard URL."""
    command = [sys.executable, "-m", "engine", "--offline", "run", str(profile), "--data", str(data),
               "--speed", str(speed), "--web", "127.0.0.1:0"]
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, "ENGINE_OFFLINE": "1", **env}, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        url = wait_for_url(proc, log, r"web dashboard: (http://127\.0\.0\.1:\d+/)")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_url(proc: subprocess.Popen, log: Path, pattern: str, timeout: float = 60.0) -> str:
    """The first group of `pattern` in the process's output, once it is printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"the bot exited ({proc.returncode}) before serving:\n{log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no dashboard URL within {timeout}s:\n{log.read_text()}")


def keep_shot(path: Path) -> None:
    """The screenshots stay under pytest's tmp dir; a copy goes to /tmp/web_shots to look at."""
    SHOTS_COPY.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS_COPY / path.name)
