"""The bot's own machine (machines/bot.yaml), edge by edge as the position machine is tested: the state
it reaches, the journal record it leaves (a bot record naming the machine, with who sent the event),
and what it does to entries; every (state, event) pair the YAML does not declare is refused and
changes nothing; the checks fire the right events from the risk counters; a reopened book resumes
the bot exactly, and replaying its records gives the same state.

Time is always passed in (the bot machine never reads the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.config.profile import RiskSection, SlStreak
from engine.machine.runtime import CompiledMachine, InvalidTransition
from engine.machine.tags import Tag
from engine.positions.book import JOURNAL_FILE, SNAPSHOT_FILE, PositionBook
from engine.store.journal import is_bot_transition, read_records
from engine.trading.bot_machine import BOT_VALUE, BotMachine, BotModel, load_bot_definition, migrate, replay
from engine.trading.risk import RiskGuard, RiskState
from tests.positions.support import machine as position_machine

D = Decimal
BTC = "BTC/USDC:USDC"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
CONFIG = RiskSection(max_positions=3, daily_loss_limit_pct=3.0,
                     sl_streak=SlStreak(losses=2, pause=timedelta(minutes=30)), max_drawdown_pct=25)
DEFINITION = load_bot_definition()
SPEC = DEFINITION.spec


def compiled() -> CompiledMachine:
    return CompiledMachine(DEFINITION, {"risk.sl_streak.pause": CONFIG.sl_streak.pause})


class World:
    """A durable position book on a temporary folder with the bot machine and a risk guard on it, as
    the session wires them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.book = PositionBook(position_machine(), folder)
        self.book.open()
        state = RiskState.from_dict(self.book.bot.get("risk") or {})
        self.risk = RiskGuard(CONFIG, lambda: len(self.book.live), state=state,
                              on_change=lambda s: self.book.set_bot_value("risk", s.to_dict()))
        model = BotModel.from_dict(self.book.bot[BOT_VALUE]) if self.book.bot.get(BOT_VALUE) else BotModel()
        self.bot = BotMachine(compiled(), model, self.risk, self.book.record_bot_transition)

    def records(self) -> list[dict[str, Any]]:
        return [r for r in read_records(self.folder / JOURNAL_FILE, bot=True) if is_bot_transition(r)]

    def reopen(self) -> World:
        self.book.close()
        return World(self.folder)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    yield w
    w.book.close()


# How to reach each state from a fresh bot (hard_stop marks the flattening as the hard stop's).
ROUTES: dict[str, list[str]] = {
    "running": [],
    "paused": ["pause"],
    "halted": ["loss_limit"],
    "cooling_down": ["sl_streak"],
    "flattening": ["panic"],
    "stopped_out": ["hard_stop", "all_flat"],
}


def reach(world: World, state: str, now: datetime = T0) -> None:
    for event in ROUTES[state]:
        world.bot.fire(event, now, by="test")
    assert world.bot.state == state


def test_the_machine_file_declares_the_states_and_what_they_allow() -> None:
    assert set(SPEC.states) == set(ROUTES) and SPEC.initial == "running" and not SPEC.ends
    assert SPEC.tagged(Tag.ENTRIES) == {"running"}
    assert SPEC.tagged(Tag.FLATTENING) == {"flattening"}
    assert SPEC.tagged(Tag.LATCHED) == {"stopped_out"}
    assert SPEC.states["halted"].timeout.at == "next_utc_day"
    assert SPEC.states["cooling_down"].timeout.after == "risk.sl_streak.pause"


EDGES = sorted({(src, t.event, t.to) for t in SPEC.transitions for src in t.source
                if not (t.event == "all_flat" and t.to == "paused")})  # (that one needs the panic route)


@pytest.mark.parametrize(("source", "event", "dest"), EDGES, ids=[f"{s}-{e}" for s, e, _ in EDGES])
def test_each_edge_reaches_its_state_journals_it_and_sets_entries(world: World, source: str, event: str,
                                                                  dest: str) -> None:
    if source == "flattening" and event == "all_flat":
        reach(world, "stopped_out")  # flattening by the hard stop, then flat
        records = world.records()
        assert [(r["event"], r["from"], r["to"]) for r in records][-1] == ("all_flat", "flattening", "stopped_out")
        return
    reach(world, source)
    before = len(world.records())
    outcome = world.bot.fire(event, T0 + timedelta(minutes=1), by="telegram:42", reason="why not")
    assert outcome.applied and world.bot.state == dest
    records = world.records()
    assert len(records) == before + 1
    last = records[-1]
    assert (last["machine"], last["event"], last["from"], last["to"], last["by"]) == (
        "bot", event, source, dest, "telegram:42")
    assert last["bot"][BOT_VALUE]["state"] == dest  # the record carries the state the book resumes
    assert world.bot.entries_allowed(BTC) is (dest == "running")


def test_a_panic_ends_paused_once_flat_and_a_hard_stop_ends_stopped_out(world: World) -> None:
    world.bot.fire("panic", T0, by="telegram:42")
    assert world.bot.check(T0, live=1) == [] and world.bot.state == "flattening"  # still a position live
    [flat] = world.bot.check(T0 + timedelta(seconds=5), live=0)
    assert (flat.event, flat.dest) == ("all_flat", "paused") and not world.bot.entries_allowed(BTC)
    world.bot.fire("resume", T0 + timedelta(minutes=1), by="telegram:42")
    assert world.bot.entries_allowed(BTC)
    # a hard stop during a panic's flattening makes it end stopped out
    world.bot.fire("panic", T0 + timedelta(minutes=2), by="telegram:42")
    world.bot.fire("hard_stop", T0 + timedelta(minutes=2), reason="equity down")
    world.bot.check(T0 + timedelta(minutes=3), live=0)
    assert world.bot.state == "stopped_out"


MATRIX = [(state, event) for state in SPEC.states for event in SPEC.events
          if not any(t.event == event and state in t.source for t in SPEC.transitions)]


@pytest.mark.parametrize(("state", "event"), MATRIX, ids=[f"{s}-{e}" for s, e in MATRIX])
def test_every_undeclared_state_event_pair_is_refused_and_changes_nothing(world: World, state: str,
                                                                           event: str) -> None:
    reach(world, state)
    before, records = world.bot.model.to_dict(), len(world.records())
    with pytest.raises(InvalidTransition):
        world.bot.fire(event, T0 + timedelta(minutes=1), by="test")
    assert world.bot.model.to_dict() == before and len(world.records()) == records
    assert world.bot.command(event, "test", T0) is None  # a command says so instead of raising


def test_the_daily_halt_lasts_until_the_next_utc_midnight(world: World) -> None:
    world.risk.record_balance(D(1000), T0)
    world.risk.record_close(BTC, "max_hold", D(-30), T0)  # 3 % of 1000
    [halt] = world.bot.check(T0, live=0)
    assert (halt.event, halt.dest) == ("loss_limit", "halted")
    assert world.bot.model.deadline_at == datetime(2025, 3, 4, tzinfo=UTC)
    assert "daily loss limit" in world.bot.why() and not world.bot.entries_allowed(BTC)
    world.risk.record_close(BTC, "tp3", D(50), T0 + timedelta(hours=1))  # a profit the same day lifts nothing
    assert world.bot.check(datetime(2025, 3, 3, 23, 59, 59, tzinfo=UTC)) == []
    [day] = world.bot.check(datetime(2025, 3, 4, tzinfo=UTC))
    assert (day.event, day.dest) == ("new_day", "running") and world.bot.entries_allowed(BTC)
    assert world.bot.check(datetime(2025, 3, 4, 0, 1, tzinfo=UTC)) == []  # the new day starts at zero


def test_a_stop_loss_streak_cools_down_for_its_pause_then_needs_a_new_streak(world: World) -> None:
    world.risk.record_balance(D(1000), T0)
    world.risk.record_close(BTC, "sl", D(-1), T0)
    assert world.bot.check(T0) == []
    world.risk.record_close(BTC, "sl", D(-1), T0 + timedelta(minutes=5))
    [cool] = world.bot.check(T0 + timedelta(minutes=5))
    assert (cool.event, cool.dest) == ("sl_streak", "cooling_down")
    assert world.bot.model.deadline_at == T0 + timedelta(minutes=35)
    assert world.bot.check(T0 + timedelta(minutes=34, seconds=59)) == []
    [cooled] = world.bot.check(T0 + timedelta(minutes=35))
    assert (cooled.event, cooled.dest) == ("cooled", "running")
    assert world.risk.state.sl_streak == 0 and world.bot.check(T0 + timedelta(minutes=36)) == []


def test_the_hard_stop_flattens_then_stays_stopped_out_until_rearm(world: World) -> None:
    world.risk.record_equity(D(1000))
    assert world.bot.check(T0, equity=D(751)) == []  # 24.9 % below the peak
    [stop] = world.bot.check(T0 + timedelta(minutes=1), equity=D(750), live=2)
    assert (stop.event, stop.dest) == ("hard_stop", "flattening")
    assert world.records()[-1]["payload"] == {"equity": "750", "peak": "1000"}
    assert world.bot.check(T0 + timedelta(minutes=2), equity=D(700), live=1) == []  # fires once
    [flat] = world.bot.check(T0 + timedelta(minutes=3), equity=D(700), live=0)
    assert flat.dest == "stopped_out" and "25.00% below its peak 1000.00" in world.bot.why()
    # nothing lifts it but rearm: no deadline, no new day, no recovery of the equity
    assert world.bot.check(T0 + timedelta(days=3), equity=D(2000), live=0) == []
    assert world.bot.state == "stopped_out" and not world.bot.entries_allowed(BTC)
    world.bot.fire("rearm", T0 + timedelta(days=3), by="cli:ann", reason="re-armed by cli:ann")
    assert world.bot.entries_allowed(BTC) and world.records()[-1]["by"] == "cli:ann"
    assert world.risk.state.peak_equity is None  # measured again from the next equity read
    world.risk.record_equity(D(700))
    assert world.bot.check(T0 + timedelta(days=3, minutes=1), equity=D(700)) == []


@pytest.mark.parametrize("state", list(ROUTES))
def test_a_reopened_book_resumes_the_bot_in_its_state_and_replay_agrees(tmp_path: Path, state: str) -> None:
    world = World(tmp_path)
    reach(world, state)
    saved = world.bot.model.to_dict()
    world = world.reopen()
    try:
        assert world.bot.model.to_dict() == saved
        assert replay(compiled(), world.records()).to_dict() == saved  # replay == snapshot
        assert world.bot.entries_allowed(BTC) is (state == "running")
    finally:
        world.book.close()


def test_without_a_snapshot_the_bot_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    world = World(tmp_path)
    reach(world, "stopped_out")
    saved = world.bot.model.to_dict()
    world.book.close()
    for slot in tmp_path.glob(f"{SNAPSHOT_FILE}*"):
        slot.unlink()
    world = World(tmp_path)
    try:
        assert world.bot.model.to_dict() == saved
    finally:
        world.book.close()


def test_an_older_risk_document_migrates_into_the_bot_machine() -> None:
    paused = migrate({"paused": True, "paused_by": "telegram:7", "paused_at": T0.isoformat(),
                      "halted_until": "2025-03-04T00:00:00+00:00"})
    assert (paused.state, paused.by) == ("paused", "telegram:7")  # a manual pause wins: only resume lifts it
    halted = migrate({"halted_until": "2025-03-04T00:00:00+00:00", "sl_pause_until": "2025-03-03T10:30:00+00:00"})
    assert (halted.state, halted.deadline_event, halted.deadline_at) == (
        "halted", "new_day", datetime(2025, 3, 4, tzinfo=UTC))
    cooling = migrate({"sl_pause_until": "2025-03-03T10:30:00+00:00"})
    assert (cooling.state, cooling.deadline_event) == ("cooling_down", "cooled")
    assert migrate({}).state == "running"
    # the migrated halt ends by its own deadline, as a new one would
    m = compiled()
    m.attach(halted)
    assert m.due(halted, datetime(2025, 3, 4, tzinfo=UTC)) == "new_day"


def test_a_profile_switch_keeps_the_state_its_deadline_and_its_start(world: World) -> None:
    reach(world, "cooling_down")
    before = world.bot.model.to_dict()
    world.bot.fire("profile", T0 + timedelta(minutes=20), by="telegram:42")
    after = world.bot.model.to_dict()
    assert (after["state"], after["deadline_at"], after["since"]) == (
        before["state"], before["deadline_at"], before["since"])
    assert replay(compiled(), world.records()).to_dict() == after


def test_the_hard_stop_counts_every_wallet_the_bot_trades_from(tmp_path: Path) -> None:
    """A USDC profile run on USDT markets (as a backtest on the USDT candles does) loses in the USDT wallet:
    the equity the hard stop watches holds both."""
    import asyncio

    from tests.e2e.harness import Bot

    bot = Bot(tmp_path, quotes=("USDC", "USDT"), venue={"quote_assets": ["USDC"]})
    try:
        start = bot.loaded.profile.venue.starting_balance
        assert bot.engine.quote_assets == ("USDC",)
        assert asyncio.run(bot.engine.equity()) == 2 * start
        # a wallet the bot never trades from is not its own: only its universe's and its positions' count
        gate = bot.engine.gate
        gate.universe = frozenset(s for s, m in bot.markets.items() if m.settle == "USDC")
        assert asyncio.run(bot.engine.equity()) == start
        gate.busy.add(next(s for s, m in bot.markets.items() if m.settle == "USDT"))  # a position held there
        assert asyncio.run(bot.engine.equity()) == 2 * start
    finally:
        bot.close()
