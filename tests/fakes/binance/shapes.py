"""JSON bodies in Binance USD-M's shapes (reference §5–§6): numbers as strings, times as int ms.

Prices are written with the market's tick decimals, quantities with its step decimals, money exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from engine.venue.markets import PERPETUAL_DELIVERY_MS, Market
from tests.fakes.binance.market import Bars
from tests.fakes.binance.orders import AlgoRecord, IncomeRecord, OrderRecord, TradeRecord

REQUIRED_ORDER_TYPES = ("MARKET", "LIMIT", "STOP_MARKET", "TAKE_PROFIT_MARKET")
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def plain(value: Decimal) -> str:
    """A Decimal as Binance writes it: positional, never an exponent."""
    return format(value, "f")


def decimals(unit: Decimal) -> int:
    exponent = unit.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def price_text(market: Market, value: Decimal | float) -> str:
    return f"{Decimal(str(value)):.{decimals(market.tick_size)}f}"


def qty_text(market: Market, value: Decimal | float) -> str:
    places = decimals(market.step_size)
    if isinstance(value, Decimal):
        places = max(places, decimals(value))  # a size from before a step change keeps all its digits
    return f"{Decimal(str(value)):.{places}f}"


# ---- public market data ------------------------------------------------------------------------------


def exchange_info(symbols: list[dict[str, Any]], assets: list[dict[str, Any]], server_ms: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "assets": assets,
        "symbols": symbols,
    }


def with_order_types(raw: dict[str, Any]) -> dict[str, Any]:
    """A snapshot symbol whose `orderTypes` lists every type the bot sends (ccxt checks it locally)."""
    listed = list(raw.get("orderTypes", []))
    return {**raw, "orderTypes": listed + [t for t in REQUIRED_ORDER_TYPES if t not in listed]}


def symbol_entry(market: Market) -> dict[str, Any]:
    """An exchangeInfo symbol built from a Market (when no snapshot file is available)."""
    return {
        "symbol": market.id, "pair": market.id, "contractType": market.contract_type,
        "deliveryDate": PERPETUAL_DELIVERY_MS, "onboardDate": market.onboard_ms or 1_569_398_400_000,
        "status": market.status, "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": market.base, "quoteAsset": market.quote, "marginAsset": market.settle,
        "pricePrecision": decimals(market.tick_size), "quantityPrecision": decimals(market.step_size),
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": plain(market.liquidation_fee), "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": plain(market.min_price), "maxPrice": plain(market.max_price),
             "tickSize": plain(market.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": plain(market.min_qty), "maxQty": plain(market.max_qty),
             "stepSize": plain(market.step_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": plain(market.market_min_qty),
             "maxQty": plain(market.market_max_qty), "stepSize": plain(market.market_step_size)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": plain(market.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def kline_rows(market: Market, bars: Bars, interval_ms: int) -> list[list[Any]]:
    p, q = decimals(market.tick_size), decimals(market.step_size)
    rows = []
    for t, (o, h, lo, c, v), quote, count in zip(bars.times, bars.ohlcv, bars.quote, bars.counts, strict=True):
        trades = int(count) * 40 if v > 0 else 0
        rows.append([
            int(t), f"{o:.{p}f}", f"{h:.{p}f}", f"{lo:.{p}f}", f"{c:.{p}f}", f"{v:.{q}f}",
            int(t) + interval_ms - 1, f"{quote:.4f}", trades, f"{v / 2:.{q}f}", f"{quote / 2:.4f}", "0",
        ])
    return rows


def ticker_24h(market: Market, bars: Bars, last: float, now_ms: int, first_id: int) -> dict[str, Any]:
    o = float(bars.ohlcv[0, 0]) if len(bars.times) else last
    high = float(np.max(bars.ohlcv[:, 1])) if len(bars.times) else last
    low = float(np.min(bars.ohlcv[:, 2])) if len(bars.times) else last
    volume = float(np.sum(bars.ohlcv[:, 4]))
    quote = float(np.sum(bars.quote))
    count = int(np.sum(bars.counts)) * 40
    p, q = decimals(market.tick_size), decimals(market.step_size)
    change = last - o
    return {
        "symbol": market.id, "priceChange": f"{change:.{p}f}",
        "priceChangePercent": f"{(change / o * 100 if o else 0):.3f}",
        "weightedAvgPrice": f"{(quote / volume if volume else last):.{p}f}", "lastPrice": f"{last:.{p}f}",
        "lastQty": f"{float(market.market_min_qty):.{q}f}", "openPrice": f"{o:.{p}f}", "highPrice": f"{high:.{p}f}",
        "lowPrice": f"{low:.{p}f}", "volume": f"{volume:.{q}f}", "quoteVolume": f"{quote:.2f}",
        "openTime": now_ms - 86_400_000, "closeTime": now_ms, "firstId": first_id,
        "lastId": first_id + max(count - 1, 0), "count": count,
    }


# ---- orders ------------------------------------------------------------------------------------------


def order_json(order: OrderRecord, *, ack: bool = False, query: bool = False) -> dict[str, Any]:
    """`/fapi/v1/order` answer. `ack`: newOrderRespType=ACK (status NEW, nothing filled yet);
    `query`: GET adds `time`. A LIMIT order carries its price and timeInForce (GTC / GTX); a MARKET one
    price "0" and GTC, as Binance writes them."""
    m = order.market
    filled = not ack and order.executed_qty > 0
    limit = order.orig_type == "LIMIT"
    data: dict[str, Any] = {
        "orderId": order.order_id, "symbol": m.id, "status": "NEW" if ack else order.status,
        "clientOrderId": order.client_order_id, "price": price_text(m, order.price) if limit else "0",
        "avgPrice": plain(order.avg_price) if filled else "0.00",
        "origQty": qty_text(m, order.orig_qty), "executedQty": qty_text(m, order.executed_qty if not ack else 0),
        "cumQty": qty_text(m, order.executed_qty if not ack else 0),
        "cumQuote": plain(order.cum_quote) if filled else "0", "timeInForce": order.time_in_force,
        "type": "LIMIT" if limit else "MARKET",
        "reduceOnly": order.reduce_only, "closePosition": False, "side": order.side, "positionSide": "BOTH",
        "stopPrice": price_text(m, order.stop_price) if order.stop_price else "0",
        "workingType": order.working_type, "priceProtect": order.price_protect, "origType": order.orig_type,
        "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
        "updateTime": order.update_ms,
    }
    if query:
        data["time"] = order.time_ms
    return data


def algo_json(algo: AlgoRecord, *, query: bool = True) -> dict[str, Any]:
    """`/fapi/v1/algoOrder` answer; queries and lists add `actualOrderId` / `actualPrice` ("" until
    triggered)."""
    m = algo.market
    data: dict[str, Any] = {
        "algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "algoType": "CONDITIONAL",
        "orderType": algo.order_type, "symbol": m.id, "side": algo.side, "positionSide": "BOTH",
        "timeInForce": "GTC", "quantity": qty_text(m, algo.quantity), "algoStatus": algo.status,
        "triggerPrice": price_text(m, algo.trigger_price), "price": "0", "icebergQuantity": None,
        "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": algo.working_type, "priceMatch": "NONE",
        "closePosition": algo.close_position, "priceProtect": algo.price_protect, "reduceOnly": algo.reduce_only,
        "activatePrice": "", "callbackRate": "", "createTime": algo.create_ms, "updateTime": algo.update_ms,
        "triggerTime": algo.trigger_ms, "goodTillDate": 0,
    }
    if query:
        data["actualOrderId"] = "" if algo.actual_order_id is None else str(algo.actual_order_id)
        data["actualPrice"] = "" if algo.actual_price is None else plain(algo.actual_price)
    return data


def algo_cancel_json(algo: AlgoRecord) -> dict[str, Any]:
    return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200", "msg": "success"}


CANCEL_ALL = {"code": 200, "msg": "The operation of cancel all open order is done."}


def trade_json(trade: TradeRecord) -> dict[str, Any]:
    m = trade.market
    return {
        "symbol": m.id, "id": trade.trade_id, "orderId": trade.order_id, "side": trade.side,
        "price": plain(trade.price), "qty": qty_text(m, trade.qty), "realizedPnl": plain(trade.realized_pnl),
        "marginAsset": m.settle, "quoteQty": plain(trade.qty * trade.price), "commission": plain(trade.commission),
        "commissionAsset": trade.commission_asset, "time": trade.time_ms, "positionSide": "BOTH",
        "maker": trade.maker, "buyer": trade.side == "BUY",
    }


def income_json(income: IncomeRecord) -> dict[str, Any]:
    return {
        "symbol": income.market.id, "incomeType": income.income_type, "income": plain(income.amount),
        "asset": income.asset, "info": income.income_type, "time": income.time_ms, "tranId": income.tran_id,
        "tradeId": income.trade_id,
    }
