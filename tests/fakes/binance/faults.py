"""Faults injected on demand: what a flaky exchange, a proxy or a rate limiter does to requests.

A `Fault` matches requests by optional `method` and `path` (exact) and affects the next `times` matching
requests (`None`: every one until `clear_faults`). Kinds:

| kind | effect |
|---|---|
| `latency` | delay the request by `delay_s`, then handle it normally |
| `timeout` | hold the request `delay_s` (longer than the client's timeout) then answer 408 -1007; with |
|           | `after_accept=True` the request IS processed first (the order exists, the client never hears) |
| `http_error` | answer `status` (500 -1000 / 503 -1001, or a non-JSON body with `json_body=False`); |
|              | `after_accept=True` processes the request first |
| `rate_limit` | 429 -1003 with `Retry-After: retry_after` |
| `ban` | 418 -1003 with `Retry-After` |
| `bad_timestamp` | 400 -1021 on signed requests only |
| `reject` | 400 with any Binance `code` and `msg` (-2019, -4164, -2021, -2022, -1111, -4131 ...); nothing happens; |
|          | `reject_closes`: only reduce-only MARKET orders (the bot's closes: an emergency that cannot finish) |
| `partial_fill` | the next MARKET order fills `ratio` of its quantity (floored to the step) and ends EXPIRED |
| `vanish` | the open algo order with `client_id` is silently canceled (now, or as soon as it exists) |
| `fill_then_silence` | the next LIMIT order placed (with `client_id`, when given) fills `ratio` of its quantity as |
|                     | the market trades through it, then never more: the rest rests until canceled |
| `cancel_race` | the next cancel of an open LIMIT order (with `client_id`, when given) loses the race: the rest |
|               | fills at its price just before, and the cancel answers -2011 "Unknown order sent." |

`Fault.post_only_reject()` is a `reject` of GTX orders with Binance's -5022, whatever the price.

A fault with `params` matches only requests carrying those parameter values (`{"reduceOnly": "true"}`).
Every firing is recorded in `FaultBook.fired` (kind, method, path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from engine.venue.errors import PostOnlyRejected

FaultKind = Literal[
    "latency", "timeout", "http_error", "rate_limit", "ban", "bad_timestamp", "reject", "partial_fill", "vanish",
    "fill_then_silence", "cancel_race",
]

_UNKNOWN_STATUS = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
DEFAULT_5XX: dict[int, tuple[int, str]] = {
    500: (-1000, "An unknown error occurred while processing the request."),
    502: (-1001, "Internal error; unable to process your request. Please try again."),
    503: (-1001, "Internal error; unable to process your request. Please try again."),
    504: (-1007, _UNKNOWN_STATUS),
}
TIMEOUT_ANSWER = (408, -1007, _UNKNOWN_STATUS)
NON_JSON_503 = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


@dataclass
class Fault:
    """One injected fault; build it with the class methods (they set sensible defaults per kind)."""

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    times: int | None = 1
    delay_s: float = 0.0
    after_accept: bool = False
    status: int = 0
    code: int = 0
    msg: str = ""
    json_body: bool = True
    retry_after: int = 1
    ratio: float = 0.5
    client_id: str | None = None
    params: dict[str, str] | None = None  # only requests with these parameter values (as sent) match

    @classmethod
    def latency(cls, delay_s: float, *, method: str | None = None, path: str | None = None,
                times: int | None = None) -> Fault:
        return cls("latency", method, path, times, delay_s=delay_s)

    @classmethod
    def timeout(cls, delay_s: float, *, after_accept: bool = False, method: str | None = None,
                path: str | None = None, times: int | None = 1) -> Fault:
        return cls("timeout", method, path, times, delay_s=delay_s, after_accept=after_accept)

    @classmethod
    def http_error(cls, status: int = 503, *, after_accept: bool = False, json_body: bool = True,
                   method: str | None = None, path: str | None = None, times: int | None = 1) -> Fault:
        code, msg = DEFAULT_5XX.get(status, (-1000, "An unknown error occurred while processing the request."))
        return cls("http_error", method, path, times, after_accept=after_accept, status=status, code=code,
                   msg=msg, json_body=json_body)

    @classmethod
    def rate_limit(cls, retry_after: int = 1, *, method: str | None = None, path: str | None = None,
                   times: int | None = 1) -> Fault:
        return cls("rate_limit", method, path, times, status=429, code=-1003, retry_after=retry_after,
                   msg="Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
                   "Please use the websocket for live updates to avoid polling the API.")

    @classmethod
    def ban(cls, retry_after: int = 120, *, method: str | None = None, path: str | None = None,
            times: int | None = 1) -> Fault:
        return cls("ban", method, path, times, status=418, code=-1003, retry_after=retry_after,
                   msg="Way too many requests; IP(127.0.0.1) banned. "
                   "Please use the websocket for live updates to avoid bans.")

    @classmethod
    def bad_timestamp(cls, times: int | None = 1, *, method: str | None = None, path: str | None = None) -> Fault:
        return cls("bad_timestamp", method, path, times)

    @classmethod
    def reject(cls, code: int, msg: str, *, method: str | None = None, path: str | None = None,
               times: int | None = 1, status: int = 400) -> Fault:
        return cls("reject", method, path, times, status=status, code=code, msg=msg)

    @classmethod
    def reject_closes(cls, code: int = -1111, msg: str = "Precision is over the maximum defined for this asset.",
                      *, times: int | None = None) -> Fault:
        """Refuse every reduce-only MARKET order (what the bot closes with) and nothing else: entries,
        stops and take-profits still go through, so a position reaches `emergency` and cannot leave it."""
        return cls("reject", "POST", "/fapi/v1/order", times, status=400, code=code, msg=msg,
                   params={"reduceOnly": "true"})

    @classmethod
    def partial_fill(cls, ratio: float = 0.5, *, times: int | None = 1) -> Fault:
        return cls("partial_fill", "POST", "/fapi/v1/order", times, ratio=ratio)

    @classmethod
    def vanish(cls, client_id: str, *, times: int | None = 1) -> Fault:
        return cls("vanish", None, None, times, client_id=client_id)

    @classmethod
    def post_only_reject(cls, *, times: int | None = 1) -> Fault:
        """Refuse the next post-only (GTX) order with -5022, as if the book had moved onto its price."""
        return cls("reject", "POST", "/fapi/v1/order", times, status=400, code=PostOnlyRejected.code,
                   msg=PostOnlyRejected.default_msg, params={"timeInForce": "GTX"})

    @classmethod
    def fill_then_silence(cls, ratio: float = 0.5, *, client_id: str | None = None, times: int | None = 1) -> Fault:
        params = None if client_id is None else {"newClientOrderId": client_id}
        return cls("fill_then_silence", "POST", "/fapi/v1/order", times, ratio=ratio, params=params)

    @classmethod
    def cancel_race(cls, *, client_id: str | None = None, times: int | None = 1) -> Fault:
        params = None if client_id is None else {"origClientOrderId": client_id}
        return cls("cancel_race", "DELETE", "/fapi/v1/order", times, client_id=client_id, params=params)

    def matches(self, method: str, path: str, params: Mapping[str, str] | None = None) -> bool:
        if self.params and (params is None or any(params.get(k) != v for k, v in self.params.items())):
            return False
        return (self.method is None or self.method == method) and (self.path is None or self.path == path)


@dataclass(frozen=True)
class FiredFault:
    kind: FaultKind
    method: str
    path: str
    fault: Fault


@dataclass
class FaultBook:
    """The active faults, consumed as they fire."""

    active: list[Fault] = field(default_factory=list)
    fired: list[FiredFault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        if fault.times is not None and fault.times <= 0:
            raise ValueError(f"Fault.times must be positive or None, got {fault.times}")
        self.active.append(fault)

    def clear(self) -> None:
        self.active.clear()

    def peek(self, kinds: tuple[FaultKind, ...], method: str, path: str,
             params: Mapping[str, str] | None = None) -> Fault | None:
        """The first active fault of one of `kinds` matching the request (not consumed)."""
        for fault in self.active:
            if fault.kind in kinds and fault.matches(method, path, params):
                return fault
        return None

    def fire(self, fault: Fault, method: str, path: str) -> None:
        """Record that `fault` acted on a request and use up one of its `times`."""
        self.fired.append(FiredFault(fault.kind, method, path, fault))
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0 and fault in self.active:
                self.active.remove(fault)

    def take(self, kind: FaultKind, method: str, path: str, params: Mapping[str, str] | None = None) -> Fault | None:
        """Find, fire and return the first matching fault of `kind`."""
        fault = self.peek((kind,), method, path, params)
        if fault is not None:
            self.fire(fault, method, path)
        return fault

    def all_of(self, kind: FaultKind, method: str, path: str) -> list[Fault]:
        return [f for f in self.active if f.kind == kind and f.matches(method, path)]
