"""One shape for a fill: `Execution.report` (a push of the venue), `OrderState.report` (an answer to a
placement or lookup, or a poll) and `fill_event`, the one function that turns a report into the event
of the order's role on its position. The same fill must give the same event whichever way it came."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D

import pytest

from engine.positions.events import CloseFilled, EntryFilled, SlFilled, TpFilled, fill_event
from engine.positions.model import OrderRole, Position, RoleKind
from engine.venue.sim import MatchingEngine
from engine.venue.types import (
    Execution,
    ExecutionKind,
    FillReport,
    OrderState,
    OrderStatus,
    OrderType,
    ReportSource,
    Side,
)
from tests.venue.venue_helpers import BTCUSDC

T0 = 1_740_000_000_000


def execution(
    kind: ExecutionKind = ExecutionKind.STOP_MARKET, client_id: str | None = "P1-S2", **kw: object
) -> Execution:
    """A stop-loss fill as the venue pushes it (override any field)."""
    fields: dict[str, object] = dict(
        client_id=client_id, venue_id="7", symbol=BTCUSDC, side=Side.SELL, qty=D("0.010"), price=D("58788.2"),
        fee=D("0.23515280"), fee_asset="USDC", realized_pnl=D("-12.218"), reduce_only=True, kind=kind,
        timestamp_ms=T0 + 60_000, position_after=D(0),
    )
    fields.update(kw)
    return Execution(**fields)  # type: ignore[arg-type]


def order(type_: OrderType = OrderType.STOP_MARKET, **kw: object) -> OrderState:
    """A stop-loss as the venue reports it once triggered and filled (override any field)."""
    fields: dict[str, object] = dict(
        client_id="P1-S2", venue_id="7", symbol=BTCUSDC, side=Side.SELL, type=type_, qty=D("0.010"),
        filled=D("0.010"), average_price=D("58788.2"), trigger_price=D("58800.0") if type_.is_conditional else None,
        reduce_only=True, status=OrderStatus.FILLED, fee=D("0.23515280"), fee_asset="USDC",
        created_ms=T0, updated_ms=T0 + 61_000, triggered_ms=T0 + 60_000 if type_.is_conditional else None,
    )
    fields.update(kw)
    return OrderState(**fields)  # type: ignore[arg-type]


def position(exit_reason: str | None = None) -> Position:
    """A position owning one order of each role (client ids as Position.next_client_id makes them)."""
    roles = {
        "P1-E1": OrderRole.of(RoleKind.ENTRY),
        "P1-S2": OrderRole.of(RoleKind.STOP_LOSS),
        "P1-T3": OrderRole.of(RoleKind.TAKE_PROFIT, 1),
        "P1-T4": OrderRole.of(RoleKind.TAKE_PROFIT, 2),
        "P1-C5": OrderRole.of(RoleKind.CLOSE),
        "P1-X6": OrderRole.of(RoleKind.CANCEL),
    }
    return Position(id="P1", symbol=BTCUSDC, state="open", order_roles=roles, open_orders=list(roles),
                    exit_reason=exit_reason)


# --- Execution.report ----------------------------------------------------------------------------------


def test_a_trade_execution_reports_its_fill_as_pushed() -> None:
    assert execution().report() == FillReport(
        client_id="P1-S2", symbol=BTCUSDC, qty=D("0.010"), price=D("58788.2"), fee=D("0.23515280"),
        fee_asset="USDC", at_ms=T0 + 60_000, source=ReportSource.PUSHED,
    )
    assert execution(ExecutionKind.MARKET, "P1-E1", side=Side.BUY).report().client_id == "P1-E1"  # type: ignore[union-attr]


def test_liquidation_funding_and_a_fill_without_client_id_report_nothing() -> None:
    # a liquidation is the venue's own order (the engine answers it with a panic), funding fills nothing
    assert execution(ExecutionKind.LIQUIDATION, "autoclose-7").report() is None
    assert execution(ExecutionKind.FUNDING, None, qty=D(0), price=D(0), funding=D("-0.3")).report() is None
    assert execution(ExecutionKind.MARKET, None).report() is None
    assert execution(ExecutionKind.MARKET, "").report() is None


# --- OrderState.report ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [OrderStatus.NEW, OrderStatus.TRIGGERED, OrderStatus.EXPIRED, OrderStatus.CANCELED])
def test_an_order_with_nothing_filled_reports_nothing(status: OrderStatus) -> None:
    assert order(filled=D(0), average_price=None, status=status).report(ReportSource.POLLED) is None


def test_a_filled_market_order_reports_its_average_at_its_last_update() -> None:
    entry = order(OrderType.MARKET, client_id="P1-E1", side=Side.BUY, reduce_only=False, average_price=D("60010.0"))
    assert entry.report(ReportSource.ANSWER) == FillReport(
        client_id="P1-E1", symbol=BTCUSDC, qty=D("0.010"), price=D("60010.0"), fee=D("0.23515280"),
        fee_asset="USDC", at_ms=T0 + 61_000, source=ReportSource.ANSWER,
    )
    # no average known: a market order has no trigger price to fall back to, so 0 (the executor's rule)
    assert order(OrderType.MARKET, average_price=None).report(ReportSource.ANSWER).price == D(0)  # type: ignore[union-attr]


def test_a_triggered_stop_reports_its_average_else_its_trigger_price_at_its_trigger_time() -> None:
    with_average = order().report(ReportSource.POLLED)
    assert with_average is not None
    assert (with_average.price, with_average.at_ms, with_average.source) == (D("58788.2"), T0 + 60_000,
                                                                             ReportSource.POLLED)
    without = order(average_price=None).report(ReportSource.POLLED)
    assert without is not None and without.price == D("58800.0")
    # a partly filled order reports what has filled so far; no trigger time known: its last update
    partial = order(filled=D("0.004"), triggered_ms=None).report(ReportSource.POLLED)
    assert partial is not None and (partial.qty, partial.at_ms) == (D("0.004"), T0 + 61_000)


# --- fill_event, from both sources ---------------------------------------------------------------------


ROLES = [  # client id, order type, the event expected (for a fill of 0.010 @ 58788.2, fee 0.23515280)
    ("P1-E1", OrderType.MARKET, EntryFilled("P1-E1", D("0.010"), D("58788.2"), D("0.23515280"))),
    ("P1-S2", OrderType.STOP_MARKET, SlFilled("P1-S2", D("0.010"), D("58788.2"), D("0.23515280"))),
    ("P1-T3", OrderType.TAKE_PROFIT_MARKET, TpFilled("P1-T3", D("0.010"), D("58788.2"), D("0.23515280"), step=1)),
    ("P1-T4", OrderType.TAKE_PROFIT_MARKET, TpFilled("P1-T4", D("0.010"), D("58788.2"), D("0.23515280"), step=2)),
    ("P1-C5", OrderType.MARKET, CloseFilled("P1-C5", D("0.010"), D("58788.2"), D("0.23515280"), reason="max_hold")),
]


@pytest.mark.parametrize(("client_id", "type_", "expected"), ROLES, ids=[r[0] for r in ROLES])
def test_each_role_gives_its_event_whichever_way_the_fill_came(
    client_id: str, type_: OrderType, expected: object
) -> None:
    p = position(exit_reason="max_hold")
    kind = {OrderType.MARKET: ExecutionKind.MARKET, OrderType.STOP_MARKET: ExecutionKind.STOP_MARKET,
            OrderType.TAKE_PROFIT_MARKET: ExecutionKind.TAKE_PROFIT_MARKET}[type_]
    pushed = execution(kind, client_id).report()
    polled = order(type_, client_id=client_id).report(ReportSource.POLLED)
    answered = order(type_, client_id=client_id).report(ReportSource.ANSWER)
    assert pushed is not None and polled is not None and answered is not None
    events = [fill_event(p, r) for r in (pushed, polled, answered)]
    assert events == [expected] * 3
    assert {type(e) for e in events} == {type(expected)}  # equal and of the same class, same payload
    assert [e.payload() for e in events if e is not None] == [expected.payload()] * 3  # type: ignore[attr-defined]


def test_a_close_fill_carries_the_exit_reason_and_none_when_there_is_none() -> None:
    report = order(OrderType.MARKET, client_id="P1-C5").report(ReportSource.ANSWER)
    assert report is not None
    closed = fill_event(position(exit_reason="manual"), report)
    assert isinstance(closed, CloseFilled) and closed.reason == "manual" and closed.payload()["reason"] == "manual"
    plain = fill_event(position(), report)
    assert isinstance(plain, CloseFilled) and plain.reason is None and "reason" not in plain.payload()


@pytest.mark.parametrize("client_id", ["P9-S2", "P1-X6", ""])
def test_an_order_the_position_does_not_own_as_entry_stop_tp_or_close_gives_no_event(client_id: str) -> None:
    report = FillReport(client_id, BTCUSDC, D("0.010"), D("58788.2"), D("0.1"), "USDC", T0, ReportSource.POLLED)
    assert fill_event(position(), report) is None
    assert fill_event(position(), execution(ExecutionKind.STOP_MARKET, "P9-S2").report()) is None  # type: ignore[arg-type]


# --- the simulated venue: a pushed execution and the order looked up are the same fill ----------------


def test_the_sim_venue_pushes_and_answers_the_same_fill(make_engine: Callable[..., MatchingEngine]) -> None:
    """Entry, stop and take-profit filled on the simulated venue (with slippage, so the average differs
    from the trigger): each execution it pushed and the order it answers for that client id give the
    same report (but for the source) and the same event."""
    e = make_engine(slippage_bps=2)
    e.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 1.0)
    answer = e.place_market(BTCUSDC, Side.BUY, D("0.010"), "P1-E1")
    entry_push = e.executions[-1]
    e.place_conditional(BTCUSDC, OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("0.004"), D("60240.0"), "P1-T3")
    e.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.010"), D("58800.0"), "P1-S2")
    pushed = e.on_candle(BTCUSDC, T0 + 300_000, 60000.0, 60300.0, 59900.0, 60250.0, 1.0)  # up to the TP
    pushed += e.on_candle(BTCUSDC, T0 + 600_000, 60250.0, 60250.0, 58700.0, 58750.0, 1.0)  # down to the SL
    # the stop was trimmed to what was left: 0.006
    assert [(x.client_id, x.qty) for x in pushed] == [("P1-T3", D("0.004")), ("P1-S2", D("0.006"))]

    p = position()
    pairs = [(entry_push, answer.report(ReportSource.ANSWER))]
    for push in pushed:
        looked_up = e.fetch_order(BTCUSDC, push.client_id or "", True)
        assert looked_up is not None and looked_up.trigger_price != looked_up.average_price  # slippage
        pairs.append((push, looked_up.report(ReportSource.POLLED)))
    for push, report in pairs:
        from_push = push.report()
        assert from_push is not None and report is not None
        assert from_push == replace(report, source=ReportSource.PUSHED)
        event = fill_event(p, from_push)
        assert event is not None and event == fill_event(p, report)
        assert event.payload() == fill_event(p, report).payload()  # type: ignore[union-attr]
