"""The engine on the wire (BinanceVenue → ccxt → HTTP → fake fapi) with one fault injected while it enters
a position. Whatever the fault, the bot ends in a safe state once the fault's own resolution has run (a
deadline, a reconciliation pass): exposure ⇒ exactly one live reduce-only stop, no orphan order of ours,
no client id used by two orders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.bot.session import Session, open_session
from engine.config.loading import load_profile
from engine.strategy.signal import Side, Signal
from engine.trading.reconcile import Reconciler
from engine.venue.binance import BinanceSettings, BinanceVenue, Credentials
from engine.venue.binance.retry import RetryPolicy
from tests.chaos.invariants import venue_violations
from tests.e2e.support import make_profile
from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.binance.fixture import shared_candles

ETH = "ETH/USDC:USDC"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ORDER, ALGO = "/fapi/v1/order", "/fapi/v1/algoOrder"


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def bot(tmp_path: Path, make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> AsyncIterator[tuple]:
    fake = await make_fake_binance(symbols=[ETH, "BTC/USDC:USDC"], data_dir=shared_candles())
    profile = make_profile(tmp_path, "faults", mode="testnet",
                           universe={"max_symbols": 2, "whitelist": ["ETHUSDC", "BTCUSDC"]}, risk={"max_hold": "4h"})
    loaded = load_profile(profile)
    venue = BinanceVenue(Credentials(fake.api_key, fake.secret), mode="testnet", base_url=fake.base_url,
                         settings=BinanceSettings(enable_rate_limit=False, timeout_ms=1_000,
                                                  retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_wait_s=1.0)),
                         sleep=_no_sleep)
    session = open_session(loaded, await venue.markets(), venue=venue)
    try:
        yield fake, session
    finally:
        session.book.close()
        await venue.close()


async def _enter(fake: FakeBinance, session: Session):  # noqa: ANN202
    price = fake.price(fake.market(ETH))
    signal = Signal(ETH, Side("long"), 0, float(price), 0.5, (), "fault test")
    return await session.engine.on_signal(signal, NOW)


async def _settle(session: Session) -> None:
    """What the running bot does next: deadlines fire, then a reconciliation pass."""
    later = NOW + timedelta(minutes=5)
    await session.engine.on_timeouts(later)
    await Reconciler(session.engine).run(later)


def _violations(fake: FakeBinance, session: Session) -> list[tuple[str, str]]:
    return venue_violations(fake, session.book.live.values(), f"{session.book.bot['order_prefix']}-")


FAULTS = {
    "5xx after the entry was accepted": (Fault.http_error(503, after_accept=True, method="POST", path=ORDER), "open"),
    "5xx before the entry was accepted": (Fault.http_error(500, after_accept=False, method="POST", path=ORDER),
                                          "closed"),
    "timeout after the entry was accepted": (Fault.timeout(1.5, after_accept=True, method="POST", path=ORDER),
                                             "open"),
    "429 on the stop-loss": (Fault.rate_limit(retry_after=1, method="POST", path=ALGO), "open"),
    "418 on the stop-loss": (Fault.ban(retry_after=60, method="POST", path=ALGO), "open"),
    "-1021 on the entry": (Fault.bad_timestamp(method="POST", path=ORDER), "open"),
    "-2019 margin insufficient on the entry": (Fault.reject(-2019, "Margin is insufficient.", method="POST",
                                                            path=ORDER), "closed"),
    "-2021 on the stop-loss": (Fault.reject(-2021, "Order would immediately trigger.", method="POST", path=ALGO),
                               "closed"),
    "-4164 on the entry": (Fault.reject(-4164, "Order's notional must be no smaller than 20", method="POST",
                                        path=ORDER), "closed"),
    "partial fill of the entry": (Fault.partial_fill(0.5), "open"),
    "latency on everything": (Fault.latency(0.05), "open"),
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_a_fault_during_entry_ends_safe(bot: tuple, name: str) -> None:
    fake, session = bot
    fault, final = FAULTS[name]
    fake.inject(fault)
    position = await _enter(fake, session)
    await _settle(session)
    fake.clear_faults()
    assert fake.fired, f"the fault {name!r} never fired"
    assert _violations(fake, session) == []
    pos = position or next(iter(session.book.live.values()), None)
    state = "closed" if pos is None or pos.id not in session.book.live else pos.state
    assert state == final, f"{name}: ended {state}"
    if final == "open":
        held = {p["symbol"]: Decimal(p["positionAmt"]) for p in fake.positions()}
        assert held.get("ETHUSDC") == pos.qty, "the machine holds what the venue holds"


async def test_a_stop_that_vanishes_is_replaced(bot: tuple) -> None:
    fake, session = bot
    position = await _enter(fake, session)
    assert position is not None and position.state == "open"
    stop = next(c for c in position.open_orders if position.order_roles[c] == "sl")
    fake.inject(Fault.vanish(stop))
    fake.catch_up()
    assert _violations(fake, session), "the stop is gone: the position is naked"
    await Reconciler(session.engine).run(NOW + timedelta(minutes=1))
    assert _violations(fake, session) == []
    assert stop not in position.open_orders and position.state == "open"
