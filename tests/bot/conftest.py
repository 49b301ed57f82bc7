"""Fixtures: the fake Bot API, the apprise receiver, and a bot with its services started on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot.support import World, close_world, start_world
from tests.fakes.apprise_receiver import AppriseReceiver
from tests.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    server = await FakeTelegramAPI().start()
    yield server
    await server.stop()


@pytest.fixture
async def hook() -> AsyncIterator[AppriseReceiver]:
    receiver = await AppriseReceiver().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def world(tmp_path: Path, api: FakeTelegramAPI, hook: AppriseReceiver) -> AsyncIterator[World]:
    """Telegram polling the fake API (chats 42 and -1001 allowed, user 42 only), notifications to `hook`."""
    w = await start_world(tmp_path, api=api, hook=hook)
    assert await w.services.telegram_ready(10), f"Telegram did not start: {w.services.telegram.failed}"
    yield w
    await close_world(w)
