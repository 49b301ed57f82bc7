"""What a download still has to fetch, and from where: pure functions of the store's coverage and the
clock, so they are tested without any network.

Binance publishes a monthly archive file once a month is over and a daily one once a day is over
(funding rates only monthly). The plan covers each missing span with, in order of preference: whole
monthly files, whole daily files, and fapi requests for the rest (the current day, a partial day at
either end). An archive file that turns out to be missing (404) or corrupt is replaced by a fapi request
for its span when the plan is carried out (`engine.market.download.run`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from engine.market.candles import timeframe_ms
from engine.market.store import Span

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; Binance's weekly candles open on Mondays, 4 days later in the week.
_WEEK_OFFSET_MS = 4 * DAY_MS
# Every interval Binance's fapi klines serve. 1M (calendar months) is refused by the command: its
# length is not fixed, and the store, gaps and DataDir all work on fixed steps.
BINANCE_INTERVALS: tuple[str, ...] = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)
FUNDING = "funding"  # the "timeframe" of a funding-rate series in plans, progress and the summary


class Source(StrEnum):
    MONTHLY = "monthly"
    DAILY = "daily"
    FAPI = "fapi"


@dataclass(frozen=True, slots=True)
class Unit:
    """One fetch: an archive file (`path` relative to the archive host) or a fapi span."""

    venue_id: str
    timeframe: str  # or FUNDING
    source: Source
    span: Span
    path: str = ""

    @property
    def name(self) -> str:
        """The archive file's name, as Binance names it (for messages), or a description of the span."""
        if self.path:
            return self.path.rsplit("/", 1)[-1]
        return f"{self.venue_id} {self.timeframe} {iso(self.span[0])}..{iso(self.span[1])} (fapi)"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def union(spans: list[Span] | tuple[Span, ...]) -> list[Span]:
    """Sorted, merged spans (touching spans merge); empty spans dropped."""
    merged: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(want: Span, have: list[Span] | tuple[Span, ...]) -> list[Span]:
    """The parts of `want` not in `have`."""
    missing: list[Span] = []
    cursor, end = want
    for h_start, h_end in union(have):
        if h_end <= cursor or h_start >= end:
            continue
        if h_start > cursor:
            missing.append((cursor, h_start))
        cursor = max(cursor, h_end)
    if cursor < end:
        missing.append((cursor, end))
    return missing


def closed_end(timeframe: str, now_ms: int) -> int:
    """Open time of the candle still forming at `now_ms`: every candle before it has closed."""
    step = timeframe_ms(timeframe)
    offset = _WEEK_OFFSET_MS if step == WEEK_MS else 0
    return (now_ms - offset) // step * step + offset


def _month_start(ms: int) -> int:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)


def _next_month(ms: int) -> int:
    d = datetime.fromtimestamp(_month_start(ms) / 1000, UTC)
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def _month_tag(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m")


def _day_tag(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def kline_path(source: Source, venue_id: str, timeframe: str, start_ms: int) -> str:
    tag = _month_tag(start_ms) if source == Source.MONTHLY else _day_tag(start_ms)
    return f"/data/futures/um/{source}/klines/{venue_id}/{timeframe}/{venue_id}-{timeframe}-{tag}.zip"


def funding_path(venue_id: str, start_ms: int) -> str:
    return f"/data/futures/um/monthly/fundingRate/{venue_id}/{venue_id}-fundingRate-{_month_tag(start_ms)}.zip"


def plan_series(venue_id: str, timeframe: str, want: Span, coverage: tuple[Span, ...], now_ms: int) -> list[Unit]:
    """The units that fetch what `coverage` lacks of `want` (a klines timeframe, or FUNDING).

    `want` is clipped to what can be final at `now_ms`: closed candles, funding events already past.
    Archive files are only planned for months/days over before today (UTC) began.
    """
    end = min(want[1], now_ms if timeframe == FUNDING else closed_end(timeframe, now_ms))
    today = now_ms // DAY_MS * DAY_MS
    units: list[Unit] = []

    def fapi(start: int, stop: int) -> None:
        last = units[-1] if units else None
        if last is not None and last.source == Source.FAPI and last.span[1] == start:
            units[-1] = Unit(venue_id, timeframe, Source.FAPI, (last.span[0], stop))
        else:
            units.append(Unit(venue_id, timeframe, Source.FAPI, (start, stop)))

    for start, stop in subtract((want[0], end), coverage):
        cursor = start
        while cursor < stop:
            month_end = _next_month(cursor)
            day_end = cursor // DAY_MS * DAY_MS + DAY_MS
            if cursor == _month_start(cursor) and month_end <= min(stop, today):
                path = (funding_path(venue_id, cursor) if timeframe == FUNDING
                        else kline_path(Source.MONTHLY, venue_id, timeframe, cursor))
                units.append(Unit(venue_id, timeframe, Source.MONTHLY, (cursor, month_end), path))
                cursor = month_end
            elif timeframe != FUNDING and cursor % DAY_MS == 0 and day_end <= min(stop, today):
                path = kline_path(Source.DAILY, venue_id, timeframe, cursor)
                units.append(Unit(venue_id, timeframe, Source.DAILY, (cursor, day_end), path))
                cursor = day_end
            else:
                # Up to the next boundary where an archive file could start again.
                boundary = month_end if timeframe == FUNDING else day_end
                fapi(cursor, min(stop, boundary))
                cursor = min(stop, boundary)
    return units
