"""apprise notifications to a local json:// receiver: the important events arrive with the right
content; a storm becomes a summary; a receiver that fails or hangs never delays the engine."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from engine.bot.notify.notifier import Notifier, usable_urls
from tests.bot.support import BTC, ETH, SOL, close_world, start_world
from tests.fakes.apprise_receiver import AppriseReceiver

GENEROUS = 1.0  # seconds; the engine steps below take milliseconds


async def test_lifecycle_trades_and_problems_arrive_with_their_content(tmp_path: Path, hook: AppriseReceiver) -> None:
    world = await start_world(tmp_path, hook=hook, urls=hook.url(query="+X-Bot=scalper"))
    try:
        world.services.notify("start", profile="ctl", mode="paper", positions=0)
        [start] = await hook.wait(1)
        assert start.title == "[ctl] bot started" and "mode paper" in start.message and start.type == "info"
        assert start.headers.get("X-Bot") == "scalper"

        position = await world.open(ETH)
        entry = (await hook.wait(2))[1]
        assert entry.title == "[ctl] entry ETH/USDC:USDC long"
        # the stop in force: the plan's distance from the fill (the plan itself is priced at the close)
        stop = await world.stop_on_venue(position)
        assert entry.message == f"P1 {position.qty} @ {position.entry_price} · SL {stop}"

        await world.stop_out(position)
        exit_ = (await hook.wait(3))[2]
        assert exit_.title == f"[ctl] exit ETH/USDC:USDC {position.realised_pnl:+.2f}"
        assert "reason sl" in exit_.message and "held 5m00s" in exit_.message
        assert f"fees {position.fees:.2f}" in exit_.message
        assert exit_.type == "warning"  # a loss

        other = await world.open(BTC)
        await hook.wait(4)
        pending = world.services.control.request_panic("telegram:42")
        await world.services.control.confirm(pending.token, "telegram:42")
        received = await hook.wait(5)
        # panic, the emergency and the emergency exit were queued at once: one summary
        summary = received[4]
        assert summary.title == "[ctl] 3 events" and summary.type == "failure"
        assert "PANIC: by telegram:42: 1 position(s)" in summary.message
        assert f"EMERGENCY BTC/USDC:USDC: {other.id}: panic (was open)" in summary.message
        assert "exit BTC/USDC:USDC" in summary.message

        world.services.notify("reconciliation", problem="BTC: venue holds 0.01, the book 0")
        world.services.notify("error", message="venue unavailable for 3 ticks")
        world.services.notify("stop", reason="SIGTERM", positions=0)
        last = (await hook.wait(6))[5]
        assert "reconciliation problem" in last.message and "venue unavailable" in last.message
        assert "bot stopped" in last.message
    finally:
        await close_world(world)


async def test_stop_loss_streak_pause_and_daily_loss_halt_are_announced(tmp_path: Path, hook: AppriseReceiver) -> None:
    # each stop-out loses ~5.2 USDC: the second one starts the pause, the third breaches 1.2 % of 1000
    world = await start_world(tmp_path, hook=hook, risk={"sl_streak": {"losses": 2, "pause": "30m"},
                                                         "daily_loss_limit_pct": 1.2})
    try:
        seen = 0

        async def lose(symbol: str) -> list[str]:
            nonlocal seen
            position = await world.open(symbol)
            seen += 1
            await hook.wait(seen)  # the entry; waiting keeps each event out of a summary
            await world.stop_out(position)
            await world.services.notifier.flush(5)
            new = [f"{r.title}: {r.message}" for r in hook.received[seen:]]
            seen = len(hook.received)
            return new

        assert not any("streak" in line for line in await lose(ETH))
        second = await lose(BTC)
        assert any("[ctl] 2 events" in line for line in second), second  # the exit and the pause, together
        assert "stop-loss streak: entries paused: 2 stop-losses in a row; no entry until 2025-03-03 10:40 UTC" in (
            hook.received[-1].message)
        assert world.bot.session.bot.state == "cooling_down"
        world.clock.advance(world.bot.loaded.profile.risk.sl_streak.pause)  # the pause is served
        third = await lose(SOL)
        assert "daily loss limit: entries halted: today's realised PnL" in hook.received[-1].message, third
        assert "no entry until 2025-03-04 00:00 UTC" in hook.received[-1].message
        assert hook.received[-1].type == "failure"
        assert world.bot.session.bot.state == "halted"
    finally:
        await close_world(world)


async def test_a_storm_becomes_one_summary_and_the_rate_limit_holds(hook: AppriseReceiver) -> None:
    notifier = Notifier([hook.url()], min_interval=0.3, send_timeout=2, prefix="[t] ")
    notifier.start()
    try:
        notifier.notify("start", profile="t", mode="paper")
        await hook.wait(1)
        for n in range(25):
            notifier.notify("exit", id=f"P{n}", symbol="ETH/USDC:USDC", side="long", pnl="-1", reason="sl",
                            fees="0.1", hold=60)
        notifier.notify("daily_loss_halt", day_pnl="-25", until="2025-03-04T00:00:00+00:00")
        received = await hook.wait(2)
        summary = received[1]
        assert summary.title == "[t] 26 events"
        assert summary.message.splitlines()[0] == "25× exit, 1× daily_loss_halt"
        assert "… and 18 more" in summary.message and summary.type == "failure"
        assert summary.at - received[0].at >= 0.25  # not before the interval has passed
        assert await notifier.flush(5) and len(hook.received) == 2
        assert notifier.stats.summaries == 1 and notifier.stats.sent == 2 and notifier.stats.failed == 0
    finally:
        await notifier.close()


async def test_a_failing_receiver_is_logged_and_trading_goes_on(tmp_path: Path, hook: AppriseReceiver,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.bot.notify")
    hook.mode = "fail"
    world = await start_world(tmp_path, hook=hook)
    try:
        position = await world.open(ETH)
        await world.stop_out(position)
        assert position.state == "closed"
        notifier = world.services.notifier
        assert await notifier.flush(10)
        assert notifier.stats.failed >= 1 and notifier.stats.sent == 0 and len(hook.received) >= 1
        assert "not delivered" in caplog.text
        hook.mode = "ok"
        world.services.notify("error", message="after the outage")
        assert await notifier.flush(10)
        assert hook.received[-1].message == "after the outage" and notifier.stats.sent == 1
    finally:
        await close_world(world)


async def test_a_hanging_receiver_delays_neither_a_tick_nor_the_shutdown(tmp_path: Path, hook: AppriseReceiver) -> None:
    hook.mode = "hang"
    world = await start_world(tmp_path, hook=hook, notifications={"send_timeout": "0.5s"})
    try:
        world.services.notify("start", profile="ctl", mode="paper")
        await hook.wait(1)  # the receiver now holds that request open
        started = time.monotonic()
        position = await world.open(ETH)
        await world.stop_out(position)
        world.services.tick(world.clock.now())
        queued = time.monotonic()
        world.services.notify("error", message="x")
        assert time.monotonic() - queued < 0.1  # notify only queues
        assert position.state == "closed" and time.monotonic() - started < GENEROUS
        notifier = world.services.notifier
        assert await notifier.flush(10)  # given up after send_timeout, not stuck
        assert notifier.stats.failed >= 1
        assert any("no answer within 0.5s" in d.error for d in notifier.stats.recent)
        stopping = time.monotonic()
        world.services.notify("stop", reason="test")
    finally:
        await close_world(world)
    assert time.monotonic() - stopping < 5.0  # bounded by the notifier's close timeout


def test_offline_keeps_only_urls_on_this_machine(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.bot.notify")
    urls = ["tgram://123456:SECRET-token/42", "json://example.com/hook", "json://127.0.0.1:9/x",
            "json://localhost:9/x"]
    assert usable_urls(urls, offline=True) == urls[2:]
    assert usable_urls(urls, offline=False) == urls
    assert "#1 (tgram://…) refused: ENGINE_OFFLINE" in caplog.text and "#2 (json://…)" in caplog.text
    assert "SECRET" not in caplog.text and "example.com" not in caplog.text  # URLs may hold secrets


async def test_without_usable_urls_notify_is_a_no_op(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.bot.notify")
    notifier = Notifier(["tgram://123456:SECRET-token/42", "nonsense"], offline=True)
    notifier.start()
    notifier.notify("start", profile="x", mode="paper")
    assert not notifier.enabled and notifier.stats.queued == 0
    await notifier.close()
    assert "SECRET" not in caplog.text


async def test_the_equity_hard_stop_and_the_rearm_are_announced(tmp_path: Path, hook: AppriseReceiver) -> None:
    from decimal import Decimal

    world = await start_world(tmp_path, hook=hook, risk={"max_drawdown_pct": 25})
    try:
        position = await world.open(ETH)
        await hook.wait(1)  # the entry
        bot, risk = world.bot.session.bot, world.bot.session.risk
        risk.record_equity(Decimal(2000))  # a peak the account has fallen 50 % from
        await world.engine.check_bot(world.clock.now())  # what every tick runs
        assert position.state == "closed" and bot.state == "stopped_out"
        await world.services.notifier.flush(5)
        text = "\n".join(f"{r.title}: {r.message}" for r in hook.received[1:])
        assert "EQUITY HARD STOP: flattening everything" in text and "below its peak 2000.00" in text
        assert "stopped out: flat" in text and "no entry until /rearm" in text
        seen = len(hook.received)
        world.services.control.rearm("telegram:42")
        await world.services.notifier.flush(5)
        assert any("re-armed" in r.title and "telegram:42" in r.message for r in hook.received[seen:])
    finally:
        await close_world(world)
