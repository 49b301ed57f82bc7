"""Binance payloads -> engine records. Every amount is read from Binance's raw decimal strings (the
`info` ccxt keeps), never from ccxt's float copies, so quantities, prices and fees stay exact.

Status mapping (reference §5, §6):
- orders: NEW -> NEW; PARTIALLY_FILLED -> PARTIALLY_FILLED (a LIMIT order still resting, part filled;
  both open); FILLED -> FILLED; CANCELED -> CANCELED (a canceled LIMIT order keeps what filled);
  REJECTED -> REJECTED; EXPIRED, EXPIRED_IN_MATCH -> EXPIRED (a market order can expire partly filled);
- algo (conditional) orders: NEW -> NEW; TRIGGERING, TRIGGERED, FINISHED -> TRIGGERED until the order
  it became (`actualOrderId`) is known, then that order's outcome (FILLED, EXPIRED, ...) with its fill;
  CANCELED, REJECTED, EXPIRED as named.

Liquidity (maker or taker) of an order's fills: Binance's order payload does not say; its trades do
(`/fapi/v1/userTrades` `maker`), and the venue reads them when it looks up the fee (`liquidity_of`).
Without trades the rule is (`order_liquidity`): MARKET, STOP_MARKET and TAKE_PROFIT_MARKET fills are
taker fills; a post-only (GTX) LIMIT order only ever fills as the maker; a GTC LIMIT order that had
filled in the answer to placing it crossed the book (taker), and one whose fills were found later by
polling was resting when it filled (maker). The last rule is wrong for a GTC order that crossed, rested
and filled again: only its trades tell, so the trades win whenever they could be read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.venue.types import (
    ZERO,
    Balance,
    Candle,
    Liquidity,
    MarginMode,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    Side,
    Ticker,
)

log = logging.getLogger("engine.venue.binance")

Raw = Mapping[str, Any]

ORDER_STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
ALGO_STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "TRIGGERING": OrderStatus.TRIGGERED,
    "TRIGGERED": OrderStatus.TRIGGERED,
    "FINISHED": OrderStatus.TRIGGERED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
# The order a triggered conditional order became: its status decides the conditional order's.
ACTUAL_ORDER_STATUS: dict[str, OrderStatus] = {**ORDER_STATUS, "NEW": OrderStatus.TRIGGERED,
                                               "PARTIALLY_FILLED": OrderStatus.TRIGGERED}
ORDER_TYPES: dict[str, OrderType] = {
    "MARKET": OrderType.MARKET,
    "LIMIT": OrderType.LIMIT,
    "STOP_MARKET": OrderType.STOP_MARKET,
    "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET,
}


def dec(value: Any, default: Decimal = ZERO) -> Decimal:
    """A Binance decimal string (or number) as Decimal; `default` for None, "" or garbage."""
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return default


def wire(value: Decimal) -> str:
    """The exact decimal string sent for a quantity or price (no exponent, no rounding)."""
    return format(value, "f")


def flag(value: Any) -> bool:
    """Binance booleans arrive as JSON booleans or as "true"/"false"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def order_type(raw_type: Any) -> OrderType | None:
    """The engine order type for Binance's name, or None for types the engine never places (STOP,
    TAKE_PROFIT, TRAILING_STOP_MARKET, LIQUIDATION...)."""
    return ORDER_TYPES.get(str(raw_type or "").upper())


def _status(table: Mapping[str, OrderStatus], raw_status: Any, what: str) -> OrderStatus:
    status = table.get(str(raw_status or "").upper())
    if status is None:
        # Unknown to us: treat as still working, so nobody assumes it is gone.
        log.warning("unknown %s status %r; treating it as NEW", what, raw_status)
        return OrderStatus.NEW
    return status


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def order_liquidity(type_: OrderType, post_only: bool, filled: Decimal, *, answer: bool) -> Liquidity | None:
    """The liquidity of an order's fills by the rule of the module docstring (None while nothing
    filled); `answer`: the payload is the answer to placing the order."""
    if filled <= 0:
        return None
    if type_ is not OrderType.LIMIT:
        return Liquidity.TAKER
    return Liquidity.TAKER if answer and not post_only else Liquidity.MAKER


def order_state(raw: Raw, *, symbol: str, fee_asset: str, fee: Decimal = ZERO, answer: bool = False) -> OrderState:
    """A plain `/fapi/v1/order` payload (place with RESULT, query, cancel, openOrders row); `answer`: it
    is the answer to placing the order (see `order_liquidity`). Raises ValueError for an order type
    the engine does not know."""
    type_ = order_type(raw.get("origType")) or order_type(raw.get("type"))
    if type_ is None:
        raise ValueError(f"order type {raw.get('type')!r} is not one the engine uses")
    filled = dec(raw.get("executedQty"))
    average = dec(raw.get("avgPrice"))
    updated = _int(raw.get("updateTime"))
    stop = dec(raw.get("stopPrice"))
    limit = dec(raw.get("price"))
    post_only = type_ is OrderType.LIMIT and str(raw.get("timeInForce", "")).upper() == "GTX"
    return OrderState(
        client_id=str(raw.get("clientOrderId", "")),
        venue_id=str(raw.get("orderId", "")),
        symbol=symbol,
        side=Side(str(raw["side"]).lower()),
        type=type_,
        qty=dec(raw.get("origQty")),
        filled=filled,
        average_price=average if filled > 0 and average > 0 else None,
        trigger_price=stop if type_.is_conditional and stop > 0 else None,
        reduce_only=flag(raw.get("reduceOnly")),
        status=_status(ORDER_STATUS, raw.get("status"), "order"),
        fee=fee,
        fee_asset=fee_asset,
        created_ms=_int(raw.get("time")) or updated,
        updated_ms=updated,
        price=limit if type_ is OrderType.LIMIT and limit > 0 else None,
        post_only=post_only,
        liquidity=order_liquidity(type_, post_only, filled, answer=answer),
    )


def algo_order_state(raw: Raw, *, symbol: str, fee_asset: str) -> OrderState:
    """A `/fapi/v1/algoOrder` payload (place, query, openAlgoOrders row), before any fill is known.
    Raises ValueError for an order type the engine does not know."""
    type_ = order_type(raw.get("orderType") or raw.get("type"))
    if type_ is None or not type_.is_conditional:
        raise ValueError(f"algo order type {raw.get('orderType')!r} is not one the engine uses")
    trigger = dec(raw.get("triggerPrice"))
    created = _int(raw.get("createTime"))
    triggered = _int(raw.get("triggerTime"))
    return OrderState(
        client_id=str(raw.get("clientAlgoId", "")),
        venue_id=str(raw.get("algoId", "")),
        symbol=symbol,
        side=Side(str(raw["side"]).lower()),
        type=type_,
        qty=dec(raw.get("quantity")),
        filled=ZERO,
        average_price=None,
        trigger_price=trigger if trigger > 0 else None,
        reduce_only=flag(raw.get("reduceOnly")) or flag(raw.get("closePosition")),
        status=_status(ALGO_STATUS, raw.get("algoStatus"), "algo order"),
        fee=ZERO,
        fee_asset=fee_asset,
        created_ms=created,
        updated_ms=_int(raw.get("updateTime")) or created,
        triggered_ms=triggered or None,
    )


def actual_order_id(raw: Raw) -> str | None:
    """The id of the order a triggered algo order became, or None before it triggered."""
    value = raw.get("actualOrderId")
    return None if value in (None, "", 0, "0") else str(value)


def with_fill(conditional: OrderState, actual: Raw, fee: Decimal, fee_asset: str) -> OrderState:
    """A triggered conditional order completed with the outcome and fill of the order it became."""
    filled = dec(actual.get("executedQty"))
    average = dec(actual.get("avgPrice"))
    return replace(
        conditional,
        status=_status(ACTUAL_ORDER_STATUS, actual.get("status"), "triggered order"),
        filled=filled,
        average_price=average if filled > 0 and average > 0 else None,
        fee=fee,
        fee_asset=fee_asset,
        updated_ms=max(conditional.updated_ms, _int(actual.get("updateTime"))),
    )


def liquidity_of(trades: Iterable[Raw]) -> Liquidity | None:
    """Liquidity of the latest of an order's userTrades rows (`maker`), None without trades."""
    latest = max(trades, key=lambda t: (_int(t.get("time")), _int(t.get("id"))), default=None)
    if latest is None or "maker" not in latest:
        return None
    return Liquidity.MAKER if flag(latest.get("maker")) else Liquidity.TAKER


def total_fee(trades: Iterable[Raw], default_asset: str) -> tuple[Decimal, str]:
    """Sum of `commission` over userTrades rows (Binance charges the fee per trade), and its asset."""
    fee, asset = ZERO, None
    for trade in trades:
        fee += dec(trade.get("commission"))
        asset = asset or trade.get("commissionAsset")
    return fee, str(asset or default_asset)


def balance(account: Raw, asset: str) -> Balance:
    """One asset of a `/fapi/v3/account` answer; zeros when the account never held it. Every asset is
    kept whatever its `updateTime` (ccxt's fetch_balance drops `updateTime == 0`, gotcha 4)."""
    for row in account.get("assets", ()):
        if row.get("asset") == asset:
            return Balance(
                asset=asset,
                wallet=dec(row.get("walletBalance")),
                total=dec(row.get("marginBalance")),
                free=dec(row.get("availableBalance")),
                used=dec(row.get("initialMargin")),
                unrealized_pnl=dec(row.get("unrealizedProfit")),
            )
    return Balance(asset=asset, wallet=ZERO, total=ZERO, free=ZERO, used=ZERO, unrealized_pnl=ZERO)


def position(row: Raw, symbol: str, *, known_leverage: int | None = None) -> Position | None:
    """One `/fapi/v3/positionRisk` row, or None when flat.

    v3 carries no leverage and no margin type: isolated is told by a non-zero isolated wallet, and the
    leverage is |notional| / positionInitialMargin (Binance computes that margin as notional at mark
    over leverage), else `known_leverage` (the last value set), else 0."""
    amount = dec(row.get("positionAmt"))
    if amount == 0:
        return None
    isolated_wallet = dec(row.get("isolatedWallet"), dec(row.get("isolatedMargin")))
    margin_mode = MarginMode.ISOLATED if isolated_wallet != 0 else MarginMode.CROSS
    notional = abs(dec(row.get("notional")))
    initial = dec(row.get("positionInitialMargin"), dec(row.get("initialMargin")))
    if initial > 0 and notional > 0:
        leverage = int((notional / initial).to_integral_value())
    else:
        leverage = known_leverage or 0
    liquidation = dec(row.get("liquidationPrice"))
    return Position(
        symbol=symbol,
        side=PositionSide.LONG if amount > 0 else PositionSide.SHORT,
        qty=abs(amount),
        entry_price=dec(row.get("entryPrice")),
        mark_price=dec(row.get("markPrice")),
        unrealized_pnl=dec(row.get("unRealizedProfit")),
        leverage=leverage,
        margin_mode=margin_mode,
        margin=isolated_wallet if margin_mode is MarginMode.ISOLATED else initial,
        liquidation_price=liquidation if liquidation > 0 else None,
    )


def candle(row: list[Any]) -> Candle:
    """One ccxt OHLCV row `[open_ms, o, h, l, c, volume]`."""
    volume = row[5] if len(row) > 5 and row[5] is not None else 0.0
    return Candle(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(volume))


def ticker(raw: Raw, symbol: str) -> Ticker:
    """A `/fapi/v1/ticker/24hr` payload. It has no bid/ask (reference §6): both None."""
    return Ticker(symbol=symbol, last=dec(raw.get("lastPrice")), bid=None, ask=None,
                  timestamp_ms=_int(raw.get("closeTime")))


@dataclass(frozen=True, slots=True)
class AccountTrade:
    """One fill of the account (`/fapi/v1/userTrades`), for reconciliation."""

    trade_id: str
    order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    realized_pnl: Decimal
    maker: bool
    timestamp_ms: int


def account_trade(raw: Raw, symbol: str) -> AccountTrade:
    return AccountTrade(
        trade_id=str(raw.get("id", "")),
        order_id=str(raw.get("orderId", "")),
        symbol=symbol,
        side=Side(str(raw["side"]).lower()),
        qty=dec(raw.get("qty")),
        price=dec(raw.get("price")),
        fee=dec(raw.get("commission")),
        fee_asset=str(raw.get("commissionAsset", "")),
        realized_pnl=dec(raw.get("realizedPnl")),
        maker=flag(raw.get("maker")),
        timestamp_ms=_int(raw.get("time")),
    )
