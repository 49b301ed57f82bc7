"""Signed requests: the key header, the HMAC over the raw parameters, and the timestamp against the
wall clock, checked with hand-built requests (aiohttp) and with the real ccxt client."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import aiohttp
import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.errors import AuthenticationError, ExchangeError, InvalidNonce

from tests.fakes.binance import FakeBinance
from tests.fakes.binance.auth import sign
from tests.fakes.binance.tests.conftest import MakeClient


def signed_query(fake: FakeBinance, params: dict[str, str], *, timestamp: int | None = None) -> str:
    query = urlencode({"timestamp": str(timestamp or int(time.time() * 1000)), **params, "recvWindow": "10000"})
    return f"{query}&signature={sign(fake.secret, query)}"


async def send(
    fake: FakeBinance, method: str, path: str, query: str = "", body: str = "", key: str | None = "test-key"
) -> tuple[int, dict]:
    headers = {"X-MBX-APIKEY": key} if key is not None else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = f"{fake.base_url}{path}" + (f"?{query}" if query else "")
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, data=body or None, headers=headers) as response:
            return response.status, await response.json()


async def test_a_correctly_signed_request_passes(fake: FakeBinance) -> None:
    status, body = await send(fake, "GET", "/fapi/v3/account", signed_query(fake, {}))
    assert status == 200 and {a["asset"] for a in body["assets"]} >= {"USDC", "USDT"}
    assert fake.requests[-1].signed and fake.requests[-1].status == 200


async def test_a_tampered_query_fails_the_signature(fake: FakeBinance) -> None:
    query = signed_query(fake, {"symbol": "BTCUSDC"}).replace("BTCUSDC", "ETHUSDC")
    status, body = await send(fake, "GET", "/fapi/v3/positionRisk", query)
    assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})


async def test_a_tampered_form_body_fails_the_signature(fake: FakeBinance) -> None:
    body = signed_query(fake, {"symbol": "BTCUSDC", "side": "BUY", "type": "MARKET", "quantity": "0.01"})
    status, answer = await send(fake, "POST", "/fapi/v1/order", body=body.replace("0.01", "0.02"))
    assert (status, answer["code"]) == (400, -1022)
    assert fake.positions() == []
    status, answer = await send(fake, "POST", "/fapi/v1/order", body=body)
    assert status == 200 and answer["status"] == "NEW"  # default newOrderRespType is ACK


async def test_keys_and_mandatory_parameters(fake: FakeBinance) -> None:
    query = signed_query(fake, {})
    assert await send(fake, "GET", "/fapi/v3/account", query, key="wrong-key") == (
        401,
        {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    assert (await send(fake, "GET", "/fapi/v3/account", query, key=None))[1]["code"] == -2014
    assert (await send(fake, "GET", "/fapi/v3/account", query, key="bad key!"))[1]["code"] == -2014
    status, body = await send(fake, "GET", "/fapi/v3/account", "recvWindow=5000")
    assert (status, body["code"]) == (400, -1102) and "timestamp" in body["msg"]
    too_wide = signed_query(fake, {}).replace("recvWindow=10000", "recvWindow=70000")
    assert (await send(fake, "GET", "/fapi/v3/account", too_wide))[1]["code"] == -1131
    status, _ = await send(fake, "GET", "/fapi/v1/ticker/price", "symbol=BTCUSDC", key=None)
    assert status == 200  # public endpoints need no key


async def test_timestamps_are_checked_against_the_wall_clock(fake: FakeBinance) -> None:
    now = int(time.time() * 1000)
    stale = signed_query(fake, {}, timestamp=now - 11_000)  # older than recvWindow 10000
    assert (await send(fake, "GET", "/fapi/v3/account", stale))[1]["code"] == -1021
    ahead = signed_query(fake, {}, timestamp=now + 5_000)
    assert (await send(fake, "GET", "/fapi/v3/account", ahead))[1]["code"] == -1021
    fake.advance(100)  # the market clock does not matter for signing
    assert (await send(fake, "GET", "/fapi/v3/account", signed_query(fake, {})))[0] == 200


async def test_ccxt_maps_auth_failures(fake: FakeBinance, make_client: MakeClient) -> None:
    wrong = make_client(fake)
    wrong.secret = "not-the-secret"
    with pytest.raises(AuthenticationError, match="-1022"):
        await wrong.fetch_balance()
    stranger = make_client(fake)
    stranger.apiKey = "someone-else"
    with pytest.raises(AuthenticationError, match="-2015"):
        await stranger.fetch_balance()
    late = make_client(fake, timeDifference=20_000)  # the client's clock runs 20 s behind
    with pytest.raises(InvalidNonce, match="-1021"):
        await late.fetch_balance()
    wide = make_client(fake, recvWindow=70_000)
    with pytest.raises(ExchangeError, match="-1131"):
        await wide.fetch_balance()


async def test_requests_are_recorded_with_their_parameters(ex: ccxt_async.binanceusdm, fake: FakeBinance) -> None:
    await ex.fetch_balance()
    await ex.fetch_ticker("BTC/USDC:USDC")
    account, ticker = fake.requests
    assert (account.method, account.path, account.signed, account.status) == ("GET", "/fapi/v3/account", True, 200)
    assert {"timestamp", "recvWindow", "signature"} <= set(account.params)
    assert (ticker.path, ticker.params, ticker.signed) == ("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDC"}, False)
