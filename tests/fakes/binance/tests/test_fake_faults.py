"""Injected faults and what the real ccxt client makes of them (reference §8–§10)."""

from __future__ import annotations

import time

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.errors import (
    BadRequest,
    DDoSProtection,
    ExchangeNotAvailable,
    InsufficientFunds,
    InvalidNonce,
    InvalidOrder,
    OperationFailed,
    OperationRejected,
    OrderImmediatelyFillable,
    RequestTimeout,
)

from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.binance.tests.conftest import MakeClient
from tests.fakes.binance.tests.support import BTC, on_tick, price

ORDER = "/fapi/v1/order"


async def buy(ex: ccxt_async.binanceusdm, client_id: str = "entry-1", amount: float = 0.01) -> dict:
    return await ex.create_order(BTC, "market", "buy", amount, None, {"clientOrderId": client_id})


async def test_latency_delays_only_matching_requests(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    fake.inject(Fault.latency(0.3, path="/fapi/v1/ticker/24hr"))
    began = time.monotonic()
    await ex.fetch_ticker(BTC)
    assert time.monotonic() - began >= 0.3
    await ex.fetch_time()
    assert [(f.kind, f.path) for f in fake.fired] == [("latency", "/fapi/v1/ticker/24hr")]


async def test_timeout_before_accept_leaves_no_order(fake: FakeBinance, make_client: MakeClient) -> None:
    ex = make_client(fake, timeout=300)
    fake.inject(Fault.timeout(1.0, path=ORDER))
    with pytest.raises(RequestTimeout):
        await buy(ex)
    assert fake.positions() == [] and fake.desk.orders == {}


async def test_timeout_after_accept_leaves_an_order_the_client_never_heard_of(
    fake: FakeBinance, make_client: MakeClient
) -> None:
    ex = make_client(fake, timeout=300)
    fake.inject(Fault.timeout(1.0, after_accept=True, path=ORDER))
    with pytest.raises(RequestTimeout):
        await buy(ex, "maybe-1")
    found = await ex.fetch_order(None, BTC, {"origClientOrderId": "maybe-1"})  # reconcile by client id
    assert found["status"] == "closed" and found["filled"] == 0.01
    assert [p["symbol"] for p in fake.positions()] == ["BTCUSDC"]


@pytest.mark.parametrize(
    ("status", "json_body", "expected"),
    [(500, True, OperationFailed), (503, True, OperationFailed), (503, False, ExchangeNotAvailable)],
)
@pytest.mark.parametrize("after_accept", [False, True])
async def test_5xx_means_status_unknown(
    ex: ccxt_async.binanceusdm, fake: FakeBinance, status: int, json_body: bool, expected: type, after_accept: bool
) -> None:
    fake.inject(Fault.http_error(status, after_accept=after_accept, json_body=json_body, path=ORDER))
    with pytest.raises(expected):
        await buy(ex, "unknown-1")
    assert fake.requests[-1].status == status
    assert bool(fake.positions()) is after_accept  # accepted or not: only a lookup can tell
    again = await buy(ex, "unknown-2")  # the fault was used up
    assert again["status"] == "closed"


async def test_429_and_418_carry_retry_after(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    fake.inject(Fault.rate_limit(retry_after=3, path=ORDER))
    with pytest.raises(DDoSProtection, match="429"):
        await buy(ex)
    assert ex.last_response_headers["Retry-After"] == "3"
    assert "X-MBX-USED-WEIGHT-1M" in ex.last_response_headers
    fake.inject(Fault.ban(retry_after=120))
    with pytest.raises(DDoSProtection, match="418"):
        await ex.fetch_ticker(BTC)  # no path: any request
    assert ex.last_response_headers["Retry-After"] == "120"
    assert fake.positions() == [] and [f.kind for f in fake.fired] == ["rate_limit", "ban"]


async def test_bad_timestamp_hits_the_next_signed_requests_only(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    fake.inject(Fault.bad_timestamp(times=2))
    await ex.fetch_ticker(BTC)  # public: unaffected, does not use the fault up
    for _ in range(2):
        with pytest.raises(InvalidNonce, match="-1021"):
            await ex.fetch_balance()
    assert (await ex.fetch_balance())["USDC"]["total"] == 10000
    assert [f.path for f in fake.fired] == ["/fapi/v3/account"] * 2


@pytest.mark.parametrize(
    ("code", "msg", "expected"),
    [
        (-2019, "Margin is insufficient.", InsufficientFunds),
        (-4164, "Order's notional must be no smaller than 100 (unless you choose reduce only).", InvalidOrder),
        (-2021, "Order would immediately trigger.", OrderImmediatelyFillable),
        (-2022, "ReduceOnly Order is rejected.", InvalidOrder),
        (-1111, "Precision is over the maximum defined for this asset.", BadRequest),
        (-4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit.", OperationRejected),
    ],
)
async def test_reject_answers_any_binance_code_and_does_nothing(
    ex: ccxt_async.binanceusdm, fake: FakeBinance, code: int, msg: str, expected: type
) -> None:
    fake.inject(Fault.reject(code, msg, method="POST", path=ORDER))
    with pytest.raises(expected, match=str(code)):
        await buy(ex)
    assert fake.positions() == [] and fake.requests[-1].status == 400


async def test_partial_fill_expires_with_the_filled_part_only(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    fake.inject(Fault.partial_fill(0.5))
    order = await buy(ex, amount=0.01)
    assert (order["status"], order["amount"], order["filled"], order["remaining"]) == ("expired", 0.01, 0.005, 0.005)
    [position] = await ex.fetch_positions([BTC])
    assert position["contracts"] == 0.005
    assert (await buy(ex, "entry-2"))["filled"] == 0.01  # next order: whole again


async def test_vanish_silently_removes_a_stop_loss(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    await buy(ex)
    trigger = on_tick(price(fake) * 0.99)
    params = {"stopPrice": trigger, "reduceOnly": True}
    fake.inject(Fault.vanish("sl-later"))  # armed before the order exists
    kept = await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, {**params, "clientOrderId": "sl-kept"})
    later = await ex.create_order(BTC, "STOP_MARKET", "sell", 0.01, None, {**params, "clientOrderId": "sl-later"})
    assert later["status"] == "open"  # the client saw it accepted ...
    open_ids = [o["id"] for o in await ex.fetch_open_orders(BTC, params={"trigger": True})]
    assert open_ids == [kept["id"]]  # ... and then it was gone
    assert (await ex.fetch_order(later["id"], BTC, {"trigger": True}))["status"] == "canceled"
    fake.inject(Fault.vanish("sl-kept"))
    assert fake.open_algo_orders() == []
    assert [f.kind for f in fake.fired] == ["vanish", "vanish"]


async def test_faults_until_cleared(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    fake.inject(Fault.http_error(503, path="/fapi/v1/ticker/24hr", times=None))
    for _ in range(3):
        with pytest.raises(OperationFailed):
            await ex.fetch_ticker(BTC)
    fake.clear_faults()
    assert (await ex.fetch_ticker(BTC))["last"] == price(fake)
    assert len(fake.fired) == 3
