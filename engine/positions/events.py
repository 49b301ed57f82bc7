"""The events the engine sends into the position machine, one frozen class each, and the contract.

Each class carries exactly its payload; `payload()` is its string form for the machine and the journal
(the same JSON the journal has always held, so old journals still replay). `EXPECTED` says, once, in
which kinds of state (by tag, never by name) the engine can send each event; the loader refuses a
machine YAML that leaves one unhandled (engine.machine.contract). Timeout events (`entry_timeout`,
`max_hold`, ...) are the YAML's own: the engine fires whatever event a state's deadline names, as a
`Timeout`.

    venue answers    EntryFilled EntryRejected TpFilled SlFilled CloseFilled CloseRejected
                     FlatConfirmed ProtectionFailed
    strategy         Signal
    commands         CloseRequested Panic
    reconciliation   ProtectionLost FlatConfirmed Panic MarketHalted (and the fills it finds)
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from engine.exits import ExitReason
from engine.machine.contract import Expected
from engine.machine.loader import MachineDefinition, load_definition
from engine.machine.tags import Tag
from engine.positions.lifecycle import REGISTRY
from engine.positions.model import Position, RoleKind
from engine.values import value
from engine.venue.types import FillReport

# The tags of machines/position.yaml that the engine relies on (the vocabulary is engine.machine.tags).
PROTECTED, EXIT, ENTRY, EXPOSED, EMERGENCY, TERMINAL = (
    Tag.PROTECTED, Tag.EXIT, Tag.ENTRY, Tag.EXPOSED, Tag.EMERGENCY, Tag.TERMINAL
)


@value
class PositionEvent:
    name: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        return {}


@value
class Timeout(PositionEvent):
    """A deadline passed; `event` is the name the YAML gave it."""

    event: str
    name: ClassVar[str] = ""  # per instance: see `event_name`


@value
class Signal(PositionEvent):
    plan: dict[str, Any]  # the entry plan (engine.trading.sizing.EntryPlan.to_payload)
    reason: str = ""
    name: ClassVar[str] = "signal"

    def payload(self) -> dict[str, Any]:
        return {"plan": self.plan, "signal": self.reason}


@value
class Fill(PositionEvent):
    """A fill of one of the position's orders (entry, stop-loss, take-profit, close)."""

    client_id: str
    qty: Decimal  # this fill's part only; a LIMIT order's earlier parts were events of their own
    price: Decimal
    fee: Decimal
    # A LIMIT order's fill so far ([filled, notional, fee], strings) and whether part of it still rests on
    # the book. Market and conditional fills leave both unset: their payload keeps its older shape.
    cum: tuple[str, str, str] | None = None
    resting: bool = False

    def payload(self) -> dict[str, Any]:
        out = {"client_id": self.client_id, "qty": str(self.qty), "price": str(self.price), "fee": str(self.fee)}
        if self.cum is not None:
            out["cum"] = list(self.cum)
            if self.resting:
                out["resting"] = True
        return out


@value
class EntryFilled(Fill):
    name: ClassVar[str] = "entry_filled"


@value
class SlFilled(Fill):
    name: ClassVar[str] = "sl_filled"


@value
class TpFilled(Fill):
    step: int = 0
    name: ClassVar[str] = "tp_filled"

    def payload(self) -> dict[str, Any]:
        return {**Fill.payload(self), "step": self.step}


@value
class CloseFilled(Fill):
    reason: str | None = None  # the position's stored exit reason: an ExitReason or a YAML timeout's name
    name: ClassVar[str] = "close_filled"

    def payload(self) -> dict[str, Any]:
        out = Fill.payload(self)
        if self.reason:
            out["reason"] = self.reason
        return out


@value
class Refusal(PositionEvent):
    """The venue refused one of the position's orders."""

    client_id: str
    code: int | str | None
    msg: str

    def payload(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "client_id": self.client_id}


@value
class EntryRejected(Refusal):
    name: ClassVar[str] = "entry_rejected"


@value
class EntryCancelled(PositionEvent):
    """The venue confirmed the cancel of our resting LIMIT entry (what had filled came before it as
    entry_filled): nothing of it rests any more."""

    client_id: str
    name: ClassVar[str] = "entry_cancelled"

    def payload(self) -> dict[str, Any]:
        return {"client_id": self.client_id}


@value
class ProtectionFailed(Refusal):
    name: ClassVar[str] = "protection_failed"  # the stop-loss was refused: it is mandatory


@value
class CloseRejected(Refusal):
    name: ClassVar[str] = "close_rejected"


@value
class FlatConfirmed(PositionEvent):
    """The venue holds nothing for the position: a reduce-only close found nothing to reduce (the
    refusal's fields are set), or reconciliation saw the venue flat (`reason`)."""

    reason: str | None = None  # the position's stored exit reason, else ExitReason.FLAT
    refusal: Refusal | None = None
    name: ClassVar[str] = "flat_confirmed"

    def payload(self) -> dict[str, Any]:
        return self.refusal.payload() if self.refusal is not None else {"reason": self.reason}


@value
class ProtectionLost(PositionEvent):
    missing: tuple[str, ...]  # client ids of the stops the venue no longer holds
    name: ClassVar[str] = "protection_lost"

    def payload(self) -> dict[str, Any]:
        return {"missing": list(self.missing)}


@value
class MarketHalted(PositionEvent):
    """The position's market is no longer listed by the venue, or no longer TRADING (SETTLING,
    DELIVERING, BREAK, ...): nothing new opens there, and what is held is closed while it can be."""

    status: str  # the market's exchangeInfo status, or "no longer listed"
    name: ClassVar[str] = "market_halted"

    def payload(self) -> dict[str, Any]:
        return {"status": self.status}


@value
class CloseRequested(PositionEvent):
    reason: ExitReason  # MANUAL, SHUTDOWN, END_OF_BACKTEST, CLOSE_REQUESTED
    name: ClassVar[str] = "close_requested"

    def payload(self) -> dict[str, Any]:
        return {"reason": str(self.reason)}  # the journal's plain string


@value
class Withdraw(PositionEvent):
    """Graceful shutdown: what rests of a limit entry is cancelled (a piece filling while the bot is away
    would have no stop); what filled is kept and protected, the rest is not entered at market."""

    name: ClassVar[str] = "withdraw"


@value
class Panic(PositionEvent):
    reason: ExitReason  # PANIC, LIQUIDATION, RECONCILE (the exit itself is recorded as EMERGENCY)
    venue_qty: Decimal | None = None  # reconciliation: what the venue holds instead
    name: ClassVar[str] = "panic"

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": str(self.reason)}  # the journal's plain string
        if self.venue_qty is not None:
            out["venue_qty"] = str(self.venue_qty)
        return out


def event_name(event: PositionEvent) -> str:
    return event.event if isinstance(event, Timeout) else event.name


# Every event the engine sends, and where it can send it. A state that can hold a live stop-loss
# (protected) or a travelling close (exit) can see a stop fill. An emergency keeps the position's stop
# and take-profits on the venue until it is flat, so everything a resting order or its reconciliation
# can answer arrives there too: their fills, a refused or lost stop, and the refusal of its own close.
EXPECTED: tuple[Expected, ...] = (
    Expected("signal", "the strategy: a new entry", initial=True),
    Expected("entry_filled", "the venue: the entry filled (late, into an emergency too)",
             frozenset({ENTRY, EMERGENCY})),
    Expected("entry_rejected", "the venue: the entry was refused", frozenset({ENTRY})),
    Expected("entry_cancelled", "the venue: the cancel of a resting limit entry",
             frozenset({Tag.CANCELLING, EMERGENCY})),
    Expected("protection_failed", "the venue: the stop-loss was refused",
             frozenset({PROTECTED, EMERGENCY, Tag.RESTING, Tag.CANCELLING})),
    Expected("protection_lost", "reconciliation: no live stop-loss on the venue", frozenset({PROTECTED, EMERGENCY})),
    Expected("tp_filled", "the venue: a take-profit slice filled", frozenset({PROTECTED, EMERGENCY})),
    Expected("sl_filled", "the venue: the stop-loss filled (a filled part's too, while the rest rests)",
             frozenset({PROTECTED, EXIT, Tag.RESTING, Tag.CANCELLING})),
    Expected("withdraw", "a command: graceful shutdown withdraws a resting entry", frozenset({Tag.RESTING})),
    Expected("close_requested", "a command: close (manual, shutdown)", frozenset({PROTECTED})),
    Expected("close_filled", "the venue: the close filled", frozenset({EXIT})),
    Expected("flat_confirmed", "the venue or reconciliation: nothing left to close", frozenset({EXIT})),
    Expected("close_rejected", "the venue: the close was refused", frozenset({EXIT})),
    Expected("market_halted", "reconciliation: the market is no longer listed or TRADING", frozenset({PROTECTED})),
    Expected("panic", "a command, a liquidation or reconciliation", frozenset({EXPOSED}), frozenset({EMERGENCY})),
)


def load_position_machine(path: Path) -> MachineDefinition:
    """Load a position machine: the generic checks, this domain's guards and actions, and `EXPECTED`."""
    return load_definition(path, REGISTRY, EXPECTED)


def fill_event(position: Position, report: FillReport) -> Fill | None:
    """The one place a fill of an order becomes an event: by the order's role on the position. Fills
    pushed by the simulated venue, answers to a placement and fills found by polling all arrive as a
    `FillReport` and come here, so the same fill gives the same event whichever way it came.
    None for an order the position does not own as entry, stop-loss, take-profit or close."""
    client_id, qty, price, fee = report.client_id, report.qty, report.price, report.fee
    role = position.role_of(client_id)
    if not role:
        return None
    kind = role.kind
    cum: tuple[str, str, str] | None = None
    resting = False
    if position.is_limit(client_id):  # the report is the order's whole fill so far: keep the new part
        size, done, notional, paid = (Decimal(x) for x in position.order_fills[client_id])
        if qty <= done:
            return None  # nothing new (the same fill reported twice, by a push and by polling)
        cum = (str(qty), str(price * qty), str(fee))
        qty, price, fee = qty - done, (price * qty - notional) / (qty - done), fee - paid
        resting = Decimal(cum[0]) < size
    if kind is RoleKind.STOP_LOSS:
        return SlFilled(client_id, qty, price, fee)
    if kind is RoleKind.TAKE_PROFIT:
        return TpFilled(client_id, qty, price, fee, cum, resting, step=role.step or 0)
    if kind is RoleKind.ENTRY:
        return EntryFilled(client_id, qty, price, fee, cum, resting)
    if kind is RoleKind.CLOSE:
        return CloseFilled(client_id, qty, price, fee, reason=position.exit_reason)
    return None
