"""The venue-side invariants, checked on the fake Binance against the bot's live positions:
exposure ⇒ exactly one live reduce-only stop ("naked" when none, "duplicates" when several), no open
order of this bot that no live position owns ("orphans"), no client id used by two orders
("duplicates"). Shared by the chaos harness and the engine-level fault tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from engine.positions.model import Position
from tests.fakes.binance import FakeBinance


def venue_violations(fake: FakeBinance, live: Iterable[Position], prefix: str) -> list[tuple[str, str]]:
    """(kind, description) for every violation; `prefix` is the bot's client-id prefix ("a1b2-")."""
    found: list[tuple[str, str]] = []
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
    owned = {cid for p in live for cid in p.open_orders}
    for order in [*fake.open_orders(), *algos]:
        cid = order.get("clientAlgoId") or order.get("clientOrderId") or ""
        if cid.startswith(prefix) and cid not in owned:
            found.append(("orphans", f"{cid} on {order['symbol']}"))
    used = Counter(o.client_order_id for o in fake.desk.orders.values() if o.orig_type == "MARKET")
    used.update(a.client_algo_id for a in fake.desk.algos.values())
    found += [("duplicates", f"client id {c} used by {n} orders") for c, n in used.items()
              if n > 1 and c.startswith(prefix)]
    return found
