"""The guards and actions that `machines/position.yaml` may name, registered in REGISTRY.

Guards read; actions change the position and queue intents in its outbox (`position.intents`).
Neither performs I/O: the executor carries out the outbox after the transition is durable, and
what the venue answers comes back as the next event. Everything an action needs arrives in the
event payload (the signal's entry plan, a fill's price and quantity), so replaying the journal
through the machine rebuilds the same position without a profile or a venue.

Payloads:
- signal: {"plan": {side, qty, price, stop_price, take_profits: [{price, qty}], step_size,
  min_notional, stop_after_tp: "breakeven"|"keep", tick_size}} (stop and take-profits are re-priced
  from the average fill at the plan's distances: `from_fill`)
- *_filled: {"client_id", "qty", "price", "fee"}; entry_rejected/close_rejected: {"code", "msg", "client_id"}
- protection_lost: {"missing": [client ids]}; market_halted: {"status"}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from engine.exits import ExitReason
from engine.machine.registry import Registry, Step
from engine.machine.tags import Tag
from engine.positions.model import PLACING_KINDS, Intent, IntentKind, OrderRole, Position, RoleKind, Side
from engine.positions.prices import from_fill, stop_price

REGISTRY = Registry()


class RiskRules(Protocol):
    def allows(self, rule: str, position: Position, now: Any) -> bool:
        """True when `rule` lets `position` enter now; the implementation logs any refusal."""
        ...


class MarketRules(Protocol):
    def tradable(self, symbol: str) -> bool: ...


# --- guards ----------------------------------------------------------------------------------
def _risk(rule: str) -> None:
    @REGISTRY.guard(f"risk.{rule}")
    def check(step: Step) -> bool:
        return bool(step.env.risk.allows(rule, step.model, step.now))


for _rule in ("max_positions", "symbol_cooldown"):
    _risk(_rule)


@REGISTRY.guard("bot.entries_allowed")
def _entries_allowed(step: Step) -> bool:
    """The bot's own machine (machines/bot.yaml) is in a state tagged `entries`."""
    return bool(step.env.bot.entries_allowed(step.model.symbol, step.now))


@REGISTRY.guard("market.tradable")
def _market_tradable(step: Step) -> bool:
    return bool(step.env.market.tradable(step.model.symbol))


@REGISTRY.guard("sizing.meets_min_notional")
def _meets_min_notional(step: Step) -> bool:
    """The entry and every take-profit slice clear MIN_NOTIONAL (sizing merges slices beforehand)."""
    plan = step.payload.get("plan") or {}
    try:
        price, qty, floor = Decimal(plan["price"]), Decimal(plan["qty"]), Decimal(plan["min_notional"])
        slices = [(Decimal(tp["price"]), Decimal(tp["qty"])) for tp in plan.get("take_profits", [])]
    except (KeyError, TypeError, ArithmeticError):
        return False
    if qty <= 0 or price * qty < floor:
        return False
    return all(q > 0 and p * q >= floor for p, q in slices) and sum(q for _, q in slices) <= qty


@REGISTRY.guard("orders.entry_is_limit")
def _entry_is_limit(step: Step) -> bool:
    return ((step.payload.get("plan") or {}).get("entry") or {}).get("type") == "limit"


@REGISTRY.guard("orders.entry_is_market")
def _entry_is_market(step: Step) -> bool:
    return not _entry_is_limit(step)


@REGISTRY.guard("orders.fallback_to_market")
def _fallback_to_market(step: Step) -> bool:
    """What is left of a limit entry that expired or was refused as post-only goes in at market."""
    return (step.model.plan.get("entry") or {}).get("on_timeout") == "market"


@REGISTRY.guard("position.post_only_refused")
def _post_only_refused(step: Step) -> bool:
    return str(step.payload.get("code")) == "-5022"


@REGISTRY.guard("position.has_filled")
def _has_filled(step: Step) -> bool:
    return step.model.qty > 0


@REGISTRY.guard("position.withdrawn")
def _withdrawn(step: Step) -> bool:
    """Its resting entry was withdrawn (graceful shutdown): what filled is kept, nothing more is entered."""
    return step.model.withdrawn


@REGISTRY.guard("position.entry_complete")
def _entry_complete(step: Step) -> bool:
    """The entry's fill leaves nothing of it resting (a market entry fills at once)."""
    return not step.payload.get("resting", False)


@REGISTRY.guard("position.flat_after_fill")
def _flat_after_fill(step: Step) -> bool:
    return step.model.qty - Decimal(str(step.payload.get("qty", "0"))) <= 0


# --- actions ---------------------------------------------------------------------------------
def _queue(pos: Position, step: Step, kind: IntentKind, **fields: Any) -> Intent:
    intent = Intent(client_id=pos.next_client_id(kind), kind=kind, symbol=pos.symbol, created_seq=step.seq, **fields)
    _own(pos, intent)
    return intent


def _own(pos: Position, intent: Intent) -> None:
    """The bookkeeping of a queued order: in the outbox, owned with its role, and live until it is known
    not to be. A market entry is not counted live (it fills or is refused in its answer); a LIMIT order is
    tracked part by part (`order_fills`), a resting entry included, so that cancels and polling see it."""
    pos.intents.append(intent)
    if intent.kind is IntentKind.CANCEL:
        if intent.target in pos.open_orders:
            pos.open_orders.remove(intent.target)
        return
    if intent.kind in PLACING_KINDS and (intent.kind is not IntentKind.ENTRY or intent.limit):
        pos.open_orders.append(intent.client_id)
    if intent.limit:
        pos.order_fills = {**pos.order_fills, intent.client_id: [str(intent.qty), "0", "0", "0"]}
    pos.order_roles[intent.client_id] = OrderRole.of(_ROLE[intent.kind], intent.tp_step)


_ROLE = {
    IntentKind.ENTRY: RoleKind.ENTRY,
    IntentKind.STOP_LOSS: RoleKind.STOP_LOSS,
    IntentKind.TAKE_PROFIT: RoleKind.TAKE_PROFIT,
    IntentKind.CLOSE: RoleKind.CLOSE,
    IntentKind.CANCEL: RoleKind.CANCEL,
}


def follow_recorded_intents(pos: Position, before: dict[str, Any], recorded: list[dict[str, Any]]) -> None:
    """Replay of one journal record: make the position's orders what the record says was sent.

    A record holds the intents its transition queued. If today's actions queue others (a release changed
    an action: a close now keeps the stop-loss, say), the venue still got what the record says, so the
    orders follow the record: the step's own order bookkeeping is undone (`before`, a checkpoint taken
    before the step) and the recorded intents applied as `_queue` and `_queue_cancel` would have.
    Everything else the actions did (prices, quantities, reasons) stays theirs."""
    if [i.to_dict() for i in pos.intents] == recorded:
        return
    pos.open_orders = list(before["open_orders"])
    pos.order_roles = dict(before["order_roles"])
    pos.order_fills = dict(before["order_fills"])
    recorded_intents, pos.intents = [Intent.from_dict(r) for r in recorded], []
    counter = before["intent_counter"]
    for intent in recorded_intents:
        counter = max(counter, int("".join(c for c in intent.client_id.rsplit("-", 1)[-1] if c.isdigit()) or 0))
        _own(pos, intent)
    pos.intent_counter = counter


def _queue_cancel(pos: Position, step: Step, target: str) -> None:
    """A cancel of `target`: the order counts as not live from here on (a fill racing the cancel still
    arrives by its role)."""
    _own(pos, Intent(client_id=pos.next_client_id(IntentKind.CANCEL), kind=IntentKind.CANCEL, symbol=pos.symbol,
                     side=None, qty=Decimal(0), target=target, created_seq=step.seq))


def _cancel_all_open(pos: Position, step: Step) -> None:
    for client_id in list(pos.open_orders):
        _queue_cancel(pos, step, client_id)


def _replace_stops(pos: Position, step: Step, price: Decimal) -> None:
    """One stop for everything held now at `price`, queued BEFORE the cancels of the stops it replaces:
    the position is never without a stop."""
    assert pos.side is not None
    earlier = pos.stops()
    _queue(pos, step, IntentKind.STOP_LOSS, side=pos.side.exit_order_side, qty=pos.qty, price=price,
           reduce_only=True)
    for client_id in earlier:
        _queue_cancel(pos, step, client_id)


@REGISTRY.action("orders.submit_entry", leads_to=Tag.ENTRY)
def submit_entry(step: Step) -> None:
    pos: Position = step.model
    plan = dict(step.payload["plan"])
    pos.plan = plan
    pos.side = Side(plan["side"])
    pos.created_at = step.now
    entry = plan.get("entry") or {}
    limit = entry.get("type") == "limit"
    _queue(pos, step, IntentKind.ENTRY, side=pos.side.entry_order_side, qty=Decimal(plan["qty"]),
           price=Decimal(plan["price"]), limit=limit, post_only=limit and bool(entry.get("post_only")))


@REGISTRY.action("orders.submit_market_entry", leads_to=Tag.ENTRY)
def submit_market_entry(step: Step) -> None:
    """The fallback of a limit entry that expired or was refused as post-only with nothing filled: the
    planned size at market (stop and take-profits keep the plan's prices)."""
    pos: Position = step.model
    assert pos.side is not None
    _queue(pos, step, IntentKind.ENTRY, side=pos.side.entry_order_side, qty=Decimal(pos.plan["qty"]),
           price=Decimal(pos.plan["price"]))


@REGISTRY.action("orders.cancel_entry", leads_to=Tag.CANCELLING)
def cancel_entry(step: Step) -> None:
    """Cancel what rests of the limit entry; the venue's answer comes back as entry_cancelled (after any
    part it filled meanwhile, as entry_filled)."""
    _withdraw_entry(step.model, step)


@REGISTRY.action("orders.withdraw_entry")
def withdraw_entry(step: Step) -> None:
    """The same cancel on the way to `emergency`, which takes its answer and any late fill of the entry."""
    _withdraw_entry(step.model, step)


def _withdraw_entry(pos: Position, step: Step) -> None:
    for client_id in [c for c in pos.open_orders if pos.role_of(c).kind_is(RoleKind.ENTRY)]:
        _queue_cancel(pos, step, client_id)


@REGISTRY.action("position.record_entry_cancelled")
def record_entry_cancelled(step: Step) -> None:
    _forget(step.model, step.payload.get("client_id"))


@REGISTRY.action("position.record_withdrawn")
def record_withdrawn(step: Step) -> None:
    step.model.withdrawn = True


@REGISTRY.action("position.record_abandoned")
def record_abandoned(step: Step) -> None:
    pos: Position = step.model
    _forget(pos, step.payload.get("client_id"))
    pos.exit_reason = ExitReason.SHUTDOWN if pos.withdrawn else ExitReason.ENTRY_EXPIRED
    pos.closed_at = step.now


@REGISTRY.action("position.record_entry")
def record_entry(step: Step) -> None:
    pos: Position = step.model
    qty, price = Decimal(str(step.payload["qty"])), Decimal(str(step.payload["price"]))
    if pos.qty > 0 and pos.entry_price is not None:  # another part of a limit entry: average it in
        pos.entry_price = (pos.entry_price * pos.qty + price * qty) / (pos.qty + qty)
        pos.qty += qty
    else:
        pos.qty, pos.entry_price = qty, price
        pos.opened_at = step.now
    fee = Decimal(str(step.payload.get("fee", "0")))
    pos.fees += fee
    pos.realised_pnl -= fee  # realised PnL is net of every fee the position paid
    _record_part(pos, step.payload)


def _record_part(pos: Position, payload: dict[str, Any]) -> None:
    """A LIMIT order's fill so far (`cum`); the order stops being live once nothing of it rests."""
    client_id = payload.get("client_id")
    if client_id in pos.order_fills and "cum" in payload:
        size = pos.order_fills[client_id][0]
        pos.order_fills = {**pos.order_fills, client_id: [size, *(str(x) for x in payload["cum"])]}
        if not payload.get("resting"):
            _forget(pos, client_id)


@REGISTRY.action("orders.protect", leads_to=Tag.PROTECTED)
def protect(step: Step) -> None:
    """One reduce-only stop for the whole position plus the stepped take-profits.

    If the entry filled less than planned, slices are scaled down to the filled size; the last
    slice takes the rounding remainder so the slices never exceed the position.
    """
    pos: Position = step.model
    assert pos.side is not None
    exit_side = pos.side.exit_order_side
    # the parts of a limit entry had stops of their own
    _replace_stops(pos, step, from_fill(pos, Decimal(pos.plan["stop_price"])))
    limit_tps = pos.plan.get("take_profit_type") == "limit"
    planned = Decimal(pos.plan["qty"])
    step_size = Decimal(pos.plan.get("step_size", "0")) or None
    remaining = pos.qty
    slices = pos.plan.get("take_profits", [])
    for n, tp in enumerate(slices, start=1):
        qty = Decimal(tp["qty"]) * pos.qty / planned if planned else Decimal(0)
        if step_size:
            qty = (qty / step_size).to_integral_value(rounding="ROUND_FLOOR") * step_size
        qty = min(qty, remaining)
        if n == len(slices) and sum(Decimal(t["qty"]) for t in slices) == planned:
            qty = remaining  # slices cover the whole position: the last one closes it
        if qty <= 0:
            continue
        remaining -= qty
        _queue(pos, step, IntentKind.TAKE_PROFIT, side=exit_side, qty=qty,
               price=from_fill(pos, Decimal(tp["price"])),
               reduce_only=True, tp_step=n, limit=limit_tps)


@REGISTRY.action("orders.protect_filled")
def protect_filled(step: Step) -> None:
    """A part of the limit entry filled while the rest still rests: a stop for what is held now, at the
    plan's price, replacing the one for the earlier parts (queued first: never without a stop). The
    take-profits wait for the entry to be complete (or what rests of it cancelled)."""
    _replace_stops(step.model, step, from_fill(step.model, Decimal(step.model.plan["stop_price"])))


# The exit reason a fill event records when its payload names none (see record_exit).
_FILL_REASON = {
    "sl_filled": ExitReason.STOP_LOSS,
    "tp_filled": ExitReason.TAKE_PROFIT,
    "close_filled": ExitReason.CLOSE,
}


@REGISTRY.action("position.record_exit")
def record_exit(step: Step) -> None:
    pos: Position = step.model
    qty = min(Decimal(str(step.payload["qty"])), pos.qty)
    price = Decimal(str(step.payload["price"]))
    fee = Decimal(str(step.payload.get("fee", "0")))
    sign = 1 if pos.side is Side.LONG else -1
    if pos.entry_price is not None:
        pos.realised_pnl += (price - pos.entry_price) * qty * sign
    pos.realised_pnl -= fee
    pos.fees += fee
    pos.qty -= qty
    client_id = step.payload.get("client_id")
    if client_id in pos.order_fills:
        _record_part(pos, step.payload)  # a take-profit limit: live while part of it rests
    else:
        _forget(pos, client_id)
    # A close fill carries the reason the close was sent for; otherwise the fill's own kind. An event
    # the vocabulary does not know keeps its name without `_filled`, as the journal always had it.
    reason = step.payload.get("reason") or _FILL_REASON.get(step.event) or step.event.removesuffix("_filled")
    if step.event == "tp_filled" and "step" in step.payload:
        reason = ExitReason.take_profit(step.payload["step"])
    pos.exit_reason = reason
    if pos.qty <= 0:
        pos.closed_at = step.now


@REGISTRY.action("orders.trail_stop", leads_to=Tag.PROTECTED)
def trail_stop(step: Step) -> None:
    """After a take-profit slice: replace the stop with one sized to what is left, moved to
    break-even when the plan says so. The new stop is queued before the old one's cancel so the
    position is never without a stop."""
    pos: Position = step.model
    _replace_stops(pos, step, stop_price(pos, True))


@REGISTRY.action("orders.replace_stop", leads_to=Tag.PROTECTED)
def replace_stop(step: Step) -> None:
    """The venue no longer holds our stop (payload `client_id`: the one found missing). A new stop for
    the open quantity, at the stop price in force, under a fresh client id; the lost one is forgotten
    (a cancel is queued too, in case it only looked missing)."""
    pos: Position = step.model
    _replace_stops(pos, step, stop_price(pos, pos.exit_kind is ExitReason.TAKE_PROFIT))


@REGISTRY.action("orders.cancel_remaining")
def cancel_remaining(step: Step) -> None:
    _cancel_all_open(step.model, step)


@REGISTRY.action("orders.cancel_take_profits")
def cancel_take_profits(step: Step) -> None:
    """Before a close: the take-profits go, the stop-loss stays until the position is flat. A close the
    venue is slow to fill, or refuses, must not leave the position naked; the stop and the close are both
    reduce-only, so whichever fills first the other cannot open a new position."""
    pos: Position = step.model
    for client_id in [c for c in pos.open_orders if not pos.role_of(c).kind_is(RoleKind.STOP_LOSS)]:
        _queue_cancel(pos, step, client_id)


@REGISTRY.action("orders.submit_close", leads_to=Tag.EXIT)
def submit_close(step: Step) -> None:
    pos: Position = step.model
    assert pos.side is not None
    _queue(pos, step, IntentKind.CLOSE, side=pos.side.exit_order_side, qty=pos.qty, reduce_only=True)
    pos.exit_reason = step.payload.get("reason") or step.event  # a CloseRequested reason, or the timeout's name


def _exposure(pos: Position) -> tuple[Side, Decimal]:
    """The side and size the venue may hold for the position. Before the entry is known to have filled,
    the planned ones: reduce-only orders are trimmed to whatever the venue holds."""
    side = pos.side or Side(pos.plan.get("side", Side.LONG))
    return side, pos.qty if pos.qty > 0 else Decimal(pos.plan.get("qty", "0"))


def _forget(pos: Position, client_id: str | None) -> None:
    if client_id in pos.open_orders:
        pos.open_orders.remove(client_id)


@REGISTRY.action("orders.emergency_close", leads_to=Tag.EXIT)
def emergency_close(step: Step) -> None:
    """A reduce-only market close of everything the position may hold. Its stop-loss and take-profits
    stay on the venue until it is flat: reduce-only orders are trimmed to the position, so none of them
    conflicts with the close, and a close the venue refuses leaves the position protected (the
    transitions to `closed` cancel them). A close sent before (this is a retry) is forgotten: a market
    order never rests."""
    pos: Position = step.model
    for client_id in [c for c in pos.open_orders if pos.role_of(c).kind_is(RoleKind.CLOSE)]:
        pos.open_orders.remove(client_id)
    side, qty = _exposure(pos)
    _queue(pos, step, IntentKind.CLOSE, side=side.exit_order_side, qty=qty, reduce_only=True)
    pos.exit_reason = ExitReason.EMERGENCY


@REGISTRY.action("orders.keep_protected", leads_to=Tag.EMERGENCY)
def keep_protected(step: Step) -> None:
    """While the venue refuses the emergency close, the position keeps one live stop-loss. The stops the
    payload names as lost (`missing`) are forgotten (a cancel goes after the new stop, in case one only
    looked missing); with no stop left, a new one covers everything the position may hold, at the plan's
    stop moved with the fill (`from_fill`; a break-even stop is likelier to be refused as already crossed)."""
    pos: Position = step.model
    lost = [c for c in step.payload.get("missing", ()) if c in pos.open_orders]
    for client_id in lost:
        pos.open_orders.remove(client_id)
    side, qty = _exposure(pos)
    if not pos.stops() and qty > 0 and pos.plan.get("stop_price"):
        _queue(pos, step, IntentKind.STOP_LOSS, side=side.exit_order_side, qty=qty,
               price=from_fill(pos, Decimal(pos.plan["stop_price"])), reduce_only=True)
    for client_id in lost:
        _queue_cancel(pos, step, client_id)


@REGISTRY.action("orders.forget_refused")
def forget_refused(step: Step) -> None:
    """The order the venue refused (payload `client_id`) is not resting: it protects nothing."""
    _forget(step.model, step.payload.get("client_id"))


@REGISTRY.action("position.record_refusal")
def record_refusal(step: Step) -> None:
    """One more emergency close the venue refused (the bot alerts after `orders.emergency_alert_after`)."""
    pos: Position = step.model
    pos.close_refusals += 1
    _forget(pos, step.payload.get("client_id"))


@REGISTRY.action("position.record_rejection")
def record_rejection(step: Step) -> None:
    pos: Position = step.model
    _forget(pos, step.payload.get("client_id"))  # a refused limit entry rests nowhere
    pos.exit_reason = ExitReason.rejected(step.payload.get("code", ""), step.payload.get("msg", ""))
    pos.closed_at = step.now


@REGISTRY.action("position.record_flat")
def record_flat(step: Step) -> None:
    pos: Position = step.model
    pos.qty = Decimal(0)
    pos.closed_at = step.now
    pos.exit_reason = pos.exit_reason or ExitReason.FLAT
