"""Every Telegram command on the wire: real updates through the fake Bot API, the real PTB Application
polling it, answers from the live bot (engine, venue, journal, statistics), and the engine's reaction
to the commands that change something — each of those journaled with who sent it."""

from __future__ import annotations

from decimal import Decimal

from engine.bot.stats.aggregates import STATS_FILE
from engine.config.loading import load_profile
from engine.positions.events import CloseRequested
from tests.bot.support import BTC, ETH, OPERATOR, World, text
from tests.e2e.support import history


async def test_help_lists_every_command(world: World) -> None:
    reply = await world.ask("/help")
    body = text(reply)
    for command in ("status", "positions", "summary", "performance", "pause", "resume", "panic", "close",
                    "config", "aggression", "logs", "help"):
        assert f"/{command}" in body
    assert "aggressive" in body and "conservative" in body  # the profiles /aggression can switch to
    assert reply.params["parse_mode"] == "HTML"


async def test_status_answers_from_the_live_engine_venue_and_risk_guard(world: World) -> None:
    before = text(await world.ask("/status"))
    assert "ctl" in before and "paper" in before
    assert "balance <b>1,000.00</b> USDC" in before
    assert "open <b>0/5</b>" in before and "✅ allowed" in before and "no signal yet" in before
    await world.open(ETH)
    world.clock.advance(world.services.control.loaded.profile.runtime.status_every)
    after = text(await world.ask("/status"))
    assert "open <b>1/5</b>" in after
    assert "up 1m00s" in after
    assert "last signals" in after and "ETH long @ 3000" in after and "test signal" in after
    assert "signals 1 · entries 1 · closed 0" in after


async def test_positions_show_each_open_position_with_pnl_state_and_age(world: World) -> None:
    assert "none open" in text(await world.ask("/positions"))
    eth = await world.open(ETH)
    btc = await world.open(BTC, side="short")
    world.clock.advance(world.bot.loaded.profile.runtime.status_every * 3)
    body = text(await world.ask("/positions"))
    assert "<b>POSITIONS</b> (2)" in body
    assert f"<b>{eth.id}</b> ETH long · open" in body and f"<b>{btc.id}</b> BTC short · open" in body
    assert f"{eth.qty:g} @ {eth.entry_price:g}" in body
    assert "uPnL <b>" in body and "age 3m00s" in body
    assert f"SL {await world.stop_on_venue(eth):g}" in body


async def test_summary_counts_closed_trades_from_the_history(world: World) -> None:
    winner = await world.open(ETH)
    loser = await world.open(BTC)
    await world.stop_out(loser)
    # the ETH position closes by hand at a higher price: a win
    world.bot.flat_candle(ETH, world.clock.now(), float(winner.entry_price) * 1.003)  # below TP1 (0.4 %)
    await world.engine.apply(winner, CloseRequested("manual"), world.clock.now())
    assert winner.state == "closed" and loser.state == "closed"
    closed = history(world.bot.state_dir)
    net = sum(Decimal(h["realised_pnl"]) for h in closed)
    fees = sum(Decimal(h["fees"]) for h in closed)
    body = text(await world.ask("/summary"))
    assert body.count("trades 2 · wins 1 (50%)") == 2  # today and all time
    assert f"net <b>{net:+,.2f}</b> · fees {fees:,.2f}" in body
    assert (world.bot.state_dir / STATS_FILE).is_file()


async def test_performance_sends_figures_and_an_equity_picture(world: World) -> None:
    no_trade = text(await world.ask("/performance"))
    assert "trades 0" in no_trade and "no trade yet" in no_trade
    position = await world.open(ETH)
    await world.stop_out(position)
    mark = world.api.mark()
    body = text(await world.ask("/performance"))
    assert "trades 1" in body and "SL streak 1 (max 1)" in body and "avg hold 5m00s" in body
    assert f"{position.realised_pnl:+,.2f}" in body
    photo = await world.api.wait_call("sendPhoto", after=mark)
    assert photo.params["chat_id"] == OPERATOR
    assert photo.files["photo"].startswith(b"\x89PNG\r\n\x1a\n")


async def test_pause_stops_entries_keeps_positions_managed_and_resume_lifts_it(world: World) -> None:
    held = await world.open(ETH)
    reply = text(await world.ask("/pause"))
    assert "entries paused" in reply
    assert world.bot.session.bot.state == "paused" and world.bot.session.bot.model.by == f"telegram:{OPERATOR}"
    # the engine refuses new entries …
    world.bot.flat_candle(BTC, world.clock.now())
    assert world.engine.bot.status(world.clock.now())["entries_allowed"] is False
    refused_before = world.engine.counters.refused
    from engine.strategy.signal import Side, Signal

    signal = Signal(BTC, Side.LONG, 0, world.bot.last[BTC], 0.5, (), "long: test")
    assert await world.engine.on_signal(signal, world.clock.now()) is None
    assert world.engine.counters.refused == refused_before + 1
    # … while the open position is still managed: its stop still closes it
    await world.stop_out(held)
    assert held.state == "closed" and held.exit_reason == "sl"
    assert "⏸ paused by telegram:42" in text(await world.ask("/status"))
    assert "entries resumed" in text(await world.ask("/resume"))
    assert world.bot.session.bot.state == "running"
    commands = world.commands()
    assert [(c["command"], c["by"]) for c in commands] == [("pause", "telegram:42"), ("resume", "telegram:42")]
    assert [c["bot"]["bot_machine"]["state"] for c in commands] == ["paused", "running"]
    # a second pause/resume changes nothing and is not journaled again
    assert "not paused" in text(await world.ask("/resume"))
    assert len(world.commands()) == 2


async def test_close_id_closes_one_position_after_confirmation(world: World) -> None:
    eth = await world.open(ETH)
    btc = await world.open(BTC)
    prompt = await world.ask(f"/close {eth.id}")
    assert "Close <b>P1</b> ETH at market?" in text(prompt)
    assert eth.state == "open" and world.commands() == []  # nothing happens before the press
    from tests.bot.support import buttons

    yes = next(b for b in buttons(prompt) if b["callback_data"].startswith("cf:yes:"))
    edited = await world.press(yes["callback_data"], prompt)
    assert eth.state == "closed" and eth.exit_reason == "manual"
    assert btc.state == "open"
    assert "P1 ETH/USDC:USDC: close sent, now closed" in text(edited)
    [record] = world.commands()
    assert record["command"] == "close" and record["by"] == "telegram:42" and record["args"] == {"position": "P1"}
    transitions = [r for r in world.bot.records() if r.get("position") == "P1"]
    assert transitions[-2]["event"] == "close_requested" and transitions[-2]["seq"] > record["seq"]
    assert world.api.sent("answerCallbackQuery")


async def test_close_refuses_unknown_or_missing_ids(world: World) -> None:
    assert "no live position P9" in text(await world.ask("/close P9"))
    assert "usage: /close" in text(await world.ask("/close"))
    assert world.commands() == []


async def test_config_shows_the_merged_profile_without_secret_values(world: World, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "999:super-secret-token")
    monkeypatch.setenv("TEST_APPRISE_URLS", "json://127.0.0.1:1/hook?+X-Key=hush")
    body = text(await world.ask("/config"))
    assert "secrets redacted" in body
    assert "token_env: TELEGRAM_BOT_TOKEN (set)" in body
    assert "urls_env: TEST_APPRISE_URLS (set)" in body
    assert "max_positions: 5" in body
    for secret in ("super-secret-token", "X-Key", "hush", "123456:TEST-token"):
        assert secret not in body


async def test_aggression_switches_the_profile_live_and_survives_a_reload(world: World) -> None:
    assert world.bot.risk.config.max_positions == 5
    reply = text(await world.ask("/aggression aggressive"))
    assert "✅ profile aggressive active" in reply
    # applied live: the engine's sizing and the risk guard use it, the run loop was told
    assert world.engine.orders.leverage == 10 and world.bot.risk.config.max_positions == 10
    assert world.services.control.loaded.profile.risk.sl_streak.losses == 4
    assert [p.orders.risk_per_trade_pct for p in world.profile_changes] == [1.0]
    assert world.profile_changes[0].name == "ctl"  # same bot, same state folder
    [record] = world.commands()
    assert record["command"] == "profile" and record["by"] == "telegram:42"
    assert record["args"] == {"name": "aggressive", "previous": "ctl"}
    # persisted as a runtime override: a restart loads it
    reloaded = load_profile(world.bot.profile_path)
    assert reloaded.profile.name == "ctl" and reloaded.state_dir == world.bot.state_dir
    assert reloaded.profile.risk.max_positions == 10 and reloaded.profile.orders.leverage == 10
    assert "(aggressive)" in text(await world.ask("/status"))
    assert "max_positions: 10" in text(await world.ask("/config"))
    # an unknown profile changes nothing
    assert "no profile 'reckless'" in text(await world.ask("/aggression reckless"))
    assert load_profile(world.bot.profile_path).profile.risk.max_positions == 10
    assert len(world.commands()) == 1
    assert "usage: /aggression NAME" in text(await world.ask("/aggression"))


async def test_logs_show_the_last_transitions_and_commands(world: World) -> None:
    position = await world.open(ETH)
    await world.ask("/pause")
    await world.stop_out(position)
    body = text(await world.ask("/logs 4"))
    assert "<b>LOGS</b> (last 4)" in body
    lines = body.splitlines()[1:]
    assert "entering→open" in lines[0] and "open→closed" in lines[3]
    # the bot machine's transition (journaled first: it is what the bot resumes into), then the command
    assert "bot running→paused <i>pause</i> by telegram:42" in lines[1] and "⚙ pause by telegram:42" in lines[2]
    assert "(last 5)" in text(await world.ask("/logs"))  # default 10, the journal holds 5
    assert "usage: /logs" in text(await world.ask("/logs many"))


async def test_unknown_commands_get_a_pointer_to_help(world: World) -> None:
    assert "unknown command" in text(await world.ask("/frobnicate"))
