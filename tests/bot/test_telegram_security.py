"""Only allow-listed chats (and, when set, users) get any effect: one gate in front of every handler
stops commands and button presses alike, logs them, and answers nothing. Telegram being down, slow,
refusing the token, or forbidden by the offline switch never holds up trading."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from tests.bot.support import ETH, GROUP, OPERATOR, STRANGER, World, buttons, close_world, start_world, text
from tests.fakes.telegram_api import FakeTelegramAPI

CHANGING = ("/pause", "/resume", "/panic", "/close P1", "/aggression aggressive")


async def test_a_stranger_changes_nothing_and_is_logged(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.bot.telegram")
    position = await world.open(ETH)
    orders_before = world.engine.orders
    for command in (*CHANGING, "/status", "/config", "/positions"):
        world.api.command(command, chat_id=STRANGER)
    await world.settle()  # updates are handled in order: every stranger update has been handled now
    assert not [c for c in world.api.sent() if c.params.get("chat_id") == STRANGER], "a stranger gets no answer"
    assert world.bot.session.bot.state == "running"
    assert position.state == "open" and world.engine.orders is orders_before
    assert world.commands() == [] and len(world.services.control.confirmations) == 0
    rejected = world.services.telegram.rejections
    assert len(rejected) == len(CHANGING) + 3 and {r.chat_id for r in rejected} == {STRANGER}
    assert sum("not allow-listed" in r.getMessage() for r in caplog.records) == len(CHANGING) + 3


async def test_a_strangers_button_press_is_ignored_even_with_a_live_token(world: World) -> None:
    position = await world.open(ETH)
    prompt = await world.ask("/panic")
    yes = next(b["callback_data"] for b in buttons(prompt) if b["callback_data"].startswith("cf:yes:"))
    # the stranger replays the operator's button data from their own chat
    world.api.press(yes, message_id=prompt.result["message_id"], chat_id=STRANGER)
    await world.settle()
    assert position.state == "open" and world.commands() == []
    assert not world.api.sent("answerCallbackQuery") and not world.api.sent("editMessageText")
    # the token was not consumed: the operator's press still works
    edited = await world.press(yes, prompt)
    assert "panic: 1 position(s)" in text(edited) and position.state == "closed"


async def test_in_an_allowed_group_only_allowed_users_count(world: World) -> None:
    position = await world.open(ETH)
    world.api.command("/pause", chat_id=GROUP, user_id=STRANGER)
    prompt = await world.ask("/panic", chat_id=GROUP, user_id=OPERATOR)
    yes = next(b["callback_data"] for b in buttons(prompt) if b["callback_data"].startswith("cf:yes:"))
    world.api.press(yes, message_id=prompt.result["message_id"], chat_id=GROUP, user_id=STRANGER)
    await world.settle()
    assert world.bot.session.bot.state == "running" and position.state == "open" and world.commands() == []
    assert [r.user_id for r in world.services.telegram.rejections] == [STRANGER, STRANGER]
    assert "entries paused" in text(await world.ask("/pause", chat_id=GROUP, user_id=OPERATOR))
    assert world.commands()[0]["by"] == f"telegram:{OPERATOR}"


async def test_a_slow_telegram_does_not_hold_up_the_engine(world: World) -> None:
    world.api.hold_replies = asyncio.Event()  # every reply now hangs until released
    mark = world.api.mark()
    world.api.command("/status")
    await world.api.wait_call("sendMessage", after=mark)  # the handler is stuck in its reply
    started = time.monotonic()
    position = await world.open(ETH)
    await world.stop_out(position)
    world.services.tick(world.clock.now())
    assert position.state == "closed"
    assert time.monotonic() - started < 2.0  # generous: the step itself takes milliseconds
    world.api.hold_replies.set()
    world.api.hold_replies = None
    assert "trades 1" in text(await world.ask("/summary"))


async def test_an_unreachable_telegram_never_blocks_start_or_trading(tmp_path: Path) -> None:
    dead = FakeTelegramAPI()  # never started: connections to its port are refused
    dead.port = _free_port()
    started = time.monotonic()
    world = await start_world(tmp_path, api=dead)
    assert time.monotonic() - started < 1.0, "start() returns at once; Telegram connects in the background"
    position = await world.open(ETH)
    assert position.state == "open"
    assert not await world.services.telegram_ready(0.3)
    stopping = time.monotonic()
    await close_world(world)
    assert time.monotonic() - stopping < 2.0


async def test_a_refused_token_turns_telegram_off(tmp_path: Path, api: FakeTelegramAPI,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL (with the token) at INFO
    world = await start_world(tmp_path, api=api, token="999:wrong")
    try:
        telegram = world.services.telegram
        for _ in range(100):
            if telegram.failed:
                break
            await asyncio.sleep(0.02)
        assert telegram.failed and "refused the token" in telegram.failed
        # the bot's side only (the fake server's own access log is aiohttp's)
        lines = [r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp")]
        assert any("HTTP Request" in line and "<token>" in line for line in lines)
        assert not [line for line in lines if "999:wrong" in line], "the token is in a log line"
        assert (await world.open(ETH)).state == "open"
    finally:
        await close_world(world)


async def test_offline_switch_keeps_telegram_away_from_api_telegram_org(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.bot.telegram")
    world = await start_world(tmp_path, api=None, telegram={"enabled": True})  # the default api.telegram.org
    try:
        telegram = world.services.telegram
        assert telegram is not None and telegram.app is None and telegram._task is None
        assert "ENGINE_OFFLINE" in (telegram.failed or "") and "api.telegram.org" in telegram.failed
        assert "Telegram stays off" in caplog.text
    finally:
        await close_world(world)


async def test_enabled_without_a_token_stays_off(tmp_path: Path, api: FakeTelegramAPI,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="engine.bot.services")
    world = await start_world(tmp_path, api=api, token="")
    try:
        assert world.services.telegram is None and "TELEGRAM_BOT_TOKEN is not set" in caplog.text
        assert api.sent() == []
    finally:
        await close_world(world)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("users", "warned"), [([], True), ([OPERATOR], False)])
async def test_a_group_without_a_user_allow_list_is_warned_about_at_every_start(
        tmp_path: Path, api: FakeTelegramAPI, caplog: pytest.LogCaptureFixture, users: list[int], warned: bool) -> None:
    caplog.set_level(logging.WARNING, logger="engine.bot.services")
    world = await start_world(tmp_path, api=api, telegram={"allowed_user_ids": users})
    try:
        said = [r.getMessage() for r in caplog.records if r.name == "engine.bot.services"]
        assert any(f"{GROUP}" in line and "EVERY member" in line for line in said) is warned
    finally:
        await close_world(world)
