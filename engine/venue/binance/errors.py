"""One mapping of every ccxt exception onto the engine's venue error kinds.

Binance's own code is the truth when the response carried one: ccxt puts the response body in the
exception message (`binanceusdm {"code":-2019,"msg":"Margin is insufficient."}`), and the class ccxt
picked depends on the host (gotcha 2), so the code is parsed from the message and looked up in
`engine.venue.errors`. The HTTP status and `Retry-After` come from the tags `client.py` puts on each
exception.

`classify` sorts a failure into a `FailureKind`; `Failure.error(order=...)` gives the engine error:
an order request (place, cancel) whose outcome is unknown is `StatusUnknown`, a read that keeps
failing is `VenueUnavailable`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum

import aiohttp
from ccxt.base import errors as cx

from engine.venue.errors import (
    InvalidSymbol,
    NotSupported,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    RequestRejected,
    StatusUnknown,
    VenueError,
    VenueUnavailable,
    error_for_code,
)

TIMESTAMP_CODE = -1021  # "Timestamp for this request is outside of the recvWindow."
TOO_MANY_REQUESTS_CODE = -1003
NOT_FOUND_CODES = frozenset({-2011, -2013})
# Binance's "execution status unknown" codes: -1000 UNKNOWN, -1001 DISCONNECTED ("Internal error;
# unable to process your request"), -1006 UNEXPECTED_RESP, -1007 TIMEOUT ("Send status unknown;
# execution status unknown").
UNKNOWN_OUTCOME_CODES = frozenset({-1000, -1001, -1006, -1007})
BUSY_CODE = -1008  # "Server is currently overloaded": refused before processing


class FailureKind(Enum):
    RATE_LIMITED = "rate_limited"  # 429, 418 (ban), -1003
    TIMESTAMP = "timestamp"  # -1021: resync the clock, then one retry; then VenueUnavailable
    UNKNOWN_OUTCOME = "unknown_outcome"  # 5xx, timeout, connection lost after sending
    UNREACHABLE = "unreachable"  # nothing was processed: connect failed, server busy
    REJECTED = "rejected"  # the venue (or ccxt, before sending) refused the request


RETRYABLE_READ = frozenset({FailureKind.RATE_LIMITED, FailureKind.UNKNOWN_OUTCOME, FailureKind.UNREACHABLE})


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    message: str
    code: int | None = None  # Binance's code, when the body had one
    http_status: int | None = None
    retry_after: float | None = None  # seconds, from Retry-After
    ccxt_type: type[BaseException] | None = None

    @property
    def not_found(self) -> bool:
        return self.code in NOT_FOUND_CODES or (
            self.code is None and self.ccxt_type is not None and issubclass(self.ccxt_type, cx.OrderNotFound)
        )

    def error(self, *, order: bool) -> VenueError:
        """The engine error for this failure; `order` is True for place and cancel requests."""
        kind = self.kind
        if kind is FailureKind.RATE_LIMITED:
            return RateLimited(self.message, retry_after=self.retry_after)
        if kind is FailureKind.UNKNOWN_OUTCOME:
            return StatusUnknown(self.message) if order else VenueUnavailable(self.message)
        if kind in (FailureKind.UNREACHABLE, FailureKind.TIMESTAMP):
            # -1021 still there after a resync: Binance refused to look at the request (nothing was
            # done), and the cause is the clock or the network, not the order.
            return VenueUnavailable(self.message)
        return self._rejection(order)

    def _rejection(self, order: bool) -> VenueError:
        ccxt_type = self.ccxt_type
        if self.not_found:
            return OrderNotFound(self.message, code=self.code if self.code is not None else OrderNotFound.code)
        if self.code is not None:
            error = error_for_code(self.code, self.message)
            if type(error) is OrderRejected and not order:
                return RequestRejected(self.message, code=self.code)  # an unknown code, not about an order
            return error
        if ccxt_type is not None and issubclass(ccxt_type, cx.BadSymbol):
            return InvalidSymbol(self.message)
        if ccxt_type is not None and issubclass(ccxt_type, cx.NotSupported):
            return NotSupported(self.message)
        # Refused without a Binance code: ccxt's own checks before sending, or a bare HTTP 4xx.
        return OrderRejected(self.message, code=0) if order else RequestRejected(self.message, code=0)


_CODE = re.compile(r'"code"\s*:\s*"?(-?\d+)"?')
_MSG = re.compile(r'"msg"\s*:\s*"((?:[^"\\]|\\.)*)"')


def binance_error(text: str) -> tuple[int, str] | None:
    """(code, msg) of the first Binance error object `{"code": -NNNN, "msg": "..."}` in `text`."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "code" in obj:
            try:
                code = int(obj["code"])
            except (TypeError, ValueError):
                code = None
            if code is not None and code not in (0, 200):
                return code, str(obj.get("msg", ""))
        start = text.find("{", start + 1)
    code_match = _CODE.search(text)
    if code_match and int(code_match.group(1)) not in (0, 200):
        msg_match = _MSG.search(text)
        return int(code_match.group(1)), msg_match.group(1) if msg_match else ""
    return None


def _sent_nothing(exc: BaseException) -> bool:
    """True when the request never reached the server (the TCP connection could not be opened)."""
    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(
        cause, aiohttp.ServerDisconnectedError
    )


def classify(exc: cx.BaseError) -> Failure:
    """Sort a ccxt exception (tagged by client.py when it came from an HTTP response)."""
    text = str(exc)
    status: int | None = getattr(exc, "http_status", None)
    retry_after: float | None = getattr(exc, "retry_after", None)
    parsed = binance_error(text)
    code, msg = parsed if parsed else (None, text)
    message = msg or text

    def failure(kind: FailureKind) -> Failure:
        return Failure(kind, message, code, status, retry_after, type(exc))

    rate_limited = isinstance(exc, cx.DDoSProtection | cx.RateLimitExceeded)
    if status in (418, 429) or code == TOO_MANY_REQUESTS_CODE or rate_limited:
        return failure(FailureKind.RATE_LIMITED)
    if code == TIMESTAMP_CODE or (code is None and isinstance(exc, cx.InvalidNonce)):
        return failure(FailureKind.TIMESTAMP)
    if code == BUSY_CODE:
        return failure(FailureKind.UNREACHABLE)
    if code in UNKNOWN_OUTCOME_CODES or (status is not None and (status >= 500 or status == 408)):
        return failure(FailureKind.UNKNOWN_OUTCOME)
    if status is None and isinstance(exc, cx.NetworkError) and code is None:
        # No HTTP answer: a timeout, or a connection that failed before or after the request left.
        if isinstance(exc, cx.ExchangeNotAvailable) and _sent_nothing(exc):
            return failure(FailureKind.UNREACHABLE)
        return failure(FailureKind.UNKNOWN_OUTCOME)
    if isinstance(exc, cx.ExchangeClosedByUser):
        return failure(FailureKind.UNREACHABLE)
    return failure(FailureKind.REJECTED)
