"""`BinanceSettings`: how `BinanceVenue` talks to Binance (timeouts, throttle, retries, caches). Its own
module so that `orders` and `venue` both read it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.venue.binance.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class BinanceSettings:
    timeout_ms: int = 10_000  # per HTTP request
    enable_rate_limit: bool = True  # ccxt's client-side throttle (off in tests against the fake)
    recv_window_ms: int = 10_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    markets_ttl_s: float = 3600.0
    ticker_ttl_s: float = 1.0
    cache_candles: bool = True  # latest candles kept until the forming one could have closed
    look_up_fees: bool = True  # userTrades of each filled order, for its fee
