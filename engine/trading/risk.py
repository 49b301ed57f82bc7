"""The risk guard: the per-entry `risk.*` guards of `machines/position.yaml`, and the counters behind the
bot machine's own checks (`machines/bot.yaml`, driven by `engine.trading.bot_machine`).

`RiskGuard.allows(rule, position, now)` answers one per-entry rule for a candidate entry:

- `max_positions`: fewer live positions (the candidate excluded) than `max_positions`;
- `symbol_cooldown`: the symbol's last exit is at least `symbol_cooldown` ago.

Whether entries are allowed at all (paused, halted for the day, cooling down after a stop-loss streak,
stopped out by the equity hard stop) is the bot machine's state; the guard only keeps the facts its
checks read: `loss_limit_reason` (today's realised PnL reached −`daily_loss_limit_pct` % of the
balance at the start of the UTC day), `streak_reached` (`sl_streak.losses` stop-loss exits in a row)
and `hard_stop_reason` (equity marked to market `max_drawdown_pct` % below its running peak, or at
`min_equity`).

Every refusal is logged on `engine.risk` with the rule and the reason, and kept as `last_refusal`.

What must survive a restart lives in `RiskState` (JSON-safe through `to_dict` / `from_dict`); the
engine stores it in the bot document and saves it whenever `on_change` fires (or `changed` is set).
Documents saved before the bot machine existed also held the pause and the halts: `from_dict` keeps
them in `legacy` for `bot_machine.migrate`. Time is always passed in; the guard never reads the clock.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from engine.clock import iso
from engine.config.profile import RiskSection
from engine.exits import ExitReason

log = logging.getLogger("engine.risk")

RULES = ("max_positions", "symbol_cooldown")
# what RiskState documents held before the bot machine (machines/bot.yaml) took them over
PEAK_STEP = Decimal("0.001")  # how far a new equity peak must rise past the saved one to be saved again
LEGACY_KEYS = ("paused", "paused_by", "paused_at", "halted_until", "sl_pause_until")


@dataclass
class RiskState:
    """Everything the risk rules remember between events and across restarts."""

    day: date | None = None  # the UTC day that day_pnl and day_start_balance belong to
    day_start_balance: Decimal | None = None  # first balance recorded on `day`
    last_balance: Decimal | None = None  # most recent balance recorded, any day
    day_pnl: Decimal = Decimal(0)  # realised PnL of positions closed on `day`, net of fees
    sl_streak: int = 0  # stop-loss exits in a row
    last_exit: dict[str, datetime] = field(default_factory=dict)  # symbol -> time of its last exit
    peak_equity: Decimal | None = None  # running peak of equity marked to market (the hard stop's base)
    legacy: dict[str, Any] = field(default_factory=dict)  # LEGACY_KEYS of an older document, not saved again

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": None if self.day is None else _day_text(self.day),
            "day_start_balance": _str(self.day_start_balance),
            "last_balance": _str(self.last_balance),
            "day_pnl": str(self.day_pnl),
            "sl_streak": self.sl_streak,
            "last_exit": {symbol: iso(at) for symbol, at in sorted(self.last_exit.items())},
            "peak_equity": _str(self.peak_equity),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskState:
        """The state saved by `to_dict`; missing keys take their defaults (older documents), and the
        pause and halts an older document held are kept in `legacy`."""
        return cls(
            day=None if d.get("day") is None else date.fromisoformat(d["day"]),
            day_start_balance=_dec(d.get("day_start_balance")),
            last_balance=_dec(d.get("last_balance")),
            day_pnl=Decimal(d.get("day_pnl", "0")),
            sl_streak=int(d.get("sl_streak", 0)),
            last_exit={symbol: datetime.fromisoformat(at) for symbol, at in (d.get("last_exit") or {}).items()},
            peak_equity=_dec(d.get("peak_equity")),
            legacy={k: d[k] for k in LEGACY_KEYS if d.get(k)},
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
        self._saved_peak = self.state.peak_equity
        # Won (True) or lost, per closed trade, oldest first: the leverage rule's rolling win-rate
        # (orders.leverage_rule.win_rate_window, at most 500). In memory: a restart starts it afresh.
        self.results: deque[bool] = deque(maxlen=500)

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
        "max_positions": _max_positions,
        "symbol_cooldown": _symbol_cooldown,
    }

    # --- what the engine tells the guard ---------------------------------------------------------
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
        self.results.append(realised_pnl > 0)
        s = self.state
        s.day_pnl += realised_pnl
        if kind is ExitReason.STOP_LOSS and realised_pnl <= 0:
            s.sl_streak += 1
            if s.sl_streak >= self.config.sl_streak.losses:
                log.warning("%d stop-losses in a row (last %s)", s.sl_streak, symbol)
        else:
            s.sl_streak = 0
        # Cooldowns older than the cooldown itself can never refuse again: drop them so the
        # persisted document stays the size of the recently traded universe.
        horizon = now - self.config.symbol_cooldown
        s.last_exit = {sym: at for sym, at in s.last_exit.items() if at > horizon}
        s.last_exit[symbol] = now
        self._changed()

    def spend_streak(self) -> None:
        """The stop-loss streak has earned its cool-down: the next streak starts from zero."""
        if self.state.sl_streak:
            self.state.sl_streak = 0
            self._changed()

    def record_equity(self, equity: Decimal) -> None:
        """Equity marked to market (unrealised PnL included) now; a new high becomes the running peak.

        The peak is saved (`on_change`) when it first exists and whenever it has grown PEAK_STEP past the
        peak last saved, not at every new high of every candle: a restart can then measure the drawdown
        from a peak at most 0.1 % lower than the true one (any other change saves the exact peak too)."""
        s = self.state
        if s.peak_equity is not None and equity <= s.peak_equity:
            return
        s.peak_equity = equity
        if self._saved_peak is None or equity >= self._saved_peak * (1 + PEAK_STEP):
            self._changed()

    def _changed(self) -> None:
        self.changed = True
        self._saved_peak = self.state.peak_equity
        if self.on_change is not None:
            self.on_change(self.state)

    def rebase_peak(self, equity: Decimal | None) -> None:
        """After a re-arm the drawdown is measured from where the bot starts again."""
        self.state.peak_equity = equity
        self._changed()

    # --- what the bot machine's checks read ------------------------------------------------------
    def loss_limit_reason(self, now: datetime) -> str | None:
        """Why entries must halt for the rest of the UTC day, or None while the daily loss limit holds."""
        now = _utc(now)
        self._roll_day(now)
        base = self._day_base()
        if base is None or not self._breached(base):
            return None
        return (f"today's realised PnL {self.state.day_pnl:.2f} reached the daily loss limit of "
                f"{self.config.daily_loss_limit_pct:g}% of {base}")

    def streak_reached(self) -> str | None:
        s = self.state
        if s.sl_streak < self.config.sl_streak.losses:
            return None
        return f"{s.sl_streak} stop-losses in a row"

    def hard_stop_reason(self, equity: Decimal) -> str | None:
        """Why the equity hard stop fires at `equity` (marked to market), or None."""
        c, peak = self.config, self.state.peak_equity
        if c.min_equity is not None and equity <= c.min_equity:
            return f"equity {equity:.2f} at or below risk.min_equity {c.min_equity}"
        if c.max_drawdown_pct is None or peak is None or peak <= 0:
            return None
        drawdown = (peak - equity) / peak * 100
        if drawdown < Decimal(str(c.max_drawdown_pct)):
            return None
        return (f"equity {equity:.2f} is {drawdown:.2f}% below its peak {peak:.2f} "
                f"(risk.max_drawdown_pct {c.max_drawdown_pct:g})")

    @property
    def watches_equity(self) -> bool:
        return self.config.max_drawdown_pct is not None or self.config.min_equity is not None

    # --- display ---------------------------------------------------------------------------------
    def status(self, now: datetime) -> dict[str, Any]:
        """The counters at `now`, JSON-safe, for /status and the CLI (the bot machine adds whether entries
        are allowed and why). Does not change state."""
        now = _utc(now)
        s = self.state
        same_day = s.day == now.date()
        day_pnl = s.day_pnl if same_day else Decimal(0)
        base = (s.day_start_balance if same_day else None) or s.last_balance
        limit = None if base is None else -base * _pct(self.config.daily_loss_limit_pct)
        cooldowns = {
            sym: (at + self.config.symbol_cooldown).isoformat()
            for sym, at in sorted(s.last_exit.items())
            if now < at + self.config.symbol_cooldown
        }
        return {
            "day": now.date().isoformat(),
            "day_pnl": str(day_pnl),
            "day_start_balance": _str(s.day_start_balance if same_day else None),
            "daily_loss_limit": _str(limit),
            "sl_streak": s.sl_streak,
            "sl_streak_limit": self.config.sl_streak.losses,
            "live_positions": self.live_positions(),
            "max_positions": self.config.max_positions,
            "cooldowns": cooldowns,
            "peak_equity": _str(s.peak_equity),
            "max_drawdown_pct": self.config.max_drawdown_pct,
            "min_equity": _str(self.config.min_equity),
            "last_refusal": None if self.last_refusal is None else str(self.last_refusal),
        }

    # --- internals -------------------------------------------------------------------------------
    def _roll_day(self, now: datetime) -> None:
        """Start a new UTC day: PnL back to zero, start balance to be recorded."""
        s = self.state
        today = now.date()
        if s.day == today:
            return
        s.day, s.day_pnl, s.day_start_balance = today, Decimal(0), None
        self._changed()

    def _day_base(self) -> Decimal | None:
        # Before the first balance of the day is recorded, the last known one stands in for it.
        return self.state.day_start_balance if self.state.day_start_balance is not None else self.state.last_balance

    def _breached(self, base: Decimal) -> bool:
        return self.state.day_pnl <= -base * _pct(self.config.daily_loss_limit_pct)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is UTC:
        return now
    if now.tzinfo is None:
        raise ValueError("risk rules need a timezone-aware time")
    return now.astimezone(UTC)


@functools.lru_cache(maxsize=16)
def _day_text(day: date) -> str:
    return day.isoformat()


@functools.lru_cache(maxsize=64, typed=True)
def _pct(value: float) -> Decimal:
    """`value` % as a fraction (memoised: the daily loss limit is read at every check)."""
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
