"""`BotControl`: every remote command, answered from live state and carried out on the live bot.

Reads (`status`, `positions`, `summary`, `performance`, `config`, `logs`) come straight from the
engine, the venue, the journal and the statistics store. Changes (`pause`, `resume`, `panic`,
`close`, `switch_profile`) are journaled with who asked (`PositionBook.record_command`) before they
act, and reported as a `CommandResult`. /panic and /close act only on a confirmation token
(`request_*` then `confirm`). Engine calls that send orders hold `lock`, the lock the run loop holds
around each engine step, so a command never interleaves with a step.

Nothing here knows about Telegram: the bot adapter (`engine.bot.telegram`) formats what comes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from engine.bot.control.confirmations import ConfirmationError, Confirmations, Pending
from engine.bot.control.profiles import SWITCHED_SECTIONS, available_profiles, current_aggression, switch_profile
from engine.bot.stats.aggregates import Aggregates, Performance, Summary
from engine.config.loading import LoadedProfile
from engine.config.profile import Profile
from engine.config.redact import redacted
from engine.errors import UserError
from engine.exits import ExitReason
from engine.machine.tags import Tag
from engine.positions.events import PROTECTED, CloseRequested
from engine.positions.model import Side
from engine.positions.prices import stop_in_force
from engine.store.fsio import read_tail

if TYPE_CHECKING:
    from engine.positions.book import PositionBook
    from engine.trading.bot_machine import BotMachine
    from engine.trading.engine import TradingEngine
    from engine.trading.risk import RiskGuard
    from engine.venue.base import Venue

log = logging.getLogger("engine.bot.control")

MAX_LOGS = 50


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    message: str
    record: dict[str, Any] | None = None  # the journal record, when something changed


@dataclass(frozen=True, slots=True)
class SignalView:
    symbol: str
    side: str
    at: datetime
    price: float
    reason: str


@dataclass(frozen=True, slots=True)
class StatusView:
    profile: str
    aggression: str | None
    mode: str
    now: datetime
    uptime: timedelta
    balances: dict[str, Decimal]
    open_positions: int
    max_positions: int
    risk: dict[str, Any]
    signals: tuple[SignalView, ...]
    counters: dict[str, int]
    universe: dict[str, Any] | None = None  # engine.market.live_universe.status_of, kept in the bot state


@dataclass(frozen=True, slots=True)
class PositionView:
    id: str
    symbol: str
    side: str
    qty: Decimal
    entry_price: Decimal | None
    unrealised_pnl: Decimal | None
    state: str
    age: timedelta | None
    stop_price: Decimal | None


@dataclass(frozen=True, slots=True)
class PerformanceView:
    performance: Performance
    chart: bytes | None  # PNG of the equity curve, None without trades
    starting_balance: Decimal


class Session(Protocol):
    """What the control reads and changes of a running session (`engine.bot.session.Session` is one;
    declared here so that control does not import run)."""

    loaded: LoadedProfile
    book: PositionBook
    venue: Venue
    engine: TradingEngine
    risk: RiskGuard
    bot: BotMachine


@dataclass
class BotControl:
    """The command surface of one running bot. Use it from the engine's event loop only."""

    loaded: LoadedProfile
    session: Session
    now: Callable[[], datetime]  # the engine's clock (market time in paper)
    started: datetime
    stats: Aggregates
    notify: Callable[..., None] = lambda kind, **data: None
    on_profile_change: Callable[[Profile], Any] | None = None
    wall: Callable[[], float] = time.monotonic  # measures confirmation expiry
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    confirmations: Confirmations = field(init=False)

    def __post_init__(self) -> None:
        ttl = self.loaded.profile.telegram.confirm_timeout.total_seconds()
        self.confirmations = Confirmations(ttl, self.wall)

    # --- reading -------------------------------------------------------------------------------
    async def status(self) -> StatusView:
        profile = self.loaded.profile
        now = self.now()
        balances = {}
        for quote in profile.venue.quote_assets:
            balances[quote] = (await self.session.venue.balance(quote)).total
        signals = sorted(self.session.engine.last_signals.values(), key=lambda s: s.open_time_ms, reverse=True)
        views = tuple(
            SignalView(s.symbol, s.side.value, datetime.fromtimestamp(s.open_time_ms / 1000, tz=now.tzinfo),
                       s.price, s.reason)
            for s in signals[:3]
        )
        counters = self.session.engine.counters
        return StatusView(
            profile=profile.name, aggression=current_aggression(self.loaded), mode=profile.mode, now=now,
            uptime=now - self.started, balances=balances, open_positions=len(self.session.book.live),
            max_positions=profile.risk.max_positions, risk=self.session.bot.status(now), signals=views,
            counters={"signals": counters.signals, "entries": counters.entries, "closed": counters.closed,
                      "refused": counters.refused},
            universe=self.session.book.bot.get("universe"),
        )

    async def positions(self) -> list[PositionView]:
        now = self.now()
        marks = {p.symbol: p.mark_price for p in await self.session.venue.positions()}
        out = []
        for position in sorted(self.session.book.live.values(), key=lambda p: p.number):
            side = position.side.value if position.side else str(position.plan.get("side", "?"))
            mark = marks.get(position.symbol)
            upnl = None
            if mark is not None and position.entry_price is not None and position.qty:
                sign = 1 if side == Side.LONG else -1  # `side`: the view's string, the plan's before the entry
                upnl = (mark - position.entry_price) * position.qty * sign
            since = position.opened_at or position.created_at
            stop = stop_in_force(position)
            out.append(PositionView(
                position.id, position.symbol, side, position.qty or Decimal(str(position.plan.get("qty", 0))),
                position.entry_price, upnl, position.state, None if since is None else now - since,
                None if stop is None else Decimal(str(stop)),
            ))
        return out

    def summary(self) -> Summary:
        self.stats.sync()
        return self.stats.summary(self.now())

    async def performance(self) -> PerformanceView:
        from engine.bot.stats.chart import equity_png

        self.stats.sync()
        balance = self.loaded.profile.venue.starting_balance
        performance = self.stats.performance(self.now(), balance)
        chart = None
        if performance.equity:
            # matplotlib takes ~0.1 s: drawn in a thread so the engine loop keeps ticking
            chart = await asyncio.to_thread(equity_png, performance.equity, title=f"{self.loaded.profile.name} equity")
        return PerformanceView(performance, chart, balance)

    def config(self) -> dict[str, Any]:
        """The merged profile (extends + runtime overrides), secrets redacted."""
        return redacted(self.loaded.profile.model_dump(mode="json"))

    def logs(self, n: int = 10) -> list[dict[str, Any]]:
        """The last `n` journal records (transitions and commands), oldest first; at most MAX_LOGS."""
        import json

        n = max(1, min(int(n), MAX_LOGS))
        tail = read_tail(self.session.book.journal.path, 1 << 17)
        records: list[dict[str, Any]] = []
        for line in reversed(tail.splitlines()):
            if len(records) >= n:
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the window's cut first line
            # bot records (no seq) are state, not log lines, but the bot machine's transitions are
            if isinstance(record, dict) and ("seq" in record or "machine" in record):
                records.append(record)
        return records[::-1]

    def profiles(self) -> list[str]:
        return available_profiles(self.loaded)

    # --- changing ------------------------------------------------------------------------------
    def pause(self, by: str) -> CommandResult:
        """Stop new entries (open positions stay managed): the bot machine's `pause`, journaled with who
        asked (the transition first: it is what the bot resumes into)."""
        bot = self.session.bot
        if bot.state == "paused":
            return CommandResult(True, f"entries already paused by {bot.model.by}")
        now = self.now()
        if bot.command("pause", by, now, reason=f"paused by {by}") is None:
            return CommandResult(False, f"cannot pause: the bot is {bot.why()}")
        record = self.session.book.record_command("pause", by, now=now, bot=self._bot_value())
        self.notify("paused", by=by)
        return CommandResult(True, "entries paused; open positions stay managed", record)

    def resume(self, by: str) -> CommandResult:
        bot = self.session.bot
        if bot.state != "paused":
            extra = "" if bot.has_tag(Tag.ENTRIES) else f"; the bot is {bot.why()}"
            return CommandResult(True, f"entries were not paused{extra}")
        now = self.now()
        bot.command("resume", by, now)
        record = self.session.book.record_command("resume", by, now=now, bot=self._bot_value())
        self.notify("resumed", by=by)
        return CommandResult(True, "entries resumed", record)

    def request_rearm(self, by: str, where: str | None = None) -> Pending:
        """Raises UserError unless the bot is stopped out (nothing to re-arm)."""
        bot = self.session.bot
        if not bot.accepts("rearm"):
            raise UserError(f"nothing to re-arm: the bot is {bot.why()}")
        return self.confirmations.create("rearm", by, where=where, reason=bot.model.reason)

    def rearm(self, by: str) -> CommandResult:
        """Re-arm a stopped-out bot (after the confirmation; the CLI's request is its own). Sends no order
        and awaits nothing, so it needs no engine lock: it runs between two engine steps."""
        bot = self.session.bot
        now = self.now()
        if bot.command("rearm", by, now, reason=f"re-armed by {by}") is None:
            return CommandResult(False, f"nothing to re-arm: the bot is {bot.why()}")
        record = self.session.book.record_command("rearm", by, now=now, bot=self._bot_value())
        self.notify("rearmed", by=by)
        return CommandResult(True, "re-armed: entries allowed again; the drawdown is measured from the equity now",
                             record)

    def _bot_value(self) -> dict[str, Any]:
        from engine.trading.bot_machine import BOT_VALUE

        return {BOT_VALUE: self.session.bot.model.to_dict()}

    # `where` (the chat asked in) and `by` must match at the answer: see `confirmations`.
    def request_panic(self, by: str, where: str | None = None) -> Pending:
        return self.confirmations.create("panic", by, where=where, positions=len(self.session.book.live))

    def request_close(self, position_id: str, by: str, where: str | None = None) -> Pending:
        """Raises UserError when the position is not live or cannot be closed by a market order now."""
        position = self._closable(position_id)
        return self.confirmations.create("close", by, where=where, position=position.id, symbol=position.symbol)

    def cancel(self, token: str, by: str, where: str | None = None) -> CommandResult:
        """Raises ConfirmationError("not yours") when `by`/`where` did not ask; the prompt stays live."""
        pending = self.confirmations.cancel(token, by, where)
        if pending is None:
            return CommandResult(False, "nothing to cancel (already answered or expired)")
        log.info("%s cancelled by %s", pending.action, by)
        return CommandResult(True, f"{pending.action} cancelled; nothing done")

    async def confirm(self, token: str, by: str, where: str | None = None) -> CommandResult:
        """Carry out a confirmed /panic or /close. An unknown, used or expired token does nothing;
        raises ConfirmationError("not yours") when `by`/`where` did not ask (the token stays live)."""
        try:
            pending = self.confirmations.take(token, by, where)
        except ConfirmationError as exc:
            if exc.reason == "not yours":
                raise
            what = exc.pending.action if exc.pending else "confirmation"
            if exc.reason == "expired":
                return CommandResult(False, f"{what} confirmation expired; nothing done")
            return CommandResult(False, "unknown or already used confirmation; nothing done")
        if pending.action == "panic":
            return await self._panic(by)
        if pending.action == "close":
            return await self._close(str(pending.args["position"]), by)
        if pending.action == "rearm":
            return self.rearm(by)
        return CommandResult(False, f"unknown action {pending.action!r}")

    async def _panic(self, by: str) -> CommandResult:
        async with self.lock:
            now = self.now()
            live = sorted(self.session.book.live, key=lambda pid: int(pid.lstrip("P")))
            bot = self.session.bot
            bot.command("panic", by, now, reason=f"panic by {by}")
            record = self.session.book.record_command("panic", by, {"positions": live}, now=now,
                                                      bot=self._bot_value())
            self.notify("panic", by=by, positions=len(live))
            await self.session.engine.panic(now)
            bot.check(now, live=len(self.session.book.live))  # all flat at once: out of flattening
            left = {pid: p.state for pid, p in self.session.book.live.items()}
        closed = [pid for pid in live if pid not in left]
        text = f"panic: {len(live)} position(s) sent to emergency close"
        if live:
            text += f"; closed now: {', '.join(closed) or 'none'}"
            if left:
                text += f"; still closing: {', '.join(f'{k} ({v})' for k, v in sorted(left.items()))}"
        return CommandResult(True, text, record)

    async def _close(self, position_id: str, by: str) -> CommandResult:
        async with self.lock:
            try:
                position = self._closable(position_id)
            except UserError as exc:
                return CommandResult(False, str(exc))
            now = self.now()
            record = self.session.book.record_command("close", by, {"position": position.id}, now=now)
            self.notify("close", id=position.id, by=by)
            await self.session.engine.apply(position, CloseRequested(ExitReason.MANUAL), now)
        state = position.state
        return CommandResult(True, f"{position.id} {position.symbol}: close sent, now {state}", record)

    def _closable(self, position_id: str) -> Any:
        pid = position_id.strip().upper()
        if pid and not pid.startswith("P"):
            pid = f"P{pid}"
        position = self.session.book.live.get(pid)
        if position is None:
            raise UserError(f"no live position {position_id}")
        if not self.session.book.machine.has_tag(position.state, PROTECTED):  # what close_requested takes
            raise UserError(f"{pid} is {position.state}: only open positions can be closed (use /panic)")
        return position

    async def switch_profile(self, name: str, by: str) -> CommandResult:
        """Switch the trading sections to profile `name`, persisted as a runtime override, applied live."""
        previous = current_aggression(self.loaded) or self.loaded.profile.name
        try:
            async with self.lock:
                new = switch_profile(self.loaded, name)
                now = self.now()
                self.session.bot.command("profile", by, now, reason="")
                record = self.session.book.record_command("profile", by, {"name": name, "previous": previous},
                                                          now=now)
                self.apply_profile(new)
        except UserError as exc:
            return CommandResult(False, str(exc))
        self.notify("profile", name=name, previous=previous, by=by)
        risk = new.profile.risk
        return CommandResult(True, (f"profile {name} active ({', '.join(SWITCHED_SECTIONS)}): max {risk.max_positions} "
                                    f"positions, risk {new.profile.orders.risk_per_trade_pct:g}%/trade, leverage "
                                    f"{new.profile.orders.leverage}x; saved, kept after a restart "
                                    "(timeouts such as max hold apply from the next start)"), record)

    def apply_profile(self, new: LoadedProfile) -> None:
        """Point the live session at the new profile, then let the run loop apply what it owns."""
        self.loaded = new
        self.session.loaded = new
        self.session.engine.orders = new.profile.orders
        self.session.risk.config = new.profile.risk
        if self.on_profile_change is not None:
            self.on_profile_change(new.profile)

    # --- housekeeping --------------------------------------------------------------------------
    def tick(self) -> None:
        self.confirmations.expire()
        from engine.trading.bot_state import take_rearm_request

        by = take_rearm_request(self.session.book.state_dir)
        if by is not None:  # `python -m engine rearm PROFILE` beside the running bot
            log.warning("%s", self.rearm(by).message)
