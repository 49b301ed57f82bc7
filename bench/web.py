"""What serving the dashboard costs the bot: the tick overhead while a browser polls every page, and the
time of each page with 50 open positions and a 100,000-line journal.

A bot is assembled as `run` assembles it (the session, BotServices, the simulated venue on the built-in
markets: tests.e2e.harness.Bot), its journal filled to 100,000 lines by positions opened and closed
through the engine, then 50 left open. The dashboard is served from the bot's own event loop, as
`run --web` serves it, while a tick (the engine's deadlines over the 50 positions and the services'
housekeeping) runs every 50 ms. Three phases:

1. ticks alone: the wall time of each tick, its start lateness included (what a blocked loop shows);
2. the same while Debian's chromium (Playwright, in its own process) reloads every page in turn
   (without chromium, an HTTP client in its own process does);
3. the time of each page, fetched 20 times by an HTTP client process (median).

    uv run python bench/web.py [--journal-lines 100000] [--open 50] [--seconds 20]

Ends with `RESULT tick_overhead_ms=… page_ms=…` (the targets: under 1 ms and under 100 ms; page_ms is
the slowest page's median).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.exits import ExitReason  # noqa: E402
from engine.positions.book import JOURNAL_FILE  # noqa: E402
from engine.positions.events import CloseRequested  # noqa: E402
from engine.web.bind import Bind  # noqa: E402
from engine.web.server import WebServer, live_source  # noqa: E402
from tests.bot.support import T0, Clock, Wall, World  # noqa: E402
from tests.e2e.harness import STEP, Bot  # noqa: E402

PAGES = ["/", "/positions", "/positions/P{first}", "/log", "/log?event=entry_filled", "/trades", "/runs"]
TICK_S = 0.05
CHROMIUM = Path("/usr/bin/chromium")
SHARED = REPO.parent / "shared" / "data"


class BenchBot(Bot):
    """The test harness's bot on the USDT perpetuals of the shared exchangeInfo (50 open positions need 50
    symbols: one position per symbol), else the built-in table's; every symbol at a price its filters take."""

    def _open(self):  # noqa: ANN202
        from decimal import Decimal

        from engine.bot.venues import sim_engine
        from engine.venue.catalog import markets_for
        from engine.venue.sim.venue import SimVenue
        from tests.e2e import harness

        markets, _ = markets_for(("USDT",), SHARED if SHARED.is_dir() else None)
        self.markets = {s: m for s, m in markets.items() if m.quote == "USDT" and m.settle == "USDT"}
        self.symbols = sorted(self.markets)
        for symbol, m in self.markets.items():
            harness.PRICES[symbol] = float(max(m.tick_size * 1000, m.step_size * 100, Decimal(1)))
        balance = {"USDT": Decimal(self.loaded.profile.venue.starting_balance)}
        self.venue = SimVenue(sim_engine(self.markets, balance, self.loaded.profile))
        return super()._open()


async def build(root: Path, lines: int, open_count: int) -> tuple[World, int]:
    """The bot, its journal at `lines` lines, `open_count` positions open; returns the first open one's number."""
    from engine.bot.services import BotServices

    bot = BenchBot(root, "bench", quotes=("USDT",), venue={"starting_balance": 1_000_000},
                   orders={"risk_per_trade_pct": 0.05},
                   risk={"max_positions": open_count + 5, "symbol_cooldown": "0s", "max_hold": "30d",
                                   "daily_loss_limit_pct": 99, "max_drawdown_pct": 99,
                                   "sl_streak": {"losses": 100, "pause": "1m"}},
              runtime={"snapshot_fsync": "checkpoint"})
    clock, wall = Clock(T0), Wall()
    services = BotServices(bot.loaded, bot.session, now=clock.now, started=T0, wall=wall, environ={}, env_file=None)
    await services.start()
    world = World(bot, None, None, services, clock, wall)
    journal = bot.state_dir / JOURNAL_FILE
    n, i = 0, 0
    while True:
        n = _lines(journal) if i % 200 == 0 else n + 4
        if n >= lines - 4 * open_count:
            break
        position = await world.open(bot.symbols[i % 5])
        clock.advance(timedelta(seconds=30))
        await world.engine.apply(position, CloseRequested(ExitReason.MANUAL), clock.now())
        i += 1
    first, candidates = None, iter(bot.symbols)
    while len(bot.book.live) < open_count:  # a symbol whose filters refuse the entry is skipped
        clock.advance(STEP)
        try:
            position = await world.open(next(candidates), side="long" if len(bot.book.live) % 2 else "short")
        except AssertionError:
            continue
        first = first or position.number
    print(f"state folder: {_lines(journal)} journal lines, {i} closed trades, {len(bot.book.live)} open positions",
          flush=True)
    return world, int(first or 1)


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return fh.read().rstrip(b"\0").count(b"\n")


async def ticks(world: World, seconds: float) -> list[float]:
    """Tick every TICK_S for `seconds`: each tick's wall time from when it was due to when it ended."""
    out = []
    loop = asyncio.get_running_loop()
    due = loop.time() + TICK_S
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(max(0.0, due - loop.time()))
        async with world.services.engine_lock:
            await world.engine.on_timeouts(world.clock.now())
        world.services.tick(world.clock.now())
        out.append((loop.time() - due) * 1000)
        due += TICK_S
    return out


POLLER = r"""
import json, sys, time
url, seconds, pages, pause = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
loads = 0
try:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for path in pages:
                page.goto(url + path)
                loads += 1
                time.sleep(pause)
        browser.close()
    how = "chromium"
except Exception as exc:  # no chromium: an HTTP client polls instead
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for path in pages:
            opener.open(url + path).read()
            loads += 1
            time.sleep(pause)
    how = f"http client ({type(exc).__name__})"
print(json.dumps({"loads": loads, "how": how}))
"""

TIMER = r"""
import json, sys, time, urllib.request
url, pages, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
opener.open(url + "/").read()
out = {}
for path in pages:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        opener.open(url + path).read()
        times.append((time.perf_counter() - t) * 1000)
    out[path] = sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


async def run_child(code: str, *args: str) -> dict:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, *args, stdout=subprocess.PIPE)
    stdout, _ = await proc.communicate()
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journal-lines", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pause", type=float, default=0.5,
                        help="seconds the browser waits between two page loads (0: as fast as it can)")
    args = parser.parse_args()
    asyncio.get_running_loop().slow_callback_duration = 0.005  # with PYTHONASYNCIODEBUG=1: what blocks the loop
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        world, first = await build(Path(tmp), args.journal_lines, args.open)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        server = WebServer(live_source(world.services), Bind("127.0.0.1", 0), "")
        handled: list[float] = []
        slowest: list[tuple[float, str]] = []  # the loop's time inside each request handler (what a tick can wait for)

        @web.middleware
        async def timed(request, handler):  # noqa: ANN001, ANN202
            t = time.perf_counter()
            try:
                return await handler(request)
            finally:
                if request.path != "/log/stream":  # a stream waits most of its life; its polls are short
                    handled.append((time.perf_counter() - t) * 1000)
                    slowest.append(((time.perf_counter() - t) * 1000, request.path))

        server.app.middlewares.insert(0, timed)
        url = (await server.start()).rstrip("/")
        pages = [p.format(first=first) for p in PAGES]
        try:
            t = time.perf_counter()
            await run_child(TIMER, url, json.dumps(pages), "1")  # after the first read of the folder (threads)
            print(f"first visit of every page (the server reads the journal and history at start, in worker "
                  f"threads): {time.perf_counter() - t:.1f} s", flush=True)
            alone = await ticks(world, args.seconds)
            handled.clear()
            slowest.clear()
            polled_task = asyncio.create_task(ticks(world, args.seconds))
            poll = await run_child(POLLER, url, str(args.seconds), json.dumps(pages), str(args.pause))
            polled = await polled_task
            in_handlers = list(handled)
            page_ms = await run_child(TIMER, url, json.dumps(pages), "20")
        finally:
            await server.stop()
            await world.services.stop()
            world.bot.close()
    base, busy = statistics.mean(alone), statistics.mean(polled)
    print(f"tick (due → done), alone: mean {base:.3f} ms, p99 {_p(alone, 0.99):.2f} ms over {len(alone)} ticks")
    print(f"tick while {poll['how']} loaded {poll['loads']} pages: mean {busy:.3f} ms, "
          f"p99 {_p(polled, 0.99):.2f} ms over {len(polled)} ticks")
    print(f"request handlers while polled: {len(in_handlers)} requests, median {_p(in_handlers, 0.5):.2f} ms, "
          f"p99 {_p(in_handlers, 0.99):.2f} ms, {sum(in_handlers) / args.seconds:.1f} ms of loop time per second")
    print("slowest requests:", ", ".join(f"{p} {ms:.1f} ms" for ms, p in sorted(slowest)[-4:]))
    for path, ms in page_ms.items():
        print(f"page {path:28s} {ms:7.1f} ms (median of 20)")
    overhead = busy - base
    worst = max(page_ms.values())
    print(f"tick overhead {overhead:.3f} ms (target < 1 ms), slowest page {worst:.1f} ms (target < 100 ms)")
    print(f"RESULT tick_overhead_ms={overhead:.3f} page_ms={worst:.1f}")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    asyncio.run(main())
