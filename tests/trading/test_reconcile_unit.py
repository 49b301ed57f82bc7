"""Reconciler on its own: one pass over a real simulated venue and book (the e2e harness's `Bot`),
with each disagreement made on the venue through its own methods, asserting what the pass leaves:
the position's state, the venue's open orders and the report's fields."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.trading.reconcile import Reconciler
from engine.venue.errors import VenueUnavailable
from engine.venue.types import Side
from tests.e2e.harness import STEP, Bot

ETH = "ETH/USDC:USDC"
SOL = "SOL/USDC:USDC"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def _open(bot: Bot, symbol: str = ETH):  # noqa: ANN202
    position = bot.signal(symbol, T0)
    assert position is not None and position.state == "open"
    return position


def _venue_stops(bot: Bot, position) -> list[str]:  # noqa: ANN001
    """Client ids of the position's stop-loss orders that are open on the venue."""
    return [o.client_id for o in asyncio.run(bot.venue.open_orders(position.symbol))
            if position.order_roles.get(o.client_id) == "sl"]


def _events(bot: Bot, position) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(r["event"], r["to"]) for r in bot.records() if r.get("position") == position.id and "to" in r]


def test_a_cancelled_stop_gives_protection_lost_and_exactly_one_new_stop(tmp_path: Path) -> None:
    """A protected position whose stop was cancelled on the venue gets `protection_lost`: it stays
    open and the venue then holds exactly one live stop of it, a new one."""
    bot = Bot(tmp_path)
    p = _open(bot)
    [lost] = _venue_stops(bot, p)
    asyncio.run(bot.venue.cancel(ETH, lost, True))
    assert _venue_stops(bot, p) == []
    report = asyncio.run(Reconciler(bot.engine).run(T0))
    assert report.complete
    assert p.state == "open"
    assert _events(bot, p)[-1] == ("protection_lost", "open")
    stops = _venue_stops(bot, p)
    assert len(stops) == 1 and stops[0] != lost
    assert any("no live stop-loss" in fix for fix in report.fixes)
    bot.close()


def test_a_flat_venue_under_a_protected_machine_panics_and_ends_closed(tmp_path: Path) -> None:
    """The venue flat (closed and cancelled by hand) while the machine is open: the pass reports the
    mismatch and applies `panic`; in emergency the reduce-only close finds nothing to close, which the
    machine takes as `flat_confirmed`, so the position ends closed with nothing open on the venue."""
    bot = Bot(tmp_path)
    p = _open(bot)
    for order in asyncio.run(bot.venue.open_orders(ETH)):
        asyncio.run(bot.venue.cancel(ETH, order.client_id, order.is_conditional))
    asyncio.run(bot.venue.place_market(ETH, Side.SELL, p.qty, "manual-1", reduce_only=True))
    report = asyncio.run(Reconciler(bot.engine).run(T0))
    assert any("flattening through emergency" in problem for problem in report.problems)
    events = _events(bot, p)
    assert ("panic", "emergency") in events
    assert events[-1] == ("flat_confirmed", "closed")
    assert p.state == "closed"
    assert asyncio.run(bot.venue.open_orders()) == [] and asyncio.run(bot.venue.positions()) == []
    bot.close()


def test_a_foreign_venue_position_is_reported_and_blocks_its_symbol_until_gone(tmp_path: Path) -> None:
    """A venue position on a symbol no machine holds is reported in report.foreign and its symbol is
    marked busy for entries; once it is gone the next pass frees the symbol again."""
    bot = Bot(tmp_path)
    bot.flat_candle(SOL, T0 - STEP)
    asyncio.run(bot.venue.place_market(SOL, Side.BUY, Decimal("1"), "manual-2"))
    reconciler = Reconciler(bot.engine)
    report = asyncio.run(reconciler.run(T0))
    assert report.foreign == {SOL: Decimal("1")}
    assert SOL in bot.engine.gate.busy and not bot.engine.gate.tradable(SOL)
    assert not bot.book.live
    asyncio.run(bot.venue.place_market(SOL, Side.SELL, Decimal("1"), "manual-3", reduce_only=True))
    again = asyncio.run(reconciler.run(T0 + STEP))
    assert again.foreign == {}
    assert SOL not in bot.engine.gate.busy and bot.engine.gate.tradable(SOL)
    bot.close()


def test_a_venue_error_during_the_pass_makes_the_report_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the venue raises a VenueError mid-pass (open orders read, positions not), the report says
    complete == False and the position is left as it was."""
    bot = Bot(tmp_path)
    p = _open(bot)
    seq = p.last_seq

    async def unreachable() -> list:  # noqa: ANN202
        raise VenueUnavailable("positions: connection reset")

    monkeypatch.setattr(bot.venue, "positions", unreachable)
    report = asyncio.run(Reconciler(bot.engine).run(T0))
    assert report.complete is False
    assert not report.clean
    assert any("unreachable" in problem for problem in report.problems)
    assert p.state == "open" and p.last_seq == seq
    bot.close()
