"""RiskGuard: each per-entry rule refuses in the scenario built for it and lets the entry through
otherwise; the counters the bot machine's checks read (daily loss, stop-loss streak, equity peak) say
when they are reached. What the bot does then is tests/trading/test_bot_machine.py.

Time is passed in; the daily reset is driven by freezegun through the wall clock the engine would use.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time

from engine.clock import WallClock
from engine.config.profile import RiskSection, SlStreak
from engine.machine.registry import Step
from engine.positions.lifecycle import REGISTRY
from engine.positions.model import Position
from engine.trading.risk import RULES, RiskGuard, RiskState

D = Decimal
BTC, ETH = "BTC/USDC:USDC", "ETH/USDC:USDC"
T0 = datetime(2024, 10, 20, 12, 0, tzinfo=UTC)
CONFIG = RiskSection(
    max_positions=2,
    daily_loss_limit_pct=3.0,
    sl_streak=SlStreak(losses=3, pause=timedelta(minutes=30)),
    symbol_cooldown=timedelta(minutes=5),
)


class Live:
    """The engine's live-position count, settable by the test."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> int:
        return self.count


@pytest.fixture
def live() -> Live:
    return Live()


@pytest.fixture
def guard(live: Live) -> RiskGuard:
    g = RiskGuard(CONFIG, live)
    g.record_balance(D(1000), T0)
    return g


def candidate(symbol: str = BTC) -> Position:
    return Position(id="P1", symbol=symbol)


def refused_rules(g: RiskGuard, now: datetime, symbol: str = BTC) -> list[str]:
    return [rule for rule in RULES if not g.allows(rule, candidate(symbol), now)]


def test_a_fresh_guard_allows_every_rule(guard: RiskGuard) -> None:
    assert refused_rules(guard, T0) == []
    assert guard.last_refusal is None
    assert guard.loss_limit_reason(T0) is None and guard.streak_reached() is None


# --- the daily loss limit ------------------------------------------------------------------------
def test_daily_loss_limit_is_reached_at_three_percent(guard: RiskGuard) -> None:
    guard.record_close(ETH, "max_hold", D(-20), T0)
    assert guard.loss_limit_reason(T0) is None  # -20 > -30
    guard.record_close(ETH, "close_requested", D(-10), T0 + timedelta(minutes=1))  # -30 = 3 % of 1000
    reason = guard.loss_limit_reason(T0 + timedelta(minutes=2))
    assert reason == "today's realised PnL -30.00 reached the daily loss limit of 3% of 1000"


def test_daily_reset_at_midnight_utc(live: Live) -> None:
    clock = WallClock()
    with freeze_time("2024-10-20 08:00:00", tz_offset=0) as frozen:
        g = RiskGuard(CONFIG, live)
        g.record_balance(D(1000), clock.now())
        frozen.move_to("2024-10-20 23:50:00")
        g.record_close(BTC, "sl", D(-31), clock.now())
        assert g.loss_limit_reason(clock.now()) is not None
        frozen.move_to("2024-10-20 23:59:59")
        assert g.loss_limit_reason(clock.now()) is not None
        frozen.move_to("2024-10-21 00:00:01")
        assert g.loss_limit_reason(clock.now()) is None
        assert g.status(clock.now())["day_pnl"] == "0"
        # the new day's limit is 3 % of the first balance recorded today
        g.record_balance(D(500), clock.now())
        g.record_balance(D(900), clock.now())  # later balances do not move the start of the day
        g.record_close(BTC, "max_hold", D(-15), clock.now())
        assert g.loss_limit_reason(clock.now()) is not None


def test_day_rolls_over_at_exactly_midnight(guard: RiskGuard) -> None:
    guard.record_close(BTC, "sl", D(-40), datetime(2024, 10, 20, 23, 50, tzinfo=UTC))
    assert guard.loss_limit_reason(datetime(2024, 10, 20, 23, 59, 59, 999999, tzinfo=UTC)) is not None
    assert guard.loss_limit_reason(datetime(2024, 10, 21, tzinfo=UTC)) is None


def test_a_close_after_midnight_counts_for_the_new_day(guard: RiskGuard) -> None:
    guard.record_close(BTC, "max_hold", D(-25), datetime(2024, 10, 20, 23, 59, tzinfo=UTC))
    guard.record_close(BTC, "max_hold", D(-25), datetime(2024, 10, 21, 0, 1, tzinfo=UTC))
    # neither day reached -30; before today's first balance the last known one (1000) is the base
    assert guard.loss_limit_reason(datetime(2024, 10, 21, 0, 2, tzinfo=UTC)) is None


def test_local_times_are_read_as_utc(guard: RiskGuard) -> None:
    from datetime import timezone

    paris = timezone(timedelta(hours=2))
    guard.record_close(BTC, "sl", D(-40), datetime(2024, 10, 21, 1, 30, tzinfo=paris))  # 23:30 UTC on the 20th
    assert guard.loss_limit_reason(datetime(2024, 10, 21, 2, 0, 1, tzinfo=paris)) is None


def test_without_any_balance_the_limit_cannot_be_reached(live: Live) -> None:
    # (the engine records the balance before every entry, so an entry is never asked about without one)
    g = RiskGuard(CONFIG, live)
    g.record_close(BTC, "sl", D(-1000), T0)
    assert g.loss_limit_reason(T0) is None
    g.record_balance(D(1000), T0)
    assert g.loss_limit_reason(T0) is not None


# --- the stop-loss streak ------------------------------------------------------------------------
def test_three_stop_losses_in_a_row_reach_the_streak(guard: RiskGuard) -> None:
    guard.record_close(BTC, "sl", D(-1), T0)
    guard.record_close(ETH, "sl", D(-1), T0 + timedelta(minutes=5))
    assert guard.streak_reached() is None
    guard.record_close(BTC, "sl", D(-1), T0 + timedelta(minutes=15))
    assert guard.streak_reached() == "3 stop-losses in a row"
    guard.spend_streak()  # the bot machine's cool-down has started: a new streak is needed
    assert guard.streak_reached() is None and guard.state.sl_streak == 0
    guard.record_close(BTC, "sl", D(-1), T0 + timedelta(minutes=40))
    assert guard.status(T0 + timedelta(minutes=41))["sl_streak"] == 1


@pytest.mark.parametrize("reset_by", ["tp1", "tp3", "max_hold", "close_requested", "emergency", "flat"])
def test_any_other_exit_resets_the_streak(guard: RiskGuard, reset_by: str) -> None:
    guard.record_close(BTC, "sl", D(-1), T0)
    guard.record_close(BTC, "sl", D(-1), T0 + timedelta(minutes=1))
    guard.record_close(BTC, reset_by, D(-1), T0 + timedelta(minutes=2))
    guard.record_close(BTC, "sl", D(-1), T0 + timedelta(minutes=3))
    guard.record_close(BTC, "sl", D(-1), T0 + timedelta(minutes=4))
    assert guard.streak_reached() is None
    assert guard.state.sl_streak == 2


def test_a_break_even_stop_after_a_take_profit_is_not_a_loss(guard: RiskGuard) -> None:
    guard.record_close(BTC, "sl", D(-1), T0)
    guard.record_close(BTC, "sl", D(-1), T0 + timedelta(minutes=1))
    guard.record_close(BTC, "sl", D("0.8"), T0 + timedelta(minutes=2))  # stop trailed to entry after tp1
    assert guard.streak_reached() is None
    assert guard.state.sl_streak == 0


def test_a_rejected_entry_changes_nothing(guard: RiskGuard) -> None:
    guard.record_close(BTC, "sl", D(-1), T0)
    before = guard.state.to_dict()
    guard.changed = False
    guard.record_close(ETH, "rejected -4164 Order's notional must be no smaller than 100", D(0), T0)
    assert guard.state.to_dict() == before
    assert not guard.changed
    assert guard.allows("symbol_cooldown", candidate(ETH), T0)


# --- the equity hard stop ------------------------------------------------------------------------
def test_the_hard_stop_measures_from_the_running_peak(live: Live) -> None:
    g = RiskGuard(RiskSection(max_drawdown_pct=25), live)
    g.record_equity(D(1000))
    g.record_equity(D(1200))  # a new peak
    g.record_equity(D(950))  # not a peak
    assert g.state.peak_equity == D(1200)
    assert g.hard_stop_reason(D("900.01")) is None  # 24.99 % below
    assert g.hard_stop_reason(D(900)) == "equity 900.00 is 25.00% below its peak 1200.00 (risk.max_drawdown_pct 25)"
    g.rebase_peak(None)  # after a rearm
    assert g.hard_stop_reason(D(100)) is None
    g.record_equity(D(100))
    assert g.state.peak_equity == D(100)


def test_min_equity_stops_at_its_floor_and_no_limit_means_off(live: Live) -> None:
    g = RiskGuard(RiskSection(min_equity=D(500)), live)
    g.record_equity(D(1000))
    assert g.hard_stop_reason(D("500.01")) is None
    assert g.hard_stop_reason(D(500)) == "equity 500.00 at or below risk.min_equity 500"
    off = RiskGuard(RiskSection(), live)
    off.record_equity(D(1000))
    assert not off.watches_equity and off.hard_stop_reason(D(1)) is None


# --- max_positions -------------------------------------------------------------------------------
def test_max_positions(guard: RiskGuard, live: Live) -> None:
    live.count = 1
    assert guard.allows("max_positions", candidate(), T0)
    live.count = 2
    assert not guard.allows("max_positions", candidate(), T0)
    assert guard.last_refusal is not None and guard.last_refusal.reason == "2 positions live, the profile allows 2"
    live.count = 1
    assert guard.allows("max_positions", candidate(), T0)


# --- symbol_cooldown -----------------------------------------------------------------------------
def test_cooldown_is_per_symbol(guard: RiskGuard) -> None:
    guard.record_close(BTC, "tp3", D(4), T0)
    assert not guard.allows("symbol_cooldown", candidate(BTC), T0 + timedelta(minutes=4, seconds=59))
    assert "cooling down until 12:05 UTC" in guard.last_refusal.reason  # type: ignore[union-attr]
    assert guard.allows("symbol_cooldown", candidate(ETH), T0 + timedelta(minutes=1))
    assert guard.allows("symbol_cooldown", candidate(BTC), T0 + timedelta(minutes=5))


def test_expired_cooldowns_are_dropped_from_the_state(guard: RiskGuard) -> None:
    guard.record_close(BTC, "tp3", D(4), T0)
    guard.record_close(ETH, "tp3", D(4), T0 + timedelta(minutes=10))
    assert set(guard.state.last_exit) == {ETH}


# --- persistence ---------------------------------------------------------------------------------
def test_state_round_trips(guard: RiskGuard, live: Live) -> None:
    for minute in (0, 1, 2):
        guard.record_close(BTC, "sl", D(-11), T0 + timedelta(minutes=minute))
    guard.record_equity(D(1234))
    document = json.loads(json.dumps(guard.state.to_dict()))  # what the bot document stores
    assert RiskState.from_dict(document) == guard.state
    restarted = RiskGuard(CONFIG, live, state=RiskState.from_dict(document))
    assert refused_rules(restarted, T0 + timedelta(minutes=3)) == ["symbol_cooldown"]
    assert restarted.streak_reached() and restarted.loss_limit_reason(T0 + timedelta(minutes=3))
    assert restarted.state.peak_equity == D(1234)


def test_an_older_document_keeps_its_pause_and_halts_for_the_bot_machine() -> None:
    older = {"paused": True, "paused_by": "cli:ann", "paused_at": T0.isoformat(), "day": "2024-10-20",
             "day_pnl": "-40", "halted_until": "2024-10-21T00:00:00+00:00", "sl_streak": 1, "sl_pause_until": None}
    state = RiskState.from_dict(older)
    assert state.legacy == {"paused": True, "paused_by": "cli:ann", "paused_at": T0.isoformat(),
                            "halted_until": "2024-10-21T00:00:00+00:00"}
    assert state.day_pnl == D(-40) and state.sl_streak == 1
    assert "paused" not in state.to_dict() and "halted_until" not in state.to_dict()


def test_from_dict_of_an_empty_document_is_the_default() -> None:
    assert RiskState.from_dict({}) == RiskState()


def test_every_change_is_reported(live: Live) -> None:
    saved: list[dict[str, object]] = []
    g = RiskGuard(CONFIG, live, on_change=lambda state: saved.append(state.to_dict()))
    g.record_balance(D(1000), T0)
    assert g.changed and saved[-1]["day_start_balance"] == "1000"
    g.changed = False
    count = len(saved)
    assert g.allows("max_positions", candidate(), T0)  # reading changes nothing
    assert g.loss_limit_reason(T0) is None and g.hard_stop_reason(D(1)) is None
    assert not g.changed and len(saved) == count
    g.record_close(BTC, "sl", D(-1), T0)
    assert saved[-1]["sl_streak"] == 1 and saved[-1]["last_exit"] == {BTC: T0.isoformat()}
    g.record_equity(D(1001))
    assert saved[-1]["peak_equity"] == "1001"
    # a new peak is saved once it is 0.1 % past the saved one, not at every new high
    count = len(saved)
    g.record_equity(D("1001.9"))
    assert len(saved) == count and g.state.peak_equity == D("1001.9")
    g.record_equity(D("1002.001"))
    assert len(saved) == count + 1 and saved[-1]["peak_equity"] == "1002.001"


# --- logging, status, misuse ---------------------------------------------------------------------
def test_every_refusal_is_logged_with_its_rule(guard: RiskGuard, live: Live, caplog: pytest.LogCaptureFixture) -> None:
    guard.record_close(BTC, "sl", D(-11), T0)
    live.count = 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="engine.risk"):
        assert refused_rules(guard, T0 + timedelta(minutes=3)) == list(RULES)
    refusals = [r for r in caplog.records if r.name == "engine.risk" and " refused " in r.getMessage()]
    assert [r.getMessage().split(" ")[0] for r in refusals] == [f"risk.{rule}" for rule in RULES]
    assert all(BTC in r.getMessage() for r in refusals)
    assert str(guard.last_refusal) == refusals[-1].getMessage()


def test_status(guard: RiskGuard, live: Live) -> None:
    for minute in (0, 1, 2):
        guard.record_close(BTC, "sl", D(-5), T0 + timedelta(minutes=minute))
    live.count = 1
    status = guard.status(T0 + timedelta(minutes=3))
    assert status["day_pnl"] == "-15"
    assert status["daily_loss_limit"] == "-30.00"
    assert status["sl_streak"] == 3
    assert status["cooldowns"] == {BTC: (T0 + timedelta(minutes=7)).isoformat()}
    assert status["live_positions"] == 1 and status["max_positions"] == 2
    json.dumps(status)
    later = guard.status(T0 + timedelta(hours=1))
    assert later["cooldowns"] == {}


def test_status_of_a_new_day_before_any_event(guard: RiskGuard) -> None:
    guard.record_close(BTC, "sl", D(-40), T0)
    before = guard.state.to_dict()
    status = guard.status(datetime(2024, 10, 21, 0, 0, 1, tzinfo=UTC))
    assert status["day_pnl"] == "0" and status["day"] == "2024-10-21"
    assert guard.state.to_dict() == before  # status only reads


def test_unknown_rule_and_naive_time_are_caller_bugs(guard: RiskGuard) -> None:
    with pytest.raises(ValueError, match="unknown risk rule"):
        guard.allows("not_paused", candidate(), T0)  # a bot-level rule: the bot machine's now
    with pytest.raises(ValueError, match="timezone-aware"):
        guard.allows("max_positions", candidate(), datetime(2024, 10, 20, 12, 0))


# --- through the machine's guards ----------------------------------------------------------------
@dataclass
class Env:
    risk: RiskGuard


@pytest.mark.parametrize("rule", RULES)
def test_the_lifecycle_guards_ask_the_risk_guard(guard: RiskGuard, live: Live, rule: str) -> None:
    check = REGISTRY.guards[f"risk.{rule}"]
    step = Step(model=candidate(), event="signal", payload={}, now=T0 + timedelta(minutes=3), env=Env(guard))
    assert check(step)
    guard.record_close(BTC, "sl", D(-11), T0 + timedelta(minutes=2))
    live.count = 2
    assert not check(step)
    assert guard.last_refusal is not None and guard.last_refusal.rule == rule
