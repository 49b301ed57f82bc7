"""Account views over the matching engine in Binance's shapes: `/fapi/v3/account` (and v2),
`/fapi/v3/positionRisk` (and v2), `/fapi/v1/leverageBracket`, `/fapi/v1/symbolConfig`.

Margin maths are always the engine's isolated maths. The margin TYPE is a per-symbol label kept here,
CROSSED by default like a fresh Binance account, so that `marginType` requests behave like Binance
(-4046 when unchanged, -4047/-4048 when locked); a CROSSED symbol reports `isolatedMargin` "0".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.venue.leverage import maintenance_margin, max_notional_for_leverage
from engine.venue.markets import Market
from engine.venue.sim import MatchingEngine
from engine.venue.sim.book import SymbolBook, q8, to_decimal
from engine.venue.types import ZERO
from tests.fakes.binance.shapes import plain, price_text, qty_text

ZERO_ASSETS = ("BNB",)  # listed with updateTime 0, as Binance lists never-used assets (ccxt drops them)


@dataclass
class AccountSettings:
    """Account-level switches the engine does not model; the bot must refuse hedge and multi-assets."""

    margin_types: dict[str, str] = field(default_factory=dict)  # venue id -> ISOLATED / CROSSED
    hedge_mode: bool = False
    multi_assets: bool = False

    def margin_type(self, market: Market) -> str:
        return self.margin_types.get(market.id, "CROSSED")


@dataclass(frozen=True)
class _Numbers:
    qty: Decimal  # signed
    entry: Decimal
    mark: Decimal
    upnl: Decimal
    notional: Decimal  # signed
    margin: Decimal  # isolated wallet of the position
    maint: Decimal
    initial: Decimal


def _numbers(book: SymbolBook) -> _Numbers:
    mark = to_decimal(book.last) if book.last is not None else book.entry
    notional = book.qty * mark
    upnl = (mark - book.entry) * book.qty
    maint = maintenance_margin(book.brackets, notional) if book.qty else ZERO
    initial = abs(notional) / Decimal(book.leverage)
    return _Numbers(book.qty, book.entry, mark, q8(upnl), q8(notional), book.margin, q8(maint), q8(initial))


def position_row_v3(book: SymbolBook, settings: AccountSettings, update_ms: int) -> dict[str, Any]:
    m, n = book.market, _numbers(book)
    isolated = settings.margin_type(m) == "ISOLATED"
    liq = book.liq_price if book.liq_price is not None else ZERO
    return {
        "symbol": m.id, "positionSide": "BOTH", "positionAmt": qty_text(m, n.qty),
        "entryPrice": plain(n.entry), "breakEvenPrice": plain(n.entry), "markPrice": plain(n.mark),
        "unRealizedProfit": plain(n.upnl), "liquidationPrice": price_text(m, liq) if liq else "0",
        "isolatedMargin": plain(q8(n.margin + n.upnl)) if isolated else "0", "notional": plain(n.notional),
        "marginAsset": m.settle, "isolatedWallet": plain(q8(n.margin)) if isolated else "0",
        "initialMargin": plain(n.initial), "maintMargin": plain(n.maint), "positionInitialMargin": plain(n.initial),
        "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": update_ms,
    }


def position_row_v2(book: SymbolBook, settings: AccountSettings, update_ms: int) -> dict[str, Any]:
    v3 = position_row_v3(book, settings, update_ms)
    isolated = settings.margin_type(book.market) == "ISOLATED"
    return {
        "symbol": v3["symbol"], "positionAmt": v3["positionAmt"], "entryPrice": v3["entryPrice"],
        "breakEvenPrice": v3["breakEvenPrice"], "markPrice": v3["markPrice"],
        "unRealizedProfit": v3["unRealizedProfit"], "liquidationPrice": v3["liquidationPrice"],
        "leverage": str(book.leverage),
        "maxNotionalValue": plain(max_notional_for_leverage(book.brackets, book.leverage)),
        "marginType": "isolated" if isolated else "cross", "isolatedMargin": v3["isolatedMargin"],
        "isAutoAddMargin": "false", "positionSide": "BOTH", "notional": v3["notional"],
        "isolatedWallet": v3["isolatedWallet"], "updateTime": update_ms, "isolated": isolated, "adlQuantile": 0,
    }


def asset_row(engine: MatchingEngine, asset: str, update_ms: int) -> dict[str, Any]:
    balance = engine.balance(asset)
    books = [engine.book(p.symbol) for p in engine.positions()]
    maint = sum((_numbers(b).maint for b in books if b.market.settle == asset), ZERO)
    used = plain(q8(balance.used))
    return {
        "asset": asset, "walletBalance": plain(balance.wallet), "unrealizedProfit": plain(q8(balance.unrealized_pnl)),
        "marginBalance": plain(q8(balance.total)), "maintMargin": plain(maint), "initialMargin": used,
        "positionInitialMargin": used, "openOrderInitialMargin": "0",
        "crossWalletBalance": plain(q8(balance.wallet - balance.used)), "crossUnPnl": "0",
        "availableBalance": plain(q8(balance.free)), "maxWithdrawAmount": plain(q8(balance.free)),
        "marginAvailable": True, "updateTime": update_ms,
    }


def zero_asset_row(asset: str) -> dict[str, Any]:
    zero = "0.00000000"
    return {
        "asset": asset, "walletBalance": zero, "unrealizedProfit": zero, "marginBalance": zero, "maintMargin": zero,
        "initialMargin": zero, "positionInitialMargin": zero, "openOrderInitialMargin": zero,
        "crossWalletBalance": zero, "crossUnPnl": zero, "availableBalance": zero, "maxWithdrawAmount": zero,
        "marginAvailable": True, "updateTime": 0,
    }


def account_json(
    engine: MatchingEngine, assets: list[str], settings: AccountSettings, update_ms: dict[str, int],
    position_update_ms: int,
) -> dict[str, Any]:
    """`/fapi/v3/account`: funded assets carry a non-zero updateTime (ccxt drops assets whose
    updateTime is 0); positions list the symbols holding one."""
    rows = [asset_row(engine, a, update_ms[a]) for a in assets] + [zero_asset_row(a) for a in ZERO_ASSETS]

    def total(key: str) -> str:
        return plain(sum((Decimal(r[key]) for r in rows), ZERO))

    positions = []
    for position in engine.positions():
        v3 = position_row_v3(engine.book(position.symbol), settings, position_update_ms)
        positions.append({k: v3[k] for k in (
            "symbol", "positionSide", "positionAmt", "unRealizedProfit", "isolatedMargin", "notional",
            "isolatedWallet", "initialMargin", "maintMargin", "updateTime")})
    return {
        "totalInitialMargin": total("initialMargin"), "totalMaintMargin": total("maintMargin"),
        "totalWalletBalance": total("walletBalance"), "totalUnrealizedProfit": total("unrealizedProfit"),
        "totalMarginBalance": total("marginBalance"), "totalPositionInitialMargin": total("positionInitialMargin"),
        "totalOpenOrderInitialMargin": "0", "totalCrossWalletBalance": total("crossWalletBalance"),
        "totalCrossUnPnl": "0", "availableBalance": total("availableBalance"),
        "maxWithdrawAmount": total("maxWithdrawAmount"), "assets": rows, "positions": positions,
    }


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def leverage_bracket_json(book: SymbolBook) -> dict[str, Any]:
    """One symbol of `/fapi/v1/leverageBracket` (JSON numbers, as Binance sends them)."""
    return {
        "symbol": book.market.id,
        "notionalCoef": 1.0,
        "brackets": [
            {"bracket": b.tier, "initialLeverage": b.max_leverage, "notionalCap": _number(b.notional_cap),
             "notionalFloor": _number(b.notional_floor), "maintMarginRatio": float(b.maint_margin_rate),
             "cum": float(b.cum)}
            for b in book.brackets
        ],
    }


def symbol_config_json(book: SymbolBook, settings: AccountSettings) -> dict[str, Any]:
    return {
        "symbol": book.market.id, "marginType": settings.margin_type(book.market), "isAutoAddMargin": "false",
        "leverage": book.leverage, "maxNotionalValue": plain(max_notional_for_leverage(book.brackets, book.leverage)),
    }
