"""The emergency path on the wire (fake Binance, real ccxt, BinanceVenue): the stop-loss stays on the venue
until the position is confirmed flat, a close refused by changed filters is sent again on the filters read
again, and an emergency the venue will not let finish keeps its stop, is retried and alerts every channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.bot.services import BotServices
from engine.positions.events import Panic
from engine.positions.model import Position
from tests.e2e.support import history, journal
from tests.e2e.wire import ALGO, ETH, INFO, NOW, ORDER, WireBot
from tests.fakes.apprise_receiver import AppriseReceiver
from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.binance.fixture import shared_candles


@pytest.fixture
async def bot(tmp_path: Path, make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> AsyncIterator[WireBot]:
    fake = await make_fake_binance(symbols=[ETH, "BTC/USDC:USDC"], data_dir=shared_candles())
    wire = WireBot(fake, tmp_path, notifications={"min_interval": "0s", "send_timeout": "5s"})
    await wire.start()
    try:
        yield wire
    finally:
        await wire.stop()


async def _open(bot: WireBot) -> tuple[Position, str]:
    position = await bot.enter(ETH)
    assert position is not None and position.state == "open"
    return position, position.stops()[0]


def _coarser_step(qty: Decimal) -> Decimal:
    """A step the position's size is not a multiple of (Binance coarsening a market's LOT_SIZE)."""
    return next(step for step in (Decimal("0.01"), Decimal("0.1"), Decimal(1)) if qty % step)


def _stop_cancelled_after_the_close_filled(bot: WireBot, stop: str) -> None:
    fills = [i for i, r in enumerate(bot.fake.requests) if r.method == "POST" and r.path == ORDER
             and r.params.get("reduceOnly") == "true" and r.status == 200]
    cancels = [i for i, r in enumerate(bot.fake.requests) if r.method == "DELETE" and r.path == ALGO
               and r.params.get("clientAlgoId") == stop]
    assert fills and cancels and cancels[0] > fills[0], "the stop was cancelled only once the close had filled"


async def test_a_step_change_while_down_is_closed_on_the_new_filters_with_the_stop_resting(bot: WireBot) -> None:
    position, stop = await _open(bot)
    # panic is journalled with its close, then the process dies before the close leaves
    await bot.engine.apply(position, Panic("panic"), NOW, run=False)
    await bot.stop()
    step = _coarser_step(position.qty)
    bot.fake.set_filters(ETH, step_size=step)
    await bot.restart(NOW + timedelta(minutes=1))
    assert bot.live() == [], f"resume finished the emergency: {[p.state for p in bot.live()]}"
    assert bot.held(ETH) == 0 and bot.resting(ETH) == set()
    [close] = bot.sent("POST", ORDER, reduceOnly="true")  # one request: refitted before it left
    sent_qty = Decimal(close.params["quantity"])
    assert sent_qty % step == 0 and sent_qty >= position.qty > sent_qty - step  # rounded up, trimmed to the position
    _stop_cancelled_after_the_close_filled(bot, stop)
    events = [r["event"] for r in journal(bot.loaded.state_dir) if r["position"] == position.id]
    assert events[-2:] == ["panic", "close_filled"]
    [closed] = [p for p in history(bot.loaded.state_dir) if p["id"] == position.id]
    assert closed["exit_reason"] == "emergency" and Decimal(closed["qty"]) == 0


async def test_a_step_change_while_running_reads_the_filters_again_and_retries_the_close_once(bot: WireBot) -> None:
    position, stop = await _open(bot)
    qty = position.qty
    step = _coarser_step(qty)
    bot.fake.set_filters(ETH, step_size=step)  # the bot's markets are cached: it sends the old size
    info_reads = len(bot.sent("GET", INFO))
    await bot.engine.panic(NOW)
    closes = bot.sent("POST", ORDER, reduceOnly="true")
    assert [c.status for c in closes] == [400, 200], "refused -1111 on the old step, then sent on the new one"
    assert Decimal(closes[0].params["quantity"]) == qty and Decimal(closes[1].params["quantity"]) % step == 0
    assert len(bot.sent("GET", INFO)) == info_reads + 1, "the rejection read exchangeInfo again"
    assert bot.engine.markets[ETH].market_step_size == step, "the engine sizes on the new filters from now on"
    assert position.state == "closed" and bot.held(ETH) == 0 and bot.resting(ETH) == set()
    _stop_cancelled_after_the_close_filled(bot, stop)


async def test_an_emergency_that_cannot_finish_keeps_its_stop_retries_and_alerts_every_channel(bot: WireBot) -> None:
    hooks = [await AppriseReceiver().start(), await AppriseReceiver().start()]
    assert bot.session is not None
    services = BotServices(bot.loaded, bot.session, now=lambda: NOW, started=NOW, env_file=None,
                           environ={"ENGINE_APPRISE_URLS": ",".join(h.url() for h in hooks)})
    await services.start()
    try:
        position, stop = await _open(bot)
        bot.fake.inject(Fault.reject_closes(-4131, "The counterparty's best price does not meet the PERCENT_PRICE "
                                                   "filter limit."))
        limit = bot.loaded.profile.orders.emergency_alert_after
        await bot.engine.panic(NOW)
        now = NOW
        for _ in range(limit):
            assert position.state == "emergency" and stop in bot.resting(ETH), "the stop rests while the close fails"
            now = await bot.retry(position, now)
        assert len(bot.sent("POST", ORDER, reduceOnly="true")) == limit + 1 and position.close_refusals == limit + 1
        assert bot.held(ETH) == position.qty and bot.violations() == []
        assert position.deadline_event == "emergency_retry", "still retried on its own deadline"
    finally:
        await services.stop()
        for hook in hooks:
            await hook.stop()
    for hook in hooks:
        # on its own, or in a digest when the notifier had several queued (a busy machine): never lost
        alerts = [r for r in hook.received if "EMERGENCY" in r.title + r.message and "refused" in r.message]
        assert len(alerts) == 1, [r.title for r in hook.received]
        assert position.id in alerts[0].message and "stop-loss stays" in alerts[0].message
    # the venue lets it through again: the next retry flattens it and only then is the stop cancelled
    bot.fake.clear_faults()
    await bot.retry(position, now)
    assert position.state == "closed" and bot.held(ETH) == 0 and bot.resting(ETH) == set()
    _stop_cancelled_after_the_close_filled(bot, stop)


async def test_a_stop_lost_during_an_emergency_is_placed_again(bot: WireBot) -> None:
    position, stop = await _open(bot)
    bot.fake.inject(Fault.reject_closes())
    await bot.engine.panic(NOW)
    assert position.state == "emergency"
    bot.fake.inject(Fault.vanish(stop))
    bot.fake.catch_up()
    assert [kind for kind, _ in bot.violations()] == ["naked"]
    report = await bot.reconcile(NOW + timedelta(seconds=1))
    assert any("no live stop-loss" in fix for fix in report.fixes), report.lines()
    assert position.state == "emergency" and bot.violations() == []
    [new] = position.stops()
    assert new != stop and new in bot.resting(ETH)
