"""/panic on the wire: a prompt with buttons, nothing done until the press, then every live position
sent to emergency close, journaled with who asked; expired, cancelled and reused confirmations do
nothing. Expiry is driven by the injected clock, never by sleeping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.positions.book import JOURNAL_FILE
from engine.store.journal import is_bot_transition, read_records
from tests.bot.support import BTC, ETH, OPERATOR, World, buttons, text


def bot_transitions(state_dir: Path) -> list[dict[str, Any]]:
    return [r for r in read_records(state_dir / JOURNAL_FILE, bot=True) if is_bot_transition(r)]


def _data(prompt, answer: str) -> str:  # noqa: ANN001
    return next(b["callback_data"] for b in buttons(prompt) if b["callback_data"].startswith(f"cf:{answer}:"))


async def test_panic_asks_first_then_closes_everything(world: World) -> None:
    eth = await world.open(ETH)
    btc = await world.open(BTC, side="short")
    prompt = await world.ask("/panic")
    assert "PANIC" in text(prompt) and "all 2 live position(s)" in text(prompt) and "Expires in 30s" in text(prompt)
    keys = buttons(prompt)
    assert [b["callback_data"].split(":")[1] for b in keys] == ["yes", "no"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in keys)  # Telegram's callback_data limit
    assert eth.state == btc.state == "open" and world.commands() == []

    world.wall.t += 29  # still inside the 30 s window
    edited = await world.press(_data(prompt, "yes"), prompt)
    assert "panic: 2 position(s) sent to emergency close" in text(edited)
    assert eth.state == btc.state == "closed"
    assert eth.exit_reason == btc.exit_reason == "emergency"
    assert world.book.live == {}
    assert world.api.sent("answerCallbackQuery"), "the press is answered (the spinner stops)"
    assert "reply_markup" not in world.api.messages[prompt.result["message_id"]], "the buttons are gone"
    [record] = world.commands()
    assert record["command"] == "panic" and record["by"] == f"telegram:{OPERATOR}"
    assert record["args"] == {"positions": ["P1", "P2"]}
    panics = [r for r in world.bot.records() if r.get("event") == "panic"]
    assert len(panics) == 2 and all(r["seq"] > record["seq"] for r in panics), "journaled before it acts"
    # the bot machine flattened and, all flat, stays paused until /resume (a panic is not a hard stop)
    bot = world.bot.session.bot
    assert bot.state == "paused" and not bot.entries_allowed(ETH)
    moves = [(r["event"], r["from"], r["to"], r["by"]) for r in bot_transitions(world.bot.state_dir)]
    assert moves == [("panic", "running", "flattening", f"telegram:{OPERATOR}"),
                     ("all_flat", "flattening", "paused", "engine")]
    assert "entries resumed" in text(await world.ask("/resume"))
    assert bot.state == "running"


async def test_an_expired_panic_confirmation_does_nothing(world: World) -> None:
    position = await world.open(ETH)
    prompt = await world.ask("/panic")
    world.wall.t += 30  # the window is 30 s
    edited = await world.press(_data(prompt, "yes"), prompt)
    assert "expired" in text(edited) and "nothing done" in text(edited)
    assert position.state == "open" and world.commands() == []


async def test_tick_forgets_expired_confirmations(world: World) -> None:
    await world.open(ETH)
    prompt = await world.ask("/panic")
    assert len(world.services.control.confirmations) == 1
    world.wall.t += 31
    world.services.tick(world.clock.now())
    assert len(world.services.control.confirmations) == 0
    edited = await world.press(_data(prompt, "yes"), prompt)
    assert "nothing done" in text(edited) and len(world.book.live) == 1


async def test_cancel_and_reuse_do_nothing(world: World) -> None:
    position = await world.open(ETH)
    prompt = await world.ask("/panic")
    cancelled = await world.press(_data(prompt, "no"), prompt)
    assert "panic cancelled; nothing done" in text(cancelled)
    again = await world.press(_data(prompt, "yes"), prompt)  # a stale button of the cancelled prompt
    assert "nothing done" in text(again)
    assert position.state == "open" and world.commands() == []

    second = await world.ask("/panic")
    await world.press(_data(second, "yes"), second)
    assert position.state == "closed"
    replay = await world.press(_data(second, "yes"), second)  # pressed twice: one panic only
    assert "already used" in text(replay)
    assert [c["command"] for c in world.commands()] == ["panic"]


async def test_panic_with_nothing_open_is_harmless(world: World) -> None:
    prompt = await world.ask("/panic")
    assert "all 0 live position(s)" in text(prompt)
    edited = await world.press(_data(prompt, "yes"), prompt)
    assert "panic: 0 position(s)" in text(edited)
    assert [c["command"] for c in world.commands()] == ["panic"]


async def test_close_confirmation_expires_too(world: World) -> None:
    position = await world.open(ETH)
    prompt = await world.ask(f"/close {position.id}")
    world.wall.t += 45
    edited = await world.press(_data(prompt, "yes"), prompt)
    assert "close confirmation expired" in text(edited)
    assert position.state == "open" and world.commands() == []
