"""Carrying out a download: plan every series from the store, fetch the units concurrently, merge them
into the store as they arrive.

- A run whose plan is empty opens no connection at all (no exchangeInfo, no archive, no fapi).
- Archive files are fetched by a bounded pool (`pool` at a time) over one aiohttp session; fapi
  requests go through one ccxt client whose rate limiter spaces them.
- What has arrived is merged into the store every `FLUSH_S` seconds and whenever a series ends, also
  when it ends by a failure or Ctrl+C (a `finally`), so an interrupted run keeps what it fetched and the
  next run plans only the rest. The merged frame is validated before every write: nothing corrupt
  reaches the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from engine.errors import UserError
from engine.market import store
from engine.market.candles import timeframe_ms
from engine.market.download.archive import Archive, ArchiveCorrupt, ArchiveUnavailable, read_funding, read_klines
from engine.market.download.fapi import Fapi, VenueUnavailable
from engine.market.download.plan import FUNDING, Source, Unit, iso, plan_series, union
from engine.market.download.progress import Progress, SeriesReport

FLUSH_S = 5.0


class DownloadFailed(Exception):
    """A network failure stopped the run; `reports` describe what the store kept."""

    def __init__(self, why: str, reports: list[SeriesReport]) -> None:
        super().__init__(why)
        self.reports = reports


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    venue_ids: tuple[str, ...]
    timeframes: tuple[str, ...]
    span: tuple[int, int]  # [from, to) in Unix ms
    root: Path
    funding: bool
    archive_url: str
    venue_url: str | None  # None: Binance's own fapi
    now_ms: int
    pool: int = 8


@dataclass
class _Series:
    """One series being filled: what the store holds plus what arrived since the last flush."""

    venue_id: str
    timeframe: str
    stored: store.Stored
    units: list[Unit]
    report: SeriesReport
    pending: list[pd.DataFrame] = field(default_factory=list)
    covered: list[tuple[int, int]] = field(default_factory=list)
    flushed_at: float = field(default_factory=time.monotonic)

    def flush(self, root: Path) -> None:
        if not self.pending and not self.covered:
            return
        coverage = union([*self.stored.coverage, *self.covered])
        if self.timeframe == FUNDING:
            frame = pd.concat([self.stored.frame, *self.pending], ignore_index=True)
            frame = frame.sort_values("time_ms", kind="stable").drop_duplicates("time_ms").reset_index(drop=True)
            store.write_funding(root, self.venue_id, frame, coverage)
        else:
            frame = pd.concat([self.stored.frame, *self.pending]).sort_index(kind="stable")
            frame = frame[~frame.index.duplicated(keep="first")]  # archive and fapi agree; the older row stays
            store.write_klines(root, self.venue_id, self.timeframe, frame, coverage)
        self.stored = store.Stored(frame, tuple(coverage))
        self.pending, self.covered = [], []
        self.flushed_at = time.monotonic()


def _report(venue_id: str, timeframe: str, stored: store.Stored) -> SeriesReport:
    if timeframe == FUNDING:
        times = stored.frame["time_ms"].to_numpy()
        return SeriesReport(venue_id, timeframe, len(times), _first(times), _last(times))
    times = stored.frame.index.to_numpy()
    holes = store.gaps(times, timeframe_ms(timeframe))
    return SeriesReport(venue_id, timeframe, len(times), _first(times), _last(times), gaps=holes)


def _first(times: Any) -> int | None:
    return int(times[0]) if len(times) else None


def _last(times: Any) -> int | None:
    return int(times[-1]) if len(times) else None


def check(root: Path, venue_ids: tuple[str, ...] = (), timeframes: tuple[str, ...] = ()) -> list[SeriesReport]:
    """What the store holds, per series, and its gaps: reads the files only, never the network."""
    reports = []
    for venue_id, timeframe in store.stored_series(root):
        if (venue_ids and venue_id not in venue_ids) or (timeframes and timeframe not in (*timeframes, FUNDING)):
            continue
        stored = (store.read_funding(root, venue_id) if timeframe == FUNDING
                  else store.read_klines(root, venue_id, timeframe))
        reports.append(_report(venue_id, timeframe, stored))
    return reports


def _plan(request: DownloadRequest) -> list[_Series]:
    series = []
    kinds = [*request.timeframes, *([FUNDING] if request.funding else [])]
    for venue_id in request.venue_ids:
        for timeframe in kinds:
            stored = (store.read_funding(request.root, venue_id) if timeframe == FUNDING
                      else store.read_klines(request.root, venue_id, timeframe))
            units = plan_series(venue_id, timeframe, request.span, stored.coverage, request.now_ms)
            series.append(_Series(venue_id, timeframe, stored, units, _report(venue_id, timeframe, stored)))
    return series


async def download(request: DownloadRequest, progress: Progress,
                   check_symbols: Callable[[set[str]], None]) -> list[SeriesReport]:
    """Fill the store for `request`; returns one report per series. `check_symbols` receives the venue
    ids the venue lists (asked only when something must be fetched) and raises UserError for a
    requested one that is not among them. Raises DownloadFailed on a network failure."""
    series = _plan(request)
    todo = [s for s in series if s.units]
    if not todo:
        return [_finish(s) for s in series]
    import aiohttp

    fapi = Fapi(request.venue_url)
    try:
        try:
            listed = {m.id for m in (await fapi.markets()).values()}
        except VenueUnavailable as exc:
            why = f"cannot check --symbols against the venue: {exc}"
            raise DownloadFailed(why, [s.report for s in series]) from None
        check_symbols(listed)
        progress.start([(s.venue_id, s.timeframe, len(s.units)) for s in todo])
        timeout = aiohttp.ClientTimeout(total=300, sock_connect=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            context = _Context(Archive(request.archive_url, session), fapi, asyncio.Semaphore(request.pool),
                               request.root, progress)
            try:
                async with asyncio.TaskGroup() as group:
                    for one in todo:
                        group.create_task(context.fill(one))
            except* (ArchiveUnavailable, VenueUnavailable) as failures:
                why = "; ".join(str(e) for e in _leaves(failures))
                raise DownloadFailed(why, [_finish(s) for s in series]) from None
    finally:
        progress.stop()
        await fapi.close()
    return [_finish(s) for s in series]


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    """The failures themselves: a TaskGroup of TaskGroups nests its exception groups."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def _finish(series: _Series) -> SeriesReport:
    report = _report(series.venue_id, series.timeframe, series.stored)
    report.from_archive, report.from_fapi = series.report.from_archive, series.report.from_fapi
    report.problems = series.report.problems
    return report


@dataclass(frozen=True, slots=True)
class _Context:
    archive: Archive
    fapi: Fapi
    pool: asyncio.Semaphore
    root: Path
    progress: Progress

    async def fill(self, series: _Series) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for unit in series.units:
                    group.create_task(self._unit(series, unit))
        finally:  # on success, failure or cancellation alike: keep what arrived
            series.flush(self.root)

    async def _unit(self, series: _Series, unit: Unit) -> None:
        frame = await self._from_archive(series, unit) if unit.source != Source.FAPI else None
        if frame is not None:
            series.report.from_archive += len(frame)
        else:
            if unit.timeframe == FUNDING:
                frame = await self.fapi.funding(unit.venue_id, unit.span)
            else:
                frame = await self.fapi.klines(unit.venue_id, unit.timeframe, unit.span)
            series.report.from_fapi += len(frame)
        series.pending.append(frame)
        series.covered.append(unit.span)
        self.progress.advance(series.venue_id, series.timeframe)
        if time.monotonic() - series.flushed_at > FLUSH_S:
            series.flush(self.root)

    async def _from_archive(self, series: _Series, unit: Unit) -> pd.DataFrame | None:
        """The unit's rows from the archive, or None when the fapi must supply them (404, corrupt)."""
        try:
            async with self.pool:
                body = await self.archive.fetch(unit.path)
            if body is None:
                return None
            reader = read_funding if unit.timeframe == FUNDING else read_klines
            # Unzipping and parsing run in a thread: the event loop keeps other transfers moving.
            return await asyncio.to_thread(reader, body, unit.name, *unit.span)
        except ArchiveCorrupt as exc:
            problem = f"{exc}; {iso(unit.span[0])}..{iso(unit.span[1])} taken from the fapi instead"
            series.report.problems.append(problem)
            self.progress.note(f"{unit.venue_id} {unit.timeframe}: {problem}")
            return None


def refuse_unknown(requested: tuple[str, ...], venue_name: str) -> Callable[[set[str]], None]:
    """A `check_symbols` for `download`: UserError naming --symbols and the unknown ids."""

    def check_symbols(listed: set[str]) -> None:
        unknown = [s for s in requested if s not in listed]
        if unknown:
            raise UserError(f"--symbols: {', '.join(unknown)} not listed by {venue_name} (exchangeInfo); "
                            "expected venue ids such as BTCUSDT or ETHUSDC")

    return check_symbols
