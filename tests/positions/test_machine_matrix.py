"""The whole (state × event) matrix, and one test per declared edge."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.machine.runtime import CompiledMachine, InvalidTransition
from engine.positions.book import PositionBook
from engine.positions.model import PLACING_KINDS, IntentKind, Position
from tests.positions.support import PATHS, T0, Env, definition, machine, payload_for

SPEC = definition().spec
DECLARED = {(src, t.event) for t in SPEC.transitions for src in t.source}
UNDECLARED = [(s, e) for s in SPEC.states for e in SPEC.events if (s, e) not in DECLARED]
EDGES = [(src, t.event, t.to) for t in SPEC.transitions for src in t.source]


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
        m.fire(position, event, payload_for(event, state, state), now=T0, env=Env(), seq=99)
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

    payload = payload_for(event, source, dest)
    outcome = book.apply(position, event, payload, now=T0, env=Env())

    assert outcome.applied and outcome.dest == dest and position.state == dest
    record = book.journal.last_record()
    assert record is not None
    assert record["seq"] == seq_before + 1
    assert (record["event"], record["from"], record["to"]) == (event, source, dest)
    assert record["position"] == position.id and record["symbol"] == "BTC/USDC:USDC"
    assert record["payload"] == payload
    assert [i["client_id"] for i in record["intents"]] == [i.client_id for i in position.intents]
    _assert_intents(event, source, dest, position, open_before)
    # derived predicates follow the tags of the destination
    tags = SPEC.states[dest].tags
    assert (position.id in book.live) == ("terminal" not in tags)
    assert (position.deadline_event is not None) == (SPEC.states[dest].timeout is not None)
    book.close()


def _assert_intents(event: str, source: str, dest: str, p: Position, open_before: list[str]) -> None:
    kinds = [i.kind for i in p.intents]
    if event == "signal":
        assert kinds == [IntentKind.ENTRY]
        assert p.intents[0].qty == Decimal("0.010") and p.intents[0].side == "buy"
    elif event == "entry_filled":
        assert kinds == [IntentKind.STOP_LOSS, IntentKind.TAKE_PROFIT, IntentKind.TAKE_PROFIT, IntentKind.TAKE_PROFIT]
        assert all(i.reduce_only for i in p.intents)
        assert sum(i.qty for i in p.intents if i.kind is IntentKind.TAKE_PROFIT) == p.qty == Decimal("0.010")
    elif dest == "emergency":
        assert kinds[-1] is IntentKind.CLOSE and p.intents[-1].reduce_only
        assert {i.target for i in p.intents if i.kind is IntentKind.CANCEL} == set(open_before)
    elif dest == "closing":
        assert kinds[-1] is IntentKind.CLOSE and p.intents[-1].qty == p.qty
    elif dest == "partial_tp":
        stops = [i for i in p.intents if i.kind is IntentKind.STOP_LOSS]
        assert len(stops) == 1 and stops[0].qty == p.qty and stops[0].price == p.entry_price  # break-even
    elif dest == "closed":
        assert not [i for i in p.intents if i.kind in PLACING_KINDS]
        assert p.open_orders == []
