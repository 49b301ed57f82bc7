"""Small TTL caches: markets (about an hour), tickers (a second or two), candles (until the forming
candle could have closed). Time is injected (`monotonic` seconds) so tests control expiry."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class TtlCache[K: Hashable, V]:
    """Values that expire at a given monotonic time. A TTL <= 0 stores nothing."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        return None if self._now() >= expires else value

    def put(self, key: K, value: V, ttl_s: float) -> None:
        if ttl_s <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._now() + ttl_s, value)

    def stale(self, key: K) -> V | None:
        """The value even if expired (a fallback when refreshing fails), or None."""
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def clear(self) -> None:
        self._entries.clear()
