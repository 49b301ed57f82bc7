"""Property tests: random, shuffled, duplicated and dropped events keep the invariants."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.machine.registry import Step
from engine.machine.runtime import ActionFailed, CompiledMachine, InvalidTransition
from engine.positions.book import PositionBook, replay_journal
from engine.positions.model import PLACING_KINDS, IntentKind, Position
from engine.store.journal import read_records
from tests.positions.support import T0, TIMEOUTS, Env, Risk, definition, fill, machine, plan

EVENTS = sorted(definition().spec.events)
QTYS = ["0.001", "0.003", "0.004", "0.006", "0.010"]

steps = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(EVENTS), st.sampled_from(QTYS), st.booleans()),
    min_size=1,
    max_size=40,
)


def payload(event: str, qty: str, refuse: bool) -> dict:
    if event == "signal":
        return {"plan": plan(qty="0.001" if refuse else "0.010")}
    if event.endswith("_filled"):
        return fill(qty, "60100.0", step=2)
    if event.endswith("_rejected"):
        return {"code": -2022, "msg": "ReduceOnly Order is rejected."}
    return {}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_event_sequences_keep_the_invariants(sequence) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        book = PositionBook(machine(), state_dir)
        book.open()
        positions = [book.new_position(s) for s in ("BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC")]
        now = T0
        for index, event, qty, refuse in sequence:
            now += timedelta(seconds=7)
            p = positions[index]
            if p.state == "closed":
                continue
            before = p.to_dict()
            try:
                outcome = book.apply(p, event, payload(event, qty, refuse), now=now, env=Env())
            except InvalidTransition:
                assert p.to_dict() == before
                continue
            if not outcome.applied:
                assert p.to_dict() == before
                continue
            check_position(book, p)
        book.close()

        records = list(read_records(state_dir / "journal.jsonl"))
        assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
        for pid in {r["position"] for r in records}:
            entries = [i for r in records if r["position"] == pid for i in r["intents"] if i["kind"] == "entry"]
            assert len(entries) <= 1, f"{pid} sent {len(entries)} entries"
        client_ids = [i["client_id"] for r in records for i in r["intents"]]
        assert len(client_ids) == len(set(client_ids)), "a client order id was issued twice"

        replayed = replay_journal(machine(), records)
        resumed = PositionBook(machine(), state_dir)
        resumed.open()
        assert {k: p.to_dict() for k, p in resumed.live.items()} == {
            k: p.to_dict() for k, p in replayed.items() if p.state != "closed"
        }
        resumed.close()


def check_position(book: PositionBook, p) -> None:
    m = book.machine
    assert p.qty >= 0
    if m.has_tag(p.state, "terminal"):
        assert not [i for i in p.intents if i.kind in PLACING_KINDS], "terminal state placing orders"
        assert p.open_orders == [], "terminal state still owns orders"
        assert p.deadline_at is None
    if m.has_tag(p.state, "protected"):
        stops = [c for c in p.open_orders if c.rsplit("-", 1)[-1].startswith("S")]
        assert len(stops) == 1, f"{p.id} in {p.state} owns {len(stops)} stop-losses"
    entry_intents = [i for i in p.intents if i.kind is IntentKind.ENTRY]
    assert len(entry_intents) <= 1


RULES = ["risk.entries_allowed", "risk.max_positions", "risk.symbol_cooldown"]  # (the bot stand-in asks risk)


def fire_all(sequence, refused: set[str]) -> list:
    """Every event of `sequence` fired at two positions of one compiled machine; what each fire gave."""
    m = CompiledMachine(definition(), TIMEOUTS)
    positions = [Position(f"P{n}", s, order_prefix="ab") for n, s in enumerate(("BTC/USDC:USDC", "ETH/USDC:USDC"), 1)]
    for p in positions:
        m.attach(p)
    env = Env(risk=Risk(refuse={r.removeprefix("risk.") for r in refused}))
    now, seen = T0, []
    for index, event, qty, refuse in sequence:
        now += timedelta(seconds=7)
        p = positions[index % 2]
        try:
            outcome = m.fire(p, event, payload(event, qty, refuse), now=now, env=env, seq=len(seen) + 1)
            seen.append((outcome.applied, outcome.dest, outcome.refusals, p.to_dict()))
        except (InvalidTransition, ActionFailed) as exc:
            seen.append((type(exc).__name__, p.to_dict()))
    return seen


def interpret_all(sequence, refused: set[str]) -> list:
    """The same events through a plain interpreter of the YAML, written here from the spec alone: the
    candidates of (state, event) by priority then file order, an edge whose `unless` guard holds skipped
    unasked, the first whose guards pass wins, its actions run in order, its destination's timeout is armed."""
    d = definition()
    spec, registry = d.spec, d.registry
    positions = [Position(f"P{n}", s, order_prefix="ab") for n, s in enumerate(("BTC/USDC:USDC", "ETH/USDC:USDC"), 1)]
    env = Env(risk=Risk(refuse={r.removeprefix("risk.") for r in refused}))
    now, seen = T0, []
    for index, event, qty, refuse in sequence:
        now += timedelta(seconds=7)
        p = positions[index % 2]
        candidates = sorted((t for t in spec.transitions if t.event == event and p.state in t.source),
                            key=lambda t: -(t.priority or 0))
        if not candidates:
            seen.append(("InvalidTransition", p.to_dict()))
            continue
        saved = p.checkpoint()
        p.begin_step()
        step = Step(model=p, event=event, payload=payload(event, qty, refuse), now=now, env=env, seq=len(seen) + 1)
        source, chosen, skipped = p.state, None, []
        for t in candidates:
            # an edge whose `unless` holds does not apply: its guards are not asked
            hit = next((name for name in t.unless if registry.guards[name](step)), None)
            if hit is not None:
                skipped.append(f"unless {hit}")
                continue
            ok = True
            for name in t.guards:
                if not registry.guards[name](step):
                    step.refusals.append(name)
                    ok = False
            if ok:
                chosen = t
                break
        if chosen is None:
            p.rollback(saved)
            seen.append((False, source, tuple(step.refusals) or tuple(skipped) or ("no transition matched",),
                         p.to_dict()))
            continue
        try:
            for name in chosen.actions:
                registry.actions[name](step)
        except Exception:  # noqa: BLE001 - the machine reports it as ActionFailed
            p.rollback(saved)
            seen.append(("ActionFailed", p.to_dict()))
            continue
        p.state, p.state_entered_at = chosen.to, now
        timeout = spec.states[chosen.to].timeout
        if timeout is None:
            p.deadline_event, p.deadline_at = None, None
        else:
            anchor = p.opened_at if timeout.since == "opened" and p.opened_at is not None else now
            p.deadline_event, p.deadline_at = timeout.event, anchor + TIMEOUTS[timeout.after]
        seen.append((True, chosen.to, (), p.to_dict()))
    return seen


@settings(max_examples=80, deadline=None)
@given(steps, st.sets(st.sampled_from(RULES)))
def test_the_route_table_dispatches_exactly_as_the_yaml_says(sequence, refused) -> None:
    """`fire` runs a route table compiled from the `transitions` machine (the one dispatch path); an
    interpreter of the YAML written in this test must give the same outcome, refusals, errors, intents
    and state for every event."""
    assert fire_all(sequence, refused) == interpret_all(sequence, refused)
