"""Durations written the way people write them: `30s`, `10m`, `1h30m`, `2d`, or a number of seconds.

A profile duration is at most `MAX_DURATION` (nothing the bot times runs for a month; a typo such as
`99999999999d` would otherwise overflow `timedelta`), and `PositiveDuration` also refuses zero where a
zero would make the bot spin or give up at once (a tick, a timeout, a holding time).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# Longest duration `parse_duration` returns unless told otherwise: far below timedelta's own limit
# (999999999 days), which would raise OverflowError instead of saying what is wrong.
_PARSE_LIMIT = timedelta(days=100 * 365)
MAX_DURATION = timedelta(days=30)


def parse_duration(value: object, maximum: timedelta = _PARSE_LIMIT) -> timedelta:
    """Raises ValueError with the accepted forms when `value` is not a duration up to `maximum`."""
    if isinstance(value, timedelta):
        return _bounded(value.total_seconds(), value, maximum)
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 1h (got a boolean)")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"expected a duration such as 30s, 10m, 1h (got {value!r})")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(float(value), value, maximum)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if text and pos == len(text):
            return _bounded(seconds, value, maximum)
    raise ValueError(f"expected a duration such as 30s, 10m, 1h30m or a number of seconds (got {value!r})")


def _bounded(seconds: float, value: object, maximum: timedelta) -> timedelta:
    if seconds > maximum.total_seconds():
        limit = f"{maximum.days}d" if maximum.days else format_duration(maximum)
        raise ValueError(f"expected a duration of at most {limit} (got {value!r})")
    return value if isinstance(value, timedelta) else timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{value.total_seconds():g}s"


def _profile_duration(value: object) -> timedelta:
    return parse_duration(value, MAX_DURATION)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("expected a duration above zero, such as 30s or 10m (got 0s)")
    return value


_AS_TEXT = PlainSerializer(format_duration, return_type=str)
Duration = Annotated[timedelta, BeforeValidator(_profile_duration), _AS_TEXT]
"""A duration from zero to MAX_DURATION (zero: the feature is off, e.g. no cooldown)."""
PositiveDuration = Annotated[
    timedelta, BeforeValidator(_profile_duration), AfterValidator(_positive), _AS_TEXT
]
