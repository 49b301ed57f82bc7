"""/rearm on the wire (the real python-telegram-bot Application against the fake Bot API): after the
equity hard stop has left the bot stopped_out, an allowed chat re-arms it after a confirmation, and
who did is journaled; any other chat changes nothing, a cancelled or expired prompt does nothing, and
a running bot has nothing to re-arm."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.positions.book import JOURNAL_FILE
from engine.store.journal import is_bot_transition, read_records
from tests.bot.support import BTC, ETH, GROUP, OPERATOR, STRANGER, World, buttons, text


def _data(prompt, answer: str) -> str:  # noqa: ANN001
    return next(b["callback_data"] for b in buttons(prompt) if b["callback_data"].startswith(f"cf:{answer}:"))


def bot_transitions(state_dir: Path) -> list[dict[str, Any]]:
    return [r for r in read_records(state_dir / JOURNAL_FILE, bot=True) if is_bot_transition(r)]


async def stop_out(world: World) -> None:
    """The hard stop as the engine's per-tick check fires it: equity 30 % below its peak."""
    bot, risk = world.bot.session.bot, world.bot.session.risk
    risk.config = risk.config.model_copy(update={"max_drawdown_pct": 25})
    risk.record_equity(Decimal(1000))
    bot.check(world.clock.now(), equity=Decimal(700), live=len(world.book.live))
    await world.engine.panic(world.clock.now())
    bot.check(world.clock.now(), live=len(world.book.live))
    assert bot.state == "stopped_out"


async def test_rearm_from_an_allowed_chat_asks_first_then_re_arms(world: World) -> None:
    position = await world.open(ETH)
    await stop_out(world)
    assert position.state == "closed" and world.book.live == {}
    assert "🛑 stopped out" in text(await world.ask("/status"))
    prompt = await world.ask("/rearm")
    assert "equity hard stop fired" in text(prompt) and "30.00% below its peak" in text(prompt)
    assert [b["callback_data"].split(":")[1] for b in buttons(prompt)] == ["yes", "no"]
    bot = world.bot.session.bot
    assert bot.state == "stopped_out" and world.commands() == []  # nothing before the press
    edited = await world.press(_data(prompt, "yes"), prompt)
    assert "re-armed" in text(edited)
    assert bot.state == "running" and bot.entries_allowed(ETH)
    [command] = world.commands()
    assert (command["command"], command["by"]) == ("rearm", f"telegram:{OPERATOR}")
    last = bot_transitions(world.bot.state_dir)[-1]
    assert (last["event"], last["from"], last["to"], last["by"]) == ("rearm", "stopped_out", "running",
                                                                      f"telegram:{OPERATOR}")
    # an entry is taken again (on another market: ETH cools down after its exit)
    assert await world.open(BTC) is not None


async def test_rearm_from_any_other_chat_does_nothing(world: World) -> None:
    await stop_out(world)
    world.api.command("/rearm", chat_id=STRANGER)
    world.api.command("/rearm", chat_id=GROUP, user_id=STRANGER)  # an allowed group, a stranger in it
    await world.settle()
    assert not [c for c in world.api.sent() if c.params.get("chat_id") == STRANGER]
    assert world.bot.session.bot.state == "stopped_out" and world.commands() == []
    assert len(world.services.control.confirmations) == 0
    # the operator's prompt cannot be answered by a stranger's press of its button either
    prompt = await world.ask("/rearm")
    world.api.press(_data(prompt, "yes"), message_id=prompt.result["message_id"], chat_id=STRANGER)
    await world.settle()
    assert world.bot.session.bot.state == "stopped_out"


async def test_a_cancelled_or_expired_rearm_does_nothing(world: World) -> None:
    await stop_out(world)
    prompt = await world.ask("/rearm")
    edited = await world.press(_data(prompt, "no"), prompt)
    assert "cancelled; nothing done" in text(edited) and world.bot.session.bot.state == "stopped_out"
    prompt = await world.ask("/rearm")
    world.wall.t += 30
    edited = await world.press(_data(prompt, "yes"), prompt)
    assert "expired" in text(edited) and world.bot.session.bot.state == "stopped_out"
    assert world.commands() == []


async def test_nothing_to_rearm_while_running(world: World) -> None:
    reply = text(await world.ask("/rearm"))
    assert "nothing to re-arm: the bot is running" in reply
    assert world.commands() == [] and len(world.services.control.confirmations) == 0
