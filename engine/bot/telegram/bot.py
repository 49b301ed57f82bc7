"""The Telegram front of `BotControl`: a python-telegram-bot Application in the engine's own event loop.

* One gate (group -1) in front of every handler: an update whose chat is not allow-listed (or whose
  sender is not, when `allowed_user_ids` is set) is logged and stopped there with
  `ApplicationHandlerStop`, commands and button presses alike. Nothing else runs for it.
* Handlers are thin: they ask `BotControl` and format the answer (`engine.bot.telegram.format`).
* /panic, /rearm and /close answer with inline buttons carrying a one-time token (`cf:yes:<token>`); the
  press is answered, carried out, and the prompt is edited so the buttons disappear. The token is
  the asker's in the chat it was asked in: anyone else's press (another member of the group, the
  same operator from another allowed chat) gets a short refusal and changes nothing.
* Only new messages are commands. An edited message is not (python-telegram-bot's CommandHandler
  takes `edited_message` updates by default): editing an old "/pause" into "/panic", or an edit
  arriving late, must not act; the sender is told to send it anew.
* Start-up runs in a background task with retries (`initialize → start → updater.start_polling`), so
  an unreachable or slow Telegram never holds up trading; `stop()` is bounded.
* Under ENGINE_OFFLINE nothing but a Bot API on this machine (127.0.0.1 / localhost) is contacted.
* The token is in every request URL httpx logs: it is handed to `hide_in_logs` before the first one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from engine.bot.control.confirmations import ConfirmationError
from engine.bot.control.control import BotControl
from engine.bot.notify.notifier import LOOPBACK
from engine.bot.telegram import format as fmt
from engine.config.profile import TelegramSection
from engine.config.redact import hide_in_logs, scrub
from engine.errors import UserError
from engine.offline import is_offline

log = logging.getLogger("engine.bot.telegram")

CONFIRM_PATTERN = r"^cf:(yes|no):[0-9a-f]{1,32}$"
RETRY_FIRST, RETRY_MAX = 1.0, 60.0
STOP_TIMEOUT = 5.0
NOT_YOURS = "Only the person who asked, in the chat it was asked in, can answer this."
EDITED = "An edited message is not a command; nothing done. Send it again as a new message."


@dataclass(frozen=True, slots=True)
class Rejection:
    """An update the gate stopped (kept for /status-like checks and tests)."""

    chat_id: int | None
    user_id: int | None
    what: str


def telegram_allowed(base_url: str) -> str | None:
    """Why Telegram must not be contacted at `base_url` now, or None when it may be."""
    host = (urlsplit(base_url).hostname or "").lower()
    if is_offline() and host not in LOOPBACK:
        return f"ENGINE_OFFLINE is on and the Bot API at {host or base_url!r} is not on this machine"
    return None


def sender(update: Update) -> str:
    """Who sent an update, as journaled: `telegram:<user id>`."""
    user = update.effective_user
    return f"telegram:{user.id}" if user is not None else "telegram:?"


def place(update: Update) -> str:
    """The chat an update belongs to (a button press: the chat of the prompt), as confirmations keep it."""
    chat = update.effective_chat
    return f"telegram-chat:{chat.id}" if chat is not None else "telegram-chat:?"


class TelegramBot:
    def __init__(self, control: BotControl, section: TelegramSection, token: str) -> None:
        self.control = control
        self.section = section
        self.token = token
        self.allowed_chats = frozenset(section.allowed_chat_ids)
        self.allowed_users = frozenset(section.allowed_user_ids)
        self.rejections: deque[Rejection] = deque(maxlen=100)
        self.app: Application | None = None
        self.ready = asyncio.Event()
        self.failed: str | None = None  # why Telegram gave up for good
        self._task: asyncio.Task[None] | None = None
        self._requests: list[HTTPXRequest] = []
        hide_in_logs(token, placeholder="<token>")

    # --- building ------------------------------------------------------------------------------
    def build(self) -> Application:
        loopback = (urlsplit(self.section.api_base_url).hostname or "").lower() in LOOPBACK
        # Proxy variables would send 127.0.0.1 through a proxy; a local Bot API is always reached directly.
        httpx_kwargs = {"trust_env": False} if loopback else {}
        request = HTTPXRequest(connection_pool_size=8, read_timeout=10, write_timeout=20, pool_timeout=5,
                               httpx_kwargs=httpx_kwargs)
        updates = HTTPXRequest(connection_pool_size=2, read_timeout=5, httpx_kwargs=httpx_kwargs)
        self._requests = [request, updates]
        app = (ApplicationBuilder().token(self.token).base_url(self.section.api_base_url)
               .request(request).get_updates_request(updates).job_queue(None).build())
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        new = filters.UpdateType.MESSAGE  # not edited_message, not channel posts (see the module doc)
        for name, callback in (
            ("status", self._status), ("positions", self._positions), ("summary", self._summary),
            ("performance", self._performance), ("pause", self._pause), ("resume", self._resume),
            ("panic", self._panic), ("rearm", self._rearm), ("close", self._close), ("config", self._config),
            ("aggression", self._aggression), ("logs", self._logs), ("help", self._help), ("start", self._help),
        ):
            app.add_handler(CommandHandler(name, callback, filters=new))
        app.add_handler(CallbackQueryHandler(self._button, pattern=CONFIRM_PATTERN))
        app.add_handler(MessageHandler(filters.COMMAND & new, self._unknown))
        app.add_handler(MessageHandler(filters.COMMAND & filters.UpdateType.EDITED_MESSAGE, self._edited))
        app.add_error_handler(self._error)
        return app

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying with backoff); `ready` is set once polling runs."""
        refusal = telegram_allowed(self.section.api_base_url)
        if refusal:
            self.failed = refusal
            log.warning("Telegram stays off: %s", refusal)
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._connect(), name="telegram-start")

    async def _connect(self) -> None:
        delay = RETRY_FIRST
        while True:
            app = self.build()
            try:
                await app.initialize()
                await app.start()
                assert app.updater is not None
                await app.updater.start_polling(
                    timeout=self.section.poll_timeout.total_seconds(),
                    # edits are asked for only to tell the sender they do nothing (`_edited`)
                    allowed_updates=[Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY],
                    error_callback=self._poll_error,
                )
            except InvalidToken:
                self.failed = "the Bot API refused the token (HTTP 401/404)"
                log.error("Telegram stays off: %s", self.failed)
                await self._teardown(app)
                return
            except (TelegramError, OSError) as exc:
                log.warning("Telegram not reachable (%s: %s); retrying in %.0fs", type(exc).__name__,
                            scrub(str(exc)), delay)
                await self._teardown(app)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            self.app = app
            self.ready.set()
            me = app.bot.username
            log.info("Telegram bot @%s polling; allowed chats %s", me, sorted(self.allowed_chats))
            try:
                await app.bot.set_my_commands([BotCommand(n, d) for n, d in fmt.COMMANDS])
            except TelegramError as exc:
                log.info("could not set the command menu: %s", exc)
            return

    def _poll_error(self, exc: TelegramError) -> None:
        log.warning("Telegram polling: %s: %s (retrying)", type(exc).__name__, scrub(str(exc)))

    async def stop(self) -> None:
        """Stop polling and close connections, at most STOP_TIMEOUT seconds; never raises."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._task = None
        if self.app is not None:
            try:
                await asyncio.wait_for(self._teardown(self.app), timeout=STOP_TIMEOUT)
            except TimeoutError:
                log.warning("Telegram did not stop within %.0fs; left behind", STOP_TIMEOUT)
            self.app = None
        self.ready.clear()

    async def _teardown(self, app: Application) -> None:
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        except Exception as exc:  # noqa: BLE001 - shutting down; nothing left to protect
            log.debug("telegram teardown: %s", exc)
        for request in self._requests:
            try:
                await request.shutdown()
            except Exception:  # noqa: BLE001
                pass

    # --- the gate ------------------------------------------------------------------------------
    async def _gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat, user = update.effective_chat, update.effective_user
        if (chat is not None and chat.id in self.allowed_chats and user is not None
                and (not self.allowed_users or user.id in self.allowed_users)):
            return
        what = "button" if update.callback_query else (update.effective_message.text if update.effective_message
                                                       and update.effective_message.text else "update")
        self.rejections.append(Rejection(None if chat is None else chat.id, None if user is None else user.id,
                                         str(what)[:40]))
        log.warning("telegram: ignored %r from chat %s user %s: not allow-listed", str(what)[:40],
                    None if chat is None else chat.id, None if user is None else user.id)
        raise ApplicationHandlerStop

    # --- handlers ------------------------------------------------------------------------------
    async def _reply(self, update: Update, text: str, **kwargs: Any) -> None:
        message = update.effective_message
        if message is not None:
            await message.reply_text(text, parse_mode=ParseMode.HTML, **kwargs)

    async def _status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, fmt.status_text(await self.control.status()))

    async def _positions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, fmt.positions_text(await self.control.positions()))

    async def _summary(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, fmt.summary_text(self.control.summary()))

    async def _performance(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        view = await self.control.performance()
        await self._reply(update, fmt.performance_text(view))
        if view.chart is not None and update.effective_message is not None:
            await update.effective_message.reply_photo(photo=view.chart, caption="equity and drawdown")

    async def _pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, fmt.esc(self.control.pause(sender(update)).message))

    async def _resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, fmt.esc(self.control.resume(sender(update)).message))

    async def _panic(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        pending = self.control.request_panic(sender(update), place(update))
        ttl = self.section.confirm_timeout
        await self._reply(update, fmt.panic_prompt(pending, ttl),
                          reply_markup=self._confirm_keyboard(pending.token, "🚨 Yes, close ALL"))

    async def _rearm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            pending = self.control.request_rearm(sender(update), place(update))
        except UserError as exc:
            await self._reply(update, fmt.esc(str(exc)))
            return
        await self._reply(update, fmt.rearm_prompt(pending, self.section.confirm_timeout),
                          reply_markup=self._confirm_keyboard(pending.token, "Yes, re-arm"))

    async def _close(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not context.args:
            await self._reply(update, "usage: /close P3 (see /positions)")
            return
        try:
            pending = self.control.request_close(context.args[0], sender(update), place(update))
        except UserError as exc:
            await self._reply(update, fmt.esc(str(exc)))
            return
        await self._reply(update, fmt.close_prompt(pending, self.section.confirm_timeout),
                          reply_markup=self._confirm_keyboard(pending.token, f"Yes, close {pending.args['position']}"))

    @staticmethod
    def _confirm_keyboard(token: str, yes: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton(yes, callback_data=f"cf:yes:{token}"),
                                      InlineKeyboardButton("Cancel", callback_data=f"cf:no:{token}")]])

    async def _button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        _, answer, token = query.data.split(":", 2)
        by, where = sender(update), place(update)
        try:
            # Checked before the press is answered: the refusal is the answer (a pop-up for the presser).
            self.control.confirmations.check(token, by, where)
        except ConfirmationError as refused:
            log.warning("telegram: %s %s refused for %s in %s: asked by %s in %s", refused.pending.action,
                        answer, by, where, refused.pending.by, refused.pending.where)
            await query.answer(NOT_YOURS, show_alert=True)
            return
        await query.answer()
        if answer == "yes":
            result = await self.control.confirm(token, by, where)
        else:
            result = self.control.cancel(token, by, where)
        await query.edit_message_text(("✅ " if result.ok else "✖ ") + fmt.esc(result.message),
                                      parse_mode=ParseMode.HTML)

    async def _config(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, fmt.config_text(self.control.config()))

    async def _aggression(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not context.args:
            names = fmt.esc(", ".join(self.control.profiles()))
            await self._reply(update, f"usage: /aggression NAME\nprofiles: {names}")
            return
        result = await self.control.switch_profile(context.args[0].lower(), sender(update))
        await self._reply(update, ("✅ " if result.ok else "✖ ") + fmt.esc(result.message))

    async def _logs(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        n = 10
        if context.args:
            try:
                n = int(context.args[0])
            except ValueError:
                await self._reply(update, "usage: /logs [N] (N up to 50)")
                return
        await self._reply(update, fmt.logs_text(self.control.logs(n)))

    async def _help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, fmt.help_text(self.control.profiles()))

    async def _unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, "unknown command; /help lists them")

    async def _edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.info("telegram: edited message from %s ignored: %r", sender(update),
                 (update.effective_message.text or "")[:40] if update.effective_message else "")
        await self._reply(update, EDITED)

    async def _error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler failed: %s", scrub(str(context.error)), exc_info=context.error)
        if isinstance(update, Update) and update.effective_message is not None:
            try:
                await update.effective_message.reply_text(f"⚠ failed: {type(context.error).__name__}")
            except TelegramError:
                pass
