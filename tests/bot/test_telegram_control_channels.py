"""Who may answer a confirmation, and what counts as a command, on the wire (the real PTB Application
polling the fake Bot API).

A /panic or /close prompt is answered only by the person who asked, in the chat they asked in: another
allowed member of the same group, or the same operator from another allowed chat, gets a short
refusal (answerCallbackQuery with an alert), nothing is done, nothing journaled, and the prompt stays
live for its owner. Edited messages are not commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.bot.telegram.bot import EDITED, NOT_YOURS
from tests.bot.support import ETH, GROUP, OPERATOR, STRANGER, World, buttons, close_world, start_world, text
from tests.fakes.apprise_receiver import AppriseReceiver
from tests.fakes.telegram_api import Call, FakeTelegramAPI

MATE = 77  # a second operator, allowed like OPERATOR


@pytest.fixture
async def crew(tmp_path: Path, api: FakeTelegramAPI, hook: AppriseReceiver) -> AsyncIterator[World]:
    """Chats 42 (OPERATOR's private chat) and GROUP allowed; users OPERATOR and MATE allowed."""
    w = await start_world(tmp_path, api=api, hook=hook, telegram={"allowed_user_ids": [OPERATOR, MATE]})
    assert await w.services.telegram_ready(10), f"Telegram did not start: {w.services.telegram.failed}"
    yield w
    await close_world(w)


def _data(prompt: Call, answer: str) -> str:
    return next(b["callback_data"] for b in buttons(prompt) if b["callback_data"].startswith(f"cf:{answer}:"))


async def _refused(world: World, data: str, prompt: Call, *, chat_id: int, user_id: int) -> None:
    """Press as someone else; the answer is the refusal and nothing else is sent."""
    assert world.api is not None
    mark = world.api.mark()
    world.api.press(data, message_id=prompt.result["message_id"], chat_id=chat_id, user_id=user_id)
    answer = await world.api.wait_call("answerCallbackQuery", after=mark)
    assert answer.params.get("text") == NOT_YOURS and answer.params.get("show_alert") is True
    await world.settle()  # every update so far handled: nothing else came of the press
    assert [c.method for c in world.api.calls[mark:] if c.method in ("answerCallbackQuery", "editMessageText")] == [
        "answerCallbackQuery"]


async def test_only_the_asker_in_the_asking_chat_can_confirm_a_panic(crew: World) -> None:
    position = await crew.open(ETH)
    prompt = await crew.ask("/panic", chat_id=GROUP, user_id=OPERATOR)
    yes, no = _data(prompt, "yes"), _data(prompt, "no")

    await _refused(crew, yes, prompt, chat_id=GROUP, user_id=MATE)  # same chat, another allowed user
    await _refused(crew, no, prompt, chat_id=GROUP, user_id=MATE)  # nor may they cancel it
    await _refused(crew, yes, prompt, chat_id=OPERATOR, user_id=OPERATOR)  # the asker, from another allowed chat
    assert position.state == "open" and crew.commands() == []
    assert len(crew.services.control.confirmations) == 1, "the prompt stays live for its owner"

    edited = await crew.press(yes, prompt, chat_id=GROUP, user_id=OPERATOR)
    assert "panic: 1 position(s) sent to emergency close" in text(edited) and position.state == "closed"
    [record] = crew.commands()
    assert record["command"] == "panic" and record["by"] == f"telegram:{OPERATOR}"


async def test_a_close_asked_in_private_cannot_be_confirmed_from_the_group(crew: World) -> None:
    position = await crew.open(ETH)
    prompt = await crew.ask(f"/close {position.id}")  # OPERATOR in their private chat
    await _refused(crew, _data(prompt, "yes"), prompt, chat_id=GROUP, user_id=OPERATOR)
    await _refused(crew, _data(prompt, "yes"), prompt, chat_id=GROUP, user_id=MATE)
    assert position.state == "open" and crew.commands() == []
    cancelled = await crew.press(_data(prompt, "no"), prompt)  # the asker, where they asked
    assert "close cancelled; nothing done" in text(cancelled) and position.state == "open"


async def test_edited_messages_are_not_commands(world: World) -> None:
    position = await world.open(ETH)
    orders_before = world.engine.orders
    assert world.api is not None
    for command in ("/pause", "/panic", f"/close {position.id}", "/aggression aggressive"):
        mark = world.api.mark()
        world.api.edit(command)
        notice = await world.api.wait_call("sendMessage", after=mark)
        assert text(notice) == EDITED and "reply_markup" not in notice.params
    world.api.edit("/pause", chat_id=GROUP, user_id=STRANGER)  # a stranger's edit still meets the gate first
    await world.settle()
    assert world.bot.session.bot.state == "running" and position.state == "open"
    assert world.commands() == [] and len(world.services.control.confirmations) == 0
    assert world.engine.orders is orders_before, "the profile was not switched"
    assert [r.user_id for r in world.services.telegram.rejections] == [STRANGER]
    assert not [c for c in world.api.sent("sendMessage") if c.params.get("chat_id") == GROUP]
    # the same text as a new message is a command
    assert "entries paused" in text(await world.ask("/pause"))
