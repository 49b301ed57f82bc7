"""Performance of a backtest or paper run, computed from the closed positions in `history.jsonl`.

Input records are `Position.to_dict()` exactly as the book appends them. A record is a *trade* when its
entry filled (`opened_at` is set) and it is closed (`closed_at` is set); rejected entries and entries that
never filled are not trades. Their count, and any PnL they carry (fees of a blind emergency close, say),
is kept in `Metrics.excluded` / `Metrics.excluded_pnl` so a report can say what was left out.

Money stays `Decimal` (exact, as on disk); `realised_pnl` is already net of every fee. Percentages are
`Decimal` percent (55 means 55 %). The equity and daily series are floats, for plotting and pandas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from engine.exits import ExitReason

ZERO = Decimal(0)
HUNDRED = Decimal(100)

# Final exit reason (the stored string, as ExitReason writes it) → row of the exit-reason table, in
# display order. Take-profits get a row per step; anything else is "other".
EXIT_REASON_ROWS: tuple[tuple[str, str], ...] = (
    (ExitReason.take_profit(1), "TP1"),
    (ExitReason.take_profit(2), "TP2"),
    (ExitReason.take_profit(3), "TP3"),
    (ExitReason.STOP_LOSS, "SL"),
    (ExitReason.MAX_HOLD, "max hold"),
    (ExitReason.EMERGENCY, "emergency"),
)
OTHER_ROW = "other"


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed position whose entry filled. `qty` is the planned size (the open qty is 0 once closed)."""

    id: str
    symbol: str
    side: str
    qty: Decimal
    entry_price: Decimal | None
    opened_at: datetime
    closed_at: datetime
    exit_reason: str
    realised_pnl: Decimal  # net of all fees
    fees: Decimal
    # Each filled order (engine.venue.sim.fills: role, type, qty, price, fee, liquidity) when the run recorded
    # them; None for records without (paper history, older runs): their fees cannot be split.
    fills: tuple[Mapping[str, str], ...] | None = None

    @property
    def fees_maker(self) -> Decimal | None:
        return None if self.fills is None else sum((Decimal(f["fee"]) for f in self.fills
                                                    if f.get("liquidity") == "maker"), ZERO)

    @property
    def fees_taker(self) -> Decimal | None:
        return None if self.fills is None else sum((Decimal(f["fee"]) for f in self.fills
                                                    if f.get("liquidity") != "maker"), ZERO)

    @property
    def hold(self) -> timedelta:
        return self.closed_at - self.opened_at

    @property
    def exit_kind(self) -> ExitReason | None:
        return ExitReason.of(self.exit_reason)

    @property
    def exit_row(self) -> str:
        """The exit-reason table row this trade counts in (by its final exit reason)."""
        return dict(EXIT_REASON_ROWS).get(self.exit_reason, OTHER_ROW)


@dataclass(frozen=True, slots=True)
class SymbolStats:
    symbol: str
    trades: int
    wins: int
    win_rate_pct: Decimal
    net_pnl: Decimal


@dataclass(frozen=True, slots=True)
class ExitReasonStats:
    reason: str  # row label: "TP1", "SL", "max hold", …, "other"
    count: int
    net_pnl: Decimal
    avg_pnl: Decimal
    raw_reasons: tuple[str, ...] = ()  # the exit reasons counted here (useful for "other")
    fees: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class EntryFills:
    """How resting (limit) entries filled, over every record with one, traded or not. `ordered` and
    `filled` are sizes in the base asset summed over symbols: only their ratio is meaningful."""

    limit_entries: int = 0
    filled_whole: int = 0
    expired: int = 0  # the timeout came before the order filled whole (the rest was cancelled)
    abandoned: int = 0  # of those, nothing was entered at all (entry_expired)
    rejected: int = 0  # refused by the venue (a post-only order that would have crossed: -5022)
    ordered: Decimal = ZERO
    filled: Decimal = ZERO

    @property
    def fill_ratio_pct(self) -> Decimal | None:
        return self.filled / self.ordered * HUNDRED if self.ordered > 0 else None


@dataclass(frozen=True, slots=True)
class DayResult:
    """One UTC day with at least one close. `drawdown_pct` is the day's deepest fall of equity below the
    day's start equity, in % of that start equity (0 when equity never went below it)."""

    day: date
    pnl: Decimal
    start_equity: Decimal
    drawdown_pct: Decimal
    trades: int


@dataclass(frozen=True)
class Metrics:
    starting_balance: Decimal
    start: datetime
    end: datetime
    trades: int
    wins: int  # realised_pnl > 0
    losses: int  # realised_pnl < 0; break-even trades are neither but count in the win-rate denominator
    win_rate_pct: Decimal
    net_pnl: Decimal
    fees: Decimal
    gross_profit: Decimal
    gross_loss: Decimal  # a positive number: the sum of the losing trades' losses
    profit_factor: Decimal | None  # gross profit / gross loss; None when there is no loss to divide by
    expectancy: Decimal  # average net PnL per trade
    avg_win: Decimal
    avg_loss: Decimal  # negative (or 0)
    pnl_per_hour: Decimal  # over the run's duration, not the time in positions
    avg_hold: timedelta
    final_equity: Decimal
    return_pct: Decimal
    max_drawdown: Decimal  # largest fall from a running peak of equity, in money
    max_drawdown_pct: Decimal  # largest fall from a running peak, in % of that peak
    worst_day: DayResult | None  # lowest PnL among days with a close
    best_day: DayResult | None
    max_daily_drawdown: DayResult | None  # the day with the deepest intraday drawdown (the KPI's day)
    by_symbol: tuple[SymbolStats, ...]  # sorted by net PnL, best first
    by_exit_reason: tuple[ExitReasonStats, ...]  # every row of EXIT_REASON_ROWS then "other", always
    excluded: int = 0  # records that are not trades (rejected, never filled, not closed)
    excluded_pnl: Decimal = ZERO
    fees_maker: Decimal = ZERO  # of `fees`, on maker fills (trades whose fills were recorded)
    fees_taker: Decimal = ZERO
    fees_unattributed: Decimal = ZERO  # fees of trades without recorded fills
    entry_fills: EntryFills = EntryFills()
    # Equity after each close, indexed by close time (UTC); the first point is the starting balance at
    # `start`. Daily PnL: every UTC day of the run, 0 where nothing closed.
    equity: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), compare=False, repr=False)
    daily_pnl: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), compare=False, repr=False)
    # The trades themselves, in close order (what trades.csv lists: `write_trades_csv` takes them as they are,
    # so a report parses the run's records once).
    closed: tuple[Trade, ...] = field(default=(), compare=False, repr=False)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def max_daily_drawdown_pct(self) -> Decimal:
        return ZERO if self.max_daily_drawdown is None else self.max_daily_drawdown.drawdown_pct


def parse_trades(records: Iterable[Mapping[str, Any] | Trade]) -> tuple[list[Trade], int, Decimal]:
    """Split history records into trades (sorted by close time) and the rest.

    Returns (trades, number of excluded records, their summed realised PnL). Naive timestamps are
    taken as UTC. Raises KeyError / ValueError on a record that is not a position dict."""
    trades: list[Trade] = []
    excluded, excluded_pnl = 0, ZERO
    for record in records:
        if isinstance(record, Trade):
            trades.append(record)
            continue
        reason = str(record.get("exit_reason") or "")
        opened, closed = record.get("opened_at"), record.get("closed_at")
        if opened is None or closed is None or ExitReason.of(reason) is ExitReason.REJECTED:
            excluded += 1
            excluded_pnl += Decimal(str(record.get("realised_pnl", "0")))
            continue
        plan = record.get("plan") or {}
        entry = record.get("entry_price")
        trades.append(
            Trade(
                id=str(record["id"]),
                symbol=str(record["symbol"]),
                side=str(record.get("side") or plan.get("side") or ""),
                qty=Decimal(str(plan.get("qty", record.get("qty", "0")))),
                entry_price=None if entry is None else Decimal(str(entry)),
                opened_at=_utc(opened),
                closed_at=_utc(closed),
                exit_reason=reason,
                realised_pnl=Decimal(str(record.get("realised_pnl", "0"))),
                fees=Decimal(str(record.get("fees", "0"))),
                fills=None if record.get("fills") is None else tuple(record["fills"]),
            )
        )
    trades.sort(key=lambda t: t.closed_at)  # stable: same-instant closes keep the file's order
    return trades, excluded, excluded_pnl


def compute_metrics(
    trades: Iterable[Mapping[str, Any] | Trade],
    starting_balance: Decimal,
    start: datetime,
    end: datetime,
) -> Metrics:
    """Every figure of the report from the run's closed positions (history records or `Trade`s).

    Raises ValueError when the starting balance is not positive or the run ends before it starts."""
    starting_balance = Decimal(starting_balance)
    if starting_balance <= 0:
        raise ValueError(f"starting balance must be positive, got {starting_balance}")
    start, end = _utc(start), _utc(end)
    if end < start:
        raise ValueError(f"run ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    # Read twice (the trades, then the entries' fills) without holding every record: a backtest's trade log
    # decodes one at a time (engine.run.trade_log).
    records = trades if isinstance(trades, Sequence) else list(trades)
    closed, excluded, excluded_pnl = parse_trades(records)
    fees_maker = sum((t.fees_maker for t in closed if t.fees_maker is not None), ZERO)
    fees_taker = sum((t.fees_taker for t in closed if t.fees_taker is not None), ZERO)

    n = len(closed)
    pnls = [t.realised_pnl for t in closed]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    net = sum(pnls, ZERO)
    gross_profit = sum(wins, ZERO)
    gross_loss = -sum(losses, ZERO)
    hours = Decimal((end - start) // timedelta(microseconds=1)) / Decimal(3_600_000_000)

    equity_after = _running(starting_balance, pnls)
    max_dd, max_dd_pct = _max_drawdown(starting_balance, equity_after)
    days = _days(closed, starting_balance)
    final_equity = starting_balance + net

    return Metrics(
        starting_balance=starting_balance,
        start=start,
        end=end,
        trades=n,
        wins=len(wins),
        losses=len(losses),
        win_rate_pct=_pct(len(wins), n),
        net_pnl=net,
        fees=sum((t.fees for t in closed), ZERO),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=gross_profit / gross_loss if gross_loss > 0 else None,
        expectancy=net / n if n else ZERO,
        avg_win=gross_profit / len(wins) if wins else ZERO,
        avg_loss=-gross_loss / len(losses) if losses else ZERO,
        pnl_per_hour=net / hours if hours > 0 else ZERO,
        avg_hold=sum((t.hold for t in closed), timedelta()) / n if n else timedelta(),
        final_equity=final_equity,
        return_pct=net / starting_balance * HUNDRED,
        max_drawdown=max_dd,
        max_drawdown_pct=max_dd_pct,
        worst_day=min(days, key=lambda d: d.pnl) if days else None,
        best_day=max(days, key=lambda d: d.pnl) if days else None,
        max_daily_drawdown=max(days, key=lambda d: d.drawdown_pct) if days else None,
        by_symbol=_by_symbol(closed),
        by_exit_reason=_by_exit_reason(closed),
        excluded=excluded,
        excluded_pnl=excluded_pnl,
        fees_maker=fees_maker,
        fees_taker=fees_taker,
        fees_unattributed=sum((t.fees for t in closed if t.fills is None), ZERO),
        entry_fills=entry_fills(records),
        equity=_equity_series(start, starting_balance, closed, equity_after),
        daily_pnl=_daily_series(start, end, closed),
        closed=tuple(closed),
    )


def drawdown_pct_series(equity: pd.Series) -> pd.Series:
    """Fall below the running peak at each point of an equity series, in % of that peak (≤ 0)."""
    if equity.empty:
        return equity.astype(float)
    peak = equity.cummax()
    return ((equity - peak) / peak.where(peak > 0) * 100.0).fillna(0.0)


# --- helpers -----------------------------------------------------------------------------------


def _utc(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _pct(part: int, whole: int) -> Decimal:
    return Decimal(part) / Decimal(whole) * HUNDRED if whole else ZERO


def _running(start: Decimal, pnls: list[Decimal]) -> list[Decimal]:
    out, equity = [], start
    for pnl in pnls:
        equity += pnl
        out.append(equity)
    return out


def _max_drawdown(start: Decimal, equity_after: list[Decimal]) -> tuple[Decimal, Decimal]:
    """Largest fall from a running peak, in money and in % of the peak. The two maxima are taken
    independently: after a big win the same money fall is a smaller percentage."""
    peak, worst, worst_pct = start, ZERO, ZERO
    for equity in equity_after:
        peak = max(peak, equity)
        fall = peak - equity
        worst = max(worst, fall)
        if peak > 0:
            worst_pct = max(worst_pct, fall / peak * HUNDRED)
    return worst, worst_pct


def _days(closed: list[Trade], starting_balance: Decimal) -> list[DayResult]:
    """UTC days with at least one close, in order, each with its PnL and intraday drawdown."""
    out: list[DayResult] = []
    equity = starting_balance
    by_day: dict[date, list[Trade]] = {}
    for trade in closed:
        by_day.setdefault(trade.closed_at.date(), []).append(trade)
    for day in sorted(by_day):
        day_start = low = equity
        for trade in by_day[day]:
            equity += trade.realised_pnl
            low = min(low, equity)
        fall = day_start - low
        if day_start > 0:
            dd_pct = fall / day_start * HUNDRED
        else:  # the account was already wiped out: any further loss is a total loss
            dd_pct = HUNDRED if fall > 0 else ZERO
        out.append(DayResult(day, equity - day_start, day_start, dd_pct, len(by_day[day])))
    return out


def _by_symbol(closed: list[Trade]) -> tuple[SymbolStats, ...]:
    groups: dict[str, list[Trade]] = {}
    for trade in closed:
        groups.setdefault(trade.symbol, []).append(trade)
    rows = []
    for symbol, group in groups.items():
        wins = sum(1 for t in group if t.realised_pnl > 0)
        net = sum((t.realised_pnl for t in group), ZERO)
        rows.append(SymbolStats(symbol, len(group), wins, _pct(wins, len(group)), net))
    return tuple(sorted(rows, key=lambda r: (-r.net_pnl, r.symbol)))


def _by_exit_reason(closed: list[Trade]) -> tuple[ExitReasonStats, ...]:
    labels = [label for _, label in EXIT_REASON_ROWS] + [OTHER_ROW]
    groups: dict[str, list[Trade]] = {label: [] for label in labels}
    for trade in closed:
        groups[trade.exit_row].append(trade)
    rows = []
    for label in labels:
        group = groups[label]
        net = sum((t.realised_pnl for t in group), ZERO)
        raw = tuple(sorted({t.exit_reason for t in group}))
        fees = sum((t.fees for t in group), ZERO)
        rows.append(ExitReasonStats(label, len(group), net, net / len(group) if group else ZERO, raw, fees))
    return tuple(rows)


def entry_fills(records: Iterable[Mapping[str, Any] | Trade]) -> EntryFills:
    """Fill ratio of the limit entries in position records: per entry order its size and filled part
    (`order_fills`: size, filled, …), how many filled whole, how many the venue refused, how many the
    timeout cut short, and how many of those entered nothing (exit reason entry_expired)."""
    count = whole = expired = abandoned = rejected = 0
    ordered = filled = ZERO
    for record in records:
        if isinstance(record, Trade):
            continue
        roles, parts = record.get("order_roles") or {}, record.get("order_fills") or {}
        for client_id, part in parts.items():
            if roles.get(client_id) != "entry":
                continue
            size, done = Decimal(str(part[0])), Decimal(str(part[1]))
            count += 1
            ordered += size
            filled += done
            if done >= size:
                whole += 1
            elif ExitReason.of(str(record.get("exit_reason") or "")) is ExitReason.REJECTED:
                rejected += 1
            elif record.get("closed_at") is not None:  # the rest never came: cancelled at the timeout
                expired += 1
                abandoned += record.get("exit_reason") == ExitReason.ENTRY_EXPIRED
    return EntryFills(count, whole, expired, abandoned, rejected, ordered, filled)


def _equity_series(start: datetime, balance: Decimal, closed: list[Trade], after: list[Decimal]) -> pd.Series:
    index = pd.DatetimeIndex([start] + [t.closed_at for t in closed], name="time")
    return pd.Series([float(balance)] + [float(e) for e in after], index=index, name="equity")


def _daily_series(start: datetime, end: datetime, closed: list[Trade]) -> pd.Series:
    # A run that ends at midnight has no part of the next day.
    last_moment = end - timedelta(microseconds=1) if end > start else end
    first = min([start] + [t.closed_at for t in closed])
    last = max([last_moment] + [t.closed_at for t in closed])
    days = pd.date_range(pd.Timestamp(first.date(), tz=UTC), pd.Timestamp(last.date(), tz=UTC), freq="D", name="day")
    per_day: dict[date, Decimal] = {}
    for trade in closed:  # summed exactly, converted once
        per_day[trade.closed_at.date()] = per_day.get(trade.closed_at.date(), ZERO) + trade.realised_pnl
    return pd.Series([float(per_day.get(d.date(), ZERO)) for d in days], index=days, name="pnl")
