"""Reconciliation against the simulated venue: each way the venue can disagree with the machines, and
the legal walk (events through the machine) that ends in agreement with the invariants holding."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from engine.positions.events import CloseRequested
from engine.trading.reconcile import Reconciler
from engine.venue.types import Side
from tests.e2e.harness import STEP, Bot
from tests.e2e.support import assert_venue_matches_book

ETH = "ETH/USDC:USDC"
SOL = "SOL/USDC:USDC"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def _reconcile(bot: Bot, now: datetime = T0):  # noqa: ANN202
    return asyncio.run(Reconciler(bot.engine).run(now))


def _stop_of(bot: Bot, position) -> str:  # noqa: ANN001
    return next(c for c in position.open_orders if position.order_roles[c] == "sl")


def _trigger(bot: Bot, position, role: str) -> Decimal:  # noqa: ANN001
    """The trigger of the position's order in `role` as the venue holds it (priced from the entry's fill,
    not the plan's close)."""
    orders = asyncio.run(bot.venue.open_orders(ETH))
    return next(o.trigger_price or o.price for o in orders if position.order_roles.get(o.client_id) == role)


def test_a_clean_book_reconciles_clean(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    assert position is not None and position.state == "open"
    report = _reconcile(bot)
    assert report.clean, report.lines()
    assert position.state == "open"


def test_a_stop_that_vanished_is_replaced_and_journalled(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    lost, price = _stop_of(bot, position), _trigger(bot, position, "sl")
    asyncio.run(bot.venue.cancel(ETH, lost, True))  # the stop disappears behind the bot's back
    report = _reconcile(bot)
    assert position.state == "open"
    new = _stop_of(bot, position)
    assert new != lost and lost not in position.open_orders
    assert any("no live stop-loss" in fix for fix in report.fixes)
    live = {o.client_id: o for o in asyncio.run(bot.venue.open_orders(ETH))}
    assert live[new].trigger_price == price and live[new].qty == position.qty
    assert [r["event"] for r in bot.records()][-1] == "protection_lost"
    asyncio.run(assert_venue_matches_book(bot.venue, bot.book))


def test_a_stop_lost_after_a_take_profit_comes_back_at_break_even(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    entry, tp1 = float(position.entry_price), float(_trigger(bot, position, "tp1"))
    bot.step(ETH, T0, entry + 1, tp1 + 0.5, entry + 0.5, tp1)
    assert position.state == "partial_tp"
    asyncio.run(bot.venue.cancel(ETH, _stop_of(bot, position), True))
    _reconcile(bot)
    stop = next(o for o in asyncio.run(bot.venue.open_orders(ETH)) if o.client_id == _stop_of(bot, position))
    assert stop.trigger_price == position.entry_price and stop.qty == position.qty
    asyncio.run(assert_venue_matches_book(bot.venue, bot.book))


def test_a_fill_missed_while_down_is_applied_from_the_venue(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    stop = float(_trigger(bot, position, "sl"))
    # the stop fills on the venue, but the engine never hears about it (a crash between the two)
    bot.candle(ETH, T0, stop * 1.001, stop * 1.001, stop * 0.99, stop * 0.99)
    assert position.state == "open"
    report = _reconcile(bot, T0 + STEP)
    assert position.state == "closed" and position.exit_reason == "sl"
    assert report.fixes and not report.problems
    asyncio.run(assert_venue_matches_book(bot.venue, bot.book))


def test_a_position_closed_behind_the_bots_back_walks_to_closed(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    # someone flattens the position by hand and cancels its orders
    for order in asyncio.run(bot.venue.open_orders(ETH)):
        asyncio.run(bot.venue.cancel(ETH, order.client_id, order.is_conditional))
    asyncio.run(bot.venue.place_market(ETH, Side.SELL, position.qty, "manual-1", reduce_only=True))
    report = _reconcile(bot)
    assert position.state == "closed"
    assert any("flattening through emergency" in p for p in report.problems)
    events = [r["event"] for r in bot.records() if r.get("position") == position.id]
    assert events[-2:] == ["panic", "flat_confirmed"]
    asyncio.run(assert_venue_matches_book(bot.venue, bot.book))


def test_a_size_mismatch_goes_to_emergency_and_ends_flat(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    half = (position.qty / 2).quantize(Decimal("0.001"))
    asyncio.run(bot.venue.place_market(ETH, Side.SELL, half, "manual-2", reduce_only=True))
    _reconcile(bot)
    assert position.state == "closed"
    assert not [p for p in asyncio.run(bot.venue.positions()) if p.symbol == ETH]
    asyncio.run(assert_venue_matches_book(bot.venue, bot.book))


def test_a_position_the_bot_did_not_open_is_left_alone_and_blocks_its_symbol(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.flat_candle(SOL, T0 - STEP)
    asyncio.run(bot.venue.place_market(SOL, Side.BUY, Decimal("1"), "manual-3"))
    manual_stop = asyncio.run(bot.venue.place_stop_market(SOL, Side.SELL, Decimal("1"), Decimal("100"), "manual-sl"))
    reconciler = Reconciler(bot.engine)
    report = asyncio.run(reconciler.run(T0))
    assert report.foreign == {SOL: Decimal("1")}
    assert any("did not open" in p for p in report.problems)
    assert bot.signal(SOL, T0) is None, "no entry on a symbol someone else holds"
    orders = {o.client_id for o in asyncio.run(bot.venue.open_orders(SOL))}
    assert manual_stop.client_id in orders, "orders the bot did not place are never cancelled"
    # once the foreign position is gone, the symbol trades again
    asyncio.run(bot.venue.place_market(SOL, Side.SELL, Decimal("1"), "manual-4", reduce_only=True))
    again = asyncio.run(reconciler.run(T0 + STEP))
    assert not again.foreign and any("entries allowed again" in f for f in again.fixes)
    assert bot.signal(SOL, T0 + 2 * STEP) is not None


def test_orphans_of_this_bot_are_cancelled_and_nothing_else(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    prefix = bot.book.bot["order_prefix"]
    asyncio.run(bot.venue.place_take_profit_market(ETH, Side.SELL, Decimal("0.01"), Decimal("9999"),
                                                   f"{prefix}-P99-T1"))
    asyncio.run(bot.venue.place_take_profit_market(ETH, Side.SELL, Decimal("0.01"), Decimal("9999"), "other-bot-T1"))
    report = _reconcile(bot)
    assert report.orphans_cancelled == 1
    live = {o.client_id for o in asyncio.run(bot.venue.open_orders(ETH))}
    assert f"{prefix}-P99-T1" not in live and "other-bot-T1" in live
    assert set(position.open_orders) <= live


def test_closing_with_the_venue_already_flat_is_confirmed_closed(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    position = bot.signal(ETH, T0)
    # force the machine into `closing` without the close reaching the venue, then flatten by hand
    asyncio.run(bot.engine.apply(position, CloseRequested("manual"), T0, run=False))
    assert position.state == "closing"
    for order in asyncio.run(bot.venue.open_orders(ETH)):
        asyncio.run(bot.venue.cancel(ETH, order.client_id, order.is_conditional))
    asyncio.run(bot.venue.place_market(ETH, Side.SELL, position.qty, "manual-5", reduce_only=True))
    _reconcile(bot)
    assert position.state == "closed"
    asyncio.run(assert_venue_matches_book(bot.venue, bot.book))
