"""The search loop against stand-in workers: batch sizes and order, the best, and a backtest that fails
every trial."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import pytest

from engine.config.loading import load_profile
from engine.optimize.objectives import parse_objectives
from engine.optimize.search import SearchSettings, best_trial, open_study, search
from engine.optimize.space import load_space
from engine.optimize.trial import TrialJob

REPO = Path(__file__).resolve().parents[2]
START, END = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC)


class Workers:
    """Scores a trial from its values, so the best is known; records every batch it is handed."""

    def __init__(self, size: int, fail: bool = False) -> None:
        self.size, self.fail, self.batches = size, fail, []

    def run(self, jobs: list[TrialJob]) -> list[dict[str, Any]]:
        self.batches.append([job.number for job in jobs])
        if self.fail:
            return [{"error": "ValueError: boom"} for _ in jobs]
        return [{"trades": 40, "win_rate_pct": 50.0, "max_drawdown_pct": 5.0, "daily_returns": [0.0, 0.01],
                 "sharpe": -abs(job.values["strategy.ema_fast"] - 9), "net_pnl": 1.0} for job in jobs]

    def close(self, *, abandon: bool = False) -> None: ...


def settings(trials: int) -> SearchSettings:
    space = load_space(REPO / "profiles" / "spaces" / "scalping.yaml")
    base = load_profile(REPO / "profiles" / "balanced.yaml", with_overrides=False)
    return SearchSettings(space, base, parse_objectives("sharpe"), trials, 0)


def test_start_up_trials_go_out_together_then_two_per_worker() -> None:
    chosen = settings(20)
    study = open_study(optuna.storages.InMemoryStorage(), "s", chosen, 0)
    workers = Workers(2)
    assert search(study, chosen, workers, START, END, lambda t: None)
    sizes = [len(b) for b in workers.batches]
    invalid = 20 - sum(sizes)  # refused combinations are told at once and never reach the workers
    assert sizes[0] >= 10 - invalid and all(s <= 4 for s in sizes[1:]) and len(sizes) >= 3
    numbers = [n for b in workers.batches for n in b]
    assert numbers == sorted(numbers)  # asked in order, each batch handed over whole
    best, ok = best_trial(study, chosen.objectives)
    scores = [t.values[0] for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))]
    assert ok and best.values[0] == max(scores) == -abs(best.user_attrs["values"]["strategy.ema_fast"] - 9)


def test_a_backtest_that_fails_every_trial_stops_the_study() -> None:
    chosen = settings(20)
    study = open_study(optuna.storages.InMemoryStorage(), "s", chosen, 0)
    with pytest.raises(RuntimeError, match="trials of a batch failed; the first: ValueError: boom"):
        search(study, chosen, Workers(2, fail=True), START, END, lambda t: None)
    failed = study.get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert 0 < len(failed) < 20 and all("error" in t.user_attrs or "invalid" in t.user_attrs for t in failed)


def test_ctrl_c_is_noted_outside_a_wait_and_abandons_inside_one() -> None:
    import os
    import signal
    import time

    from engine.optimize.stop import StopRequest

    class Slow(Workers):
        def run(self, jobs: list[TrialJob]) -> list[dict[str, Any]]:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(2)  # the handler raises here, long before the sleep ends
            return []

    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)  # e.g. while Optuna writes the journal: noted, nothing raised
        time.sleep(0.05)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.guard(Workers(1)).run([])  # the next wait is refused
    with StopRequest() as stop:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            stop.guard(Slow(1)).run([])
        assert time.monotonic() - started < 1.5 and stop.requested
    assert signal.getsignal(signal.SIGINT) is before
