"""Injected time. Logic never reads the wall clock directly; it asks a Clock.

All times are timezone-aware UTC datetimes; `now_ms()` gives Unix milliseconds for venue payloads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class WallClock:
    """The real clock (paper and live)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to (backtests and tests)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError(f"time cannot go backwards: {when.isoformat()} < {self._now.isoformat()}")
        self._now = when

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


_ISO: dict[tuple[datetime, Any], str] = {}


def iso(v: datetime) -> str:
    """`v.isoformat()`, memoised: a position's timestamps are serialised on every transition
    (journal, snapshot) but rarely change. Keyed with the tzinfo because datetimes in different
    zones compare equal when they name the same instant."""
    key = (v, v.tzinfo)
    text = _ISO.get(key)
    if text is None:
        if len(_ISO) >= 4096:
            _ISO.clear()
        text = _ISO[key] = v.isoformat()
    return text
