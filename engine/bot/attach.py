"""The people-facing services (statistics, notifications, Telegram) around any run loop.

    async with running_services(session, clock, signals, note) as services:
        ... each step: async with services.engine_lock: ...; services.tick(now)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from engine.bot.services import BotServices
from engine.bot.session import Session
from engine.clock import Clock
from engine.config.profile import Profile
from engine.exits import ExitReason
from engine.strategy.scalping_v1 import ScalpingV1


@asynccontextmanager
async def running_services(session: Session, clock: Clock, signals: Any, note: str = "") -> AsyncIterator[BotServices]:
    """Start the services, announce the start, and on the way out announce the stop (or the failure)
    and stop them; they never outlive the loop nor block it."""

    def switched(profile: Profile) -> None:
        # The engine and risk rules were switched by the control layer; the strategy is the loop's.
        if hasattr(signals, "strategy"):
            signals.strategy = ScalpingV1(profile.strategy)

    services = BotServices(session.loaded, session, now=clock.now, started=clock.now(), on_profile_change=switched)
    await services.start()
    profile = session.loaded.profile
    services.notify("start", profile=profile.name, mode=profile.mode, positions=len(session.book.live), note=note)
    reason: str = ExitReason.SHUTDOWN  # the bot's stop reason: the word its positions' closes use too
    try:
        yield services
    except BaseException as exc:
        reason = f"failure: {type(exc).__name__}: {exc}"
        services.notify("error", message=reason)
        raise
    finally:
        services.notify("stop", reason=reason, positions=len(session.book.live))
        await services.stop()
