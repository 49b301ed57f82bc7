"""Chaos: the bot trades testnet-style against the fake Binance (accelerated market on real candles),
is killed with SIGKILL at random instants and restarted; after every restart the invariants must hold.

One kill cycle:
1. the trading bot (`python -m engine run PROFILE --venue-url URL`) runs for a random while, then SIGKILL;
2. a restart that resumes, reconciles and stops (`--ticks 0`; the profile leaves positions open on
   shutdown), timed from spawn to its "ready" line: that is `ready_s`;
3. with no bot running, the invariants are counted on the fake venue and the state folder:
   naked (exposure without exactly one live reduce-only stop), orphans (open orders of this bot that
   no live position owns), duplicates (a client id used by two orders), replay_mismatch (journal
   replay differs from the snapshot or history);
4. the trading bot starts again.
Used by tests/chaos/test_chaos.py (a short run in CI) and bench/chaos.py (`--kills N`).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.config.loading import load_machine_for, load_profile
from engine.positions.book import HISTORY_FILE, JOURNAL_FILE, PositionBook, replay_journal
from engine.store.history import History
from engine.store.journal import read_records, transitions
from tests.chaos.invariants import venue_violations
from tests.fakes.binance import FakeBinance

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC", "BNB/USDC:USDC", "XRP/USDC:USDC", "DOGE/USDC:USDC"]
READY = "ready: reconciled"


@dataclass
class ChaosResult:
    kills: int = 0
    naked: int = 0
    orphans: int = 0
    duplicates: int = 0
    replay_mismatch: int = 0
    ready_s: list[float] = field(default_factory=list)
    entries: int = 0
    closed: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def ready_median(self) -> float:
        return statistics.median(self.ready_s) if self.ready_s else float("nan")

    def result_line(self) -> str:
        return (f"RESULT kills={self.kills} naked={self.naked} orphans={self.orphans} duplicates={self.duplicates} "
                f"replay_mismatch={self.replay_mismatch} ready_s={self.ready_median:.2f}")


def write_profile(root: Path, symbols: list[str]) -> Path:
    folder = root / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    for shipped in (REPO / "profiles").glob("*.yaml"):
        shutil.copy(shipped, folder / shipped.name)
    data: dict[str, Any] = {
        "extends": "aggressive.yaml",
        "name": "chaos",
        "mode": "testnet",
        "venue": {"quote_assets": ["USDC"]},
        "universe": {"max_symbols": len(symbols), "whitelist": [s.split("/")[0] + "USDC" for s in symbols]},
        "risk": {"max_positions": 4, "max_hold": "2m", "symbol_cooldown": "0s"},
        "runtime": {"state_dir": str(root / "state"), "machine": str(REPO / "machines" / "position.yaml"),
                    "tick": "100ms", "reconcile_every": "1s", "status_every": "1h", "close_on_shutdown": False},
    }
    path = folder / "chaos.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class BotProcess:
    """`python -m engine run …` as a child process whose output is collected line by line."""

    def __init__(self, profile: Path, url: str, fake: FakeBinance, *extra: str) -> None:
        self.args = [sys.executable, "-m", "engine", "run", str(profile), "--venue-url", url, *extra]
        self.env = {**os.environ, "ENGINE_OFFLINE": "1", "PYTHONPATH": str(REPO),
                    "BINANCE_API_KEY": fake.api_key, "BINANCE_API_SECRET": fake.secret}
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._ready = asyncio.Event()
        self.ready_s: float | None = None

    async def start(self) -> None:
        self._started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(*self.args, cwd=REPO, env=self.env,
                                                         stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if READY in line and not self._ready.is_set():
                self.ready_s = time.monotonic() - self._started
                self._ready.set()

    async def wait_ready(self, timeout: float = 120.0) -> float:
        waiter = asyncio.create_task(self._ready.wait())
        assert self.proc is not None
        exited = asyncio.create_task(self.proc.wait())
        done, _ = await asyncio.wait({waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        if not self._ready.is_set():
            await asyncio.sleep(0.1)  # let the reader drain what the process printed
            raise RuntimeError("bot never got ready:\n" + "\n".join(self.lines[-30:]))
        assert self.ready_s is not None
        return self.ready_s

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def wait(self, timeout: float = 120.0) -> int:
        assert self.proc is not None
        rc = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader
        return rc


def count_violations(fake: FakeBinance, profile: Path, result: ChaosResult) -> None:
    """Count every invariant violation visible with no bot running (see the module docstring)."""
    loaded = load_profile(profile)
    machine = load_machine_for(loaded)
    book = PositionBook(machine, loaded.state_dir)
    book.open()
    try:
        prefix = f"{book.bot.get('order_prefix')}-"
        live = dict(book.live)
        records = list(read_records(book.state_dir / JOURNAL_FILE))
        # read through History: it checks each line's checksum and drops the crc32 key
        history = {h["id"]: h for h in History(book.state_dir / HISTORY_FILE)}
    finally:
        book.close()
    for kind, text in venue_violations(fake, live.values(), prefix):
        setattr(result, kind, getattr(result, kind) + 1)
        result.findings.append(f"{kind}: {text}")
    replayed = replay_journal(machine, list(transitions(records)))
    want_live = {pid: p.to_dict() for pid, p in replayed.items() if p.state != "closed"}
    want_closed = {pid: p.to_dict() for pid, p in replayed.items() if p.state == "closed"}
    if {pid: p.to_dict() for pid, p in live.items()} != want_live or history != want_closed:
        result.replay_mismatch += 1
        result.findings.append("journal replay differs from the snapshot/history")
    result.entries = sum(1 for r in records if r.get("event") == "entry_filled")
    result.closed = len(history)


async def run_chaos(kills: int, root: Path, *, data_dir: Path | None, seed: int = 1, speed: float = 600.0,
                    run_s: tuple[float, float] = (1.0, 4.0), say: Callable[[str], None] = print) -> ChaosResult:
    rng = random.Random(seed)
    fake = FakeBinance(symbols=SYMBOLS, data_dir=data_dir, speed=speed, start="2025-03-03" if data_dir else None,
                       balances={"USDC": "10000"})
    url = await fake.start()
    profile = write_profile(root, SYMBOLS)
    result = ChaosResult()
    bot = BotProcess(profile, url, fake)
    try:
        await bot.start()
        await bot.wait_ready()
        for k in range(1, kills + 1):
            await asyncio.sleep(rng.uniform(*run_s))
            bot.kill()
            await bot.wait()
            result.kills += 1
            checker = BotProcess(profile, url, fake, "--ticks", "0")
            await checker.start()
            result.ready_s.append(await checker.wait_ready())
            if await checker.wait() != 0:
                raise RuntimeError("the restart failed:\n" + "\n".join(checker.lines[-30:]))
            before = (result.naked, result.orphans, result.duplicates, result.replay_mismatch)
            count_violations(fake, profile, result)
            flag = "" if before == (result.naked, result.orphans, result.duplicates, result.replay_mismatch) else " !!"
            say(f"kill {k}/{kills}: ready in {result.ready_s[-1]:.2f}s · entries {result.entries} · "
                f"closed {result.closed}{flag}")
            bot = BotProcess(profile, url, fake)
            await bot.start()
            await bot.wait_ready()
    finally:
        bot.kill()
        if bot.proc is not None:
            await bot.wait()
        await fake.stop()
    return result
