"""`BotServices`: everything around the trading loop that talks to people — the statistics store,
apprise notifications and Telegram control — behind one object the run loop owns.

    services = BotServices(loaded, session, now=clock.now, started=clock.now(), on_profile_change=...)
    await services.start()
    services.notify("start", profile=..., mode=..., positions=...)
    while trading:
        async with services.engine_lock:      # commands from Telegram never interleave with a step
            await driver.step(...)
        services.tick(clock.now())            # cheap, synchronous, no network
    services.notify("stop", reason=..., positions=...)
    await services.stop()

It subscribes itself to the engine's transition listeners (entries, exits with PnL and reason,
emergencies, statistics) and to the risk guard's changes (stop-loss streak pause, daily loss halt).
Nothing here can stop trading: notifications are queued and sent by a worker, Telegram connects in
the background and answers in its own tasks, and every failure is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.bot.control.control import BotControl
from engine.bot.notify.events import duration_text
from engine.bot.notify.notifier import Notifier, urls_from_env
from engine.bot.session import Session
from engine.bot.stats.aggregates import Aggregates
from engine.config.loading import LoadedProfile
from engine.config.profile import Profile
from engine.config.telegram_access import telegram_warnings
from engine.machine.runtime import Outcome
from engine.positions.events import EMERGENCY, PROTECTED, TERMINAL, CloseRejected, EntryFilled
from engine.positions.model import Position
from engine.positions.prices import stop_in_force
from engine.trading.bot_machine import BotModel

log = logging.getLogger("engine.bot.services")

STOP_TIMEOUT = 5.0


def read_secret(name: str, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> str:
    """The value of environment variable `name`, else from `env_file`; "" when neither has it."""
    value = (os.environ if environ is None else environ).get(name, "")
    if not value and env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        value = dotenv_values(env_file).get(name) or ""
    return value.strip()


class BotServices:
    def __init__(
        self,
        loaded: LoadedProfile,
        session: Session,
        *,
        now: Callable[[], datetime],
        started: datetime,
        on_profile_change: Callable[[Profile], Any] | None = None,
        wall: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = Path(".env"),
    ) -> None:
        """`now` is the engine's clock (market time in paper); `started` the moment the bot started on it.
        `on_profile_change(profile)` is called after /aggression has switched the live session (engine
        profile and risk rules) so the run loop can apply what it owns (strategy parameters).
        `wall` (monotonic seconds) times confirmations; `environ` / `env_file` hold the secrets."""
        profile = loaded.profile
        self.session = session
        self.engine_lock = asyncio.Lock()
        self.stats = Aggregates(session.book.state_dir, session.book.history.path)
        notifications = profile.notifications
        urls = urls_from_env(notifications.urls_env, environ) or _split(read_secret(notifications.urls_env, environ,
                                                                                    env_file))
        self.notifier = Notifier(
            urls,
            min_interval=notifications.min_interval.total_seconds(),
            send_timeout=notifications.send_timeout.total_seconds(),
            max_queue=notifications.max_queue,
            prefix=f"[{profile.name}] ",
        )
        self.control = BotControl(loaded, session, now, started, self.stats, notify=self.notify,
                                  on_profile_change=on_profile_change, wall=wall, lock=self.engine_lock)
        self.telegram = None
        telegram = profile.telegram
        if telegram.enabled:
            token = read_secret(telegram.token_env, environ, env_file)
            if token:
                from engine.bot.telegram.bot import TelegramBot

                self.telegram = TelegramBot(self.control, telegram, token)
                for warning in telegram_warnings(telegram):  # said at every start, not only by `validate`
                    log.warning("%s", warning)
            else:
                log.warning("telegram.enabled but %s is not set: Telegram stays off", telegram.token_env)
        self.started = False

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the statistics (rebuilding them from history if needed), subscribe to the engine and the
        risk guard, start the notification worker and connect Telegram in the background. Returns at once."""
        if self.started:
            return
        self.stats.open()
        if self.stats.rebuilt and self.stats.rebuilt != "missing":
            log.warning("statistics rebuilt from history: %s", self.stats.rebuilt)
        self.session.engine.listeners.append(self._on_transition)
        self.session.bot.listeners.append(self._on_bot_transition)
        self.notifier.start()
        if self.telegram is not None:
            self.telegram.start()
        self.started = True

    async def telegram_ready(self, timeout: float) -> bool:
        """Wait until Telegram polls (tests, status); False when it is off or not up within `timeout`."""
        if self.telegram is None:
            return False
        try:
            await asyncio.wait_for(self.telegram.ready.wait(), timeout=timeout)
            return True
        except TimeoutError:
            return False

    def tick(self, now: datetime) -> None:
        """Housekeeping once per loop turn: expire confirmations, fold new history into the statistics.
        Synchronous and local (no network)."""
        try:
            self.control.tick()
            self.stats.sync()
        except Exception:  # noqa: BLE001 - observation must not stop trading
            log.exception("services tick failed")

    def notify(self, kind: str, **data: Any) -> None:
        """Queue a notification (`start`, `stop`, `reconciliation`, `error`, …). Returns at once."""
        self.notifier.notify(kind, **data)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop Telegram, deliver queued notifications (at most `timeout` s), unsubscribe, close the
        statistics. Never raises."""
        if not self.started:
            return
        if self.telegram is not None:
            await self.telegram.stop()
        await self.notifier.close(timeout)
        listeners = self.session.engine.listeners
        if self._on_transition in listeners:
            listeners.remove(self._on_transition)
        if self._on_bot_transition in self.session.bot.listeners:
            self.session.bot.listeners.remove(self._on_bot_transition)
        try:
            self.stats.sync()
        finally:
            self.stats.close()
        self.started = False

    # --- what the engine tells us -----------------------------------------------------------------
    def _on_transition(self, position: Position, outcome: Outcome) -> None:
        if not outcome.applied:
            return
        machine = self.session.book.machine
        if machine.has_tag(outcome.dest, EMERGENCY) and not machine.has_tag(outcome.source, EMERGENCY):
            self.notify("emergency", id=position.id, symbol=position.symbol, event=outcome.event,
                        source=outcome.source)
        if outcome.event == CloseRejected.name and machine.has_tag(outcome.dest, EMERGENCY):
            self._emergency_refused(position, outcome)
        if outcome.event == EntryFilled.name and machine.has_tag(outcome.dest, PROTECTED):
            self.notify("entry", id=position.id, symbol=position.symbol,
                        side=position.side.value if position.side else "?", qty=str(position.qty),
                        price=str(position.entry_price), stop=_text(stop_in_force(position)))
        if machine.has_tag(outcome.dest, TERMINAL):
            self.stats.sync()
            if position.opened_at is not None:
                hold = (position.closed_at - position.opened_at) if position.closed_at else None
                self.notify("exit", id=position.id, symbol=position.symbol,
                            side=position.side.value if position.side else "?", pnl=str(position.realised_pnl),
                            fees=str(position.fees), reason=position.exit_reason, hold=hold)

    def _emergency_refused(self, position: Position, outcome: Outcome) -> None:
        """An emergency the venue will not let finish: once its close has been refused the profile's
        number of times, every channel hears that the position is still open (its stop kept, the close
        retried); the log says it at each refusal."""
        orders = self.session.loaded.profile.orders
        refusals = position.close_refusals
        every = duration_text(orders.emergency_retry)
        log.error("%s %s: emergency close refused %d time(s); the stop stays, retried every %s", position.id,
                  position.symbol, refusals, every)
        if refusals == orders.emergency_alert_after:
            self.notify("emergency", id=position.id, symbol=position.symbol, source=outcome.source,
                        event=f"close refused {refusals} times, position still open; its stop-loss stays on the "
                              f"venue and the close is retried every {every}")

    def _on_bot_transition(self, model: BotModel, outcome: Outcome) -> None:
        """What the bot machine's own checks did, said on every channel (the commands say their own)."""
        until = model.deadline_at
        if outcome.event == "sl_streak":
            self.notify("sl_streak_pause", streak=self.session.risk.state.sl_streak, until=until)
        elif outcome.event == "loss_limit":
            self.notify("daily_loss_halt", day_pnl=str(self.session.risk.state.day_pnl), until=until)
        elif outcome.event == "hard_stop":
            self.notify("hard_stop", reason=model.reason)
        elif outcome.event == "all_flat" and outcome.dest == "stopped_out":
            self.notify("stopped_out", reason=model.reason)


def _split(raw: str) -> list[str]:
    return urls_from_env("_", {"_": raw})


def _text(value: object) -> str | None:
    return None if value is None else str(value)
