"""A position and the order intents it owns, as plain data that round-trips through JSON exactly.

A Position is only ever changed by the position machine (`engine.machine.runtime`). Quantities and
prices are `Decimal` in memory and strings on disk, so a resumed position is bit-for-bit the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from engine.clock import iso
from engine.exits import ExitReason
from engine.venue.types import Side as OrderSide


class Side(StrEnum):
    """The position's direction; its orders are on the venue's `OrderSide` (buy / sell)."""

    LONG = "long"
    SHORT = "short"

    @property
    def entry_order_side(self) -> OrderSide:
        return OrderSide.BUY if self is Side.LONG else OrderSide.SELL

    @property
    def exit_order_side(self) -> OrderSide:
        return OrderSide.SELL if self is Side.LONG else OrderSide.BUY


class IntentKind(StrEnum):
    ENTRY = "entry"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    CLOSE = "close"
    CANCEL = "cancel"


class RoleKind(StrEnum):
    """What an order does for its position (the string is the journal's and the snapshot's)."""

    ENTRY = "entry"
    STOP_LOSS = "sl"
    TAKE_PROFIT = "tp"  # numbered: tp1, tp2, ...
    CLOSE = "close"
    CANCEL = "cancel"


class OrderRole(str):
    """An order's role on its position: `entry`, `sl`, `tp<n>`, `close`, `cancel`. A `str` so that the
    journal and the snapshot keep their plain strings (and old ones load unchanged); `kind` and `step`
    are the typed view every reader uses instead of parsing the string itself."""

    __slots__ = ()

    @classmethod
    def of(cls, kind: RoleKind, step: int | None = None) -> OrderRole:
        if kind is RoleKind.TAKE_PROFIT:
            if step is None or step < 1:
                raise ValueError("a take-profit role needs its step number (1-based)")
            return cls(f"tp{step}")
        return cls(kind.value)

    @property
    def kind(self) -> RoleKind:
        kind = _ROLE_KINDS.get(self)  # read for every order of every transition: looked up once per string
        if kind is None:
            kind = RoleKind.TAKE_PROFIT if self.startswith("tp") and self[2:].isdigit() else RoleKind(str(self))
            _ROLE_KINDS[str(self)] = kind
        return kind

    @property
    def step(self) -> int | None:
        return int(self[2:]) if self.kind is RoleKind.TAKE_PROFIT else None

    def kind_is(self, kind: RoleKind) -> bool:
        return bool(self) and self.kind is kind

    @property
    def is_conditional(self) -> bool:
        """Stop-loss and take-profit orders live on Binance's Algo Order API (trigger orders)."""
        return bool(self) and self.kind in (RoleKind.STOP_LOSS, RoleKind.TAKE_PROFIT)


NO_ROLE = OrderRole("")  # an order the position does not own
_ROLE_KINDS: dict[str, RoleKind] = {}  # the roles met so far (a handful: entry, sl, tp1…, close, cancel)


# One letter per kind in client order ids; Binance allows 36 chars of [.A-Z:/a-z0-9_-].
_KIND_CODE = {
    IntentKind.ENTRY: "E",
    IntentKind.STOP_LOSS: "S",
    IntentKind.TAKE_PROFIT: "T",
    IntentKind.CLOSE: "C",
    IntentKind.CANCEL: "X",
}

# `member.value` of the enums above, as a plain lookup (the property is slow on a hot path).
_VALUE: dict[StrEnum, str] = {member: member.value for enum in (Side, IntentKind, OrderSide) for member in enum}

PLACING_KINDS = frozenset({IntentKind.ENTRY, IntentKind.STOP_LOSS, IntentKind.TAKE_PROFIT, IntentKind.CLOSE})


@dataclass(slots=True)
class Intent:
    """An order the position wants placed (or cancelled). Durable before the executor acts on it.

    `client_id` is deterministic (position id + kind + counter), so resending after a crash is
    recognised by the venue lookup instead of opening a second order.
    """

    client_id: str
    kind: IntentKind
    symbol: str
    side: OrderSide | None  # the order's side (not the position's); None for a CANCEL, "" on disk
    qty: Decimal
    price: Decimal | None = None  # trigger price for stop-loss / take-profit, reference price otherwise
    reduce_only: bool = False
    target: str | None = None  # for CANCEL: the client id of the order to cancel
    tp_step: int | None = None  # take-profit step number (1-based)
    created_seq: int = 0  # journal seq of the transition that created it
    limit: bool = False  # a LIMIT order on the normal order book (entry, take-profit), `price` its limit
    post_only: bool = False  # a LIMIT sent as GTX: refused (-5022) rather than fill as a taker

    def __post_init__(self) -> None:
        # Callers may still name the side by its string ("sell", or "" for a cancel): one type inside.
        if self.side is not None and self.side.__class__ is not OrderSide:
            self.side = OrderSide(self.side) if self.side else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "kind": _VALUE[self.kind],
            "symbol": self.symbol,
            "side": "" if self.side is None else _VALUE[self.side],
            "qty": str(self.qty),
            "price": None if self.price is None else str(self.price),
            "reduce_only": self.reduce_only,
            "target": self.target,
            "tp_step": self.tp_step,
            "created_seq": self.created_seq,
        } | (_LIMIT_KEYS[self.post_only] if self.limit else {})  # market orders keep the older records' shape

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Intent:
        return cls(
            client_id=d["client_id"],
            kind=IntentKind(d["kind"]),
            symbol=d["symbol"],
            side=OrderSide(d["side"]) if d["side"] else None,
            qty=Decimal(d["qty"]),
            price=None if d.get("price") is None else Decimal(d["price"]),
            reduce_only=bool(d.get("reduce_only", False)),
            target=d.get("target"),
            tp_step=d.get("tp_step"),
            created_seq=int(d.get("created_seq", 0)),
            limit=bool(d.get("limit", False)),
            post_only=bool(d.get("post_only", False)),
        )


_LIMIT_KEYS = {False: {"limit": True}, True: {"limit": True, "post_only": True}}


@dataclass(eq=False)  # identity, not field equality: `transitions` looks models up with `in`
class Position:
    """One position's state and history-relevant facts. The machine attaches itself to it as a model
    (`transitions` adds trigger methods), which is why this is a plain dataclass without slots."""

    id: str  # "P17": unique within one state folder, never reused
    symbol: str
    order_prefix: str = ""  # per-bot tag so client ids stay unique across state folders
    state: str = "idle"
    side: Side | None = None
    plan: dict[str, Any] = field(default_factory=dict)  # the entry plan of the signal (JSON-safe)
    qty: Decimal = Decimal(0)  # open quantity (base asset), always >= 0
    entry_price: Decimal | None = None
    realised_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    created_at: datetime | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    state_entered_at: datetime | None = None
    deadline_event: str | None = None
    deadline_at: datetime | None = None
    exit_reason: str | None = None
    close_refusals: int = 0  # emergency closes the venue refused (the bot alerts after the profile's number)
    withdrawn: bool = False  # its resting entry was withdrawn (graceful shutdown): no fallback to market
    intents: list[Intent] = field(default_factory=list)
    open_orders: list[str] = field(default_factory=list)  # client ids of orders we own that may be live
    order_roles: dict[str, OrderRole] = field(default_factory=dict)  # client id → entry, sl, tp2, close
    intent_counter: int = 0
    last_seq: int = 0
    # LIMIT orders (they can fill in parts): client id → [size, filled, notional filled, fee so far], as
    # strings. Venues report an order's cumulative fill; this turns each report into the new part only.
    order_fills: dict[str, list[str]] = field(default_factory=dict)

    def checkpoint(self) -> dict[str, Any]:
        """A cheap copy of every attribute, enough to undo one transition. The list and dict fields
        are copied because actions append to them (`intents`, `open_orders`, `order_roles`);
        everything else is replaced, never mutated, by actions."""
        saved = self.__dict__.copy()
        for name in _CONTAINER_FIELDS:
            saved[name] = saved[name].copy()
        return saved

    def rollback(self, checkpoint: dict[str, Any]) -> None:
        self.__dict__.update(checkpoint)

    def begin_step(self) -> None:
        """Start a transition: the outbox holds only what this transition asks for."""
        self.intents = []

    def next_client_id(self, kind: IntentKind) -> str:
        self.intent_counter += 1
        prefix = f"{self.order_prefix}-" if self.order_prefix else ""
        return f"{prefix}{self.id}-{_KIND_CODE[kind]}{self.intent_counter}"

    @property
    def exit_kind(self) -> ExitReason | None:
        """The typed view of `exit_reason` (which stays the journal's string): tp3 is TAKE_PROFIT."""
        return ExitReason.of(self.exit_reason)

    @property
    def number(self) -> int:
        return int(self.id.lstrip("P"))

    def role_of(self, client_id: str) -> OrderRole:
        return self.order_roles.get(client_id, NO_ROLE)

    def is_conditional(self, client_id: str) -> bool:
        """Whether the order lives on Binance's Algo Order API (stop-market, take-profit-market) rather than
        the normal order book (market and LIMIT orders): cancels and look-ups go to one or the other."""
        return self.role_of(client_id).is_conditional and client_id not in self.order_fills

    def is_limit(self, client_id: str) -> bool:
        return client_id in self.order_fills

    def stops(self) -> list[str]:
        """Client ids of the stop-loss orders the position owns and that may be live."""
        return [c for c in self.open_orders if self.role_of(c).kind_is(RoleKind.STOP_LOSS)]

    def pending(self, kind: IntentKind | None = None) -> list[Intent]:
        return [i for i in self.intents if kind is None or i.kind is kind]

    def to_dict(self) -> dict[str, Any]:
        # Serialised on every transition (journal, snapshot): written out rather than looped over
        # the fields, with memoised timestamps (`iso`).
        # `close_refusals` only once counted, `withdrawn` only once set: positions that never met a
        # refused emergency close or a withdrawn entry keep the exact shape older journals, snapshots and
        # history lines have.
        return {
            "id": self.id,
            "symbol": self.symbol,
            "order_prefix": self.order_prefix,
            "state": self.state,
            "side": None if self.side is None else _VALUE[self.side],
            "plan": self.plan,
            "qty": str(self.qty),
            "entry_price": None if self.entry_price is None else str(self.entry_price),
            "realised_pnl": str(self.realised_pnl),
            "fees": str(self.fees),
            "created_at": None if self.created_at is None else iso(self.created_at),
            "opened_at": None if self.opened_at is None else iso(self.opened_at),
            "closed_at": None if self.closed_at is None else iso(self.closed_at),
            "state_entered_at": None if self.state_entered_at is None else iso(self.state_entered_at),
            "deadline_event": self.deadline_event,
            "deadline_at": None if self.deadline_at is None else iso(self.deadline_at),
            "exit_reason": self.exit_reason,
            "intents": [i.to_dict() for i in self.intents],
            "open_orders": list(self.open_orders),
            "order_roles": dict(self.order_roles),
            "intent_counter": self.intent_counter,
            "last_seq": self.last_seq,
        } | ({"close_refusals": self.close_refusals} if self.close_refusals else {}) | (
            {"withdrawn": True} if self.withdrawn else {}) | (
            {"order_fills": {c: list(v) for c, v in self.order_fills.items()}} if self.order_fills else {})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Position:
        return cls(
            id=d["id"],
            symbol=d["symbol"],
            order_prefix=d.get("order_prefix", ""),
            state=d["state"],
            side=None if d.get("side") is None else Side(d["side"]),
            plan=dict(d.get("plan") or {}),
            qty=Decimal(d.get("qty", "0")),
            entry_price=_d(d.get("entry_price")),
            realised_pnl=Decimal(d.get("realised_pnl", "0")),
            fees=Decimal(d.get("fees", "0")),
            created_at=_dt(d.get("created_at")),
            opened_at=_dt(d.get("opened_at")),
            closed_at=_dt(d.get("closed_at")),
            state_entered_at=_dt(d.get("state_entered_at")),
            deadline_event=d.get("deadline_event"),
            deadline_at=_dt(d.get("deadline_at")),
            exit_reason=d.get("exit_reason"),
            close_refusals=int(d.get("close_refusals", 0)),
            withdrawn=bool(d.get("withdrawn", False)),
            intents=[Intent.from_dict(i) for i in d.get("intents", [])],
            open_orders=list(d.get("open_orders", [])),
            order_roles={cid: OrderRole(role) for cid, role in d.get("order_roles", {}).items()},
            intent_counter=int(d.get("intent_counter", 0)),
            last_seq=int(d.get("last_seq", 0)),
            order_fills={c: [str(x) for x in v] for c, v in d.get("order_fills", {}).items()},
        )


def _d(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def _dt(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


_CONTAINER_FIELDS = tuple(
    f.name for f in fields(Position) if f.default_factory in (list, dict)  # type: ignore[comparison-overlap]
)
