"""Serving a fake on 127.0.0.1: every fake (fapi, public fapi, Bot API, apprise receiver) binds the
same way, on a port the OS picks unless one is asked for."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def serve_local(app: web.Application, port: int = 0, **runner: Any) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1:`port` (0: any free port); returns the runner (to `cleanup()`) and
    the port bound. `runner` options go to `web.AppRunner` (shutdown_timeout, access_log…)."""
    app_runner = web.AppRunner(app, **runner)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", port)
    await site.start()
    return app_runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
