"""Leverage brackets (Binance `GET /fapi/v1/leverageBracket`) and the isolated liquidation price.

Brackets are read from ccxt's `fetch_leverage_tiers` shape (a dict keyed by unified symbol, each a list of
tiers whose `info` holds Binance's exact strings: notionalFloor, notionalCap, initialLeverage,
maintMarginRatio, cum). The exact strings are used, not ccxt's float copies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.venue.types import PositionSide


@dataclass(frozen=True, slots=True)
class Bracket:
    """Positions with notional in [notional_floor, notional_cap) use this tier's maintenance margin."""

    tier: int
    notional_floor: Decimal
    notional_cap: Decimal
    max_leverage: int
    maint_margin_rate: Decimal
    cum: Decimal  # maintenance amount: makes maintenance margin continuous across tiers


Brackets = tuple[Bracket, ...]

# Used when a market has no brackets (synthetic markets in tests): one tier, deliberately strict.
DEFAULT_BRACKETS: Brackets = (
    Bracket(
        tier=1,
        notional_floor=Decimal(0),
        notional_cap=Decimal("1e18"),
        max_leverage=20,
        maint_margin_rate=Decimal("0.01"),
        cum=Decimal(0),
    ),
)


def parse_leverage_tiers(payload: dict[str, Any]) -> dict[str, Brackets]:
    """Brackets per unified symbol, sorted by tier. Raises KeyError/ValueError on a malformed tier."""
    out: dict[str, Brackets] = {}
    for symbol, tiers in payload.items():
        brackets = []
        for tier in tiers:
            info = tier.get("info") or {}
            brackets.append(
                Bracket(
                    tier=int(info.get("bracket", tier.get("tier"))),
                    notional_floor=Decimal(str(info.get("notionalFloor", tier.get("minNotional")))),
                    notional_cap=Decimal(str(info.get("notionalCap", tier.get("maxNotional")))),
                    max_leverage=int(Decimal(str(info.get("initialLeverage", tier.get("maxLeverage"))))),
                    maint_margin_rate=Decimal(
                        str(info.get("maintMarginRatio", tier.get("maintenanceMarginRate")))
                    ),
                    cum=Decimal(str(info.get("cum", "0"))),
                )
            )
        if brackets:
            out[symbol] = tuple(sorted(brackets, key=lambda b: b.notional_floor))
    return out


def load_leverage_tiers(path: Path) -> dict[str, Brackets]:
    """Brackets from a `binance-leverage-tiers.json` file (see parse_leverage_tiers)."""
    with path.open("r", encoding="utf-8") as fh:
        return parse_leverage_tiers(json.load(fh))


def bracket_for(brackets: Sequence[Bracket], notional: Decimal) -> Bracket:
    """The tier for a position notional (absolute value used). Above the last cap: the last tier."""
    notional = abs(notional)
    for bracket in brackets:
        if notional < bracket.notional_cap:
            return bracket
    return brackets[-1]


def max_leverage_for(brackets: Sequence[Bracket], notional: Decimal) -> int:
    """The highest leverage Binance allows for a position of this notional."""
    return bracket_for(brackets, notional).max_leverage


def max_notional_for_leverage(brackets: Sequence[Bracket], leverage: int) -> Decimal:
    """The largest position notional allowed at `leverage` (0 if no tier allows that leverage)."""
    cap = Decimal(0)
    for bracket in brackets:
        if bracket.max_leverage >= leverage:
            cap = max(cap, bracket.notional_cap)
    return cap


def maintenance_margin(brackets: Sequence[Bracket], notional: Decimal) -> Decimal:
    """Maintenance margin = |notional| * rate - cum, with the tier of that notional."""
    bracket = bracket_for(brackets, notional)
    return abs(notional) * bracket.maint_margin_rate - bracket.cum


def isolated_liquidation_price(
    side: PositionSide,
    qty: Decimal,
    entry_price: Decimal,
    isolated_margin: Decimal,
    brackets: Sequence[Bracket],
) -> Decimal:
    """Liquidation price of an isolated one-way position (Binance's formula, single position):

        LP = (WB + cum - s * Q * EP) / (Q * MMR - s * Q)

    with WB the isolated margin, s = +1 long / -1 short, Q the quantity, EP the entry price and MMR/cum
    from the bracket of the entry notional Q * EP. Long: LP = (Q*EP - WB - cum) / (Q * (1 - MMR));
    short: LP = (Q*EP + WB + cum) / (Q * (1 + MMR)). The mark price reaching LP leaves exactly the
    maintenance margin. Returns 0 for a long that cannot be liquidated (LP <= 0). Raises ValueError for
    qty <= 0."""
    if qty <= 0:
        raise ValueError(f"liquidation price needs a positive quantity, got {qty}")
    bracket = bracket_for(brackets, qty * entry_price)
    s = 1 if side is PositionSide.LONG else -1
    price = (isolated_margin + bracket.cum - s * qty * entry_price) / (
        qty * bracket.maint_margin_rate - s * qty
    )
    return max(price, Decimal(0))
