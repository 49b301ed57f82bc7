"""Signed trading endpoints: normal orders (`/fapi/v1/order` and friends), algo (conditional) orders
(`/fapi/v1/algoOrder` and friends) and trade history, with Binance's parameter rules and error codes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from engine.venue.types import Side
from tests.fakes.binance import shapes
from tests.fakes.binance.errors import (
    ApiError,
    bad_request,
    mandatory,
    not_required,
    order_does_not_exist,
    unknown_order,
    unsupported,
)
from tests.fakes.binance.limits import OPEN_STATUSES
from tests.fakes.binance.orders import AlgoRecord, OrderRecord
from tests.fakes.binance.params import Params
from tests.fakes.binance.routes_account import time_window

if TYPE_CHECKING:
    from decimal import Decimal

    from engine.venue.markets import Market
    from tests.fakes.binance.fake import FakeBinance

ORDER_TYPES = ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
CONDITIONAL_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
SIMULATED_ALGO_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")
SIMULATED_TIME_IN_FORCE = ("GTC", "GTX")  # IOC, FOK and GTD answer "not simulated" (-9999)
WORKING_TYPES = ("MARK_PRICE", "CONTRACT_PRICE")
USE_ALGO_ENDPOINT = "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def _side(p: Params) -> Side:
    side = p.get("side")
    if side is None:
        raise mandatory("side")
    if side not in ("BUY", "SELL"):
        raise bad_request(-1117, "Invalid side.")
    return Side.BUY if side == "BUY" else Side.SELL


def _one_way(fake: FakeBinance, p: Params) -> None:
    """Hedge mode needs positionSide LONG/SHORT (which the engine cannot simulate); one-way mode BOTH."""
    position_side = p.get("positionSide", "BOTH")
    if fake.settings.hedge_mode:
        if position_side == "BOTH":
            raise bad_request(-4061, "Order's position side does not match user's setting.")
        raise unsupported("hedge-mode (positionSide LONG/SHORT) orders")
    if position_side != "BOTH":
        raise bad_request(-4061, "Order's position side does not match user's setting.")


def _client_id(p: Params, name: str) -> str | None:
    client_id = p.get(name)
    if client_id is not None and not _CLIENT_ID.match(client_id):
        raise bad_request(-4015, "Client order id is not valid.")
    return client_id


def _choice(p: Params, name: str, valid: tuple[str, ...], simulated: tuple[str, ...], *, invalid: ApiError,
            gap: str) -> str:
    """A mandatory parameter with a fixed set of values: -1102 when missing, `invalid` outside `valid`,
    "not simulated" (`gap` names it) for a valid value the fake does not simulate."""
    value = p.get(name)
    if value is None:
        raise mandatory(name)
    if value not in valid:
        raise invalid
    if value not in simulated:
        raise unsupported(gap.format(value))
    return value


# ---- normal orders -----------------------------------------------------------------------------------


def new_order(fake: FakeBinance, p: Params) -> Any:
    market = fake.market_param(p)
    side = _side(p)
    order_type = p.get("type")
    if order_type is None:
        raise mandatory("type")
    if order_type in CONDITIONAL_TYPES:
        raise bad_request(-4120, USE_ALGO_ENDPOINT)
    if order_type not in ORDER_TYPES:
        raise bad_request(-1116, "Invalid orderType.")
    if order_type not in ("MARKET", "LIMIT"):
        raise unsupported(f"{order_type} orders (only MARKET, LIMIT and STOP_MARKET/TAKE_PROFIT_MARKET algo orders)")
    _one_way(fake, p)
    quantity = p.decimal("quantity")
    if quantity is None:
        raise mandatory("quantity")
    response_type = p.get("newOrderRespType", "ACK")
    if response_type not in ("ACK", "RESULT"):
        raise bad_request(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
    client_id = _client_id(p, "newClientOrderId")
    if order_type == "LIMIT":
        return _new_limit_order(fake, p, market, side, quantity, client_id, ack=response_type == "ACK")
    partial = fake.faults.take("partial_fill", "POST", "/fapi/v1/order")
    record = fake.desk.place_market(market, side, quantity, client_id, p.boolean("reduceOnly"),
                                    partial.ratio if partial is not None else None)
    return shapes.order_json(record, ack=response_type == "ACK")


def _new_limit_order(
    fake: FakeBinance, p: Params, market: Market, side: Side, quantity: Decimal, client_id: str | None, *, ack: bool
) -> Any:
    time_in_force = _choice(p, "timeInForce", TIME_IN_FORCE, SIMULATED_TIME_IN_FORCE,
                            invalid=bad_request(-1130, "Data sent for parameter 'timeInForce' is not valid."),
                            gap="timeInForce {} (only GTC and GTX LIMIT orders)")
    price = p.decimal("price")
    if price is None:
        raise mandatory("price")
    stall = fake.faults.take("fill_then_silence", "POST", "/fapi/v1/order", p.values)
    record = fake.desk.place_limit(market, side, quantity, price, client_id, reduce_only=p.boolean("reduceOnly"),
                                   post_only=time_in_force == "GTX", stall_ratio=stall.ratio if stall else None)
    return shapes.order_json(record, ack=ack)


def _lookup(fake: FakeBinance, p: Params) -> tuple[Market, OrderRecord | None]:
    market = fake.market_param(p)
    order_id, client_id = p.integer("orderId"), p.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise bad_request(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    return market, fake.desk.order(market, order_id, client_id)


def query_order(fake: FakeBinance, p: Params) -> Any:
    _, record = _lookup(fake, p)
    if record is None:
        raise order_does_not_exist()
    return shapes.order_json(record, query=True)


def cancel_order(fake: FakeBinance, p: Params) -> Any:
    _, record = _lookup(fake, p)
    if record is None or record.status not in OPEN_STATUSES:
        raise unknown_order()  # filled, canceled, expired or never placed: not open (Binance: -2011)
    if fake.faults.take("cancel_race", "DELETE", "/fapi/v1/order", p.values) is not None:
        fake.desk.fill_rest(record)  # the fill lands first; the cancel then finds nothing open
        raise unknown_order()
    return shapes.order_json(fake.desk.cancel_limit(record))


def query_open_order(fake: FakeBinance, p: Params) -> Any:
    _, record = _lookup(fake, p)
    if record is None or record.status not in OPEN_STATUSES:
        raise order_does_not_exist()  # filled or canceled orders are "not exist" here, as on Binance
    return shapes.order_json(record, query=True)


def open_orders(fake: FakeBinance, p: Params) -> Any:
    return [shapes.order_json(o, query=True) for o in fake.desk.open_limits(fake.optional_market(p))]


def cancel_all_orders(fake: FakeBinance, p: Params) -> Any:
    for record in fake.desk.open_limits(fake.market_param(p)):
        fake.desk.cancel_limit(record)
    return shapes.CANCEL_ALL


def all_orders(fake: FakeBinance, p: Params) -> Any:
    market = fake.market_param(p)
    rows = _history(p, "orderId", fake.desk.orders_of(market), lambda o: (o.order_id, o.time_ms))
    return [shapes.order_json(o, query=True) for o in rows]


def user_trades(fake: FakeBinance, p: Params) -> Any:
    market = fake.market_param(p)
    limit = p.limit(500, 1000)
    from_id = p.integer("fromId")
    order_id = p.integer("orderId")  # Binance: only with symbol; the trades of that one order
    if order_id is not None:
        rows = [t for t in fake.desk.trades if t.market.id == market.id and t.order_id == order_id][:limit]
    elif from_id is not None:
        rows = [t for t in fake.desk.trades if t.market.id == market.id and t.trade_id >= from_id][:limit]
    else:
        start, end = time_window(p, fake.market_time_ms)
        rows = [t for t in fake.desk.trades if t.market.id == market.id and start <= t.time_ms <= end]
        rows = rows[:limit] if "startTime" in p else rows[-limit:]
    return [shapes.trade_json(t) for t in rows]


# ---- algo orders ---------------------------------------------------------------------------------------


def new_algo_order(fake: FakeBinance, p: Params) -> Any:
    algo_type = p.get("algoType")
    if algo_type is None:
        raise mandatory("algoType")
    if algo_type != "CONDITIONAL":
        raise bad_request(-1130, "Data sent for parameter 'algoType' is not valid.")
    market = fake.market_param(p)
    side = _side(p)
    order_type = _choice(p, "type", CONDITIONAL_TYPES, SIMULATED_ALGO_TYPES,
                         invalid=bad_request(-1116, "Invalid orderType."),
                         gap="{} algo orders (only STOP_MARKET and TAKE_PROFIT_MARKET)")
    _one_way(fake, p)
    trigger = p.decimal("triggerPrice")
    if trigger is None:
        raise mandatory("triggerPrice")
    close_position, reduce_only = p.boolean("closePosition"), p.boolean("reduceOnly")
    quantity = p.decimal("quantity")
    if close_position and quantity is not None:
        raise not_required("quantity")
    if close_position and reduce_only:
        raise not_required("reduceOnly")
    if not close_position and quantity is None:
        raise mandatory("quantity")
    if not close_position and not reduce_only:
        position = fake.engine.book(market.symbol).qty
        if position == 0 or (position > 0) == (side is Side.BUY):
            raise unsupported("conditional orders that open or add to a position (send reduceOnly=true)")
    working_type = p.get("workingType", "CONTRACT_PRICE")
    if working_type not in WORKING_TYPES:
        raise bad_request(-1130, "Data sent for parameter 'workingType' is not valid.")
    record = fake.desk.place_algo(
        market, side, order_type, quantity, trigger, _client_id(p, "clientAlgoId"), close_position=close_position,
        reduce_only=reduce_only, working_type=working_type, price_protect=p.boolean("priceProtect"),
    )
    return shapes.algo_json(record, query=False)


def _algo_lookup(fake: FakeBinance, p: Params) -> AlgoRecord | None:
    market = fake.optional_market(p)
    algo_id, client_id = p.integer("algoId"), p.get("clientAlgoId")
    if algo_id is None and client_id is None:
        raise bad_request(-1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!")
    return fake.desk.algo(algo_id, client_id, market)


def query_algo_order(fake: FakeBinance, p: Params) -> Any:
    record = _algo_lookup(fake, p)
    if record is None:
        raise order_does_not_exist()
    return shapes.algo_json(record)


def cancel_algo_order(fake: FakeBinance, p: Params) -> Any:
    record = _algo_lookup(fake, p)
    if record is None or record.status != "NEW":
        raise unknown_order()
    return shapes.algo_cancel_json(fake.desk.cancel_algo(record))


def open_algo_orders(fake: FakeBinance, p: Params) -> Any:
    return [shapes.algo_json(a) for a in fake.desk.open_algos(fake.optional_market(p))]


def cancel_all_algo_orders(fake: FakeBinance, p: Params) -> Any:
    market = fake.market_param(p)
    for record in fake.desk.open_algos(market):
        fake.desk.cancel_algo(record)
    return shapes.CANCEL_ALL


def all_algo_orders(fake: FakeBinance, p: Params) -> Any:
    market = fake.market_param(p)
    rows = _history(p, "algoId", fake.desk.algos_of(market), lambda a: (a.algo_id, a.create_ms))
    return [shapes.algo_json(a) for a in rows]


def _history[T](p: Params, id_param: str, records: Iterable[T], key: Callable[[T], tuple[int, int]]) -> list[T]:
    """allOrders / allAlgoOrders paging: from an id or a time window, at most `limit` (500, max 1000);
    the oldest first when a start is given, else the newest `limit`. `key` gives (id, time)."""
    from_id = p.integer(id_param)
    start, end = p.integer("startTime"), p.integer("endTime")
    limit = p.limit(500, 1000)
    rows = [
        r for r in records
        if (from_id is None or key(r)[0] >= from_id) and (start is None or key(r)[1] >= start)
        and (end is None or key(r)[1] <= end)
    ]
    return rows[:limit] if from_id is not None or start is not None else rows[-limit:]
