"""A limit entry (orders.entry.type: limit) through the position machine: resting, filled in parts (each
part protected at once), expired and cancelled, refused as post-only, abandoned, and panicked.

Fills are built as the venue reports them (the order's cumulative fill) and turned into events by
`fill_event`, so the cumulative-to-part arithmetic is what is tested, not a hand-made payload."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from engine.positions.book import PositionBook
from engine.positions.events import fill_event
from engine.positions.model import IntentKind, Position, RoleKind
from engine.venue.types import FillReport, ReportSource
from tests.positions.support import T0, Env, fill, limit_plan, machine
from tests.positions.test_machine_matrix import LIMIT_EDGES


def entry_id(p: Position) -> str:
    return next(c for c, r in p.order_roles.items() if r.kind_is(RoleKind.ENTRY) and p.is_limit(c))


def limit_fill(p: Position, cum: str, avg: str, fee: str) -> dict:
    """The payload of the entry's fill as the venue reports it: `cum` filled so far at average `avg`."""
    report = FillReport(entry_id(p), p.symbol, Decimal(cum), Decimal(avg), Decimal(fee), "USDC", 0,
                        ReportSource.POLLED)
    event = fill_event(p, report)
    assert event is not None
    return event.payload()


class Walk:
    def __init__(self, tmp_path, on_timeout: str = "market") -> None:  # noqa: ANN001
        self.book = PositionBook(machine(), tmp_path)
        self.book.open()
        self.p = self.book.new_position("BTC/USDC:USDC")
        self.edges: list[tuple[str, str, str]] = []
        self.go("signal", {"plan": limit_plan(on_timeout)})

    def go(self, event: str, payload: dict | None = None, now=T0) -> str:  # noqa: ANN001
        outcome = self.book.apply(self.p, event, payload or {}, now=now, env=Env())
        assert outcome.applied, outcome
        self.edges.append((outcome.source, event, outcome.dest))
        return outcome.dest

    def part(self, cum: str, avg: str = "60000.0", fee: str = "0") -> str:
        return self.go("entry_filled", limit_fill(self.p, cum, avg, fee))

    def kinds(self) -> list[IntentKind]:
        return [i.kind for i in self.p.intents]


def test_a_limit_entry_rests_post_only_and_is_owned_while_it_rests(tmp_path) -> None:
    w = Walk(tmp_path)
    [entry] = w.p.intents
    assert w.p.state == "resting" and w.p.deadline_event == "entry_expired"
    assert entry.kind is IntentKind.ENTRY and entry.limit and entry.post_only and entry.price == Decimal("60000.0")
    assert w.p.open_orders == [entry.client_id] and w.p.is_limit(entry.client_id)
    assert not w.p.is_conditional(entry.client_id)


def test_each_filled_part_gets_its_stop_at_once_and_the_whole_its_take_profits(tmp_path) -> None:
    w = Walk(tmp_path)
    assert w.part("0.004", "60000.0", "0") == "resting"
    [stop] = w.p.intents
    assert stop.kind is IntentKind.STOP_LOSS and stop.qty == Decimal("0.004") and w.p.qty == Decimal("0.004")
    # the second report says 0.007 at an average of 59 990: the new part is 0.003 at 59 976.666…
    assert w.part("0.007", "59990.0", "0") == "resting"
    assert w.kinds() == [IntentKind.STOP_LOSS, IntentKind.CANCEL] and w.p.intents[1].target == stop.client_id
    assert w.p.qty == Decimal("0.007") and w.p.entry_price == Decimal("59990.0")
    assert w.p.stops() == [w.p.intents[0].client_id]
    assert w.part("0.010", "59993.0", "0") == "open"
    assert w.kinds() == [IntentKind.STOP_LOSS, IntentKind.CANCEL, *[IntentKind.TAKE_PROFIT] * 3]
    assert w.p.intents[0].qty == Decimal("0.010") == sum(i.qty for i in w.p.intents if i.kind is IntentKind.TAKE_PROFIT)
    assert w.p.entry_price == Decimal("59993.0")
    assert entry_id(w.p) not in w.p.open_orders, "filled whole: the entry is no longer live"
    assert len(w.p.stops()) == 1


def test_the_same_fill_reported_twice_is_one_fill(tmp_path) -> None:
    w = Walk(tmp_path)
    w.part("0.004")
    report = FillReport(entry_id(w.p), w.p.symbol, Decimal("0.004"), Decimal("60000.0"), Decimal(0), "USDC", 0,
                        ReportSource.PUSHED)
    assert fill_event(w.p, report) is None


@pytest.mark.parametrize(("on_timeout", "dest"), [("market", "entering"), ("abandon", "closed")])
def test_an_entry_that_expires_unfilled_follows_the_profile(tmp_path, on_timeout: str, dest: str) -> None:
    w = Walk(tmp_path, on_timeout)
    entry = entry_id(w.p)
    assert w.go("entry_expired") == "cancelling_entry"
    assert [(i.kind, i.target) for i in w.p.intents] == [(IntentKind.CANCEL, entry)]
    assert w.go("entry_cancelled", {"client_id": entry}) == dest
    if dest == "entering":
        [market] = w.p.intents
        assert market.kind is IntentKind.ENTRY and not market.limit and market.qty == Decimal("0.010")
    else:
        assert w.p.exit_reason == "entry_expired" and w.p.open_orders == [] and w.p.qty == 0


def test_a_part_filled_then_expired_protects_the_part_and_cancels_the_rest(tmp_path) -> None:
    w = Walk(tmp_path)
    w.part("0.005")
    assert w.go("entry_expired") == "cancelling_entry"
    assert w.part("0.006") == "cancelling_entry", "a part filling while the cancel travels is protected too"
    assert w.go("entry_cancelled", {"client_id": entry_id(w.p)}) == "open"
    tps = [i for i in w.p.intents if i.kind is IntentKind.TAKE_PROFIT]
    stops = [i for i in w.p.intents if i.kind is IntentKind.STOP_LOSS]
    assert stops[0].qty == Decimal("0.006") == sum(t.qty for t in tps) and w.p.qty == Decimal("0.006")
    assert len(w.p.stops()) == 1


def test_a_cancel_that_loses_the_race_to_the_whole_fill(tmp_path) -> None:
    w = Walk(tmp_path)
    w.go("entry_expired")
    assert w.part("0.010") == "open"


@pytest.mark.parametrize(("on_timeout", "code", "dest"),
                         [("market", -5022, "entering"), ("abandon", -5022, "closed"), ("market", -2019, "closed")])
def test_a_refused_limit_entry(tmp_path, on_timeout: str, code: int, dest: str) -> None:
    w = Walk(tmp_path, on_timeout)
    assert w.go("entry_rejected", {"code": code, "msg": "refused", "client_id": entry_id(w.p)}) == dest
    assert w.p.open_orders == [] if dest == "closed" else [i.kind for i in w.p.intents] == [IntentKind.ENTRY]


@pytest.mark.parametrize("filled", [True, False])
def test_a_refusal_while_cancelling(tmp_path, filled: bool) -> None:
    w = Walk(tmp_path)
    if filled:
        w.part("0.004")
    w.go("entry_expired")
    dest = w.go("entry_rejected", {"code": -1, "msg": "late", "client_id": entry_id(w.p)})
    assert dest == ("open" if filled else "closed")


def test_panic_cancels_the_resting_entry_and_flattens_late_fills(tmp_path) -> None:
    w = Walk(tmp_path)
    w.part("0.004")
    entry = entry_id(w.p)
    assert w.go("panic", {"reason": "panic"}) == "emergency"
    assert [i.kind for i in w.p.intents] == [IntentKind.CANCEL, IntentKind.CLOSE]
    assert w.p.intents[0].target == entry and w.p.stops(), "the part's stop rests until flat"
    assert w.part("0.006") == "emergency"
    close = [i for i in w.p.intents if i.kind is IntentKind.CLOSE]
    assert len(close) == 1 and close[0].qty == Decimal("0.006") and close[0].reduce_only
    assert w.go("entry_cancelled", {"client_id": entry}) == "emergency"


def test_a_cancel_with_no_answer_is_an_emergency(tmp_path) -> None:
    w = Walk(tmp_path)
    w.go("entry_expired")
    assert w.go("entry_timeout") == "emergency"


def test_a_part_fill_keeps_the_entry_deadline(tmp_path) -> None:
    """The parts of a resting entry are internal transitions: a trickle of fills must not keep the entry
    resting past orders.entry.timeout, measured from when it started resting."""
    w = Walk(tmp_path)
    deadline, entered = w.p.deadline_at, w.p.state_entered_at
    assert deadline is not None
    assert w.go("entry_filled", limit_fill(w.p, "0.004", "60000.0", "0"), now=T0 + timedelta(seconds=5)) == "resting"
    assert w.p.deadline_at == deadline and w.p.state_entered_at == entered
    w.go("entry_expired", now=deadline)
    cancelling_deadline = w.p.deadline_at
    assert w.go("entry_filled", limit_fill(w.p, "0.006", "60000.0", "0"),
                now=deadline + timedelta(seconds=1)) == "cancelling_entry"
    assert w.p.deadline_at == cancelling_deadline


def _stop_fires(w: Walk) -> str:
    stop = next(iter(w.p.stops()))
    return w.go("sl_filled", fill("0.004", "59700.0", stop))


def _stop_refused(w: Walk) -> str:
    stop = next(iter(w.p.stops()))
    return w.go("protection_failed", {"code": -2021, "msg": "Order would immediately trigger.", "client_id": stop})


@pytest.mark.parametrize("expired", [False, True])
def test_the_stop_of_a_filled_part_firing_withdraws_the_rest(tmp_path, expired: bool) -> None:
    w = Walk(tmp_path)
    w.part("0.004")
    entry = entry_id(w.p)
    if expired:
        w.go("entry_expired")
    assert _stop_fires(w) == "emergency"
    assert w.p.qty == 0 and w.p.realised_pnl < 0
    kinds = w.kinds()
    assert IntentKind.CLOSE in kinds, "whatever a late piece of the entry left is flattened"
    if not expired:  # (while cancelling, the entry's cancel is already on its way)
        assert any(i.kind is IntentKind.CANCEL and i.target == entry for i in w.p.intents)
    assert w.part("0.006") == "emergency", "a late piece is flattened too"


@pytest.mark.parametrize("expired", [False, True])
def test_a_refused_stop_for_a_filled_part_flattens(tmp_path, expired: bool) -> None:
    w = Walk(tmp_path)
    w.part("0.004")
    stop = next(iter(w.p.stops()))
    if expired:
        w.go("entry_expired")
    assert _stop_refused(w) == "emergency"
    assert stop not in w.p.open_orders
    close = [i for i in w.p.intents if i.kind is IntentKind.CLOSE]
    assert len(close) == 1 and close[0].qty == Decimal("0.004") and close[0].reduce_only


@pytest.mark.parametrize("on_timeout", ["market", "abandon"])
def test_a_withdrawn_entry_keeps_what_filled_and_never_falls_back(tmp_path, on_timeout: str) -> None:
    """Graceful shutdown withdraws a resting entry: the rest is cancelled, what filled is protected as an
    open position, nothing is entered at market whatever orders.entry.on_timeout says."""
    w = Walk(tmp_path, on_timeout)
    w.part("0.004")
    entry = entry_id(w.p)
    assert w.go("withdraw") == "cancelling_entry" and w.p.withdrawn
    assert [(i.kind, i.target) for i in w.p.intents] == [(IntentKind.CANCEL, entry)]
    assert _cancelled(w) == "open" and w.p.qty == Decimal("0.004") and w.p.stops()
    assert IntentKind.ENTRY not in w.kinds()


@pytest.mark.parametrize("on_timeout", ["market", "abandon"])
def test_a_withdrawn_entry_with_nothing_filled_closes_without_a_market_order(tmp_path, on_timeout: str) -> None:
    w = Walk(tmp_path, on_timeout)
    w.go("withdraw")
    assert _cancelled(w) == "closed"
    assert w.kinds() == [] and w.p.exit_reason == "shutdown" and w.p.qty == 0
    assert w.p.to_dict()["withdrawn"] is True  # the journal keeps why it did not fall back


def test_these_walks_cover_every_edge_of_a_limit_entry(tmp_path) -> None:
    covered: set[tuple[str, str, str]] = set()
    for n, scenario in enumerate(_SCENARIOS):
        covered |= set(scenario(tmp_path / str(n)))
    assert set(LIMIT_EDGES) <= covered, sorted(set(LIMIT_EDGES) - covered)


def _walk(on_timeout: str, steps: list):  # noqa: ANN202
    def run(path):  # noqa: ANN001, ANN202
        path.mkdir()
        w = Walk(path, on_timeout)
        for step in steps:
            step(w)
        return w.edges
    return run


def _cancelled(w: Walk) -> str:
    return w.go("entry_cancelled", {"client_id": entry_id(w.p)})


def _rejected(code: int):  # noqa: ANN202
    return lambda w: w.go("entry_rejected", {"code": code, "msg": "x", "client_id": entry_id(w.p)})


_SCENARIOS = [
    _walk("market", [lambda w: w.part("0.004"), lambda w: w.part("0.010")]),
    _walk("market", [lambda w: w.go("entry_expired"), lambda w: w.part("0.004"), lambda w: w.part("0.010")]),
    _walk("market", [lambda w: w.go("entry_expired"), _cancelled]),
    _walk("abandon", [lambda w: w.go("entry_expired"), _cancelled]),
    _walk("market", [lambda w: w.part("0.004"), lambda w: w.go("entry_expired"), _cancelled]),
    _walk("market", [_rejected(-5022)]),
    _walk("abandon", [_rejected(-5022)]),
    _walk("market", [_rejected(-2019)]),
    _walk("market", [lambda w: w.go("entry_expired"), _rejected(-1)]),
    _walk("market", [lambda w: w.part("0.004"), lambda w: w.go("entry_expired"), _rejected(-1)]),
    _walk("market", [lambda w: w.go("entry_expired"), lambda w: w.go("entry_timeout")]),
    _walk("market", [lambda w: w.go("panic", {"reason": "panic"}), lambda w: w.part("0.004"), _cancelled]),
    _walk("market", [lambda w: w.go("entry_expired"), lambda w: w.go("panic", {"reason": "panic"})]),
    _walk("market", [lambda w: w.go("withdraw"), _cancelled]),
    _walk("market", [lambda w: w.part("0.004"), _stop_fires]),
    _walk("market", [lambda w: w.part("0.004"), lambda w: w.go("entry_expired"), _stop_fires]),
    _walk("market", [lambda w: w.part("0.004"), _stop_refused]),
    _walk("market", [lambda w: w.part("0.004"), lambda w: w.go("entry_expired"), _stop_refused]),
]
