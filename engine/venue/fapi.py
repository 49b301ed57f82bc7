"""Pointing ccxt's `binanceusdm` at another fapi host (a local fake in tests, or any fapi-compatible
base URL): the trading venue and the public candle source both do it, so the list of URL keys lives
here once. No ccxt import: the offline candle path must not load it."""

from __future__ import annotations

from typing import Any

# ccxt `urls['api']` keys that lead to fapi; a base URL override moves all of them.
FAPI_URL_KEYS: dict[str, str] = {
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
}


def point_at(exchange: Any, root: str) -> None:
    """Send every fapi request of a ccxt `binanceusdm` to `root` (no trailing slash)."""
    for key, path in FAPI_URL_KEYS.items():
        exchange.urls["api"][key] = root + path
