"""Timeouts are deadlines stored on the position and fired as events; time is injected."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time

from engine.clock import SimulatedClock, WallClock
from engine.positions.book import PositionBook
from tests.positions.support import T0, Env, fill, machine, plan


def fire_due(book: PositionBook, now) -> list[tuple[str, str]]:
    fired = []
    for position, event in book.due_timeouts(now):
        outcome = book.apply(position, event, {}, now=now, env=Env())
        fired.append((position.id, f"{outcome.source}->{outcome.dest}"))
    return fired


def test_entry_timeout_fires_at_its_deadline_and_not_before(tmp_path) -> None:
    clock = SimulatedClock(T0)
    book = PositionBook(machine(), tmp_path)
    book.open()
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=clock.now(), env=Env())
    assert p.deadline_event == "entry_timeout" and p.deadline_at == T0 + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    assert fire_due(book, clock.now()) == []
    clock.advance(timedelta(seconds=1))
    assert fire_due(book, clock.now()) == [("P1", "entering->emergency")]
    # emergency re-arms its own retry deadline every time it is (re-)entered
    assert p.deadline_event == "emergency_retry" and p.deadline_at == clock.now() + timedelta(seconds=10)
    clock.advance(timedelta(seconds=10))
    assert fire_due(book, clock.now()) == [("P1", "emergency->emergency")]
    assert p.deadline_at == clock.now() + timedelta(seconds=10)


def test_max_hold_counts_from_the_entry_fill_even_after_a_partial_take_profit(tmp_path) -> None:
    clock = SimulatedClock(T0)
    book = PositionBook(machine(), tmp_path)
    book.open()
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=clock.now(), env=Env())
    clock.advance(timedelta(seconds=5))
    book.apply(p, "entry_filled", fill("0.010", "60010.0"), now=clock.now(), env=Env())
    opened = clock.now()
    clock.advance(timedelta(minutes=7))
    book.apply(p, "tp_filled", fill("0.004", "60240.0", step=1), now=clock.now(), env=Env())
    assert p.state == "partial_tp" and p.deadline_at == opened + timedelta(minutes=10)
    clock.advance(timedelta(minutes=3))
    assert fire_due(book, clock.now()) == [("P1", "partial_tp->closing")]


def test_deadlines_survive_a_restart(tmp_path) -> None:
    with freeze_time(T0) as frozen:
        book = PositionBook(machine(), tmp_path)
        book.open()
        p = book.new_position("BTC/USDC:USDC")
        book.apply(p, "signal", {"plan": plan()}, now=WallClock().now(), env=Env())
        book.apply(p, "entry_filled", fill("0.010", "60010.0"), now=WallClock().now(), env=Env())
        book.close()
        frozen.tick(timedelta(minutes=11))  # the bot was down past the max hold

        resumed = PositionBook(machine(), tmp_path)
        resumed.open()
        assert fire_due(resumed, WallClock().now()) == [("P1", "open->closing")]
