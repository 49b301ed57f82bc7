"""A webhook receiver for apprise's `json://` on 127.0.0.1 (aiohttp). It records every payload and can
be told to answer 500 (`mode = "fail"`) or to hang without answering (`mode = "hang"`) until
`release()` or `stop()`."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.local_http import serve_local


@dataclass
class Received:
    payload: dict[str, Any]
    headers: dict[str, str]
    path: str = ""  # the request path, query included (URL tokens live there)
    at: float = field(default_factory=time.monotonic)

    @property
    def title(self) -> str:
        return str(self.payload.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.payload.get("message", ""))

    @property
    def type(self) -> str:
        return str(self.payload.get("type", ""))


class AppriseReceiver:
    def __init__(self) -> None:
        self.mode = "ok"  # "ok" | "fail" | "hang"
        self.received: list[Received] = []  # every request, whatever was answered
        self.port = 0
        self._release = asyncio.Event()
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "hook", query: str = "") -> str:
        return f"json://127.0.0.1:{self.port}/{path}{'?' + query if query else ''}"

    async def start(self) -> AppriseReceiver:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner, self.port = await serve_local(app, shutdown_timeout=1)
        return self

    def release(self) -> None:
        """Let hanging requests finish (with a 200)."""
        self._release.set()

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            payload = {"raw": raw.decode("utf-8", "replace")}
        self.received.append(Received(payload, dict(request.headers), request.path_qs))
        self._arrived.set()
        if self.mode == "fail":
            return web.json_response({"error": "boom"}, status=500)
        if self.mode == "hang":
            await self._release.wait()
        return web.json_response({"ok": True})

    async def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` requests arrived; raises TimeoutError with what did."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.received)} of {count} notifications arrived: "
                                   f"{[r.title for r in self.received]}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=min(left, 0.5))
            except TimeoutError:
                pass
        return self.received
