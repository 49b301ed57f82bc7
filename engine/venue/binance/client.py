"""The ccxt exchange behind BinanceVenue, configured once, in one place.

What differs from a plain `ccxt.async_support.binanceusdm(...)` (see the reference, §1–§2):
- `fetchCurrencies: False`: `load_markets` makes one request (`/fapi/v1/exchangeInfo`), no sapi call;
- the USD-M error table is merged into the generic one, so codes map the same on any host (gotcha 2);
- `fetchOpenOrders.warnWithoutSymbol: False`: the all-symbols sweep is allowed (gotcha 7);
- `setMarginMode.throwMarginModeAlreadySet: False`: setting the mode already set is a no-op;
- `maxRetriesOnFailure: 0`: ccxt retries nothing; `retry.py` decides (never for orders);
- every exception is tagged with the HTTP status and `Retry-After` of the response that raised it,
  read from that response's own headers (concurrent requests cannot mix them up);
- the exchange logs through a logger that masks the API key and secret (ccxt logs request headers,
  `X-MBX-APIKEY` included, at DEBUG).

Modes: `testnet` is Binance demo trading (`enable_demo_trading`, demo-fapi.binance.com; the futures
sandbox is dead, gotcha 8), `live` the real fapi, and a `base_url` replaces every fapi URL (a local fake).
With ENGINE_OFFLINE=1 only a loopback IP base URL is accepted.
"""

from __future__ import annotations

import ipaddress
import logging
from email.utils import parsedate_to_datetime
from time import time
from typing import Any, Literal
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
from ccxt.base.errors import BaseError

from engine.errors import UserError
from engine.offline import OFFLINE_ENV, is_offline
from engine.venue.binance.credentials import Credentials
from engine.venue.fapi import point_at

Mode = Literal["testnet", "live"]
ENDPOINTS: dict[str, str] = {"testnet": "https://demo-fapi.binance.com", "live": "https://fapi.binance.com"}


class OfflineRefused(UserError):
    """ENGINE_OFFLINE=1 and the venue would leave this machine."""


def is_loopback_url(url: str) -> bool:
    """True for a URL whose host is a loopback IP address (127.0.0.0/8, ::1). Host names, even
    `localhost`, are not trusted: they resolve through whatever the system says."""
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_allowed(mode: Mode, base_url: str | None) -> None:
    """Raise OfflineRefused when offline mode is on and the target is not a loopback base URL."""
    if not is_offline() or (base_url is not None and is_loopback_url(base_url)):
        return
    target = base_url or f"Binance {mode} ({ENDPOINTS[mode]})"
    raise OfflineRefused(
        f"offline mode is on ({OFFLINE_ENV}=1): refusing to connect to {target}; only a local "
        "base URL such as http://127.0.0.1:PORT is allowed (unset the variable to trade on Binance)"
    )


def endpoint(mode: Mode, base_url: str | None) -> str:
    return base_url.rstrip("/") if base_url else ENDPOINTS[mode]


class RedactingLogger:
    """The few `logging.Logger` methods ccxt calls, masking every secret in the formatted line."""

    def __init__(self, logger: logging.Logger, secrets: tuple[str, ...]) -> None:
        self._logger = logger
        self._secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def log(self, level: int, msg: object, *args: object, **_: object) -> None:
        if not self._logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        self._logger.log(level, "%s", self.redact(text))

    def debug(self, msg: object, *args: object, **kw: object) -> None:
        self.log(logging.DEBUG, msg, *args, **kw)

    def info(self, msg: object, *args: object, **kw: object) -> None:
        self.log(logging.INFO, msg, *args, **kw)

    def warning(self, msg: object, *args: object, **kw: object) -> None:
        self.log(logging.WARNING, msg, *args, **kw)

    def error(self, msg: object, *args: object, **kw: object) -> None:
        self.log(logging.ERROR, msg, *args, **kw)

    exception = error

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging.Logger's name
        return self._logger.isEnabledFor(level)


def retry_after_seconds(value: str | None, now_s: float | None = None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time() if now_s is None else now_s))


def _tag(exc: BaseError, status: int | None, headers: dict[str, Any] | None) -> None:
    exc.http_status = status  # type: ignore[attr-defined]
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    exc.retry_after = retry_after_seconds(lowered.get("retry-after"))  # type: ignore[attr-defined]


class TaggedBinanceUsdm(ccxt_async.binanceusdm):  # type: ignore[misc]
    """binanceusdm whose HTTP errors carry `http_status` and `retry_after` (seconds or None)."""

    _response_status: int | None = None
    _response_headers: dict[str, Any] | None = None

    def on_rest_response(self, code, reason, url, method, response_headers, response_body, request_headers,
                         request_body):  # type: ignore[no-untyped-def]
        # Called by fetch() right before handle_errors / handle_http_status_code, with no await in
        # between, so these belong to the response being judged.
        self._response_status, self._response_headers = code, response_headers
        return super().on_rest_response(code, reason, url, method, response_headers, response_body,
                                         request_headers, request_body)

    def handle_errors(self, code, reason, url, method, headers, body, response, requestHeaders,
                      requestBody):  # type: ignore[no-untyped-def]  # noqa: N803 - ccxt's names
        try:
            return super().handle_errors(code, reason, url, method, headers, body, response, requestHeaders,
                                         requestBody)
        except BaseError as exc:
            _tag(exc, code, headers)
            raise

    def handle_http_status_code(self, code, reason, url, method, body):  # type: ignore[no-untyped-def]
        try:
            return super().handle_http_status_code(code, reason, url, method, body)
        except BaseError as exc:
            _tag(exc, code, self._response_headers)
            raise


def build_exchange(
    credentials: Credentials,
    *,
    mode: Mode,
    base_url: str | None = None,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool = True,
    recv_window_ms: int = 10_000,
    logger: logging.Logger | None = None,
) -> TaggedBinanceUsdm:
    """A configured exchange (no network yet). Raises OfflineRefused (see check_allowed), ValueError
    for an unknown mode or a base URL that is not http(s)."""
    if mode not in ENDPOINTS:
        raise ValueError(f"unknown Binance mode {mode!r}; expected testnet or live")
    if base_url is not None and urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"base URL {base_url!r} must start with http:// or https://")
    check_allowed(mode, base_url)
    exchange = TaggedBinanceUsdm(
        {
            "apiKey": credentials.api_key,
            "secret": credentials.secret,
            "enableRateLimit": enable_rate_limit,
            "timeout": timeout_ms,
            "options": {
                "fetchCurrencies": False,
                "fetchOpenOrders": {"warnWithoutSymbol": False},
                "setMarginMode": {"throwMarginModeAlreadySet": False},
                "maxRetriesOnFailure": 0,
                "adjustForTimeDifference": False,  # resynced by the venue (health, -1021)
                "recvWindow": recv_window_ms,
                "leverageBrackets": {},  # fetch_positions would otherwise call leverageBracket first
            },
        }
    )
    exchange.logger = RedactingLogger(logger or logging.getLogger("engine.venue.binance.ccxt"), credentials.secrets)
    exchange.exceptions["exact"].update(exchange.exceptions["linear"]["exact"])
    if base_url is not None:
        point_at(exchange, endpoint(mode, base_url))
    elif mode == "testnet":
        exchange.enable_demo_trading(True)
    return exchange
