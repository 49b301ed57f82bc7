"""A close the bot sends itself (max hold, a manual close) keeps the stop-loss on the venue until flat.

Cancelling the stop with the take-profits, as the bot once did, left the position naked for as long as
the close took, and for good when the venue refused it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.clock import SimulatedClock
from engine.positions.book import PositionBook
from engine.positions.model import IntentKind
from tests.positions.support import T0, Env, fill, machine, plan


def _open(tmp_path) -> tuple[PositionBook, object, SimulatedClock]:
    clock = SimulatedClock(T0)
    book = PositionBook(machine(), tmp_path)
    book.open()
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=clock.now(), env=Env())
    book.apply(p, "entry_filled", fill("0.010", "60010.0"), now=clock.now(), env=Env())
    p.intents.clear()  # the executor has carried out the entry's protection
    return book, p, clock


def _cancelled(p) -> set[str]:
    return {i.target for i in p.intents if i.kind is IntentKind.CANCEL}


@pytest.mark.parametrize("event", ["max_hold", "close_requested"])
def test_a_close_cancels_the_take_profits_and_keeps_the_stop(tmp_path, event) -> None:
    book, p, clock = _open(tmp_path)
    stops, tps = p.stops(), [c for c in p.open_orders if c not in p.stops()]
    assert len(stops) == 1 and len(tps) == 3
    outcome = book.apply(p, event, {"reason": "manual"} if event == "close_requested" else {},
                         now=clock.now(), env=Env())
    assert outcome.dest == "closing"
    assert _cancelled(p) == set(tps)
    assert p.stops() == stops
    assert [i.kind for i in p.intents if i.kind is not IntentKind.CANCEL] == [IntentKind.CLOSE]


def test_the_stop_is_cancelled_only_once_the_close_made_the_position_flat(tmp_path) -> None:
    book, p, clock = _open(tmp_path)
    book.apply(p, "max_hold", {}, now=clock.now(), env=Env())
    stop = p.stops()[0]
    close = next(i.client_id for i in p.intents if i.kind is IntentKind.CLOSE)
    p.intents.clear()
    book.apply(p, "close_filled", fill("0.010", "60100.0", client_id=close), now=clock.now(), env=Env())
    assert p.state == "closed" and _cancelled(p) == {stop}


def test_a_close_that_fills_in_part_flattens_the_rest_with_the_stop_resting(tmp_path) -> None:
    book, p, clock = _open(tmp_path)
    book.apply(p, "max_hold", {}, now=clock.now(), env=Env())
    stop = p.stops()[0]
    p.intents.clear()
    outcome = book.apply(p, "close_filled", fill("0.004", "60100.0"), now=clock.now(), env=Env())
    assert outcome.dest == "emergency" and str(p.qty) == "0.006"
    assert p.stops() == [stop] and not _cancelled(p)
    close = [i for i in p.intents if i.kind is IntentKind.CLOSE]
    assert len(close) == 1 and str(close[0].qty) == "0.006" and close[0].reduce_only


def test_a_refused_close_leaves_the_position_protected_by_its_stop(tmp_path) -> None:
    book, p, clock = _open(tmp_path)
    book.apply(p, "close_requested", {"reason": "manual"}, now=clock.now(), env=Env())
    stop = p.stops()[0]
    clock.advance(timedelta(seconds=1))
    outcome = book.apply(p, "close_rejected", {"code": -1111, "msg": "Precision is over the maximum"},
                         now=clock.now(), env=Env())
    assert outcome.dest == "emergency" and p.stops() == [stop]
