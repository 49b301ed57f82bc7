"""Important events to any apprise URL, without ever holding up trading.

`notify()` only appends to an in-memory queue and returns; one worker task delivers. Delivery is
rate-limited: at most one message per `min_interval`; whatever queues up meanwhile goes out as one
summary ("12 events: 7× exit, 5× entry …"). A failed or hung delivery is logged, counted, and
abandoned after `send_timeout`; the queue is bounded (the oldest events are dropped and counted).

URLs come from the environment (the profile names the variable) and are never logged: they hold
tokens. We never print one, and before apprise sees them they are handed to
`engine.config.redact.hide_in_logs`, so apprise's own debug lines (`-v`), urllib3's request lines and
any error text show `<redacted>` in their place.

Under ENGINE_OFFLINE only URLs whose host is this machine (127.0.0.1, ::1, localhost) are kept; the
others are refused with a logged note.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engine.bot.notify.events import Message, format_event, summarise
from engine.config.redact import hide_in_logs, url_secrets
from engine.offline import is_offline

log = logging.getLogger("engine.bot.notify")

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def urls_from_env(name: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The apprise URLs in environment variable `name`, separated by commas or whitespace."""
    raw = (os.environ if environ is None else environ).get(name, "")
    return [u for u in re.split(r"[,\s]+", raw) if u]


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "?"


def usable_urls(urls: Sequence[str], *, offline: bool | None = None) -> list[str]:
    """The URLs that may be used now: under the offline switch only those aimed at this machine."""
    offline = is_offline() if offline is None else offline
    kept = []
    for n, url in enumerate(urls, 1):
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        if offline and host not in LOOPBACK:
            log.warning("notification URL #%d (%s://…) refused: ENGINE_OFFLINE is on and it is not on 127.0.0.1",
                        n, _scheme(url))
            continue
        kept.append(url)
    return kept


@dataclass
class Delivery:
    """What the worker did with one message (kept for status and tests)."""

    message: Message
    ok: bool
    error: str = ""


@dataclass
class NotifierStats:
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    summaries: int = 0
    recent: deque[Delivery] = field(default_factory=lambda: deque(maxlen=50))


class Notifier:
    """Queue + worker in front of apprise. `start()` in the running loop, `notify()` from anywhere in
    that loop (never blocks, never raises), `close()` to flush with a bound."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        min_interval: float = 5.0,
        send_timeout: float = 10.0,
        max_queue: int = 1000,
        prefix: str = "",
        offline: bool | None = None,
    ) -> None:
        import apprise

        self.min_interval = max(0.0, float(min_interval))
        self.send_timeout = float(send_timeout)
        self.max_queue = max_queue
        self.prefix = prefix
        self.stats = NotifierStats()
        self._apprise = apprise.Apprise()
        self.services = 0
        for url in urls:
            hide_in_logs(*url_secrets(url))
        for n, url in enumerate(usable_urls(urls, offline=offline), 1):
            if self._apprise.add(url):
                self.services += 1
            else:
                log.warning("notification URL #%d (%s://…) is not a URL apprise understands; ignored", n, _scheme(url))
        self._queue: deque[Message] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._last_sent: float | None = None
        self._closing = False
        self._closed = asyncio.Event()  # set by close(): stop waiting out the rate limit

    @property
    def enabled(self) -> bool:
        return self.services > 0

    # --- producer side -----------------------------------------------------------------------------
    def notify(self, kind: str, **data: Any) -> None:
        """Queue one event. Returns at once; never raises."""
        try:
            self.post(format_event(kind, data))
        except Exception:  # noqa: BLE001 - notifications never break the caller
            log.exception("could not queue a %s notification", kind)

    def post(self, message: Message) -> None:
        if not self.enabled or self._closing:
            return
        self._queue.append(message)
        self.stats.queued += 1
        while len(self._queue) > self.max_queue:
            self._queue.popleft()
            self.stats.dropped += 1
        self._idle.clear()
        self._wake.set()

    # --- worker ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker in the running loop (a no-op without any usable URL)."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="notifier")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if self._last_sent is not None and not self._closing:
                    # The rate limit: events arriving during this wait join the batch.
                    wait = self._last_sent + self.min_interval - loop.time()
                    if wait > 0:
                        try:
                            await asyncio.wait_for(self._closed.wait(), timeout=wait)
                        except TimeoutError:
                            pass
                batch = list(self._queue)
                self._queue.clear()
                message = batch[0] if len(batch) == 1 else summarise(batch)
                if len(batch) > 1:
                    self.stats.summaries += 1
                await self._send(message)
                self._last_sent = loop.time()
            if not self._queue:
                self._idle.set()

    async def _send(self, message: Message) -> None:
        import apprise

        title = f"{self.prefix}{message.title}"
        kind = apprise.NotifyType(message.level)
        try:
            result = await asyncio.wait_for(
                self._apprise.async_notify(body=message.body, title=title, notify_type=kind),
                timeout=self.send_timeout,
            )
        except TimeoutError:
            self._failed(message, f"no answer within {self.send_timeout:g}s")
            return
        except Exception as exc:  # noqa: BLE001 - a failed notification is logged, never raised
            self._failed(message, f"{type(exc).__name__}: {exc}")
            return
        if result:
            self.stats.sent += 1
            self.stats.recent.append(Delivery(message, True))
        else:
            self._failed(message, f"apprise status {getattr(result, 'status', result)!s}")

    def _failed(self, message: Message, why: str) -> None:
        self.stats.failed += 1
        self.stats.recent.append(Delivery(message, False, why))
        log.warning("notification %r not delivered: %s", message.title, why)

    # --- shutdown ----------------------------------------------------------------------------------
    async def flush(self, timeout: float) -> bool:
        """Wait until everything queued has been delivered (or given up); False after `timeout`."""
        if self._task is None:
            return not self._queue
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=timeout)
            return True
        except TimeoutError:
            return False

    async def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (skipping the rate-limit wait, at most `timeout` seconds), then stop.
        Events notified after this are ignored."""
        if self._task is None:
            return
        self._closing = True
        self._closed.set()
        self._wake.set()
        if not await self.flush(timeout):
            log.warning("notifier closed with %d event(s) undelivered after %gs", len(self._queue), timeout)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
