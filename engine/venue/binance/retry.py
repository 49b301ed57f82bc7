"""What is retried, and how.

- Order requests (place, cancel) are sent once. A 5xx, a timeout or a connection lost after sending
  means the order may exist: `StatusUnknown`, for the caller to look up by client id, never a resend.
  429/418 give `RateLimited(retry_after)`. The one exception is -1021 (timestamp outside recvWindow):
  Binance refused the request before looking at it, so the clock is resynced and it is sent once more.
- Reads (and idempotent settings such as leverage) are retried on 5xx, timeouts, connection errors
  and rate limits, with exponential backoff and jitter, within `attempts` tries and `max_wait_s` of
  total waiting; a rate limit waits `Retry-After` when the venue gave one (and gives up at once when
  that is longer than the budget left). -1021 resyncs the clock and retries once.

`sleep` is injected so tests can record the waits without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ccxt.base.errors import BaseError

from engine.venue.binance.errors import RETRYABLE_READ, Failure, FailureKind, classify

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]

log = logging.getLogger("engine.venue.binance")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # tries of one read, the first included
    base_delay_s: float = 0.25  # first backoff; doubles each retry
    max_delay_s: float = 4.0
    max_wait_s: float = 15.0  # total sleeping one read may do (backoff and Retry-After together)
    jitter: float = 0.5  # a backoff is drawn from [delay * (1 - jitter), delay]

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Delay before retry number `retry` (0 for the first)."""
        delay = min(self.max_delay_s, self.base_delay_s * (2**retry))
        return delay * (1.0 - self.jitter * rng.random())


class Requester:
    """Runs ccxt calls under the policy above and turns their failures into engine errors."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        resync: Resync,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self._resync = resync
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def order(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Send an order request once (twice after a -1021). Raises engine venue errors."""
        try:
            return await self._resyncing(what, call, "sending once more")()
        except BaseError as exc:
            raise classify(exc).error(order=True) from exc

    async def read(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent request, retrying as the module says. Raises engine venue errors."""
        policy = self.policy
        attempt = self._resyncing(what, call, "retrying")
        retries = 0
        waited = 0.0
        while True:
            try:
                return await attempt()
            except BaseError as exc:
                failure = classify(exc)
                delay = self._delay(failure, retries)
                if delay is None or retries + 1 >= policy.attempts or waited + delay > policy.max_wait_s:
                    raise failure.error(order=False) from exc
                log.warning(
                    "%s failed (%s: %s); retry %d in %.2fs", what, failure.kind.value, failure.message,
                    retries + 1, delay,
                )
                await self._sleep(delay)
                waited += delay
                retries += 1

    def _resyncing(self, what: str, call: Callable[[], Awaitable[T]], again: str) -> Callable[[], Awaitable[T]]:
        """`call`, made to survive one -1021 per request: Binance refused it before looking at it, so the
        clock is resynced and it is sent once more (not counted as a retry). Any other failure, or a
        second -1021 in the same request, is raised as the ccxt error for the caller's policy."""
        resynced = False

        async def attempt() -> T:
            nonlocal resynced
            while True:
                try:
                    return await call()
                except BaseError as exc:
                    failure = classify(exc)
                    if failure.kind is not FailureKind.TIMESTAMP or resynced:
                        raise
                    resynced = True
                    log.warning("%s: %s; resyncing the clock and %s", what, failure.message, again)
                    await self._resync()

        return attempt

    def _delay(self, failure: Failure, retries: int) -> float | None:
        if failure.kind not in RETRYABLE_READ:
            return None
        if failure.kind is FailureKind.RATE_LIMITED and failure.retry_after is not None:
            return failure.retry_after
        return self.policy.backoff(retries, self._rng)
