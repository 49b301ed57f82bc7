"""Carry out a position's intents on the venue and turn what the venue answers into events.

The executor is the only place where intents meet the network. It never changes a position: each
answer becomes an `(event, payload)` pair that the engine applies through the machine. Placement is
idempotent by client order id: after a restart (or a "status unknown" answer) an order is looked up
before it is sent again, never resent blindly.

An outbox goes out in waves (`waves`): every intent waits until the one before it has been answered
and the events of that answer applied, except a run of take-profits or a run of cancels, which go out
together once the intent before them has been answered. A refused stop therefore moves the position to
`emergency` before any of its take-profits leaves (they are never sent), a new stop is answered before
the old one is cancelled, a close goes out only once every cancel before it has been answered, and an
entry (or a close) costs one round trip for all its take-profit slices (or cancels) instead of one
each. The answers of a wave come back in the intents' order whatever order the venue answered in, so
the events fed to the machine are deterministic. A take-profit answer carries an event only when a
LIMIT one crossed the book at once; a cancel answer only for a resting limit entry (`_cancel`).

An order a filter refuses (`FilterRejected`: -1111, -1013, -4164, ...) is sent once more after the
markets have been read again: Binance changes filters under open positions, and an intent sized on the
old ones is fitted to the new (`engine.trading.refit`). A symbol the venue no longer lists (-1121) is a
refusal like any other, so one symbol never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.positions.events import (
    CloseRejected,
    EntryCancelled,
    EntryRejected,
    FlatConfirmed,
    PositionEvent,
    ProtectionFailed,
    fill_event,
)
from engine.positions.model import Intent, IntentKind, Position, RoleKind
from engine.trading.refit import refit
from engine.venue.base import Venue
from engine.venue.errors import (
    FilterRejected,
    InvalidSymbol,
    OrderNotFound,
    RateLimited,
    ReduceOnlyRejected,
    RequestRejected,
    StatusUnknown,
    VenueError,
    VenueUnavailable,
)
from engine.venue.markets import Market
from engine.venue.types import OrderState, OrderStatus, ReportSource

log = logging.getLogger("engine.executor")


@dataclass(slots=True)
class Answer:
    """What carrying out one intent of a wave came to: the events it implies (possibly none), or the
    unexpected error it raised (venue kinds the executor handles never end up here)."""

    intent: Intent
    events: list[PositionEvent] = field(default_factory=list)
    error: BaseException | None = None


_TOGETHER = frozenset({IntentKind.TAKE_PROFIT, IntentKind.CANCEL})  # kinds whose runs go out at once


def waves(intents: Sequence[Intent]) -> list[list[Intent]]:
    """Split an outbox into the groups that go out one after another: each run of consecutive
    take-profits, and each run of consecutive cancels, is one group, sent concurrently; every other
    intent is a group of its own, so it is answered before anything after it leaves (the stop before
    its take-profits, a new stop before the cancel of the old one, the cancels before a close)."""
    out: list[list[Intent]] = []
    for intent in intents:
        if intent.kind in _TOGETHER and out and out[-1][0].kind is intent.kind:
            out[-1].append(intent)
        else:
            out.append([intent])
    return out


@dataclass
class ExecutorStats:
    placed: int = 0
    cancelled: int = 0
    rejected: int = 0
    unknown: int = 0
    looked_up: int = 0
    refitted: int = 0  # orders sent again on filters read after a filter rejection


RefreshMarkets = Callable[[], Awaitable[Mapping[str, Market]]]


class Executor:
    def __init__(self, venue: Venue, refresh_markets: RefreshMarkets | None = None) -> None:
        """`refresh_markets` reads the markets again after a filter rejection (the engine's, which also
        renews what sizing reads); the venue's own by default."""
        self.venue = venue
        self.refresh_markets = refresh_markets or venue.refresh_markets
        self.stats = ExecutorStats()

    async def carry_out_wave(
        self, position: Position, intents: Sequence[Intent], *, resume: bool = False
    ) -> list[Answer]:
        """Carry out the intents of one wave (see `waves`) concurrently. One answer per intent, in
        the intents' order; an intent that raises does not stop or lose the others' answers."""
        if len(intents) == 1:
            intent = intents[0]
            return [Answer(intent, await self.carry_out(position, intent, resume=resume))]
        if self.venue.concurrent:
            results = await asyncio.gather(
                *(self.carry_out(position, intent, resume=resume) for intent in intents), return_exceptions=True
            )
        else:  # an in-process venue: gather would run each to its end in this order anyway, at a task each
            results = []
            for intent in intents:
                try:
                    results.append(await self.carry_out(position, intent, resume=resume))
                except Exception as exc:  # noqa: BLE001 - as gather(return_exceptions=True): the others go on
                    results.append(exc)
        answers: list[Answer] = []
        for intent, result in zip(intents, results, strict=True):
            if isinstance(result, BaseException):
                log.error("%s %s %s failed: %r", position.id, intent.kind.value, intent.client_id, result)
                answers.append(Answer(intent, error=result))
            else:
                answers.append(Answer(intent, result))
        return answers

    async def carry_out(self, position: Position, intent: Intent, *, resume: bool = False) -> list[PositionEvent]:
        """Execute one intent. With `resume`, look the order up first (it may already exist).

        Returns the events the answer implies (possibly none). Venue errors that leave the outcome
        unknown produce no event: the position's deadline (entry/close timeout) resolves them.
        """
        try:
            if intent.kind is IntentKind.CANCEL:
                return await self._cancel(position, intent)
            if resume:
                existing = await self._lookup(position, intent)
                if existing is not None:
                    return self._events_for_existing(position, intent, existing)
            return await self._place(position, intent)
        except InvalidSymbol as exc:
            # The look-up of an order on a symbol the venue no longer lists: whether it rests there is
            # unknown, so nothing is concluded (reconciliation deals with the symbol).
            log.warning("%s %s: not looked up: %s", position.id, intent.client_id, exc)
            return []
        except StatusUnknown as exc:
            self.stats.unknown += 1
            log.warning("%s %s: status unknown (%s); looking it up by client id", position.id, intent.client_id, exc)
            try:
                existing = await self._lookup(position, intent)
            except (StatusUnknown, VenueUnavailable, RateLimited):
                return []  # the deadline on the position will resolve it
            return self._events_for_existing(position, intent, existing) if existing else []
        except (VenueUnavailable, RateLimited) as exc:
            log.warning(
                "%s %s: venue unavailable (%s); the deadline will resolve it", position.id, intent.client_id, exc
            )
            return []

    # --- placing -------------------------------------------------------------------------------
    async def _place(self, position: Position, intent: Intent, *, refitted: bool = False) -> list[PositionEvent]:
        try:
            return await self._send(position, intent)
        except ReduceOnlyRejected as exc:
            self.stats.rejected += 1
            if intent.kind is IntentKind.CLOSE:
                # Nothing left to reduce: the venue is already flat for this position.
                return [FlatConfirmed(refusal=CloseRejected(intent.client_id, exc.code, exc.msg))]
            return self._rejected(position, intent, exc)
        except FilterRejected as exc:
            self.stats.rejected += 1
            fitted = None if refitted else await self._refit(position, intent, exc)
            if fitted is None:
                return self._rejected(position, intent, exc)
            self.stats.refitted += 1
            return await self._place(position, fitted, refitted=True)
        except RequestRejected as exc:  # any other refusal, InvalidSymbol included
            self.stats.rejected += 1
            return self._rejected(position, intent, exc)

    async def _refit(self, position: Position, intent: Intent, exc: FilterRejected) -> Intent | None:
        """The intent fitted to the markets read again now, or None when there is nothing to retry."""
        try:
            market = (await self.refresh_markets()).get(intent.symbol)
        except VenueError as err:
            log.warning("%s %s: markets not read again after %s: %s", position.id, intent.client_id, exc, err)
            return None
        fitted = None if market is None else refit(intent, market)
        if fitted is not None:
            log.warning("%s %s %s refused (%s %s): filters read again, sending qty %s price %s", position.id,
                        intent.kind.value, intent.client_id, exc.code, exc.msg, fitted.qty, fitted.price)
        return fitted

    async def _send(self, position: Position, intent: Intent) -> list[PositionEvent]:
        side = intent.side  # already the venue's order side (Intent holds one; only a cancel has none)
        assert side is not None
        if intent.limit:
            assert intent.price is not None
            order = await self.venue.place_limit(intent.symbol, side, intent.qty, intent.price, intent.client_id,
                                                 reduce_only=intent.reduce_only, post_only=intent.post_only)
            self.stats.placed += 1
            return _filled(position, order)  # what crossed the book at once (a GTC take-profit, say)
        if intent.kind is IntentKind.ENTRY:
            order = await self.venue.place_market(intent.symbol, side, intent.qty, intent.client_id)
            self.stats.placed += 1
            return _filled(position, order)
        if intent.kind is IntentKind.CLOSE:
            order = await self.venue.place_market(intent.symbol, side, intent.qty, intent.client_id, reduce_only=True)
            self.stats.placed += 1
            return _filled(position, order)
        assert intent.price is not None
        if intent.kind is IntentKind.STOP_LOSS:
            await self.venue.place_stop_market(intent.symbol, side, intent.qty, intent.price, intent.client_id)
        else:
            await self.venue.place_take_profit_market(intent.symbol, side, intent.qty, intent.price, intent.client_id)
        self.stats.placed += 1
        return []

    def _rejected(self, position: Position, intent: Intent, exc: RequestRejected) -> list[PositionEvent]:
        log.warning("%s %s %s rejected: %s %s", position.id, intent.kind.value, intent.client_id, exc.code, exc.msg)
        if intent.kind is IntentKind.ENTRY:
            return [EntryRejected(intent.client_id, exc.code, exc.msg)]
        if intent.kind is IntentKind.STOP_LOSS:
            return [ProtectionFailed(intent.client_id, exc.code, exc.msg)]  # the stop is mandatory
        if intent.kind is IntentKind.CLOSE:
            return [CloseRejected(intent.client_id, exc.code, exc.msg)]
        return []  # a take-profit slice that cannot be placed leaves the stop and max-hold in charge

    async def _cancel(self, position: Position, intent: Intent) -> list[PositionEvent]:
        """Cancel `intent.target`. Only the cancel of a resting limit entry has an answer the machine
        waits for: what filled of it up to the cancel (entry_filled), then entry_cancelled, unless it had
        filled whole. A cancel of anything else carries no event."""
        target = intent.target
        assert target is not None
        conditional = position.is_conditional(target)
        entry = position.role_of(target).kind_is(RoleKind.ENTRY)
        order: OrderState | None = None
        try:
            order = await self.venue.cancel(intent.symbol, target, conditional)
            self.stats.cancelled += 1
        except OrderNotFound:
            # Filled, already cancelled, or never placed. For an entry, which of them decides what is held.
            if entry:
                order = await self.venue.fetch_order(intent.symbol, target, conditional)
        except RequestRejected as exc:  # InvalidSymbol included: the order stays where it is
            log.info("%s cancel %s refused: %s %s", position.id, target, exc.code, exc.msg)
            return []
        if not entry:
            return []
        events = [] if order is None else _filled(position, order)
        if order is not None and order.status is OrderStatus.FILLED:
            return events  # filled whole before the cancel landed: nothing was cancelled
        return [*events, EntryCancelled(target)]

    # --- looking up ----------------------------------------------------------------------------
    async def _lookup(self, position: Position, intent: Intent) -> OrderState | None:
        self.stats.looked_up += 1
        return await self.venue.fetch_order(intent.symbol, intent.client_id, position.is_conditional(intent.client_id))

    def _events_for_existing(self, position: Position, intent: Intent, order: OrderState) -> list[PositionEvent]:
        if (intent.kind in (IntentKind.ENTRY, IntentKind.CLOSE) or intent.limit) and order.filled > 0:
            return _filled(position, order)
        if intent.kind is IntentKind.ENTRY and order.status is OrderStatus.REJECTED:
            return [EntryRejected(intent.client_id, None, "rejected")]
        return []  # a live stop or take-profit: nothing happened yet


def _filled(position: Position, order: OrderState) -> list[PositionEvent]:
    """The fill event of an entry or close the venue answered (none while nothing has filled)."""
    report = order.report(ReportSource.ANSWER)
    event = None if report is None else fill_event(position, report)
    return [] if event is None else [event]
