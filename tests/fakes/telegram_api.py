"""A fake Telegram Bot API on 127.0.0.1 (aiohttp), good enough for the real python-telegram-bot
Application with its real Updater: getMe, deleteWebhook, setMyCommands, getUpdates (long poll with
offsets), sendMessage, sendPhoto, answerCallbackQuery, editMessageText. Unknown methods are 404.

Tests enqueue updates (`command`, `edit`, `press`), then wait for what the bot sent (`wait_call`).
Every call is recorded with its decoded parameters (`calls`). Queued updates are delivered whatever
`allowed_updates` the bot asked for, so what the bot does with each kind is its own handlers' doing.
A `fail_next` injects an HTTP error (429 with retry_after, 500 …) on the next call of a method.

Shutdown does not wait for a parked long poll (see the reference, gotcha 2): `stop()` sets `closing`
and wakes every poll before the runner is cleaned up with a 1 s shutdown timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.local_http import serve_local

BOT_USER = {"id": 123456, "is_bot": True, "first_name": "FakeBot", "username": "fake_bot"}
# Form fields PTB sends JSON-encoded; everything else stays a string ("21" must not become 21).
JSON_FIELDS = frozenset({
    "chat_id", "message_id", "reply_markup", "entities", "caption_entities", "offset", "timeout", "limit",
    "allowed_updates", "commands", "reply_parameters", "link_preview_options", "drop_pending_updates",
    "show_alert", "disable_notification", "protect_content", "cache_time", "scope",
})


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    files: dict[str, bytes] = field(default_factory=dict)
    result: Any = None  # what the fake answered (the Message for sendMessage …)


class FakeTelegramAPI:
    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.messages: dict[int, dict[str, Any]] = {}  # what the bot sent, by message_id
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.closing = False
        self.hold_replies: asyncio.Event | None = None  # set to an Event to make replies hang until it is set
        self.port = 0
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._callback_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._new_call = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- server ------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> FakeTelegramAPI:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.port = await serve_local(app, shutdown_timeout=1)
        return self

    async def stop(self) -> None:
        self.closing = True
        self._new_update.set()
        if self.hold_replies is not None:
            self.hold_replies.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                params.update(json.loads(raw))
            return params, files
        if request.method == "POST":
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    params[key] = f"<file {value.filename}>"
                elif key in JSON_FIELDS:
                    params[key] = json.loads(value)
                else:
                    params[key] = value
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._params(request)
        call = Call(method, params, files=files)
        self.calls.append(call)
        self._new_call.set()
        if method in ("sendMessage", "sendPhoto", "editMessageText") and self.hold_replies is not None:
            await self.hold_replies.wait()  # a slow Telegram: replies hang until the test lets them go
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        queued = self.failures.get(method)
        if queued:
            status, extra = queued.pop(0)
            return self._error(status, extra.get("description", "injected failure"), extra.get("parameters"))
        handler: Callable[[dict[str, Any]], Any] | None = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(404, f"Not Found: method {method}")
        result = await handler(params)
        call.result = result
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    # --- Bot API methods -----------------------------------------------------------------------------
    async def _m_getMe(self, p: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> bool:
        return True

    async def _m_setMyCommands(self, p: dict[str, Any]) -> bool:
        return True

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        return True

    async def _m_getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(p.get("offset") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        while not self.updates and not self.closing:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout=left)
            except TimeoutError:
                break
        return list(self.updates[: int(p.get("limit") or 100)])

    def _message(self, chat_id: int, text: str | None, **extra: Any) -> dict[str, Any]:
        message_id = next(self._message_ids)
        message = {"message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
                   "from": BOT_USER, **({"text": text} if text is not None else {}), **extra}
        self.messages[message_id] = message
        return message

    async def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        extra = {"reply_markup": p["reply_markup"]} if "reply_markup" in p else {}
        return self._message(int(p["chat_id"]), str(p["text"]), **extra)

    async def _m_sendPhoto(self, p: dict[str, Any]) -> dict[str, Any]:
        photo = [{"file_id": "photo-1", "file_unique_id": "u1", "width": 640, "height": 400}]
        extra = {"caption": p["caption"]} if "caption" in p else {}
        return self._message(int(p["chat_id"]), None, photo=photo, **extra)

    async def _m_editMessageText(self, p: dict[str, Any]) -> dict[str, Any]:
        message_id = int(p["message_id"])
        old = self.messages.get(message_id) or self._message(int(p["chat_id"]), "")
        edited = {k: v for k, v in old.items() if k != "reply_markup"}
        edited["text"] = str(p["text"])
        if "reply_markup" in p:
            edited["reply_markup"] = p["reply_markup"]
        self.messages[message_id] = edited
        return edited

    # --- what tests use --------------------------------------------------------------------------------
    def fail_next(self, method: str, status: int, description: str = "injected",
                  retry_after: int | None = None) -> None:
        extra: dict[str, Any] = {"description": description}
        if retry_after is not None:
            extra["parameters"] = {"retry_after": retry_after}
        self.failures.setdefault(method, []).append((status, extra))

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        self.updates.append(update)
        self._new_update.set()
        return update

    def command(self, text: str, *, chat_id: int = 42, user_id: int | None = None,
                username: str = "op") -> dict[str, Any]:
        """Queue a message whose text starts with a /command (with its bot_command entity)."""
        message = self._user_message(text, chat_id, user_id, username, next(self._message_ids))
        return self._push({"update_id": next(self._update_ids), "message": message})

    def edit(self, text: str, *, message_id: int | None = None, chat_id: int = 42, user_id: int | None = None,
             username: str = "op") -> dict[str, Any]:
        """Queue an `edited_message` update: the user edited one of their messages (`message_id`, by
        default a new id) so that it now reads `text`."""
        message = self._user_message(text, chat_id, user_id, username,
                                     next(self._message_ids) if message_id is None else message_id)
        message["edit_date"] = int(time.time())
        return self._push({"update_id": next(self._update_ids), "edited_message": message})

    @staticmethod
    def _user_message(text: str, chat_id: int, user_id: int | None, username: str, message_id: int) -> dict[str, Any]:
        user = {"id": chat_id if user_id is None else user_id, "is_bot": False, "first_name": "Op",
                "username": username}
        word = text.split()[0]
        return {"message_id": message_id, "date": int(time.time()), "text": text,
                "chat": {"id": chat_id, "type": "private" if user["id"] == chat_id else "group"},
                "from": user, "entities": [{"type": "bot_command", "offset": 0, "length": len(word)}]}

    def press(self, data: str, *, message_id: int, chat_id: int | None = None,
              user_id: int | None = None) -> dict[str, Any]:
        """Queue a press of an inline button (callback query) on one of the bot's messages. `chat_id`
        defaults to the chat of that message; another chat makes the press come from a copy of the
        message in that chat (a button replayed elsewhere). `user_id` defaults to the chat id."""
        stored = self.messages.get(message_id)
        if chat_id is None:
            chat_id = stored["chat"]["id"] if stored else 42
        user = {"id": chat_id if user_id is None else user_id, "is_bot": False, "first_name": "Op"}
        message = stored or {"message_id": message_id, "date": int(time.time()),
                             "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": "?"}
        if message["chat"]["id"] != chat_id:
            message = {**message, "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}}
        query = {"id": str(next(self._callback_ids)), "chat_instance": f"ci-{chat_id}", "data": data,
                 "from": user, "message": message}
        return self._push({"update_id": next(self._update_ids), "callback_query": query})

    def sent(self, method: str | None = None) -> list[Call]:
        """Calls of `method` (all calls when None), oldest first."""
        return [c for c in self.calls if method is None or c.method == method]

    async def wait_call(self, method: str, predicate: Callable[[Call], bool] | None = None, *,
                        after: int = 0, timeout: float = 10.0) -> Call:
        """The first call of `method` at index >= `after` (see `mark`) matching `predicate`; waits for it.
        Raises TimeoutError naming what was seen instead."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls[after:]:
                if call.method == method and (predicate is None or predicate(call)):
                    return call
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [(c.method, c.params.get("text")) for c in self.calls[after:] if c.method != "getUpdates"]
                raise TimeoutError(f"no {method} call within {timeout}s; saw {seen}")
            self._new_call.clear()
            try:
                await asyncio.wait_for(self._new_call.wait(), timeout=min(left, 0.5))
            except TimeoutError:
                pass

    def mark(self) -> int:
        """An index into `calls`: pass as `after` to wait only for calls made from now on."""
        return len(self.calls)

    def pending_updates(self) -> int:
        return len(self.updates)
