"""Each risk rule stops an entry in a scenario built for it, with the engine assembled as `run` does it.

Time is never read from the wall clock: every call gets an explicit `now` (freezegun pins the wall
clock where a test wants to show the day boundary is the injected one). A refusal must leave no
journal record (and no position number used up), must be logged on `engine.risk` with the rule's
name, and must send nothing to the venue.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from tests.e2e.harness import STEP, Bot
from tests.e2e.support import assert_client_ids_unique, assert_one_stop_per_protected_position

BTC, ETH, SOL, BNB = "BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC", "BNB/USDC:USDC"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def assert_refused(bot: Bot, caplog: pytest.LogCaptureFixture, symbol: str, now: datetime, rule: str) -> None:
    """`rule`: a per-entry rule of the risk guard (`max_positions`) or the bot machine's guard in full
    (`bot.entries_allowed`: paused, halted, cooling down, stopped out)."""
    rule = rule if "." in rule else f"risk.{rule}"
    before = bot.records()
    candidate = bot.next_id()
    orders_before = asyncio.run(bot.venue.open_orders(symbol))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="engine.risk"):
        assert bot.signal(symbol, now) is None, f"{rule} should have refused {symbol} at {now}"
    after = bot.records()
    assert after == before, "a refused entry must not be journaled"
    assert all(r["position"] != candidate for r in after)
    assert bot.next_id() == candidate, "a refused entry must not use up a position number"
    assert candidate not in bot.book.live
    assert asyncio.run(bot.venue.open_orders(symbol)) == orders_before, "a refused entry sends nothing"
    hits = [r for r in caplog.records if r.name == "engine.risk" and getattr(r, "rule", None) == rule]
    assert hits, f"no engine.risk record names {rule}: {[r.getMessage() for r in caplog.records]}"
    assert f"{rule} refused {symbol}" in hits[-1].getMessage()
    assert (bot.risk.last_refusal if rule.startswith("risk.") else bot.session.bot.last_refusal) is not None


def assert_entered(bot: Bot, symbol: str, now: datetime):  # noqa: ANN201
    position = bot.signal(symbol, now)
    assert position is not None, f"entry on {symbol} at {now} refused: {bot.risk.last_refusal}"
    assert position.state == "open"
    return position


def test_max_positions_refuses_the_extra_entry(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bot = Bot(tmp_path, risk={"max_positions": 2})
    p1 = assert_entered(bot, BTC, T0)
    p2 = assert_entered(bot, ETH, T0 + M)
    assert (p1.id, p2.id) == ("P1", "P2")
    assert_refused(bot, caplog, SOL, T0 + 2 * M, "max_positions")
    assert "2 positions live" in str(bot.risk.last_refusal)
    # one position leaves: the next entry is accepted and takes the number the refusal did not use
    bot.stop_out(p1, T0 + 5 * M)
    assert p1.state == "closed"
    p3 = assert_entered(bot, SOL, T0 + 15 * M)
    assert p3.id == "P3"
    records = bot.records()
    assert_client_ids_unique(records)
    assert_one_stop_per_protected_position(records)
    bot.close()


def test_symbol_cooldown_refuses_a_reentry_right_after_an_exit_and_allows_it_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = Bot(tmp_path, risk={"symbol_cooldown": "5m"})
    p1 = assert_entered(bot, BTC, T0)
    bot.stop_out(p1, T0)  # the stop fills in the candle that closes at T0 + 5m
    exit_at = T0 + STEP
    assert p1.state == "closed" and p1.exit_reason == "sl"
    assert_refused(bot, caplog, BTC, exit_at + M, "symbol_cooldown")
    assert_refused(bot, caplog, BTC, exit_at + 4 * M + timedelta(seconds=59), "symbol_cooldown")
    assert_entered(bot, ETH, exit_at + M)  # the cooldown is per symbol
    p3 = assert_entered(bot, BTC, exit_at + 5 * M)
    assert p3.id == "P3"
    bot.close()


def test_sl_streak_pauses_entries_until_the_pause_is_served(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bot = Bot(tmp_path, risk={"sl_streak": {"losses": 3, "pause": "30m"}, "symbol_cooldown": "1m"})
    positions = [assert_entered(bot, s, T0 + i * M) for i, s in enumerate((BTC, ETH, SOL))]
    last_exit = None
    for i, p in enumerate(positions):
        open_at = T0 + (i + 1) * STEP
        bot.stop_out(p, open_at)
        assert p.state == "closed" and p.exit_reason == "sl"
        last_exit = open_at + STEP
    assert last_exit is not None
    assert bot.risk.state.sl_streak == 3
    assert bot.session.bot.state == "cooling_down"
    assert_refused(bot, caplog, BNB, last_exit + M, "bot.entries_allowed")
    # the pause is durable: a restart does not lift it
    bot.restart()
    assert bot.session.bot.state == "cooling_down"
    assert_refused(bot, caplog, BNB, last_exit + 29 * M, "bot.entries_allowed")
    assert "3 stop-losses in a row" in str(bot.session.bot.last_refusal)
    p4 = assert_entered(bot, BNB, last_exit + 30 * M)
    assert p4.id == "P4"
    bot.close()


def test_two_stop_losses_short_of_the_streak_do_not_pause(tmp_path: Path) -> None:
    bot = Bot(tmp_path, risk={"sl_streak": {"losses": 3, "pause": "30m"}})
    for i, symbol in enumerate((BTC, ETH)):
        p = assert_entered(bot, symbol, T0 + i * STEP * 2)
        bot.stop_out(p, T0 + i * STEP * 2)
    assert bot.risk.state.sl_streak == 2
    assert_entered(bot, SOL, T0 + 5 * STEP)
    bot.close()


def test_daily_loss_limit_halts_entries_until_the_next_utc_day(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    # 2 % of the balance lost at each stop, 3 % allowed per day; the streak rule kept out of the way
    bot = Bot(tmp_path, orders={"risk_per_trade_pct": 2.0},
              risk={"daily_loss_limit_pct": 3, "sl_streak": {"losses": 10, "pause": "1m"}, "symbol_cooldown": "1m"})
    with freeze_time("2025-03-03 22:40:00", tz_offset=0) as frozen:
        now = lambda: datetime.now(UTC)  # noqa: E731 - the frozen wall clock, injected as `now`
        p1 = assert_entered(bot, BTC, now())
        p2 = assert_entered(bot, ETH, now())
        frozen.tick(STEP)
        bot.stop_out(p1, now() - STEP)
        frozen.tick(STEP)
        bot.stop_out(p2, now() - STEP)
        assert p1.exit_reason == p2.exit_reason == "sl"
        assert bot.risk.state.day_pnl < 0
        assert bot.session.bot.state == "halted"
        assert bot.session.bot.model.deadline_at == datetime(2025, 3, 4, tzinfo=UTC)
        frozen.move_to("2025-03-03 23:30:00")
        assert_refused(bot, caplog, SOL, now(), "bot.entries_allowed")
        assert "daily loss limit" in str(bot.session.bot.last_refusal)
        frozen.move_to("2025-03-03 23:59:59")
        assert_refused(bot, caplog, BNB, now(), "bot.entries_allowed")
        bot.restart()  # the halt survives a restart
        assert_refused(bot, caplog, BNB, now(), "bot.entries_allowed")
        frozen.move_to("2025-03-04 00:00:00")
        p3 = assert_entered(bot, SOL, now())
        assert p3.id == "P3"
        assert bot.risk.state.day.isoformat() == "2025-03-04"
    bot.close()


def test_manual_pause_refuses_entries_while_open_positions_stay_managed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = Bot(tmp_path)
    p1 = assert_entered(bot, BTC, T0)
    bot.session.bot.command("pause", "operator", T0 + M, reason="paused by operator")
    assert_refused(bot, caplog, ETH, T0 + 2 * M, "bot.entries_allowed")
    assert "paused by operator" in str(bot.session.bot.last_refusal)
    # the open position is still managed: its stop is on the venue and fills
    stops = [o for o in asyncio.run(bot.venue.open_orders(BTC)) if p1.order_roles.get(o.client_id) == "sl"]
    assert len(stops) == 1
    bot.stop_out(p1, T0 + STEP)
    assert p1.state == "closed" and p1.exit_reason == "sl"
    assert asyncio.run(bot.venue.open_orders(BTC)) == []
    # the pause is durable and only `resume` lifts it
    bot.restart()
    assert_refused(bot, caplog, ETH, T0 + 3 * STEP, "bot.entries_allowed")
    bot.session.bot.command("resume", "operator", T0 + 3 * STEP)
    assert_entered(bot, ETH, T0 + 3 * STEP + M)
    bot.close()


def test_daily_loss_base_is_the_whole_account_across_margin_assets(tmp_path: Path) -> None:
    """With USDC and USDT wallets the day's base is their sum, whichever wallet a signal trades in:
    it must not flip between wallets (which would halve or double the limit)."""
    bot = Bot(tmp_path, quotes=("USDC", "USDT"))
    start = bot.loaded.profile.venue.starting_balance
    assert bot.signal(ETH, T0) is not None
    assert bot.risk.state.day_start_balance == 2 * start
    assert bot.signal("SOL/USDT:USDT", T0 + M) is not None
    assert bot.risk.state.day_start_balance == 2 * start
    assert abs(bot.risk.state.last_balance - 2 * start) < start / 100  # fees and spread only
