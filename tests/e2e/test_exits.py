"""How positions leave, candle by candle, with the engine assembled as `run` does it: take-profit
steps that trail the stop, the stop itself, max hold. What the book records (exit reason, realised PnL
net of fees) must be what happened on the venue (its wallet), and the venue must hold exactly the
orders the book says it owns.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tests.e2e.harness import STEP, Bot
from tests.e2e.support import (
    assert_client_ids_unique,
    assert_one_stop_per_protected_position,
    assert_venue_matches_book,
)

ETH = "ETH/USDC:USDC"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def _open_eth(bot: Bot):  # noqa: ANN202
    position = bot.signal(ETH, T0)
    assert position is not None and position.state == "open"
    assert len(position.plan["take_profits"]) == 3
    return position


def _tp(bot: Bot, position, n: int) -> float:  # noqa: ANN001
    """The n-th take-profit as the venue holds it: priced from the entry's fill, not the plan's close."""
    orders = asyncio.run(bot.venue.open_orders(ETH))
    return next(float(o.trigger_price or o.price) for o in orders if position.order_roles.get(o.client_id) == f"tp{n}")


def _check(bot: Bot) -> None:
    asyncio.run(assert_venue_matches_book(bot.venue, bot.book))
    records = bot.records()
    assert_client_ids_unique(records)
    assert_one_stop_per_protected_position(records)


def test_take_profit_steps_trail_the_stop_and_book_what_the_venue_paid(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    start = asyncio.run(bot.wallet())
    p = _open_eth(bot)
    entry = float(p.entry_price)
    _check(bot)
    for n in (1, 2, 3):
        at = T0 + (n - 1) * STEP
        # stays above the break-even stop, reaches the n-th take-profit and no further
        bot.step(ETH, at, entry + 1, _tp(bot, p, n) + 0.5, entry + 0.5, _tp(bot, p, n))
        if n < 3:
            assert p.state == "partial_tp"
            stops = [o for o in asyncio.run(bot.venue.open_orders(ETH)) if p.order_roles.get(o.client_id) == "sl"]
            assert len(stops) == 1 and stops[0].trigger_price == p.entry_price, "stop trailed to break-even"
            assert stops[0].qty == p.qty
            # a partial take-profit does not extend the max hold: it still runs from the entry fill
            assert p.deadline_event == "max_hold" and p.deadline_at == p.opened_at + bot.loaded.profile.risk.max_hold
            _check(bot)
    assert p.state == "closed" and p.exit_reason == "tp3"
    assert asyncio.run(bot.venue.open_orders()) == []
    assert p.realised_pnl == asyncio.run(bot.wallet()) - start
    _check(bot)
    bot.close()


def test_max_hold_closes_the_position_with_a_reduce_only_market_order(tmp_path: Path) -> None:
    bot = Bot(tmp_path, risk={"max_hold": "15m"})
    start = asyncio.run(bot.wallet())
    p = _open_eth(bot)
    assert p.deadline_event == "max_hold" and p.deadline_at == T0 + 3 * STEP
    for k in range(3):
        bot.flat_candle(ETH, T0 + k * STEP)
        asyncio.run(bot.engine.on_timeouts(T0 + k * STEP + STEP - STEP / 5))
        assert p.state == "open"
    bot.step(ETH, T0 + 2 * STEP, 3001, 3001, 3001, 3001)  # closes at T0 + 15m: the deadline
    assert p.state == "closed" and p.exit_reason == "max_hold"
    events = [r["event"] for r in bot.records() if r["position"] == p.id]
    assert events == ["signal", "entry_filled", "max_hold", "close_filled"]
    assert asyncio.run(bot.venue.open_orders()) == [] and asyncio.run(bot.venue.positions()) == []
    assert p.realised_pnl == asyncio.run(bot.wallet()) - start
    _check(bot)
    bot.close()


def test_every_take_profit_filling_in_one_candle_is_booked(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    start = asyncio.run(bot.wallet())
    p = _open_eth(bot)
    entry = float(p.entry_price)
    executions = bot.step(ETH, T0, entry, _tp(bot, p, 3) + 1, entry - 1, _tp(bot, p, 3))
    assert len(executions) == 3  # the venue filled all three take-profits
    assert p.state == "closed"
    assert p.realised_pnl == asyncio.run(bot.wallet()) - start
    assert p.exit_reason == "tp3"
    bot.close()


def test_take_profit_then_stop_loss_in_one_candle_books_the_loss(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    start = asyncio.run(bot.wallet())
    p = _open_eth(bot)
    stop = float(p.plan["stop_price"])
    gap_open = _tp(bot, p, 1) + 1  # gaps over the first take-profit, then falls through the stop
    executions = bot.step(ETH, T0, gap_open, gap_open, stop - 10, stop - 5)
    roles = [p.order_roles[e.client_id] for e in executions]
    assert roles == ["tp1", "sl"]  # what the venue did: the first slice at the gap, the rest at the stop
    assert p.state == "closed"
    wallet_change = asyncio.run(bot.wallet()) - start
    assert wallet_change < 0
    assert p.realised_pnl == wallet_change
    assert p.exit_reason == "sl"
    assert bot.risk.state.day_pnl == wallet_change
    assert bot.risk.state.sl_streak == 1
    bot.close()


def test_a_short_is_stopped_out_and_books_the_venue_loss(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    start = asyncio.run(bot.wallet())
    p = bot.signal(ETH, T0, side="short")
    assert p is not None and p.state == "open"
    bot.stop_out(p, T0)
    assert p.state == "closed" and p.exit_reason == "sl"
    assert p.realised_pnl == asyncio.run(bot.wallet()) - start < Decimal(0)
    assert bot.risk.state.sl_streak == 1
    _check(bot)
    bot.close()
