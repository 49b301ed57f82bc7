"""TradingEngine on its own: each input (signal, executions, commands, sweeps, recovered fills) driven
directly against a real simulated venue and book (the e2e harness's `Bot`), asserting the state the
engine leaves behind: the position's state, the venue's open orders and the engine's counters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from engine.clock import to_ms
from engine.positions.events import CloseRequested
from engine.venue.types import Execution, ExecutionKind, Side
from tests.e2e.harness import STEP, Bot

ETH = "ETH/USDC:USDC"
SOL = "SOL/USDC:USDC"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def _open(bot: Bot, symbol: str = ETH, now: datetime = T0):  # noqa: ANN202
    position = bot.signal(symbol, now)
    assert position is not None and position.state == "open"
    return position


def _events(bot: Bot, position) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(r["event"], r["to"]) for r in bot.records() if r.get("position") == position.id and "to" in r]


def test_a_signal_on_a_symbol_with_a_live_position_does_nothing(tmp_path: Path) -> None:
    """A second signal while the symbol already holds a live position opens nothing: no new position,
    no order on the venue, entries and refusals unchanged."""
    bot = Bot(tmp_path)
    first = _open(bot)
    orders_before = {o.client_id for o in asyncio.run(bot.venue.open_orders())}
    entries, refused = bot.engine.counters.entries, bot.engine.counters.refused
    assert bot.signal(ETH, T0 + STEP) is None
    assert list(bot.book.live) == [first.id]
    assert {o.client_id for o in asyncio.run(bot.venue.open_orders())} == orders_before
    assert (bot.engine.counters.entries, bot.engine.counters.refused) == (entries, refused)
    assert first.state == "open"
    bot.close()


def test_a_take_profit_and_the_stop_in_one_batch_are_both_applied(tmp_path: Path) -> None:
    """on_executions applies every fill of one position from one candle before sending orders: a
    take-profit slice and the stop filled together end the position closed with both exits in its
    journal and nothing left open on the venue (a resized stop sent between the two would be refused
    and send the position to emergency instead)."""
    bot = Bot(tmp_path)
    p = _open(bot)
    stop = float(p.plan["stop_price"])
    gap = float(p.plan["take_profits"][0]["price"]) + 1
    executions = bot.venue.on_candle(ETH, to_ms(T0), gap, gap, stop - 10, stop - 5, 1.0)
    assert [p.order_roles[e.client_id] for e in executions] == ["tp1", "sl"]
    asyncio.run(bot.engine.on_executions(executions, T0 + STEP))
    assert p.state == "closed" and p.exit_reason == "sl"
    events = [e for e, _ in _events(bot, p)]
    assert "tp_filled" in events and "sl_filled" in events
    assert "panic" not in events
    assert asyncio.run(bot.venue.open_orders()) == []
    assert asyncio.run(bot.venue.positions()) == []
    bot.close()


def test_a_liquidation_sends_panic_and_the_position_goes_to_emergency(tmp_path: Path) -> None:
    """A liquidation execution on the symbol applies `panic` to its live position, straight from open
    to emergency. The venue has already taken the position (the liquidation), so emergency's reduce-only
    close finds it flat (`flat_confirmed`): closed, with the position's resting orders cancelled."""
    bot = Bot(tmp_path)
    p = _open(bot)
    # the liquidation engine takes the whole position; the bot's stop and take-profits are still resting
    asyncio.run(bot.venue.place_market(ETH, Side.SELL, p.qty, "autoclose-1", reduce_only=True))
    assert asyncio.run(bot.venue.positions()) == [] and asyncio.run(bot.venue.open_orders())
    liquidation = Execution(
        client_id="autoclose-1", venue_id="1", symbol=ETH, side=Side.SELL, qty=p.qty, price=Decimal("2000"),
        fee=Decimal(0), fee_asset="USDC", realized_pnl=Decimal(0), reduce_only=True,
        kind=ExecutionKind.LIQUIDATION, timestamp_ms=to_ms(T0), position_after=Decimal(0))
    asyncio.run(bot.engine.on_executions([liquidation], T0 + STEP))
    assert _events(bot, p) == [("signal", "entering"), ("entry_filled", "open"),
                               ("panic", "emergency"), ("flat_confirmed", "closed")]
    assert p.state == "closed"
    assert asyncio.run(bot.venue.open_orders()) == []
    bot.close()


def test_an_event_for_a_closed_position_is_dropped_and_counted(tmp_path: Path) -> None:
    """Once a position is closed, a further event for it is not applied: apply returns None, the
    journal does not grow and counters.invalid_events goes up by one."""
    bot = Bot(tmp_path)
    p = _open(bot)
    bot.stop_out(p, T0)
    assert p.state == "closed"
    seq, records = p.last_seq, len(bot.records())
    before = bot.engine.counters.invalid_events
    assert asyncio.run(bot.engine.apply(p, CloseRequested("manual"), T0 + 2 * STEP)) is None
    assert bot.engine.counters.invalid_events == before + 1
    assert p.state == "closed" and p.last_seq == seq and len(bot.records()) == records
    bot.close()


def test_close_all_closes_only_protected_positions(tmp_path: Path) -> None:
    """close_all sends close_requested to open / partial_tp positions only: an open one is closed, one
    already closing is left alone (no invalid event counted for it)."""
    bot = Bot(tmp_path)
    eth = _open(bot, ETH)
    sol = _open(bot, SOL)
    asyncio.run(bot.engine.apply(sol, CloseRequested("manual"), T0, run=False))
    assert sol.state == "closing"
    sol_seq = sol.last_seq
    before = bot.engine.counters.invalid_events
    asyncio.run(bot.engine.close_all(T0 + STEP))
    assert eth.state == "closed" and eth.exit_reason == "close_requested"
    assert sol.state == "closing" and sol.last_seq == sol_seq
    assert bot.engine.counters.invalid_events == before
    bot.close()


def test_sweep_orphans_cancels_only_this_bots_unowned_orders(tmp_path: Path) -> None:
    """An open order carrying this bot's prefix that no live position owns is cancelled; an order
    without the prefix, and the position's own orders, stay."""
    bot = Bot(tmp_path)
    p = _open(bot)
    prefix = bot.book.bot["order_prefix"]
    orphan, foreign = f"{prefix}-P99-T1", "other-bot-T1"
    for cid in (orphan, foreign):
        asyncio.run(bot.venue.place_take_profit_market(ETH, Side.SELL, Decimal("0.01"), Decimal("9999"), cid))
    assert asyncio.run(bot.engine.sweep_orphans()) == 1
    assert bot.engine.counters.orphans_cancelled == 1
    live = {o.client_id for o in asyncio.run(bot.venue.open_orders())}
    assert orphan not in live and foreign in live
    assert set(p.open_orders) <= live
    bot.close()


def test_recover_fills_applies_a_stop_filled_while_not_looking(tmp_path: Path) -> None:
    """A stop that filled on the venue without the engine hearing of it is read back by recover_fills
    and the position ends closed on the stop, with nothing left open."""
    bot = Bot(tmp_path)
    p = _open(bot)
    stop = float(p.plan["stop_price"])
    executions = bot.candle(ETH, T0, stop * 1.001, stop * 1.001, stop * 0.99, stop * 0.99)
    assert executions and p.state == "open"  # the venue filled it; the engine was not told
    asyncio.run(bot.engine.recover_fills(p, T0 + STEP))
    assert p.state == "closed" and p.exit_reason == "sl"
    assert asyncio.run(bot.venue.open_orders()) == []
    bot.close()
