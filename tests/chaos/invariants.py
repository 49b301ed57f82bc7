"""The invariants a state folder and the venue must keep after any kill and restart. Shared by the
chaos harness and the engine-level fault tests.

On the fake Binance, against the bot's live positions (`venue_violations`, `unguarded_positions`):
exposure ⇒ exactly one live reduce-only stop ("naked" when none, "duplicates" when several), and every
protected live position with exposure on the venue has a stop of its own resting there ("naked");
no open order of this bot that no live position owns, nor an entry order resting for a position that no
longer waits for its entry (past `resting` / `cancelling_entry`: "orphans"); no client id used by two
orders, market, limit or algo ("duplicates").

Between the journal, the snapshot and the history (`ledger_violations`): the snapshot's live
positions are exactly those the journal replays to ("replay_mismatch"); every position the journal
closes is in the history exactly once, as the journal replays it, and no other position is
("history_mismatch").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

from engine.positions.model import Position, RoleKind
from tests.fakes.binance import FakeBinance

ENTRY_STATES = ("entering", "resting", "cancelling_entry")  # the states that still want their entry order


def venue_violations(fake: FakeBinance, live: Iterable[Position], prefix: str) -> list[tuple[str, str]]:
    """(kind, description) for every violation; `prefix` is the bot's client-id prefix ("a1b2-")."""
    found: list[tuple[str, str]] = []
    live = list(live)
    algos = fake.open_algo_orders()
    for row in fake.positions():
        amount = Decimal(row["positionAmt"])
        if amount == 0:
            continue
        exit_side = "SELL" if amount > 0 else "BUY"
        stops = [a for a in algos if a["symbol"] == row["symbol"] and a["orderType"] == "STOP_MARKET"
                 and a["side"] == exit_side and a["reduceOnly"]]
        if not stops:
            found.append(("naked", f"{row['symbol']} {amount} without a stop"))
        elif len(stops) > 1:
            found.append(("duplicates", f"{row['symbol']}: stops {[a['clientAlgoId'] for a in stops]}"))
    owned = {cid: p for p in live for cid in p.open_orders}
    for order in [*fake.open_orders(), *algos]:
        cid = order.get("clientAlgoId") or order.get("clientOrderId") or ""
        owner = owned.get(cid)
        if cid.startswith(prefix) and owner is None:
            found.append(("orphans", f"{cid} on {order['symbol']}"))
        elif owner is not None and owner.role_of(cid).kind_is(RoleKind.ENTRY) and owner.state not in ENTRY_STATES:
            found.append(("orphans", f"entry {cid} rests on {order['symbol']} for {owner.id}, {owner.state}"))
    used = Counter(o.client_order_id for o in fake.desk.orders.values() if o.orig_type in ("MARKET", "LIMIT"))
    used.update(a.client_algo_id for a in fake.desk.algos.values())
    found += [("duplicates", f"client id {c} used by {n} orders") for c, n in used.items()
              if n > 1 and c.startswith(prefix)]
    return found


def unguarded_positions(fake: FakeBinance, live: Iterable[Position],
                        protected: Collection[str]) -> list[tuple[str, str]]:
    """("naked", …) for every live position in a `protected` state whose symbol is exposed on the venue
    while none of the position's own stops rests there (a stop of another bot or a stale one does not
    count)."""
    # Resting stops first, exposure second: a stop that triggers in between removes the exposure too,
    # so the market moving on while we look cannot make a guarded position look naked.
    resting = {a["clientAlgoId"] for a in fake.open_algo_orders()}
    exposed = {row["symbol"] for row in fake.positions() if Decimal(row["positionAmt"]) != 0}
    return [("naked", f"{p.id} {p.state} {p.qty} {p.symbol}: none of its stops {p.stops()} rests on the venue")
            for p in live if p.state in protected and p.qty > 0 and venue_id(p.symbol) in exposed
            and not set(p.stops()) & resting]


def venue_id(symbol: str) -> str:
    """BTC/USDC:USDC → BTCUSDC, as the fapi names it."""
    return symbol.split(":")[0].replace("/", "")


def ledger_violations(replayed: Mapping[str, Position], snapshot: Mapping[str, Position],
                      history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Journal (`replayed`: every position the journal replays to), snapshot (its live positions) and
    history (its lines, in order) against each other."""
    found: list[tuple[str, str]] = []
    live = {pid: p.to_dict() for pid, p in replayed.items() if p.state != "closed"}
    closed = {pid: p.to_dict() for pid, p in replayed.items() if p.state == "closed"}
    saved = {pid: p.to_dict() for pid, p in snapshot.items()}
    for pid in sorted(live.keys() | saved.keys()):
        if pid not in saved:
            found.append(("replay_mismatch", f"{pid} is live in the journal, missing from the snapshot"))
        elif pid not in live:
            found.append(("replay_mismatch", f"{pid} is in the snapshot, {_journal_says(pid, replayed)}"))
        elif saved[pid] != live[pid]:
            found.append(("replay_mismatch", f"{pid}: the snapshot differs from the journal replay"))
    lines = Counter(h.get("id") for h in history)
    for pid in sorted(closed):
        if lines[pid] != 1:
            found.append(("history_mismatch", f"{pid} closed in the journal, {lines[pid]} line(s) in the history"))
    for pid in sorted(lines.keys() - closed.keys(), key=str):
        found.append(("history_mismatch", f"{pid} is in the history, {_journal_says(pid, replayed)}"))
    for h in history:
        if h.get("id") in closed and h != closed[h["id"]]:
            found.append(("history_mismatch", f"{h['id']}: the history line differs from the journal replay"))
    return found


def _journal_says(pid: object, replayed: Mapping[str, Position]) -> str:
    position = replayed.get(pid) if isinstance(pid, str) else None
    return "unknown to the journal" if position is None else f"{position.state} in the journal"
