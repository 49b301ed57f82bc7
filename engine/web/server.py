"""The dashboard's server inside a running event loop: started beside the bot's loop by `run --web`
(its handlers are coroutines of the same loop, between ticks; the slow work, a first read of a long
journal and the Graphviz renders, runs in worker threads) or on its own by `python -m engine web`.

    async with serving(services, bind, token, out):   # in a run loop, around the trading
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from engine.errors import UserError
from engine.web.app import build_app
from engine.web.bind import Bind
from engine.web.source import Source
from engine.web.sse import STREAMS

SHUTDOWN_S = 2.0


class WebServer:
    def __init__(self, source: Source, bind: Bind, token: str) -> None:
        self.source = source
        self.bind = bind
        self.app = build_app(source, bind, token)
        self._runner: web.AppRunner | None = None
        self._warm: asyncio.Task | None = None
        self.port = bind.port

    async def start(self) -> str:
        """Listen; returns the URL (with the port the system chose when the bind asked for 0).
        Raises OSError when the address cannot be bound."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_S,
                                     handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind.host, self.bind.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        # Read the journal and the history now (a long journal takes seconds, in worker threads),
        # not when the first visitor asks.
        self._warm = asyncio.create_task(self.source.refresh(), name="web: first read of the state folder")
        server = site._server  # noqa: SLF001 - aiohttp keeps the listening sockets there
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return Bind(self.bind.host, self.port).url()

    async def stop(self) -> None:
        self.app[STREAMS].set()  # live-log streams end their loop
        if self._warm is not None and not self._warm.done():
            self._warm.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def live_source(services: Any) -> Source:
    """The running bot's dashboard: its state folder, machine and profile, and its control layer."""
    session = services.session
    loaded = session.loaded
    profile = loaded.profile
    return Source(state_dir=session.book.state_dir, spec=session.book.machine.spec, title=f"engine · {profile.name}",
                  mode=profile.mode, starting_balance=profile.venue.starting_balance,
                  runs_root=session.book.state_dir.parent, services=services)


@asynccontextmanager
async def serving(services: Any, bind: Bind | None, token: str, out: Any) -> AsyncIterator[WebServer | None]:
    """Serve the dashboard of the bot `services` belong to for as long as the block runs (nothing when
    `bind` is None; loops call `engine.web.attach.web_dashboard`). Raises UserError, before the first
    tick, when the address cannot be bound."""
    if bind is None:
        yield None
        return
    server = WebServer(live_source(services), bind, token)
    try:
        url = await server.start()
    except OSError as exc:
        raise UserError(f"--web {bind.host}:{bind.port}: cannot listen there ({exc.strerror or exc}); choose "
                        "another port, e.g. --web 127.0.0.1:8089") from None
    out.print(f"web dashboard: {url}" + (" (open /?token=… once to log in)" if token else ""),
              markup=False, highlight=False)
    try:
        yield server
    finally:
        await server.stop()
