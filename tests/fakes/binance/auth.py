"""Signed-request checks, in Binance's order: API key header, mandatory `timestamp` and `signature`,
`recvWindow` bound, HMAC-SHA256 signature, then the timestamp against the server's WALL clock.

The signature covers the raw parameter text exactly as sent (query string for GET/DELETE, form body for
POST/PUT; Binance's "totalParams" is the query string followed by the body), minus `&signature=...`.
Nothing is re-encoded, so a client that signs one string and sends another is caught.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from tests.fakes.binance.errors import ApiError, bad_request, mandatory
from tests.fakes.binance.params import Params

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
AHEAD_TOLERANCE_MS = 1_000
_API_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def strip_signature(raw: str) -> str:
    """`raw` without its `signature=...` parameter (wherever it is), keeping every other byte."""
    if not raw:
        return ""
    kept = [part for part in raw.split("&") if not part.startswith("signature=")]
    return "&".join(kept)


def signed_payload(query: str, body: str) -> str:
    """Binance's totalParams (query string then body) without the signature."""
    return strip_signature(query) + strip_signature(body)


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def timestamp_error() -> ApiError:
    return bad_request(-1021, "Timestamp for this request is outside of the recvWindow.")


def check_signed(
    *,
    api_key_header: str | None,
    params: Params,
    query: str,
    body: str,
    api_key: str,
    secret: str,
    wall_ms: int,
) -> None:
    """Raise the ApiError Binance would answer for this signed request, or return when it passes."""
    if not api_key_header or not _API_KEY.match(api_key_header):
        raise ApiError(401, -2014, "API-key format invalid.")
    if not hmac.compare_digest(api_key_header, api_key):
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    timestamp = params.get("timestamp")
    if timestamp is None or not timestamp.isdigit():
        raise mandatory("timestamp")
    signature = params.get("signature")
    if signature is None:
        raise mandatory("signature")
    recv_window = params.integer("recvWindow", DEFAULT_RECV_WINDOW_MS)
    assert recv_window is not None
    if not 0 < recv_window <= MAX_RECV_WINDOW_MS:
        raise bad_request(-1131, "recvWindow must be less than 60000")
    expected = sign(secret, signed_payload(query, body))
    if not hmac.compare_digest(signature.lower(), expected):
        raise bad_request(-1022, "Signature for this request is not valid.")
    sent = int(timestamp)
    if sent > wall_ms + AHEAD_TOLERANCE_MS:
        raise bad_request(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if wall_ms - sent > recv_window:
        raise timestamp_error()
