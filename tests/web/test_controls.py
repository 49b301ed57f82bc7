"""The dashboard's controls go through `BotControl`, the layer Telegram uses: nothing happens before the
confirmation, and each lands in the journal with who sent it (`web:<address>`), exactly as Telegram's
(`telegram:<id>`) do; a confirmation belongs to the browser session that asked for it."""

from __future__ import annotations

import re

from tests.bot.support import BTC, ETH
from tests.web.conftest import Dash

BY = "web:127.0.0.1"


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]


async def test_pause_and_resume_ask_first_then_are_journaled_with_who_sent_them(dash: Dash) -> None:
    csrf, world = await dash.csrf(), dash.world
    asked = await dash.client.post("/control/pause", data={"csrf": csrf})
    assert "Pause new entries?" in await asked.text()
    assert world.services.session.bot.state == "running" and world.commands() == []
    done = await dash.client.post("/control/pause", data={"csrf": csrf, "confirm": "yes"})
    assert "entries paused" in await done.text()
    assert world.services.session.bot.state == "paused"
    await dash.client.post("/control/resume", data={"csrf": csrf, "confirm": "yes"})
    assert world.services.session.bot.state == "running"
    assert [(r["command"], r["by"]) for r in world.commands()] == [("pause", BY), ("resume", BY)]


async def test_close_asks_then_closes_through_the_machine(dash: Dash) -> None:
    csrf, world = await dash.csrf(), dash.world
    position = await world.open(ETH)
    asked = await (await dash.client.post("/control/close", data={"csrf": csrf, "position": "P1"})).text()
    assert f"Close P1 {ETH} at market now?" in asked and position.state == "open" and world.commands() == []
    done = await dash.client.post("/control/confirm", data={"csrf": csrf, "token": token_of(asked)})
    assert "P1 ETH/USDC:USDC: close sent" in await done.text()
    assert position.state == "closed" and position.exit_reason == "manual"
    [record] = world.commands()
    assert record["command"] == "close" and record["by"] == BY and record["args"] == {"position": "P1"}
    again = await dash.client.post("/control/confirm", data={"csrf": csrf, "token": token_of(asked)})
    assert "already used" in await again.text(), "a confirmation works once"


async def test_panic_flattens_everything_and_a_cancel_does_nothing(dash: Dash) -> None:
    csrf, world = await dash.csrf(), dash.world
    eth, btc = await world.open(ETH), await world.open(BTC, side="short")
    asked = await (await dash.client.post("/control/panic", data={"csrf": csrf})).text()
    assert "2 live position(s)" in asked
    no = {"csrf": csrf, "token": token_of(asked), "answer": "no"}
    cancelled = await dash.client.post("/control/confirm", data=no)
    assert "panic cancelled; nothing done" in await cancelled.text() and eth.state == btc.state == "open"
    asked = await (await dash.client.post("/control/panic", data={"csrf": csrf})).text()
    done = await (await dash.client.post("/control/confirm", data={"csrf": csrf, "token": token_of(asked)})).text()
    assert "panic: 2 position(s) sent to emergency close" in done
    assert eth.state == btc.state == "closed" and world.book.live == {}
    assert world.services.session.bot.state == "paused"
    [record] = world.commands()
    assert record["command"] == "panic" and record["by"] == BY and record["args"] == {"positions": ["P1", "P2"]}


async def test_a_confirmation_belongs_to_the_session_that_asked(dash: Dash) -> None:
    csrf, world = await dash.csrf(), dash.world
    position = await world.open(ETH)
    asked = await (await dash.client.post("/control/close", data={"csrf": csrf, "position": "P1"})).text()
    other = await dash.stranger()
    try:
        await other.get("/?token=unit-test-web-token-0123456789")
        page = await (await other.get("/")).text()
        other_csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        refused = await other.post("/control/confirm", data={"csrf": other_csrf, "token": token_of(asked)})
        assert refused.status == 403 and position.state == "open" and world.commands() == []
    finally:
        await other.close()
    done = await dash.client.post("/control/confirm", data={"csrf": csrf, "token": token_of(asked)})
    assert "close sent" in await done.text(), "the asker's token stayed live"


async def test_rearm_is_refused_unless_stopped_out_and_unknown_positions_are_named(dash: Dash) -> None:
    csrf = await dash.csrf()
    rearm = await (await dash.client.post("/control/rearm", data={"csrf": csrf})).text()
    assert "nothing to re-arm: the bot is running" in rearm
    close = await (await dash.client.post("/control/close", data={"csrf": csrf, "position": "P9"})).text()
    assert "no live position P9" in close and dash.world.commands() == []


async def test_rearm_after_the_hard_stop_asks_then_re_arms_as_telegram_does(dash: Dash) -> None:
    from tests.bot.test_telegram_rearm import stop_out

    csrf, world = await dash.csrf(), dash.world
    await world.open(ETH)
    await stop_out(world)
    overview = await (await dash.client.get("/")).text()
    assert "Re-arm" in overview and "Pause entries" not in overview, "a stopped-out bot offers re-arming"
    asked = await (await dash.client.post("/control/rearm", data={"csrf": csrf})).text()
    assert "It stopped: equity 700.00 is 30.00% below its peak" in asked
    assert world.services.session.bot.state == "stopped_out"
    assert not [r for r in world.commands() if r["command"] == "rearm"], "nothing before the confirmation"
    done = await (await dash.client.post("/control/confirm", data={"csrf": csrf, "token": token_of(asked)})).text()
    assert "re-armed" in done and world.services.session.bot.state == "running"
    rearms = [r for r in world.commands() if r["command"] == "rearm"]
    assert [r["by"] for r in rearms] == [BY]
