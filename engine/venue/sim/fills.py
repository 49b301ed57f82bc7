"""The fills of a closed position, by order, with their liquidity: what the report needs to split fees
into maker and taker and to write each fill's liquidity into trades.csv.

A closed-position record names its orders and their roles (`order_roles`); the simulated venue that
filled them still knows each order's filled size, average price, fee and liquidity. Reading them back
at the close keeps the position's own record as the trading code writes it. One row per order: an
order filling in several pieces in the simulator is all maker (resting) or all taker (crossing at
placement, or a market, stop-market or take-profit-market order), so its liquidity is one word.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.venue.sim.engine import MatchingEngine
from engine.venue.types import Liquidity

SKIPPED_ROLES = frozenset({"cancel"})


def fills_of(engine: MatchingEngine, record: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every order of `record` that filled, in fill order: role, type, qty, average price, fee and
    liquidity (`maker` / `taker`), as strings."""
    symbol = record["symbol"]
    found = []
    for client_id, role in (record.get("order_roles") or {}).items():
        if role in SKIPPED_ROLES:
            continue
        order = engine.filled_order(symbol, client_id)
        if order is not None:
            liquidity = order.liquidity or Liquidity.TAKER  # only limit orders can be makers
            found.append((order.triggered_ms or order.updated_ms, {
                "order": client_id, "role": str(role), "type": order.type.value, "qty": str(order.filled),
                "price": str(order.average_price), "fee": str(order.fee), "liquidity": liquidity.value,
            }))
    found.sort(key=lambda pair: pair[0])
    return [fill for _, fill in found]


# What a backtest's report never reads of a closed position (history.jsonl keeps the whole record; the
# report's fill ratio reads `order_roles`).
HEAVY_KEYS = frozenset({"open_orders", "intents"})


def recording_fills(engine: MatchingEngine, sink: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """A backtest's `on_closed` callback: the record as the book wrote it (history.jsonl's line) without its
    orders and intents, plus its `fills`, handed to `sink`. The position's orders are then forgotten by the
    simulator: nothing looks up a closed position's order again, and keeping every order of a long run
    held ~100 MB."""

    finished: list[tuple[str, list[str]]] = []

    def on_closed(record: dict[str, Any]) -> None:
        fills = fills_of(engine, record)
        # The closing transition's own cancels (the stop left after a take-profit closed it) go out after
        # this call: forget the previous closed position's orders, which are all final by now.
        while finished:
            engine.forget(*finished.pop())
        finished.append((record["symbol"], list(record.get("order_roles") or {})))
        sink({**{k: v for k, v in record.items() if k not in HEAVY_KEYS}, "fills": fills})

    return on_closed
