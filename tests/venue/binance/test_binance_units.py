"""Offline units of the Binance venue: credentials, error classification, the retry policy, payload
conversion. The on-the-wire behaviour is in test_binance_wire.py against the fake fapi server."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from ccxt.base import errors as cx

from engine.errors import UserError
from engine.venue.binance import BinanceVenue, Credentials, OfflineRefused, convert, load_credentials
from engine.venue.binance.client import is_loopback_url, retry_after_seconds
from engine.venue.binance.errors import FailureKind, binance_error, classify
from engine.venue.binance.retry import Requester, RetryPolicy
from engine.venue.errors import (
    MarginInsufficient,
    MinNotional,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    ReduceOnlyRejected,
    RequestRejected,
    StatusUnknown,
    VenueUnavailable,
    WouldImmediatelyTrigger,
)
from engine.venue.types import OrderStatus, OrderType, Side

CREDS = Credentials("k3y-VALUE-never-shown", "s3cret-VALUE-never-shown")


# ---- credentials -------------------------------------------------------------------------------------


def test_credentials_from_environment_win_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BINANCE_API_KEY=file-key\nBINANCE_API_SECRET=file-secret\n")
    creds = load_credentials(env_file=env_file, environ={"BINANCE_API_KEY": "env-key"})
    assert (creds.api_key, creds.secret) == ("env-key", "file-secret")


def test_credentials_with_custom_names(tmp_path: Path) -> None:
    creds = load_credentials("MY_KEY", "MY_SECRET", env_file=None, environ={"MY_KEY": "a", "MY_SECRET": "b"})
    assert (creds.api_key, creds.secret, creds.key_env) == ("a", "b", "MY_KEY")


def test_missing_credentials_name_the_variables(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="BINANCE_API_KEY and BINANCE_API_SECRET"):
        load_credentials(env_file=tmp_path / "absent.env", environ={})
    with pytest.raises(UserError, match="BINANCE_API_SECRET") as info:
        load_credentials(env_file=None, environ={"BINANCE_API_KEY": "x", "BINANCE_API_SECRET": "  "})
    assert "BINANCE_API_KEY" not in str(info.value).split("set ")[1].split(" in ")[0]


def test_credentials_repr_hides_values() -> None:
    for text in (repr(CREDS), str(CREDS), f"{CREDS}"):
        assert "VALUE" not in text and "BINANCE_API_KEY" in text


# ---- offline guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://127.5.0.1", "http://[::1]:9000"])
def test_loopback_urls(url: str) -> None:
    assert is_loopback_url(url)


@pytest.mark.parametrize("url", ["https://fapi.binance.com", "http://localhost:1", "http://10.0.0.2:80", "nonsense"])
def test_non_loopback_urls(url: str) -> None:
    assert not is_loopback_url(url)


@pytest.mark.parametrize(
    ("mode", "base_url"),
    [("testnet", None), ("live", None), ("live", "https://fapi.binance.com"), ("testnet", "http://192.168.1.5:80")],
)
def test_offline_refuses_anything_but_loopback(mode: str, base_url: str | None) -> None:
    with pytest.raises(OfflineRefused, match="ENGINE_OFFLINE=1"):
        BinanceVenue(CREDS, mode=mode, base_url=base_url)  # type: ignore[arg-type]


async def test_offline_allows_loopback_and_repr_hides_keys() -> None:
    venue = BinanceVenue(CREDS, mode="live", base_url="http://127.0.0.1:9")
    assert "VALUE" not in repr(venue) and "$BINANCE_API_KEY" in repr(venue)
    await venue.close()
    with pytest.raises(VenueUnavailable):
        await venue.balance("USDC")


# ---- error classification ----------------------------------------------------------------------------


def _ccxt_error(cls: type[cx.BaseError], body: str, status: int | None = 400, retry_after: float | None = None):
    exc = cls(f"binanceusdm {body}")
    exc.http_status = status  # what client.TaggedBinanceUsdm attaches
    exc.retry_after = retry_after
    return exc


def test_binance_error_is_parsed_from_ccxt_messages() -> None:
    assert binance_error('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}') == (
        -2019,
        "Margin is insufficient.",
    )
    assert binance_error('binanceusdm 429 Too Many Requests {"code": -1003, "msg": "Too many"}') == (-1003, "Too many")
    assert binance_error('binanceusdm {"algoId": 1, "code": "200", "msg": "success"}') is None
    assert binance_error("binanceusdm GET http://127.0.0.1/fapi/v1/order") is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (-2019, MarginInsufficient),
        (-4164, MinNotional),
        (-2021, WouldImmediatelyTrigger),
        (-2022, ReduceOnlyRejected),
        (-2013, OrderNotFound),
        (-2011, OrderNotFound),
    ],
)
def test_rejections_map_by_code_whatever_ccxt_class(code: int, expected: type[Exception]) -> None:
    exc = _ccxt_error(cx.ExchangeError, f'{{"code":{code},"msg":"m"}}')
    error = classify(exc).error(order=True)
    assert type(error) is expected and error.code == code


def test_unknown_code_is_request_rejected_with_code() -> None:
    failure = classify(_ccxt_error(cx.ExchangeError, '{"code":-9999,"msg":"odd"}'))
    assert failure.kind is FailureKind.REJECTED
    read_error = failure.error(order=False)
    assert type(read_error) is RequestRejected and read_error.code == -9999
    assert isinstance(failure.error(order=True), OrderRejected)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_ccxt_error(cx.ExchangeNotAvailable, '{"code":-1001,"msg":"Internal"}', 503), FailureKind.UNKNOWN_OUTCOME),
        (_ccxt_error(cx.ExchangeNotAvailable, "<html>bad gateway</html>", 502), FailureKind.UNKNOWN_OUTCOME),
        (_ccxt_error(cx.RequestTimeout, "GET http://127.0.0.1/x", None), FailureKind.UNKNOWN_OUTCOME),
        (_ccxt_error(cx.DDoSProtection, '{"code":-1003,"msg":"x"}', 429, 3.0), FailureKind.RATE_LIMITED),
        (_ccxt_error(cx.DDoSProtection, "banned", 418, 120.0), FailureKind.RATE_LIMITED),
        (_ccxt_error(cx.InvalidNonce, '{"code":-1021,"msg":"Timestamp"}'), FailureKind.TIMESTAMP),
        (_ccxt_error(cx.ExchangeError, '{"code":-1008,"msg":"busy"}', 503), FailureKind.UNREACHABLE),
        (_ccxt_error(cx.InvalidOrder, "amount must be greater than minimum", None), FailureKind.REJECTED),
    ],
)
def test_classify(exc: cx.BaseError, kind: FailureKind) -> None:
    assert classify(exc).kind is kind


def test_unknown_outcome_is_status_unknown_for_orders_only() -> None:
    failure = classify(_ccxt_error(cx.ExchangeNotAvailable, '{"code":-1001,"msg":"x"}', 503))
    assert isinstance(failure.error(order=True), StatusUnknown)
    assert isinstance(failure.error(order=False), VenueUnavailable)


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now_s=1445412470.0) == 10.0


# ---- retry policy --------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.resyncs = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def resync(self) -> None:
        self.resyncs += 1


def _scripted(*outcomes: object):
    calls = {"n": 0}

    async def call() -> object:
        outcome = outcomes[calls["n"]]
        calls["n"] += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return call, calls


async def test_reads_retry_with_backoff_then_succeed() -> None:
    rec = Recorder()
    requester = Requester(RetryPolicy(attempts=4, base_delay_s=0.1, jitter=0.0), resync=rec.resync, sleep=rec.sleep)
    timeout = _ccxt_error(cx.RequestTimeout, "timeout", None)
    call, calls = _scripted(timeout, _ccxt_error(cx.ExchangeNotAvailable, "5xx", 500), "ok")
    assert await requester.read("x", call) == "ok"
    assert rec.sleeps == [0.1, 0.2] and calls["n"] == 3


async def test_reads_give_up_after_the_attempts() -> None:
    rec = Recorder()
    requester = Requester(RetryPolicy(attempts=3, base_delay_s=0.1), resync=rec.resync, sleep=rec.sleep)
    failing = [_ccxt_error(cx.ExchangeNotAvailable, "5xx", 500)] * 5
    call, calls = _scripted(*failing)
    with pytest.raises(VenueUnavailable):
        await requester.read("x", call)
    assert calls["n"] == 3 and len(rec.sleeps) == 2


async def test_rate_limited_read_waits_retry_after_within_budget_only() -> None:
    rec = Recorder()
    requester = Requester(RetryPolicy(max_wait_s=10), resync=rec.resync, sleep=rec.sleep)
    call, _ = _scripted(_ccxt_error(cx.DDoSProtection, "429", 429, 2.5), "ok")
    assert await requester.read("x", call) == "ok"
    assert rec.sleeps == [2.5]
    call, _ = _scripted(_ccxt_error(cx.DDoSProtection, "418", 418, 120.0), "ok")
    with pytest.raises(RateLimited) as info:
        await requester.read("x", call)
    assert info.value.retry_after == 120.0 and rec.sleeps == [2.5]


async def test_orders_are_never_retried_except_after_a_timestamp_resync() -> None:
    rec = Recorder()
    requester = Requester(RetryPolicy(), resync=rec.resync, sleep=rec.sleep)
    call, calls = _scripted(_ccxt_error(cx.RequestTimeout, "timeout", None), "placed twice!")
    with pytest.raises(StatusUnknown):
        await requester.order("x", call)
    assert calls["n"] == 1 and rec.sleeps == []
    call, calls = _scripted(_ccxt_error(cx.InvalidNonce, '{"code":-1021,"msg":"ts"}'), "placed")
    assert await requester.order("x", call) == "placed"
    assert rec.resyncs == 1 and calls["n"] == 2
    call, calls = _scripted(*[_ccxt_error(cx.InvalidNonce, '{"code":-1021,"msg":"ts"}')] * 3)
    with pytest.raises(VenueUnavailable):  # still refused after the resync: nothing was done
        await requester.order("x", call)
    assert calls["n"] == 2


# ---- conversion ----------------------------------------------------------------------------------------


ALGO = {
    "algoId": 77,
    "clientAlgoId": "bot-P1-S1",
    "algoType": "CONDITIONAL",
    "orderType": "STOP_MARKET",
    "symbol": "BTCUSDC",
    "side": "SELL",
    "quantity": "0.010",
    "algoStatus": "TRIGGERED",
    "triggerPrice": "58000.0",
    "reduceOnly": True,
    "createTime": 1000,
    "updateTime": 2000,
    "triggerTime": 1500,
    "actualOrderId": "991",
}


def test_algo_order_then_fill_of_its_actual_order() -> None:
    state = convert.algo_order_state(ALGO, symbol="BTC/USDC:USDC", fee_asset="USDC")
    assert state.status is OrderStatus.TRIGGERED and state.type is OrderType.STOP_MARKET and state.side is Side.SELL
    assert state.qty == Decimal("0.010") and state.trigger_price == Decimal("58000.0") and state.triggered_ms == 1500
    actual = {"status": "FILLED", "executedQty": "0.010", "avgPrice": "57990.5", "updateTime": 2100}
    filled = convert.with_fill(state, actual, Decimal("0.23"), "USDC")
    assert (filled.status, filled.filled, filled.average_price, filled.fee) == (
        OrderStatus.FILLED, Decimal("0.010"), Decimal("57990.5"), Decimal("0.23"),
    )
    expired = convert.with_fill(state, {"status": "EXPIRED", "executedQty": "0", "avgPrice": "0"}, Decimal(0), "USDC")
    assert expired.status is OrderStatus.EXPIRED and expired.average_price is None


def test_market_order_expired_partly_filled_is_reported_faithfully() -> None:
    raw = {"orderId": 5, "clientOrderId": "c", "side": "BUY", "type": "MARKET", "origQty": "1.000",
           "executedQty": "0.400", "avgPrice": "100.10", "status": "EXPIRED", "updateTime": 9}
    state = convert.order_state(raw, symbol="ETH/USDC:USDC", fee_asset="USDC")
    assert (state.status, state.filled, state.average_price, state.created_ms) == (
        OrderStatus.EXPIRED, Decimal("0.400"), Decimal("100.10"), 9,
    )


def test_wire_is_exact() -> None:
    assert convert.wire(Decimal("0.0010")) == "0.0010"
    assert convert.wire(Decimal("1E+3")) == "1000"
    assert convert.wire(Decimal("0.0000001")) == "0.0000001"
