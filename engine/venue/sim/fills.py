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


def recording_fills(engine: MatchingEngine, sink: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """An `on_closed` callback: the record as the book wrote it (history.jsonl's line) plus its `fills`,
    handed to `sink`."""

    def on_closed(record: dict[str, Any]) -> None:
        sink({**record, "fills": fills_of(engine, record)})

    return on_closed
