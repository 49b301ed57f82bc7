"""The executor's waves: the stop-loss is answered before any take-profit leaves, the take-profits of
one transition are then in flight together, their answers come back in the intents' order, and one
failing take-profit leaves the others placed.

The venue is a fake whose stop, take-profit and cancel requests wait on gates the test opens, so
overlap and ordering are shown by what is in flight at a given moment, never by timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.bot.session import Session, open_session
from engine.config.loading import load_profile
from engine.positions.events import EntryFilled, PositionEvent
from engine.positions.events import Signal as SignalEvent
from engine.positions.model import Intent, IntentKind, Position
from engine.strategy.signal import Side as SignalSide
from engine.strategy.signal import Signal
from engine.trading.executor import Answer, Executor, waves
from engine.trading.sizing import SizingRefusal, plan_entry
from engine.venue.base import Venue
from engine.venue.builtin_markets import builtin_markets
from engine.venue.errors import (
    OrderNotFound,
    StatusUnknown,
    WouldImmediatelyTrigger,
)
from engine.venue.markets import Market
from engine.venue.types import (
    Balance,
    Candle,
    Execution,
    ExecutionKind,
    MarginMode,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    Ticker,
)
from engine.venue.types import (
    Position as VenuePosition,
)
from tests.e2e.support import make_profile

ETH = "ETH/USDC:USDC"
PRICE = Decimal("2500")
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TPS = ("tp1", "tp2", "tp3")


class GatedVenue(Venue):
    """Market orders fill at once; a stop, take-profit or cancel whose role (`sl`, `tp2`, `cancel`…) is
    in `hold` waits until the test releases it; a role in `fail` raises that error once released.

    `log` records `(what, role, client_id)` with what = send | done | fail, in the order it happened."""

    def __init__(self, markets: dict[str, Market]) -> None:
        self._markets = markets
        self.role_of: Callable[[str], str] = lambda _cid: "?"
        self.log: list[tuple[str, str, str]] = []
        self.hold: set[str] = set()
        self.fail: dict[str, BaseException] = {}
        self.resting: dict[str, OrderState] = {}
        self.position = Decimal(0)  # signed
        self._gates: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._n = 0

    # --- what the test drives ----------------------------------------------------------------------
    def _record(self, what: str, role: str, cid: str) -> None:
        self.log.append((what, role, cid))
        self._changed.set()

    def sent(self, role: str) -> list[str]:
        return [cid for what, r, cid in self.log if what == "send" and r == role]

    def in_flight(self) -> list[str]:
        """Roles whose request has been sent and not answered yet, in the order they were sent."""
        answered = {cid for what, _, cid in self.log if what != "send"}
        return [r for what, r, cid in self.log if what == "send" and cid not in answered]

    def index(self, what: str, role: str) -> int:
        return next(i for i, (w, r, _) in enumerate(self.log) if w == what and r == role)

    def release(self, role: str) -> None:
        waiting = [cid for cid in self.sent(role) if cid in self._gates and not self._gates[cid].is_set()]
        assert waiting, f"no {role} request is waiting"
        for cid in waiting:
            self._gates[cid].set()

    async def until(self, predicate: Callable[[], bool], task: asyncio.Task | None = None) -> None:
        """Wait until `predicate` holds; if `task` ends first, its error (or a failure) is raised."""
        async with asyncio.timeout(10):  # only a guard against a hang: no assertion depends on time
            while not predicate():
                if task is not None and task.done():
                    task.result()
                    pytest.fail("the engine finished before the awaited request was made")
                self._changed.clear()
                changed = asyncio.ensure_future(self._changed.wait())
                waits = {changed} if task is None else {changed, task}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()

    async def _pass(self, role: str, cid: str) -> None:
        self._record("send", role, cid)
        if role in self.hold:
            gate = self._gates.setdefault(cid, asyncio.Event())
            await gate.wait()
        if role in self.fail:
            self._record("fail", role, cid)
            raise self.fail[role]

    def _order(self, cid: str, side: Side, kind: OrderType, qty: Decimal, trigger: Decimal | None,
               status: OrderStatus, filled: Decimal) -> OrderState:
        self._n += 1
        return OrderState(client_id=cid, venue_id=str(self._n), symbol=ETH, side=side, type=kind, qty=qty,
                          filled=filled, average_price=PRICE if filled else None, trigger_price=trigger,
                          reduce_only=kind is not OrderType.MARKET, status=status, fee=Decimal(0),
                          fee_asset="USDC", created_ms=self._n, updated_ms=self._n)

    # --- Venue -------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        return self._markets

    async def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                          limit: int | None = None) -> list[Candle]:
        raise NotImplementedError

    async def ticker(self, symbol: str) -> Ticker:
        raise NotImplementedError

    async def balance(self, asset: str) -> Balance:
        d = Decimal(100_000)
        return Balance(asset=asset, wallet=d, total=d, free=d, used=Decimal(0), unrealized_pnl=Decimal(0))

    async def positions(self) -> list[VenuePosition]:
        return []

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        return None

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        return None

    async def place_market(self, symbol: str, side: Side, qty: Decimal, client_id: str,
                           reduce_only: bool = False) -> OrderState:
        self._record("send", "market", client_id)
        if reduce_only:
            qty = min(qty, abs(self.position))
        self.position += qty if side is Side.BUY else -qty
        self._record("done", "market", client_id)
        return self._order(client_id, side, OrderType.MARKET, qty, None, OrderStatus.FILLED, qty)

    async def _conditional(self, kind: OrderType, side: Side, qty: Decimal, trigger: Decimal, cid: str) -> OrderState:
        role = self.role_of(cid)
        await self._pass(role, cid)
        order = self._order(cid, side, kind, qty, trigger, OrderStatus.NEW, Decimal(0))
        self.resting[cid] = order
        self._record("done", role, cid)
        return order

    async def place_stop_market(self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal,
                                client_id: str) -> OrderState:
        return await self._conditional(OrderType.STOP_MARKET, side, qty, trigger_price, client_id)

    async def place_take_profit_market(self, symbol: str, side: Side, qty: Decimal, trigger_price: Decimal,
                                       client_id: str) -> OrderState:
        return await self._conditional(OrderType.TAKE_PROFIT_MARKET, side, qty, trigger_price, client_id)

    async def cancel(self, symbol: str, client_id: str, conditional: bool) -> OrderState:
        await self._pass("cancel", client_id)
        order = self.resting.pop(client_id, None)
        self._record("done", "cancel", client_id)
        if order is None:
            raise OrderNotFound()
        return order

    async def fetch_order(self, symbol: str, client_id: str, conditional: bool) -> OrderState | None:
        return self.resting.get(client_id)

    async def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        return list(self.resting.values())

    async def close(self) -> None:
        return None


@pytest.fixture
def bot(tmp_path: Path):  # noqa: ANN201
    markets = builtin_markets(("USDC",))
    venue = GatedVenue(markets)
    loaded = load_profile(make_profile(tmp_path, "waves", risk={"max_hold": "4h"}))
    session = open_session(loaded, markets, venue=venue)  # type: ignore[arg-type]
    venue.role_of = lambda cid: _role(session, cid)
    try:
        yield venue, session
    finally:
        session.book.close()


def _role(session: Session, cid: str) -> str:
    return next((p.order_roles[cid] for p in session.book.live.values() if cid in p.order_roles), "?")


def _enter(session: Session) -> asyncio.Task:
    signal = Signal(ETH, SignalSide("long"), 0, float(PRICE), 0.5, (), "waves test")
    return asyncio.create_task(session.engine.on_signal(signal, NOW))


async def _turns(n: int = 50) -> None:
    """Let every runnable task run (n loop turns). Nothing here waits on time."""
    for _ in range(n):
        await asyncio.sleep(0)


# --- the outbox's waves ----------------------------------------------------------------------------
def _intent(kind: IntentKind, n: int) -> Intent:
    return Intent(client_id=f"P1-{n}", kind=kind, symbol=ETH, side="sell", qty=Decimal(1))


def test_waves_group_only_consecutive_take_profits_and_consecutive_cancels() -> None:
    sl, tp1, tp2, tp3 = (_intent(IntentKind.STOP_LOSS, 1), *(_intent(IntentKind.TAKE_PROFIT, n) for n in (2, 3, 4)))
    x1, x2, close = _intent(IntentKind.CANCEL, 5), _intent(IntentKind.CANCEL, 6), _intent(IntentKind.CLOSE, 7)
    assert waves([sl, tp1, tp2, tp3]) == [[sl], [tp1, tp2, tp3]]
    assert waves([sl, x1]) == [[sl], [x1]]  # trail_stop: the old stop's cancel waits for the new stop
    assert waves([x1, x2, close]) == [[x1, x2], [close]]  # the close waits for every cancel
    assert waves([tp1, x1, tp2, x2]) == [[tp1], [x1], [tp2], [x2]]  # kinds never mix in a wave
    assert waves([tp1, sl, tp2]) == [[tp1], [sl], [tp2]]
    assert waves([]) == []


# --- on the engine -----------------------------------------------------------------------------------
async def test_stop_is_accepted_before_take_profits_which_then_overlap(bot) -> None:  # noqa: ANN001
    venue, session = bot
    venue.hold = {"sl", *TPS}
    entering = _enter(session)

    # (a) the stop is out; while it is unanswered, no take-profit leaves
    await venue.until(lambda: venue.sent("sl") != [], entering)
    await _turns()
    assert venue.in_flight() == ["sl"]
    assert not any(venue.sent(tp) for tp in TPS)

    # once it is accepted, all three take-profits are in flight at the same time: (b) they overlap
    venue.release("sl")
    await venue.until(lambda: len(venue.in_flight()) == 3, entering)
    assert venue.in_flight() == list(TPS)
    assert venue.index("done", "sl") < min(venue.index("send", tp) for tp in TPS)

    # the venue answers them in reverse order; the entry finishes only when all have answered
    for tp in reversed(TPS):
        await _turns()
        assert not entering.done()
        venue.release(tp)
    position = await entering
    assert position is not None and position.state == "open"
    assert [r for w, r, _ in venue.log if w == "done" and r.startswith("tp")] == ["tp3", "tp2", "tp1"]
    assert sorted(venue.role_of(c) for c in venue.resting) == ["sl", *TPS]
    assert session.engine.executor.stats.placed == 5  # entry, stop, three take-profits


async def test_refused_stop_sends_no_take_profit(bot) -> None:  # noqa: ANN001
    venue, session = bot
    venue.fail = {"sl": WouldImmediatelyTrigger()}
    position = await _enter(session)
    assert position is not None
    assert not any(venue.sent(tp) for tp in TPS)
    assert position.state == "closed" and position.exit_reason == "emergency"  # flattened at once
    assert venue.position == 0 and venue.resting == {}


async def test_new_stop_is_accepted_before_the_old_one_is_cancelled(bot) -> None:  # noqa: ANN001
    venue, session = bot
    position = await _enter(session)
    assert position is not None and position.state == "open"
    old_stop = venue.sent("sl")[0]
    tp1 = venue.sent("tp1")[0]
    filled = venue.resting.pop(tp1)
    venue.position -= filled.qty
    venue.hold = {"sl", "cancel"}
    fill = Execution(client_id=tp1, venue_id=filled.venue_id, symbol=ETH, side=Side.SELL, qty=filled.qty,
                     price=filled.trigger_price or PRICE, fee=Decimal(0), fee_asset="USDC",
                     realized_pnl=Decimal(0), reduce_only=True, kind=ExecutionKind.TAKE_PROFIT_MARKET,
                     timestamp_ms=1, position_after=venue.position)
    trailing = asyncio.create_task(session.engine.on_executions([fill], NOW))

    await venue.until(lambda: len(venue.sent("sl")) == 2, trailing)
    await _turns()
    assert venue.in_flight() == ["sl"] and venue.sent("cancel") == []  # the old stop stays until then
    venue.release("sl")
    await venue.until(lambda: venue.sent("cancel") != [], trailing)
    venue.release("cancel")
    await trailing
    assert venue.sent("cancel") == [old_stop]
    assert position.state == "partial_tp"
    assert sorted(venue.role_of(c) for c in venue.resting) == ["sl", "tp2", "tp3"]


@pytest.mark.parametrize("error", [WouldImmediatelyTrigger(), StatusUnknown("502 Bad Gateway")],
                         ids=["rejected", "status-unknown"])
async def test_one_failing_take_profit_leaves_the_others_placed(bot, error: Exception) -> None:  # noqa: ANN001
    venue, session = bot
    venue.hold = set(TPS)
    venue.fail = {"tp2": error}
    entering = _enter(session)
    await venue.until(lambda: len(venue.in_flight()) == 3, entering)
    for tp in ("tp2", "tp3", "tp1"):  # the failing one answers first
        venue.release(tp)
    position = await entering
    assert position is not None and position.state == "open"  # a lost slice leaves the stop in charge
    assert sorted(venue.role_of(c) for c in venue.resting) == ["sl", "tp1", "tp3"]
    stats = session.engine.executor.stats
    assert stats.placed == 4  # entry, stop, tp1, tp3
    assert (stats.rejected, stats.unknown) == ((1, 0) if isinstance(error, WouldImmediatelyTrigger) else (0, 1))


async def test_an_unexpected_take_profit_error_is_raised_after_the_others_are_placed(bot) -> None:  # noqa: ANN001
    venue, session = bot
    venue.hold = set(TPS)
    venue.fail = {"tp1": RuntimeError("boom")}  # no venue error kind: a bug, it propagates
    entering = _enter(session)
    await venue.until(lambda: len(venue.in_flight()) == 3, entering)
    for tp in TPS:
        venue.release(tp)
    with pytest.raises(RuntimeError, match="boom"):
        await entering
    assert sorted(venue.role_of(c) for c in venue.resting) == ["sl", "tp2", "tp3"]
    assert session.engine.executor.stats.placed == 4


# --- on the executor alone ---------------------------------------------------------------------------
async def test_answers_come_back_in_intent_order(bot) -> None:  # noqa: ANN001
    """(c) the venue answers in reverse order and one slice raises; the answers still line up with the
    intents, and each carries its own intent's events or error."""
    venue, session = bot
    venue.hold = set(TPS)
    position = await _enter_without_protection(session)
    tps = [i for i in position.intents if i.kind is IntentKind.TAKE_PROFIT]
    assert len(tps) == 3

    class Tagged(Executor):
        async def carry_out(self, position: Position, intent: Intent, *, resume: bool = False) -> list[PositionEvent]:
            await super().carry_out(position, intent, resume=resume)
            return [("answered", {"client_id": intent.client_id})]

    venue.fail = {"tp2": RuntimeError("boom")}
    running = asyncio.create_task(Tagged(venue).carry_out_wave(position, tps))
    await venue.until(lambda: len(venue.in_flight()) == 3, running)
    for tp in reversed(TPS):
        venue.release(tp)
        await venue.until(lambda tp=tp: venue.in_flight().count(tp) == 0, running)
    answers: list[Answer] = await running
    assert [a.intent for a in answers] == tps
    assert [a.events for a in answers] == [[("answered", {"client_id": tps[0].client_id})], [],
                                           [("answered", {"client_id": tps[2].client_id})]]
    assert [type(a.error) for a in answers] == [type(None), RuntimeError, type(None)]


async def _enter_without_protection(session: Session) -> Position:
    """A position whose entry filled and whose protection is queued but not yet sent."""
    position = session.book.new_position(ETH)
    plan = plan_entry(side="long", price=PRICE, market=session.markets[ETH], balance=Decimal(100_000),
                      orders=session.engine.orders, sl_pct=None, tp_pcts=None)
    assert not isinstance(plan, SizingRefusal)
    payload = plan.to_payload()
    session.risk.record_balance(Decimal(100_000), NOW)  # what on_signal does before the `signal` event
    outcome = await session.engine.apply(position, SignalEvent(payload, "test"), NOW, run=False)
    assert outcome is not None and outcome.applied, outcome
    fill = EntryFilled(position.intents[0].client_id, Decimal(payload["qty"]), PRICE, Decimal(0))
    await session.engine.apply(position, fill, NOW, run=False)
    assert position.state == "open"
    return position


async def test_closing_cancels_the_take_profits_together_before_the_close_goes_out(bot) -> None:  # noqa: ANN001
    venue, session = bot
    position = await _enter(session)
    assert position is not None and position.state == "open"
    stop = position.stops()
    take_profits = sorted(c for c in venue.resting if c not in stop)
    assert len(stop) == 1 and len(take_profits) == 3
    venue.hold = {"cancel"}
    closing = asyncio.create_task(session.engine.close_all(NOW))

    await venue.until(lambda: len(venue.sent("cancel")) == 3, closing)
    await _turns()
    # the three cancels are out and none is answered yet: they overlap; the stop stays till flat
    assert sorted(venue.sent("cancel")) == take_profits
    assert not any(w == "done" and r == "cancel" for w, r, _ in venue.log)
    assert len(venue.sent("market")) == 1  # only the entry: the close waits for the cancels
    venue.hold = set()
    venue.release("cancel")
    await closing
    assert len(venue.sent("market")) == 2
    close_sent = max(i for i, (w, r, _) in enumerate(venue.log) if w == "send" and r == "market")
    assert close_sent > max(i for i, (w, r, c) in enumerate(venue.log) if w == "done" and c in take_profits)
    stop_cancel = next(i for i, (w, r, c) in enumerate(venue.log) if w == "send" and r == "cancel" and c == stop[0])
    assert stop_cancel > close_sent, "the stop is cancelled only once the close made the position flat"
    assert position.state == "closed" and venue.position == 0 and venue.resting == {}
