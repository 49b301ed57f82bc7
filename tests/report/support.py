"""Hand-built closed positions, shaped exactly as the book appends them to history.jsonl."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.positions.model import Position, Side

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 3, tzinfo=UTC)  # a 48 h run
BALANCE = Decimal(1000)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


def closed_position(
    pid: str,
    symbol: str,
    pnl: str,
    fees: str,
    opened: datetime | None,
    closed: datetime,
    exit_reason: str,
    *,
    side: Side = Side.LONG,
    qty: str = "0.010",
    price: str = "100.0",
) -> dict[str, Any]:
    position = Position(
        id=pid,
        symbol=symbol,
        order_prefix="bt",
        state="closed",
        side=side,
        plan={"side": side.value, "qty": qty, "price": price, "stop_price": "99", "min_notional": "5"},
        qty=Decimal(0),
        entry_price=None if opened is None else Decimal(price),
        realised_pnl=Decimal(pnl),
        fees=Decimal(fees),
        created_at=opened or closed,
        opened_at=opened,
        closed_at=closed,
        state_entered_at=closed,
        exit_reason=exit_reason,
    )
    return position.to_dict()


BTC, ETH, SOL = "BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC"


def sample_history() -> list[dict[str, Any]]:
    """Seven trades and one rejected entry, deliberately not in close order.

    equity after each close: 1000 → 1030 → 1010 → 950 → 960 → 965 → 960 → 958
    day 2025-01-01: +30 −20            = +10, start 1000, never below 1000 → drawdown 0 %
    day 2025-01-02: −60 +10 +5 −5 −2   = −52, start 1010, low 950         → drawdown 60/1010 %
    (P3 opens before midnight and closes after it: it belongs to 2025-01-02)
    """
    return [
        closed_position("P4", ETH, "10", "1", at(2, 1), at(2, 1, 30), "max_hold"),
        closed_position("P1", BTC, "30", "1", at(1, 10), at(1, 10, 5), "tp3"),
        closed_position("P2", ETH, "-20", "1", at(1, 12), at(1, 12, 10), "sl", side=Side.SHORT),
        closed_position("P3", BTC, "-60", "2", at(1, 23, 50), at(2, 0, 10), "sl"),
        closed_position("P7", BTC, "0", "0", None, at(2, 3), "rejected -2019 Margin is insufficient."),
        closed_position("P5", SOL, "5", "0.5", at(2, 4, 58), at(2, 5), "tp1", qty="1.5"),
        closed_position("P6", BTC, "-5", "0.5", at(2, 7), at(2, 8), "close_requested"),
        closed_position("P8", ETH, "-2", "0.2", at(2, 9), at(2, 9, 1), "emergency"),
    ]
