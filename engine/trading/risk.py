"""The risk guard: the five `risk.*` guards of `machines/position.yaml` and the state behind them.

`RiskGuard.allows(rule, position, now)` answers one rule for a candidate entry:

- `not_paused`: no manual pause (`pause(by, now)` / `resume(by, now)`, e.g. from Telegram);
- `daily_loss_limit`: today's realised PnL has not reached −`daily_loss_limit_pct` % of the balance
  at the start of the UTC day; once it has, entries halt until the next 00:00 UTC;
- `sl_streak_pause`: fewer than `sl_streak.losses` stop-loss exits in a row, or the pause of
  `sl_streak.pause` after the last of them is over;
- `max_positions`: fewer live positions (the candidate excluded) than `max_positions`;
- `symbol_cooldown`: the symbol's last exit is at least `symbol_cooldown` ago.

Every refusal is logged on `engine.risk` with the rule and the reason, and kept as `last_refusal`.

What must survive a restart lives in `RiskState` (JSON-safe through `to_dict` / `from_dict`); the
engine stores it in the bot document and saves it whenever `on_change` fires (or `changed` is set).
Time is always passed in; the guard never reads the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from engine.config.profile import RiskSection
from engine.exits import ExitReason

log = logging.getLogger("engine.risk")

RULES = ("not_paused", "daily_loss_limit", "sl_streak_pause", "max_positions", "symbol_cooldown")


@dataclass
class RiskState:
    """Everything the risk rules remember between events and across restarts."""

    paused: bool = False
    paused_by: str | None = None
    paused_at: datetime | None = None
    day: date | None = None  # the UTC day that day_pnl and day_start_balance belong to
    day_start_balance: Decimal | None = None  # first balance recorded on `day`
    last_balance: Decimal | None = None  # most recent balance recorded, any day
    day_pnl: Decimal = Decimal(0)  # realised PnL of positions closed on `day`, net of fees
    halted_until: datetime | None = None  # daily loss limit reached: no entries before this
    sl_streak: int = 0  # stop-loss exits in a row
    sl_pause_until: datetime | None = None
    last_exit: dict[str, datetime] = field(default_factory=dict)  # symbol -> time of its last exit

    def to_dict(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "paused_by": self.paused_by,
            "paused_at": _iso(self.paused_at),
            "day": None if self.day is None else self.day.isoformat(),
            "day_start_balance": _str(self.day_start_balance),
            "last_balance": _str(self.last_balance),
            "day_pnl": str(self.day_pnl),
            "halted_until": _iso(self.halted_until),
            "sl_streak": self.sl_streak,
            "sl_pause_until": _iso(self.sl_pause_until),
            "last_exit": {symbol: at.isoformat() for symbol, at in sorted(self.last_exit.items())},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskState:
        """The state saved by `to_dict`; missing keys take their defaults (older documents)."""
        return cls(
            paused=bool(d.get("paused", False)),
            paused_by=d.get("paused_by"),
            paused_at=_dt(d.get("paused_at")),
            day=None if d.get("day") is None else date.fromisoformat(d["day"]),
            day_start_balance=_dec(d.get("day_start_balance")),
            last_balance=_dec(d.get("last_balance")),
            day_pnl=Decimal(d.get("day_pnl", "0")),
            halted_until=_dt(d.get("halted_until")),
            sl_streak=int(d.get("sl_streak", 0)),
            sl_pause_until=_dt(d.get("sl_pause_until")),
            last_exit={symbol: datetime.fromisoformat(at) for symbol, at in (d.get("last_exit") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class RiskRefusal:
    """Why one rule refused one entry."""

    rule: str
    symbol: str
    reason: str
    at: datetime

    def __str__(self) -> str:
        return f"risk.{self.rule} refused {self.symbol}: {self.reason}"


class RiskGuard:
    """The risk rules of one bot. Not thread-safe: call it from the engine loop only."""

    def __init__(
        self,
        config: RiskSection,
        live_positions: Callable[[], int],
        state: RiskState | None = None,
        on_change: Callable[[RiskState], None] | None = None,
    ) -> None:
        """`live_positions()` counts the live positions, the candidate excluded. `on_change(state)` is
        called after every change of `state` (also signalled by `changed`, which the caller resets)."""
        self.config = config
        self.state = state if state is not None else RiskState()
        self.live_positions = live_positions
        self.on_change = on_change
        self.changed = False
        self.last_refusal: RiskRefusal | None = None

    # --- the guards ------------------------------------------------------------------------------
    def allows(self, rule: str, position: Any, now: datetime) -> bool:
        """True when `rule` lets `position` (anything with a `symbol`) enter at `now`. A refusal is
        logged and kept in `last_refusal`. Raises ValueError for an unknown rule or a naive `now`."""
        now = _utc(now)
        check = self._checks.get(rule)
        if check is None:
            raise ValueError(f"unknown risk rule {rule!r}; known: {', '.join(RULES)}")
        symbol = str(getattr(position, "symbol", position))
        reason = check(self, symbol, now)
        if reason is None:
            return True
        self.last_refusal = RiskRefusal(rule, symbol, reason, now)
        log.info("%s", self.last_refusal, extra={"rule": f"risk.{rule}", "symbol": symbol})
        return False

    def _not_paused(self, symbol: str, now: datetime) -> str | None:
        s = self.state
        if not s.paused:
            return None
        since = f" since {_hhmm(s.paused_at, now)}" if s.paused_at else ""
        return f"entries paused by {s.paused_by or 'unknown'}{since}"

    def _daily_loss_limit(self, symbol: str, now: datetime) -> str | None:
        self._roll_day(now)
        s = self.state
        if s.halted_until is None or now >= s.halted_until:
            base = self._day_base()
            if base is None:
                return "no balance recorded yet, the daily loss limit cannot be checked"
            if not self._breached(base):
                return None
            self._halt(now)
        assert s.halted_until is not None
        return (
            f"today's realised PnL {s.day_pnl:.2f} reached the daily loss limit of "
            f"{self.config.daily_loss_limit_pct:g}% of {self._day_base()}, halted until {_hhmm(s.halted_until, now)}"
        )

    def _sl_streak_pause(self, symbol: str, now: datetime) -> str | None:
        s = self.state
        if s.sl_pause_until is None or now >= s.sl_pause_until:
            return None
        return f"{s.sl_streak} stop-losses in a row, paused until {_hhmm(s.sl_pause_until, now)}"

    def _max_positions(self, symbol: str, now: datetime) -> str | None:
        live = self.live_positions()
        if live < self.config.max_positions:
            return None
        return f"{live} positions live, the profile allows {self.config.max_positions}"

    def _symbol_cooldown(self, symbol: str, now: datetime) -> str | None:
        last = self.state.last_exit.get(symbol)
        if last is None or now >= last + self.config.symbol_cooldown:
            return None
        until = last + self.config.symbol_cooldown
        return f"last exit at {_hhmm(last, now)}, cooling down until {_hhmm(until, now)}"

    _checks: dict[str, Callable[[RiskGuard, str, datetime], str | None]] = {
        "not_paused": _not_paused,
        "daily_loss_limit": _daily_loss_limit,
        "sl_streak_pause": _sl_streak_pause,
        "max_positions": _max_positions,
        "symbol_cooldown": _symbol_cooldown,
    }

    # --- what the engine tells the guard ---------------------------------------------------------
    def pause(self, by: str, now: datetime) -> None:
        """Refuse every entry until `resume`. Pausing again keeps the first pause's author and time."""
        now = _utc(now)
        if self.state.paused:
            return
        self.state.paused, self.state.paused_by, self.state.paused_at = True, by, now
        log.warning("entries paused by %s", by)
        self._changed()

    def resume(self, by: str, now: datetime) -> None:
        """Lift a manual pause (the automatic halts keep their own expiry)."""
        _utc(now)
        if not self.state.paused:
            return
        self.state.paused, self.state.paused_by, self.state.paused_at = False, None, None
        log.warning("entries resumed by %s", by)
        self._changed()

    def record_balance(self, balance: Decimal, now: datetime) -> None:
        """The wallet balance at `now`. The first one of a UTC day is that day's start balance."""
        now = _utc(now)
        self._roll_day(now)
        s = self.state
        before = (s.day_start_balance, s.last_balance)
        if s.day_start_balance is None:
            s.day_start_balance = balance
        s.last_balance = balance
        if (s.day_start_balance, s.last_balance) != before:
            self._changed()

    def record_close(self, symbol: str, exit_reason: str | None, realised_pnl: Decimal, now: datetime) -> None:
        """A position on `symbol` closed at `now` with `realised_pnl` (net of fees); `exit_reason` is the
        position's stored reason string (read through `ExitReason.of`).

        A stop-loss exit at a loss extends the stop-loss streak; any other exit (take-profit, max hold,
        close, emergency, and a stop trailed to break-even that closed in profit) resets it. A
        rejected entry ("rejected …") was never a trade and changes nothing.
        """
        now = _utc(now)
        kind = ExitReason.of(exit_reason)
        if kind in (ExitReason.REJECTED, ExitReason.ENTRY_EXPIRED):  # never a trade: nothing filled
            return
        self._roll_day(now)
        s = self.state
        s.day_pnl += realised_pnl
        if self._day_base() is not None and self._breached(self._day_base()) and s.halted_until is None:
            self._halt(now)
        if kind is ExitReason.STOP_LOSS and realised_pnl <= 0:
            if s.sl_pause_until is not None and now >= s.sl_pause_until:
                s.sl_streak, s.sl_pause_until = 0, None  # the pause was served: a new streak starts
            s.sl_streak += 1
            if s.sl_streak >= self.config.sl_streak.losses:
                s.sl_pause_until = now + self.config.sl_streak.pause
                log.warning(
                    "%d stop-losses in a row (last %s): entries paused until %s",
                    s.sl_streak,
                    symbol,
                    _hhmm(s.sl_pause_until, now),
                )
        else:
            s.sl_streak, s.sl_pause_until = 0, None
        # Cooldowns older than the cooldown itself can never refuse again: drop them so the
        # persisted document stays the size of the recently traded universe.
        horizon = now - self.config.symbol_cooldown
        s.last_exit = {sym: at for sym, at in s.last_exit.items() if at > horizon}
        s.last_exit[symbol] = now
        self._changed()

    # --- display ---------------------------------------------------------------------------------
    def status(self, now: datetime) -> dict[str, Any]:
        """What the rules say at `now`, JSON-safe, for /status and the CLI. Does not change state."""
        now = _utc(now)
        s = self.state
        same_day = s.day == now.date()
        day_pnl = s.day_pnl if same_day else Decimal(0)
        halted_until = s.halted_until if s.halted_until is not None and now < s.halted_until else None
        sl_until = s.sl_pause_until if s.sl_pause_until is not None and now < s.sl_pause_until else None
        served = s.sl_pause_until is not None and now >= s.sl_pause_until
        base = (s.day_start_balance if same_day else None) or s.last_balance
        limit = None if base is None else -base * _pct(self.config.daily_loss_limit_pct)
        cooldowns = {
            sym: (at + self.config.symbol_cooldown).isoformat()
            for sym, at in sorted(s.last_exit.items())
            if now < at + self.config.symbol_cooldown
        }
        timed = [t for t in (halted_until, sl_until) if t is not None]
        return {
            "paused": s.paused,
            "paused_by": s.paused_by,
            "halted": halted_until is not None,
            "halted_until": _iso(halted_until),
            "day": now.date().isoformat(),
            "day_pnl": str(day_pnl),
            "day_start_balance": _str(s.day_start_balance if same_day else None),
            "daily_loss_limit": _str(limit),
            "sl_streak": 0 if served else s.sl_streak,
            "sl_streak_limit": self.config.sl_streak.losses,
            "sl_paused_until": _iso(sl_until),
            "live_positions": self.live_positions(),
            "max_positions": self.config.max_positions,
            "cooldowns": cooldowns,
            # when entries may start again; None when nothing timed stops them (or a manual pause does)
            "until": _iso(max(timed)) if timed and not s.paused else None,
            "entries_allowed": not s.paused and not timed,
            "last_refusal": None if self.last_refusal is None else str(self.last_refusal),
        }

    # --- internals -------------------------------------------------------------------------------
    def _roll_day(self, now: datetime) -> None:
        """Start a new UTC day: PnL back to zero, the halt lifted, start balance to be recorded."""
        s = self.state
        today = now.date()
        if s.day == today:
            return
        s.day, s.day_pnl, s.day_start_balance, s.halted_until = today, Decimal(0), None, None
        self._changed()

    def _day_base(self) -> Decimal | None:
        # Before the first balance of the day is recorded, the last known one stands in for it.
        return self.state.day_start_balance if self.state.day_start_balance is not None else self.state.last_balance

    def _breached(self, base: Decimal) -> bool:
        return self.state.day_pnl <= -base * _pct(self.config.daily_loss_limit_pct)

    def _halt(self, now: datetime) -> None:
        self.state.halted_until = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
        log.warning(
            "daily loss limit reached: realised PnL %s today, entries halted until %s",
            self.state.day_pnl,
            self.state.halted_until.isoformat(),
        )
        self._changed()

    def _changed(self) -> None:
        self.changed = True
        if self.on_change is not None:
            self.on_change(self.state)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("risk rules need a timezone-aware time")
    return now.astimezone(UTC)


def _pct(value: float) -> Decimal:
    return Decimal(str(value)) / 100


def _hhmm(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "?"
    at = at.astimezone(UTC)
    return at.strftime("%H:%M UTC") if at.date() == now.date() else at.strftime("%Y-%m-%d %H:%M UTC")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
