"""The whole (state × event) matrix, and one test per declared edge.

Edges from `emergency` start from a position that filled and was protected before it panicked (its
stop-loss and take-profits resting), the emergency the venue's answers arrive in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.machine.runtime import CompiledMachine, InvalidTransition
from engine.positions.book import PositionBook
from engine.positions.model import PLACING_KINDS, IntentKind, Position, RoleKind
from tests.positions.support import PATHS, T0, Env, definition, fill, machine, payload_for, plan

SPEC = definition().spec
DECLARED = {(src, t.event) for t in SPEC.transitions for src in t.source}
UNDECLARED = [(s, e) for s in SPEC.states for e in SPEC.events if (s, e) not in DECLARED]
# A resting limit entry's edges depend on what filled before (tests/positions/test_limit_entry.py walks
# each of them, and checks it covers them all); every other edge is tested here from one path per state.
LIMIT_SOURCES = frozenset({"resting", "cancelling_entry"})
LIMIT_EVENTS = frozenset({"entry_filled", "entry_cancelled"})
LIMIT_EDGES = [(src, t.event, t.to) for t in SPEC.transitions for src in t.source
               if src in LIMIT_SOURCES or (src == "emergency" and t.event in LIMIT_EVENTS)]
EDGES = [(src, t.event, t.to) for t in SPEC.transitions for src in t.source
         if (src, t.event, t.to) not in LIMIT_EDGES]
PATHS = {**PATHS, "emergency": [*PATHS["open"], ("panic", {})]}
# Answers in emergency, about the orders it keeps resting: what the payload names is filled in per position.
_STOP_ANSWERS = ("protection_failed", "protection_lost")


def payload_of(event: str, state: str, dest: str, position: Position) -> dict:
    """`payload_for`, with the quantities and client ids an emergency's answers carry."""
    stop = next(iter(position.stops()), "")
    if state == "emergency" and event in ("close_filled", "tp_filled"):
        return fill("0.010" if dest == "closed" else "0.004", "58800.0", step=1)
    if event == "protection_lost":
        return {"missing": [stop]}
    if event == "protection_failed":
        return {"code": -2021, "msg": "Order would immediately trigger.", "client_id": stop}
    return payload_for(event, state, dest)


def walk(m: CompiledMachine, state: str) -> Position:
    position = Position("P1", "BTC/USDC:USDC", order_prefix="t")
    m.attach(position)
    for seq, (event, payload) in enumerate(PATHS[state], start=1):
        outcome = m.fire(position, event, payload, now=T0, env=Env(), seq=seq)
        assert outcome.applied, (state, event, outcome)
    assert position.state == state
    return position


def test_matrix_is_not_trivial() -> None:
    assert len(UNDECLARED) > 50 and len(EDGES) >= 20


@pytest.mark.parametrize(("state", "event"), UNDECLARED, ids=[f"{s}-{e}" for s, e in UNDECLARED])
def test_undeclared_pair_is_refused_without_change(state: str, event: str) -> None:
    m = machine()
    position = walk(m, state)
    before = position.to_dict()
    with pytest.raises(InvalidTransition) as err:
        m.fire(position, event, payload_of(event, state, state, position), now=T0, env=Env(), seq=99)
    assert event in str(err.value) and state in str(err.value) and "did not apply" in str(err.value)
    assert position.to_dict() == before


def test_unknown_event_is_refused() -> None:
    m = machine()
    position = walk(m, "open")
    with pytest.raises(InvalidTransition, match="unknown event 'explode'"):
        m.fire(position, "explode", {}, now=T0, env=Env())
    assert position.state == "open"


@pytest.mark.parametrize(("source", "event", "dest"), EDGES, ids=[f"{s}-{e}-{d}" for s, e, d in EDGES])
def test_declared_edge(tmp_path, source: str, event: str, dest: str) -> None:
    m = machine()
    book = PositionBook(m, tmp_path)
    book.open()
    position = book.new_position("BTC/USDC:USDC")
    for ev, payload in PATHS[source]:
        assert book.apply(position, ev, payload, now=T0, env=Env()).applied
    seq_before = book.journal.last_seq
    open_before = list(position.open_orders)

    payload = payload_of(event, source, dest, position)
    outcome = book.apply(position, event, payload, now=T0, env=Env())

    assert outcome.applied and outcome.dest == dest and position.state == dest
    record = book.journal.last_record()
    assert record is not None
    assert record["seq"] == seq_before + 1
    assert (record["event"], record["from"], record["to"]) == (event, source, dest)
    assert record["position"] == position.id and record["symbol"] == "BTC/USDC:USDC"
    assert record["payload"] == payload
    assert [i["client_id"] for i in record["intents"]] == [i.client_id for i in position.intents]
    _assert_intents(event, source, dest, position, open_before, payload)
    # derived predicates follow the tags of the destination
    tags = SPEC.states[dest].tags
    assert (position.id in book.live) == ("terminal" not in tags)
    assert (position.deadline_event is not None) == (SPEC.states[dest].timeout is not None)
    book.close()


def _assert_intents(event: str, source: str, dest: str, p: Position, open_before: list[str], payload: dict) -> None:
    kinds = [i.kind for i in p.intents]
    stops_before = [c for c in open_before if p.role_of(c).kind_is(RoleKind.STOP_LOSS)]
    if event == "signal":
        assert kinds == [IntentKind.ENTRY]
        assert p.intents[0].qty == Decimal("0.010") and p.intents[0].side == "buy"
    elif event == "entry_filled":
        assert kinds == [IntentKind.STOP_LOSS, IntentKind.TAKE_PROFIT, IntentKind.TAKE_PROFIT, IntentKind.TAKE_PROFIT]
        assert all(i.reduce_only for i in p.intents)
        assert sum(i.qty for i in p.intents if i.kind is IntentKind.TAKE_PROFIT) == p.qty == Decimal("0.010")
    elif source == dest == "emergency" and event in ("close_rejected", "tp_filled"):
        assert kinds == [] and p.stops() == stops_before  # the stop rests, the close waits for its retry
        assert p.close_refusals == (1 if event == "close_rejected" else 0)
    elif source == dest == "emergency" and event == "protection_lost":
        assert kinds == [IntentKind.STOP_LOSS, IntentKind.CANCEL] and p.stops() == [p.intents[0].client_id]
        assert p.intents[0].reduce_only and p.intents[0].qty == p.qty and p.intents[1].target == stops_before[0]
    elif source == dest == "emergency" and event == "protection_failed":
        assert kinds == [] and p.stops() == []  # the refused stop protects nothing
    elif dest == "emergency":
        # flatten at market, the stop-loss and take-profits resting until the venue is flat
        assert kinds == [IntentKind.CLOSE] and p.intents[0].reduce_only
        refused = payload.get("client_id") if event == "protection_failed" else None
        assert p.stops() == [c for c in stops_before if c != refused]
        assert {c for c in open_before if not p.role_of(c).kind_is(RoleKind.CLOSE)} - {refused} <= set(p.open_orders)
    elif dest == "closing":
        assert kinds[-1] is IntentKind.CLOSE and p.intents[-1].qty == p.qty
    elif dest == "partial_tp":
        stops = [i for i in p.intents if i.kind is IntentKind.STOP_LOSS]
        assert len(stops) == 1 and stops[0].qty == p.qty and stops[0].price == p.entry_price  # break-even
    elif dest == "closed":
        assert not [i for i in p.intents if i.kind in PLACING_KINDS]
        assert p.open_orders == []


def _emergency_without_a_stop(tmp_path) -> tuple[PositionBook, Position]:  # noqa: ANN001
    """Entered, the entry's outcome unknown (timed out): an emergency with no stop-loss on the venue."""
    book = PositionBook(machine(), tmp_path)
    book.open()
    position = book.new_position("BTC/USDC:USDC")
    for event, payload in [("signal", {"plan": plan()}), ("entry_timeout", {})]:
        assert book.apply(position, event, payload, now=T0, env=Env()).applied
    assert position.state == "emergency" and position.stops() == []
    return book, position


def test_a_refused_emergency_close_places_a_stop_when_there_is_none(tmp_path) -> None:  # noqa: ANN001
    book, position = _emergency_without_a_stop(tmp_path)
    refused = {"code": -1111, "msg": "Precision is over the maximum defined for this asset."}
    assert book.apply(position, "close_rejected", refused, now=T0, env=Env()).applied
    [stop] = position.intents
    assert (stop.kind, stop.qty, stop.price, stop.reduce_only) == (IntentKind.STOP_LOSS, Decimal("0.010"),
                                                                   Decimal(plan()["stop_price"]), True)
    assert position.stops() == [stop.client_id]
    # the next refusals count up and leave the one stop alone
    assert book.apply(position, "emergency_retry", {}, now=T0, env=Env()).applied
    assert [i.kind for i in position.intents] == [IntentKind.CLOSE]
    assert book.apply(position, "close_rejected", refused, now=T0, env=Env()).applied
    assert position.intents == [] and position.stops() == [stop.client_id] and position.close_refusals == 2
    book.close()


def test_an_emergency_that_fills_cancels_its_stop_only_then(tmp_path) -> None:  # noqa: ANN001
    book = PositionBook(machine(), tmp_path)
    book.open()
    position = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["emergency"]:
        assert book.apply(position, event, payload, now=T0, env=Env()).applied
    resting = list(position.open_orders)
    close = position.intents[-1].client_id
    assert book.apply(position, "close_filled", fill("0.004", "58800.0", close), now=T0, env=Env()).dest == "emergency"
    assert [i.kind for i in position.intents] == [IntentKind.CLOSE] and position.intents[0].qty == Decimal("0.006")
    assert set(resting) - {close} <= set(position.open_orders), "part filled: everything still rests"
    last = position.intents[0].client_id
    assert book.apply(position, "close_filled", fill("0.006", "58800.0", last), now=T0, env=Env()).dest == "closed"
    assert {i.target for i in position.intents if i.kind is IntentKind.CANCEL} == set(resting) - {close}
    book.close()
