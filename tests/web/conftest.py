"""A running bot (`tests.bot.support.World`: the session `run` assembles, BotServices on top, in the
test's loop) with its dashboard served on 127.0.0.1 by aiohttp's test server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.web.app import build_app
from engine.web.bind import Bind
from engine.web.server import live_source
from tests.bot.support import World, close_world, start_world

WEB_TOKEN = "unit-test-web-token-0123456789"


@dataclass
class Dash:
    world: World
    client: TestClient  # logged in (its cookie jar holds the session)
    server: TestServer

    async def csrf(self) -> str:
        text = await (await self.client.get("/")).text()
        return re.search(r'data-csrf="([^"]+)"', text).group(1)  # type: ignore[union-attr]

    async def stranger(self) -> aiohttp.ClientSession:
        """Another browser: its own (empty) cookie jar. Close it."""
        return aiohttp.ClientSession(base_url=f"http://127.0.0.1:{self.server.port}",
                                     cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: cookies for an IP


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    world = await start_world(tmp_path)
    app = build_app(live_source(world.services), Bind("127.0.0.1", 0), WEB_TOKEN)
    server = TestServer(app, host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    response = await client.get(f"/?token={WEB_TOKEN}", allow_redirects=False)
    assert response.status == 303
    try:
        yield Dash(world, client, server)
    finally:
        await client.close()
        await close_world(world)
