"""`BotServices` as the run loop uses it: start, the engine's closes folded into the statistics as they
happen, commands serialised with engine steps through `engine_lock`, and a stop that lets go of the
engine and the risk guard."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from engine.bot.stats.aggregates import STATS_FILE, Aggregates
from tests.bot.support import BTC, ETH, close_world, start_world


async def test_closes_reach_the_statistics_and_stop_lets_go(tmp_path: Path) -> None:
    world = await start_world(tmp_path)
    services, session = world.services, world.bot.session
    assert services._on_transition in world.engine.listeners and services._on_bot_transition in session.bot.listeners
    position = await world.open(ETH)
    await world.stop_out(position)
    # folded by the engine listener at the close, before any tick
    assert services.stats.summary(world.clock.now()).all_time.trades == 1
    assert services.stats.summary(world.clock.now()).all_time.net_pnl == position.realised_pnl
    services.tick(world.clock.now())
    await services.stop()
    assert services._on_transition not in world.engine.listeners
    assert services._on_bot_transition not in session.bot.listeners
    with Aggregates(world.bot.state_dir) as stats:  # what is on disk
        assert stats.rebuilt is None and stats.summary(world.clock.now()).all_time.trades == 1
    world.bot.close()


async def test_a_command_waits_for_the_engine_step_in_progress(tmp_path: Path) -> None:
    world = await start_world(tmp_path)
    try:
        position = await world.open(ETH)
        control = world.services.control
        pending = control.request_panic("telegram:42")
        async with world.services.engine_lock:  # the run loop is inside a step
            confirming = asyncio.create_task(control.confirm(pending.token, "telegram:42"))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not confirming.done() and position.state == "open" and world.commands() == []
        result = await confirming
        assert result.ok and position.state == "closed"
    finally:
        await close_world(world)


async def test_start_rebuilds_a_corrupt_store_from_history(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    world = await start_world(tmp_path)
    for symbol in (ETH, BTC):
        position = await world.open(symbol)
        await world.stop_out(position)
    await close_world(world)
    (world.bot.state_dir / STATS_FILE).write_text("{ torn")
    caplog.set_level(logging.WARNING, logger="engine")
    again = await start_world(tmp_path)
    try:
        assert again.services.stats.rebuilt and "statistics rebuilt from history" in caplog.text
        assert again.services.control.summary().all_time.trades == 2
    finally:
        await close_world(again)
