"""Running statistics of closed trades, kept in TinyDB (`<state_dir>/stats.json`) for /summary and
/performance: totals, daily and hourly PnL, average hold, stop-loss streaks and the equity curve.

`history.jsonl` is the source of truth; the aggregates are a fold over it. The store remembers how far
into the history it has read (byte offset, plus a CRC of the last line it folded), so:

* after each close `sync()` folds only the new lines (a few hundred bytes, whatever the history size);
* at open, a store that is missing, unreadable, of another schema, or whose last folded line is not
  where the history says it is, is rebuilt from the whole history; one that merely lags (a crash
  between the history append and the stats write) catches up from its offset.

The aggregates therefore never disagree with the history for longer than one `sync()`. A record is
read with `engine.report.metrics.parse_trades`, the same rule the backtest report uses: a trade is a
closed position whose entry filled; rejected entries are counted as excluded, never as trades.

Money is `Decimal` (strings on disk); hold times are whole microseconds so averages are exact.
Hourly buckets older than `HOURS_KEPT` before the latest close, and per-trade equity points beyond
the last `EQUITY_POINTS`, are pruned (the same way in a rebuild and incrementally, so both agree);
daily buckets are kept forever (one per day).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import JSONStorage

from engine.exits import ExitReason
from engine.report.metrics import Trade, parse_trades

log = logging.getLogger("engine.bot.stats")

STATS_FILE = "stats.json"
SCHEMA = 1
HOURS_KEPT = timedelta(days=7)
EQUITY_POINTS = 500
ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    """Trades closed in one period. `win_rate_pct` is in percent (55 means 55 %)."""

    trades: int
    wins: int
    losses: int
    net_pnl: Decimal  # after fees
    fees: Decimal

    @property
    def win_rate_pct(self) -> Decimal:
        return Decimal(self.wins) / Decimal(self.trades) * HUNDRED if self.trades else ZERO


@dataclass(frozen=True, slots=True)
class Summary:
    day: date
    today: PeriodSummary
    all_time: PeriodSummary
    excluded: int  # closed positions that were not trades (rejected or never filled)


@dataclass(frozen=True, slots=True)
class Performance:
    hourly: tuple[tuple[datetime, Decimal], ...]  # the last `hours` UTC hours, oldest first, 0 when idle
    daily: tuple[tuple[date, Decimal], ...]  # the last `days` UTC days, oldest first
    trades: int
    net_pnl: Decimal
    avg_hold: timedelta
    sl_streak: int  # stop-loss exits at a loss in a row, up to the latest trade
    max_sl_streak: int
    equity: tuple[tuple[datetime, Decimal], ...]  # equity after closes, first point the starting balance
    best_day: tuple[date, Decimal] | None
    worst_day: tuple[date, Decimal] | None


@dataclass
class _Bucket:
    trades: int = 0
    wins: int = 0
    losses: int = 0
    net_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    def add(self, trade: Trade) -> None:
        self.trades += 1
        self.wins += int(trade.realised_pnl > 0)
        self.losses += int(trade.realised_pnl < 0)
        self.net_pnl += trade.realised_pnl
        self.fees += trade.fees

    def to_doc(self) -> dict[str, Any]:
        return {"trades": self.trades, "wins": self.wins, "losses": self.losses, "net_pnl": str(self.net_pnl),
                "fees": str(self.fees)}

    @classmethod
    def from_doc(cls, d: Mapping[str, Any]) -> _Bucket:
        return cls(int(d["trades"]), int(d["wins"]), int(d["losses"]), Decimal(d["net_pnl"]), Decimal(d["fees"]))

    def summary(self) -> PeriodSummary:
        return PeriodSummary(self.trades, self.wins, self.losses, self.net_pnl, self.fees)


@dataclass
class _State:
    """Everything the store holds, in memory. `offset`/`tail_*` say how much history is folded in."""

    offset: int = 0
    tail_len: int = 0
    tail_crc: int = 0
    total: _Bucket | None = None
    hold_us: int = 0
    sl_streak: int = 0
    max_sl_streak: int = 0
    excluded: int = 0
    excluded_pnl: Decimal = ZERO
    latest_close: datetime | None = None
    days: dict[str, _Bucket] | None = None  # "2025-01-31" → bucket
    hours: dict[str, _Bucket] | None = None  # "2025-01-31T13" → bucket
    equity: list[tuple[str, str]] | None = None  # (close time iso, cumulative net PnL) of the last closes

    def __post_init__(self) -> None:
        self.total = self.total or _Bucket()
        self.days = {} if self.days is None else self.days
        self.hours = {} if self.hours is None else self.hours
        self.equity = [] if self.equity is None else self.equity

    def fold(self, trade: Trade) -> None:
        """Add one trade; the only place aggregates change (a rebuild and `sync` both come here)."""
        assert self.total is not None and self.days is not None and self.hours is not None
        assert self.equity is not None
        self.total.add(trade)
        self.days.setdefault(trade.closed_at.date().isoformat(), _Bucket()).add(trade)
        self.hours.setdefault(_hour_key(trade.closed_at), _Bucket()).add(trade)
        self.hold_us += (trade.hold // timedelta(microseconds=1))
        if trade.exit_kind is ExitReason.STOP_LOSS and trade.realised_pnl <= 0:
            self.sl_streak += 1
            self.max_sl_streak = max(self.max_sl_streak, self.sl_streak)
        else:
            self.sl_streak = 0
        self.latest_close = max(self.latest_close or trade.closed_at, trade.closed_at)
        self.equity.append((trade.closed_at.isoformat(), str(self.total.net_pnl)))
        del self.equity[:-EQUITY_POINTS]
        horizon = _hour_key(self.latest_close - HOURS_KEPT)
        for key in [k for k in self.hours if k < horizon]:
            del self.hours[key]

    def to_doc(self) -> dict[str, Any]:
        assert self.total is not None
        return {
            "schema": SCHEMA, "offset": self.offset, "tail_len": self.tail_len, "tail_crc": self.tail_crc,
            "total": self.total.to_doc(), "hold_us": self.hold_us, "sl_streak": self.sl_streak,
            "max_sl_streak": self.max_sl_streak, "excluded": self.excluded, "excluded_pnl": str(self.excluded_pnl),
            "latest_close": None if self.latest_close is None else self.latest_close.isoformat(),
        }


class Aggregates:
    """The statistics store of one state folder. Not thread-safe: use it from the engine loop.

    `open()` loads (rebuilding or catching up as described in the module docstring); `sync()` folds
    history lines appended since; the read methods (`summary`, `performance`) never touch the disk.
    """

    def __init__(self, state_dir: Path, history_path: Path | None = None) -> None:
        from engine.positions.book import HISTORY_FILE  # the book owns the file's name

        self.path = Path(state_dir) / STATS_FILE
        self.history_path = history_path or Path(state_dir) / HISTORY_FILE
        self.state = _State()
        self.rebuilt: str | None = None  # why the last open rebuilt from history, None when it did not
        self._db: TinyDB | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    def open(self) -> Aggregates:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        reason = None if self.path.is_file() and self.path.stat().st_size else "missing"
        try:
            self._db = TinyDB(self.path, storage=CachingMiddleware(JSONStorage))
            if reason is None:
                self.state = self._load()
                reason = self._mismatch()
        except Exception as exc:  # noqa: BLE001 - any unreadable store is rebuilt, whatever broke
            reason = f"unreadable ({type(exc).__name__}: {exc})"
        if reason is not None:
            self._rebuild(reason)
        else:
            self.sync()
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()  # CachingMiddleware flushes on close
            self._db = None

    def __enter__(self) -> Aggregates:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- folding ---------------------------------------------------------------------------------
    def sync(self) -> int:
        """Fold every complete history line appended since the last sync; returns how many records.
        A line that is not JSON is skipped (the history reader skips it too). Cheap when nothing is new."""
        try:
            size = self.history_path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size == self.state.offset:
            return 0
        if size < self.state.offset:
            self._rebuild("history.jsonl is shorter than what was folded")
            return self.state.total.trades if self.state.total else 0
        with self.history_path.open("rb") as fh:
            fh.seek(self.state.offset)
            chunk = fh.read(size - self.state.offset)
        folded = self._fold_lines(chunk)
        if folded:
            self._save()
        return folded

    def _fold_lines(self, chunk: bytes) -> int:
        end = chunk.rfind(b"\n") + 1  # a line still being written is left for the next sync
        folded = 0
        start = 0
        while start < end:
            stop = chunk.index(b"\n", start) + 1
            line = chunk[start:stop]
            start = stop
            self.state.offset += len(line)
            self.state.tail_len, self.state.tail_crc = len(line), zlib.crc32(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.fold_records([record])
            folded += 1
        return folded

    def fold_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Fold history records (position dicts) in the given order, without touching the disk."""
        for record in records:
            trades, excluded, excluded_pnl = parse_trades([record])
            self.state.excluded += excluded
            self.state.excluded_pnl += excluded_pnl
            for trade in trades:
                self.state.fold(trade)

    def _rebuild(self, reason: str) -> None:
        log.log(logging.INFO if reason == "missing" else logging.WARNING,
                "%s: %s; rebuilding the statistics from %s", self.path, reason, self.history_path)
        self.rebuilt = reason
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001 - the file is being replaced anyway
                pass
        self.path.unlink(missing_ok=True)
        self._db = TinyDB(self.path, storage=CachingMiddleware(JSONStorage))
        self.state = _State()
        try:
            with self.history_path.open("rb") as fh:
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        self._fold_lines(chunk)
        self._save()

    def _mismatch(self) -> str | None:
        """Why the stored aggregates cannot be continued from their offset, or None when they can."""
        s = self.state
        if self._schema != SCHEMA:
            return f"schema {self._schema!r}, expected {SCHEMA}"
        try:
            size = self.history_path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < s.offset:
            return f"it has folded {s.offset} bytes of history but history.jsonl holds {size}"
        if s.offset == 0:
            return None
        with self.history_path.open("rb") as fh:
            fh.seek(s.offset - s.tail_len)
            line = fh.read(s.tail_len)
        if s.tail_len <= 0 or zlib.crc32(line) != s.tail_crc or not line.endswith(b"\n"):
            return "its last folded line is not where history.jsonl has it (history replaced?)"
        return None

    # --- persistence -----------------------------------------------------------------------------
    _schema: Any = None

    def _load(self) -> _State:
        assert self._db is not None
        meta = self._db.table("meta").get(doc_id=1)
        if meta is None:
            raise ValueError("no meta document")
        self._schema = meta.get("schema")
        if self._schema != SCHEMA:
            return _State()
        days = {d["day"]: _Bucket.from_doc(d) for d in self._db.table("days").all()}
        hours = {d["hour"]: _Bucket.from_doc(d) for d in self._db.table("hours").all()}
        equity = sorted((d["n"], d["time"], d["cum"]) for d in self._db.table("equity").all())
        latest = meta.get("latest_close")
        return _State(
            offset=int(meta["offset"]), tail_len=int(meta["tail_len"]), tail_crc=int(meta["tail_crc"]),
            total=_Bucket.from_doc(meta["total"]), hold_us=int(meta["hold_us"]), sl_streak=int(meta["sl_streak"]),
            max_sl_streak=int(meta["max_sl_streak"]), excluded=int(meta["excluded"]),
            excluded_pnl=Decimal(meta["excluded_pnl"]),
            latest_close=None if latest is None else datetime.fromisoformat(latest),
            days=days, hours=hours, equity=[(t, c) for _, t, c in equity],
        )

    def _save(self) -> None:
        """Write the whole state (one file write through the caching middleware)."""
        assert self._db is not None
        s = self.state
        assert s.days is not None and s.hours is not None and s.equity is not None
        meta = self._db.table("meta")
        meta.truncate()
        meta.insert(s.to_doc())
        for name, key, buckets in (("days", "day", s.days), ("hours", "hour", s.hours)):
            table = self._db.table(name)
            table.truncate()
            table.insert_multiple({key: k, **b.to_doc()} for k, b in sorted(buckets.items()))
        equity = self._db.table("equity")
        equity.truncate()
        equity.insert_multiple({"n": n, "time": t, "cum": c} for n, (t, c) in enumerate(s.equity))
        self._db.storage.flush()  # type: ignore[attr-defined]

    def day(self, day: date) -> PeriodSummary:
        """Trades closed on one UTC day (read from the store, for checks)."""
        assert self._db is not None
        doc = self._db.table("days").get(Query().day == day.isoformat())
        return (_Bucket() if doc is None else _Bucket.from_doc(doc)).summary()

    # --- reading ---------------------------------------------------------------------------------
    def summary(self, now: datetime) -> Summary:
        s = self.state
        assert s.total is not None and s.days is not None
        today = _utc(now).date()
        return Summary(today, s.days.get(today.isoformat(), _Bucket()).summary(), s.total.summary(), s.excluded)

    def performance(self, now: datetime, starting_balance: Decimal, *, hours: int = 24, days: int = 14) -> Performance:
        """The figures /performance shows, as of `now` (UTC)."""
        s = self.state
        assert s.total is not None and s.days is not None and s.hours is not None
        now = _utc(now)
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        hourly = tuple(
            (h, s.hours.get(_hour_key(h), _Bucket()).net_pnl)
            for h in (this_hour - timedelta(hours=n) for n in range(hours - 1, -1, -1))
        )
        daily = tuple(
            (d, s.days.get(d.isoformat(), _Bucket()).net_pnl)
            for d in (now.date() - timedelta(days=n) for n in range(days - 1, -1, -1))
        )
        by_day = [(date.fromisoformat(k), b.net_pnl) for k, b in sorted(s.days.items())]
        n = s.total.trades
        return Performance(
            hourly=hourly, daily=daily, trades=n, net_pnl=s.total.net_pnl,
            avg_hold=timedelta(microseconds=s.hold_us) / n if n else timedelta(),
            sl_streak=s.sl_streak, max_sl_streak=s.max_sl_streak,
            equity=self.equity_curve(starting_balance),
            best_day=max(by_day, key=lambda d: d[1]) if by_day else None,
            worst_day=min(by_day, key=lambda d: d[1]) if by_day else None,
        )

    def equity_curve(self, starting_balance: Decimal) -> tuple[tuple[datetime, Decimal], ...]:
        """Equity after each of the last `EQUITY_POINTS` closes, preceded by the equity at the end of each
        earlier day (from the daily buckets) and the starting balance. Empty without trades."""
        s = self.state
        assert s.days is not None and s.equity is not None and s.total is not None
        if not s.equity:
            return ()
        first_kept = datetime.fromisoformat(s.equity[0][0])
        points: list[tuple[datetime, Decimal]] = []
        earlier = [(date.fromisoformat(k), b) for k, b in sorted(s.days.items())
                   if date.fromisoformat(k) < first_kept.date()]
        running = ZERO
        day_ends = []
        for d, bucket in earlier:
            running += bucket.net_pnl
            day_ends.append((datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=UTC), running))
        start_time = (datetime.combine(earlier[0][0], datetime.min.time(), tzinfo=UTC) if earlier
                      else first_kept - timedelta(microseconds=1))
        points.append((start_time, starting_balance))
        # kept points carry the cumulative PnL since the first trade, so no pruned trade is missing from them
        points.extend((t, starting_balance + c) for t, c in day_ends)
        points.extend((datetime.fromisoformat(t), starting_balance + Decimal(c)) for t, c in s.equity)
        return tuple(points)


def _hour_key(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
