"""Reconciliation: make the machines agree with what the venue actually holds.

Runs at start-up before any entry (after the engine has finished each position's last outbox) and
again every few ticks while trading. It never edits a position directly: every correction is an event
through the machine, so each position walks legally to the venue's truth and the journal says why.

What is checked, per live position (one per symbol: the market gate never opens a second):
- a stop or take-profit that is no longer open on the venue is looked up by client id; a fill becomes
  `sl_filled` / `tp_filled` (the fill we missed while down or between polls);
- exposed and protected (open, partial_tp) but the venue holds no stop of ours: `protection_lost`
  (a new stop; if the venue refuses it the position goes to emergency);
- the venue is flat while the machine holds exposure, or holds a different size: `panic` (emergency
  cancels what is left and flattens; a flat venue answers the reduce-only close with -2022, which
  becomes `flat_confirmed`);
- closing / emergency with the venue flat: `flat_confirmed`;
- emergency with exposure left and no live stop of ours (lost, refused, never placed): `protection_lost`
  (emergency places one: the position stays protected while its close is refused);
- a protected position on a market the venue no longer lists, or no longer TRADING (SETTLING,
  DELIVERING, BREAK, ...): `market_halted` (emergency closes it while it can, keeping the stop).
A position that cannot be checked (a symbol gone from the venue, a read that keeps failing) is reported
and the others are checked all the same: one symbol never blocks the pass or the entries on the others.
Then venue-wide: a position on a symbol no machine holds was not opened by this bot (every entry is
journalled before it is sent), so it is left alone, reported, and its symbol blocked for entries;
open orders no live position owns are cancelled.

A discrepancy seen in one snapshot of the venue may be a fill in flight between two reads, so every
finding is confirmed by a second, targeted read before acting on it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from engine.exits import ExitReason
from engine.machine.tags import Tag
from engine.positions.events import EMERGENCY, EXIT, PROTECTED, FlatConfirmed, MarketHalted, Panic, ProtectionLost
from engine.positions.model import Position
from engine.trading.engine import TradingEngine
from engine.venue.errors import VenueError
from engine.venue.types import OrderState
from engine.venue.types import Position as VenuePosition

log = logging.getLogger("engine.reconcile")



@dataclass
class ReconcileReport:
    """What one pass found and did. `complete` is False when the venue could not be read: the caller
    must not allow entries until a pass completes."""

    complete: bool = True
    fixes: list[str] = field(default_factory=list)  # corrections made through the machine
    problems: list[str] = field(default_factory=list)  # things a human should know about
    foreign: dict[str, Decimal] = field(default_factory=dict)  # symbol -> signed qty we did not open
    orphans_cancelled: int = 0

    @property
    def clean(self) -> bool:
        return self.complete and not self.fixes and not self.problems

    def lines(self) -> list[str]:
        out = [f"reconcile: {fix}" for fix in self.fixes] + [f"reconcile PROBLEM: {p}" for p in self.problems]
        if self.orphans_cancelled:
            out.append(f"reconcile: cancelled {self.orphans_cancelled} orphan order(s)")
        if not self.complete:
            out.append("reconcile: incomplete (venue unreachable); entries stay blocked")
        return out


class Reconciler:
    def __init__(self, engine: TradingEngine) -> None:
        self.engine = engine
        self.blocked: set[str] = set()  # symbols held on the venue by someone else

    async def run(self, now: datetime) -> ReconcileReport:
        report = ReconcileReport()
        engine = self.engine
        try:
            open_orders = await engine.venue.open_orders()
            held = {p.symbol: p for p in await engine.venue.positions()}
            for position in list(engine.book.live.values()):
                try:
                    await self._position(position, open_orders, held, now, report)
                except VenueError as exc:
                    report.problems.append(f"{position.id} {position.symbol}: not reconciled ({exc}); "
                                           "the others were, and the next pass tries again")
            held = {p.symbol: p for p in await engine.venue.positions()}
            self._foreign(held, report)
            report.orphans_cancelled = await engine.sweep_orphans()
        except VenueError as exc:
            report.complete = False
            report.problems.append(f"venue unreachable during reconciliation: {exc}")
        for line in report.lines():
            (log.warning if "PROBLEM" in line or "incomplete" in line else log.info)("%s", line)
        return report

    async def sync_fills(self, now: datetime) -> None:
        """The cheap per-tick part: for each position with resting orders (stops and take-profits while
        protected, or in emergency, which keeps them until flat; its LIMIT entry while that rests), look
        up those that left the venue's open list since the last look, or that the list shows filled
        further than the position knows (a LIMIT order filling in parts stays open: its filled part must
        be protected, or move the stop, now, not once the rest has filled or been cancelled). One
        open-orders read per symbol held."""
        engine = self.engine
        held = [p for p in engine.book.live.values() if _watched(engine, p)]
        # The reads go out together (one round trip for all symbols); the fills they reveal are then
        # applied one position at a time, as everything that changes a position is.
        answers = await asyncio.gather(*(engine.venue.open_orders(p.symbol) for p in held), return_exceptions=True)
        for position, answer in zip(held, answers, strict=True):
            if isinstance(answer, VenueError):
                log.warning("%s: open orders not read: %s", position.symbol, answer)
                continue
            if isinstance(answer, BaseException):
                raise answer
            open_ids = {o.client_id for o in answer}
            if position.id in engine.book.live and _news(position, answer):
                with engine.isolated(position, "looking up its fills"):
                    await engine.recover_fills(position, now, known_open=open_ids)

    # --- one position ----------------------------------------------------------------------------
    async def _position(self, position: Position, open_orders: list[OrderState],
                        held: dict[str, VenuePosition], now: datetime, report: ReconcileReport) -> None:
        engine = self.engine
        machine = engine.book.machine
        open_ids = {o.client_id for o in open_orders}
        if _watched(engine, position) and _news(position, open_orders):
            seq = position.last_seq
            await engine.recover_fills(position, now, known_open=open_ids)
            if position.last_seq != seq:
                report.fixes.append(f"{position.id} {position.symbol}: applied a missed fill ({position.state})")
            if position.id not in engine.book.live:
                return
        venue_qty = await self._confirmed_qty(position, held)
        market = engine.markets.get(position.symbol)
        if machine.has_tag(position.state, PROTECTED) and (market is None or not market.is_trading):
            status = "no longer listed" if market is None else market.status
            report.problems.append(f"{position.id} {position.symbol}: the market is {status}; closing the position "
                                   "(its stop stays until the venue is flat)")
            await engine.apply(position, MarketHalted(status), now)
            return
        if machine.has_tag(position.state, PROTECTED):
            if venue_qty != position.qty:
                report.problems.append(
                    f"{position.id} {position.symbol}: the venue holds {venue_qty}, the machine {position.qty}: "
                    "flattening through emergency")
                await engine.apply(position, Panic(ExitReason.RECONCILE, venue_qty=venue_qty), now)
                return
            stops = position.stops()
            if not any(c in open_ids for c in stops) and not await self._any_live(position, stops):
                report.fixes.append(f"{position.id} {position.symbol}: no live stop-loss on the venue; placing one")
                await engine.apply(position, ProtectionLost(tuple(stops)), now)
        elif machine.has_tag(position.state, EXIT) and venue_qty == 0:
            report.fixes.append(f"{position.id} {position.symbol}: venue flat while {position.state}; closed")
            await engine.apply(position, FlatConfirmed(reason=position.exit_reason or ExitReason.FLAT), now)
        elif machine.has_tag(position.state, EMERGENCY) and venue_qty > 0:
            await self._emergency(position, open_ids, now, report)

    async def _emergency(self, position: Position, open_ids: set[str], now: datetime,
                         report: ReconcileReport) -> None:
        """An emergency the venue has not let finish: its stop must be resting meanwhile."""
        stops = position.stops()
        if not any(c in open_ids for c in stops) and not await self._any_live(position, stops):
            report.fixes.append(f"{position.id} {position.symbol}: in emergency with no live stop-loss; placing one")
            await self.engine.apply(position, ProtectionLost(tuple(stops)), now)
        if position.close_refusals:
            report.problems.append(f"{position.id} {position.symbol}: emergency close refused "
                                   f"{position.close_refusals} time(s); the stop stays, the close is retried")

    async def _confirmed_qty(self, position: Position, held: dict[str, VenuePosition]) -> Decimal:
        """The venue's size on the position's side, re-read when it disagrees with the machine."""
        qty = _qty_for(position, held.get(position.symbol))
        if qty == position.qty:
            return qty
        fresh = {p.symbol: p for p in await self.engine.venue.positions()}
        return _qty_for(position, fresh.get(position.symbol))

    async def _any_live(self, position: Position, client_ids: list[str]) -> bool:
        for client_id in client_ids:
            order = await self.engine.venue.fetch_order(position.symbol, client_id, True)
            if order is not None and order.is_open:
                return True
        return False

    # --- venue-wide -------------------------------------------------------------------------------
    def _foreign(self, held: dict[str, VenuePosition], report: ReconcileReport) -> None:
        ours = {p.symbol for p in self.engine.book.live.values()}
        gate = self.engine.gate
        for symbol in self.blocked - set(held):
            gate.busy.discard(symbol)  # the foreign position is gone: the symbol is free again
            report.fixes.append(f"{symbol}: the position the bot did not open is gone; entries allowed again")
        self.blocked &= set(held)
        for symbol, venue_position in held.items():
            if symbol in ours:
                continue
            report.foreign[symbol] = venue_position.signed_qty
            if symbol not in self.blocked:
                report.problems.append(
                    f"{symbol}: the venue holds {venue_position.signed_qty} that this bot did not open; "
                    "left alone, no entries on it until it is gone")
            self.blocked.add(symbol)
            gate.busy.add(symbol)


def _resting(engine: TradingEngine, position: Position) -> bool:
    """The position's stops and take-profits rest on the venue: protected, or in emergency (which keeps
    them until the venue is flat)."""
    machine = engine.book.machine
    return machine.has_tag(position.state, PROTECTED) or machine.has_tag(position.state, EMERGENCY)


def _watched(engine: TradingEngine, position: Position) -> bool:
    """Orders of the position rest on the venue and may fill: its stops and take-profits (`_resting`), or
    its LIMIT entry while the position waits in a resting state."""
    return _resting(engine, position) or engine.book.machine.has_tag(position.state, Tag.RESTING)


def _news(position: Position, open_orders: list[OrderState]) -> bool:
    """Something of the position's orders filled since it last looked: one of them left the venue's open
    list, or an open LIMIT order of it shows more filled than the position has applied."""
    listed = {o.client_id: o for o in open_orders}
    for client_id in position.open_orders:
        order = listed.get(client_id)
        if order is None:
            return True
        if position.is_limit(client_id) and order.filled > Decimal(position.order_fills[client_id][1]):
            return True
    return False


def _qty_for(position: Position, venue_position: VenuePosition | None) -> Decimal:
    """Size the venue holds in the position's direction; an opposite-side holding counts as a mismatch."""
    if venue_position is None:
        return Decimal(0)
    if position.side is not None and venue_position.side.value != position.side.value:
        return -venue_position.qty
    return venue_position.qty
