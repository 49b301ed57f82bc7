"""The one thing a run loop calls: `async with web_dashboard(services, settings, out):` around its
trading. Without settings (no `--web`) it does nothing and imports nothing (aiohttp's server stays
unloaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from engine.web.bind import WebSettings


@asynccontextmanager
async def web_dashboard(services: Any, settings: WebSettings | None, out: Any) -> AsyncIterator[Any]:
    if settings is None:
        yield None
        return
    from engine.web.server import serving

    async with serving(services, settings.bind, settings.token, out) as server:
        yield server
