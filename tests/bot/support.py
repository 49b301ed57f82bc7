"""A bot assembled as `run` assembles it (`open_session` on a temp state folder, the simulated venue on
the built-in markets — `tests.e2e.harness.Bot`), with `BotServices` started on top of it: the real
python-telegram-bot Application polling a fake Bot API on 127.0.0.1 and apprise posting to a local
json:// receiver. Everything runs in the test's event loop, as in the bot.

Time is injected: `clock` is the engine's (market) time, `wall` the monotonic seconds that time
confirmations. Nothing sleeps to let time pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.bot.services import BotServices
from engine.config.profile import Profile
from engine.positions.model import Position
from engine.store.journal import is_command
from engine.strategy.signal import Side, Signal
from tests.e2e.harness import STEP, Bot
from tests.fakes.apprise_receiver import AppriseReceiver
from tests.fakes.telegram_api import Call, FakeTelegramAPI

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
ETH, BTC, SOL = "ETH/USDC:USDC", "BTC/USDC:USDC", "SOL/USDC:USDC"
OPERATOR = 42
GROUP = -1001
STRANGER = 666
TOKEN = "123456:TEST-token"
URLS_ENV = "TEST_APPRISE_URLS"


class Clock:
    """The engine's clock, moved by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


class Wall:
    """Monotonic seconds for confirmation expiry, moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class World:
    bot: Bot
    api: FakeTelegramAPI | None
    hook: AppriseReceiver | None
    services: BotServices
    clock: Clock
    wall: Wall
    profile_changes: list[Profile] = field(default_factory=list)

    @property
    def engine(self):  # noqa: ANN201
        return self.bot.engine

    @property
    def book(self):  # noqa: ANN201
        return self.bot.book

    # --- trading, in the running loop ----------------------------------------------------------
    async def open(self, symbol: str = ETH, side: str = "long") -> Position:
        """A signal at the clock's time on a flat candle just before it; the market entry fills at once."""
        now = self.clock.now()
        open_at = now - STEP
        self.bot.flat_candle(symbol, open_at)
        price = self.bot.last[symbol]
        signal = Signal(symbol, Side(side), int(open_at.timestamp() * 1000), price, 0.5, (), f"{side}: test signal")
        position = await self.engine.on_signal(signal, now)
        assert position is not None and position.state == "open", "the entry should fill at once on the sim venue"
        return position

    async def stop_on_venue(self, position: Position) -> Decimal:
        """The trigger of the position's live stop-loss, as the venue holds it."""
        orders = await self.bot.venue.open_orders(position.symbol)
        return next(o.trigger_price for o in orders if position.order_roles.get(o.client_id) == "sl")

    async def stop_out(self, position: Position) -> None:
        """A candle through the position's stop; its fill goes to the engine at the candle's close."""
        open_at = self.clock.now()
        stop = float(position.plan["stop_price"])
        entry = float(position.entry_price or position.plan["price"])
        if position.side is not None and position.side.value == "long":
            executions = self.bot.candle(position.symbol, open_at, entry, entry, stop * 0.995, stop * 0.995)
        else:
            executions = self.bot.candle(position.symbol, open_at, entry, stop * 1.005, entry, stop * 1.005)
        self.clock.advance(STEP)
        await self.engine.on_executions(executions, self.clock.now())

    # --- Telegram ------------------------------------------------------------------------------
    async def ask(self, text: str, *, chat_id: int = OPERATOR, user_id: int | None = None) -> Call:
        """Send a command and wait for the bot's first reply message in that chat."""
        assert self.api is not None
        mark = self.api.mark()
        self.api.command(text, chat_id=chat_id, user_id=user_id)
        return await self.api.wait_call("sendMessage", lambda c: c.params.get("chat_id") == chat_id, after=mark)

    async def press(self, data: str, prompt: Call, *, chat_id: int | None = None, user_id: int | None = None) -> Call:
        """Press a button of `prompt` (a sendMessage call; from its own chat unless `chat_id` says
        otherwise) and wait for the edited prompt."""
        assert self.api is not None
        mark = self.api.mark()
        self.api.press(data, message_id=prompt.result["message_id"], chat_id=chat_id, user_id=user_id)
        return await self.api.wait_call("editMessageText", after=mark)

    async def settle(self) -> None:
        """Wait until every update sent so far has been handled: updates are handled one at a time, in
        order, so the reply to a /help sent now comes after all of them."""
        await self.ask("/help")

    def commands(self) -> list[dict[str, Any]]:
        return [r for r in self.bot.records() if is_command(r)]


def buttons(call: Call) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def text(call: Call) -> str:
    return str(call.params.get("text", ""))


def control_bot(root: Path, *, api: FakeTelegramAPI | None, hook: AppriseReceiver | None,
                telegram: dict[str, Any] | None = None, notifications: dict[str, Any] | None = None,
                **sections: Any) -> Bot:
    tg: dict[str, Any] = {"enabled": api is not None, "allowed_chat_ids": [OPERATOR, GROUP],
                          "allowed_user_ids": [OPERATOR], "confirm_timeout": "30s", "poll_timeout": "1s"}
    if api is not None:
        tg["api_base_url"] = api.base_url
    tg.update(telegram or {})
    notes: dict[str, Any] = {"urls_env": URLS_ENV, "min_interval": "0s", "send_timeout": "2s"}
    notes.update(notifications or {})
    return Bot(root, "ctl", telegram=tg, notifications=notes, **sections)


async def start_world(root: Path, *, api: FakeTelegramAPI | None = None, hook: AppriseReceiver | None = None,
                      urls: str | None = None, token: str = TOKEN, **kwargs: Any) -> World:
    bot = control_bot(root, api=api, hook=hook, **kwargs)
    clock, wall = Clock(T0), Wall()
    changes: list[Profile] = []
    environ = {"TELEGRAM_BOT_TOKEN": token}
    if urls is not None or hook is not None:
        environ[URLS_ENV] = urls if urls is not None else hook.url()  # type: ignore[union-attr]
    services = BotServices(bot.loaded, bot.session, now=clock.now, started=T0, on_profile_change=changes.append,
                           wall=wall, environ=environ, env_file=None)
    await services.start()
    return World(bot, api, hook, services, clock, wall, changes)


async def close_world(world: World) -> None:
    await world.services.stop()
    world.bot.close()
