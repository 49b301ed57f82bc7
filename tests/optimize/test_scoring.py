"""Objectives, constraints, walk-forward folds and the overfitting measures."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.errors import UserError
from engine.optimize.objectives import daily_returns, figures, sharpe, sortino, violations
from engine.optimize.overfit import deflated_sharpe, expected_max_sharpe, stability
from engine.optimize.space import Constraints, Param, ParamSpec, Space
from engine.optimize.walkforward import parse_folds
from engine.report.metrics import compute_metrics

DAY = datetime(2025, 1, 1, tzinfo=UTC)


def trade(i: int, day: int, pnl: str) -> dict:
    opened = DAY + timedelta(days=day, hours=1)
    return {"id": f"P{i}", "symbol": "BTC/USDC:USDC", "side": "long", "plan": {"qty": "1"}, "entry_price": "100",
            "opened_at": opened.isoformat(), "closed_at": (opened + timedelta(minutes=5)).isoformat(),
            "exit_reason": "stop_loss", "realised_pnl": pnl, "fees": "0.1"}


def test_figures_follow_the_report_and_the_daily_returns() -> None:
    trades = [trade(1, 0, "10"), trade(2, 1, "-5"), trade(3, 1, "2"), trade(4, 3, "8")]
    metrics = compute_metrics(trades, Decimal(1000), DAY, DAY + timedelta(days=4))
    returns = daily_returns(metrics)
    # equity 1000 → 1010 → 1007 → 1007 → 1015: each day's PnL over the equity it started with
    assert returns == pytest.approx([10 / 1000, -3 / 1010, 0.0, 8 / 1007])
    mean = sum(returns) / 4
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / 4)
    got = figures(metrics)
    assert got["sharpe"] == pytest.approx(mean / sd * math.sqrt(365))
    assert got["sortino"] == pytest.approx(mean / downside * math.sqrt(365))
    assert got["trades"] == 4 and got["net_pnl"] == pytest.approx(15.0)
    assert got["win_rate_pct"] == pytest.approx(75.0)
    assert got["profit_factor"] == pytest.approx(20 / 5)
    annual = (1015 / 1000) ** (365 / 4) - 1
    assert got["calmar"] == pytest.approx(annual * 100 / float(metrics.max_drawdown_pct))


def test_degenerate_runs_score_zero_not_nan() -> None:
    assert sharpe([]) == 0.0 and sharpe([0.01, 0.01]) == 0.0 and sortino([0.01, 0.02]) == 0.0
    empty = figures(compute_metrics([], Decimal(1000), DAY, DAY + timedelta(days=3)))
    assert all(math.isfinite(v) for k, v in empty.items() if k != "daily_returns")
    assert empty["profit_factor"] == 0.0 and empty["trades"] == 0


def test_constraints_are_met_at_or_below_zero() -> None:
    rules = Constraints(min_trades=30, max_drawdown_pct=20, min_win_rate_pct=55)
    assert violations({"trades": 40, "max_drawdown_pct": 20.0, "win_rate_pct": 60.0}, rules) == {
        "min_trades": -10.0, "max_drawdown_pct": 0.0, "min_win_rate_pct": -5.0}
    missed = violations({"trades": 10, "max_drawdown_pct": 25.0, "win_rate_pct": 50.0}, rules)
    assert all(v > 0 for v in missed.values())
    assert violations({"trades": 0}, Constraints()) == {}


def test_rolling_folds_tile_the_span() -> None:
    folds = parse_folds("60d:30d", DAY, DAY + timedelta(days=120))
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (DAY, DAY + timedelta(days=60), DAY + timedelta(days=60), DAY + timedelta(days=90)),
        (DAY + timedelta(days=30), DAY + timedelta(days=90), DAY + timedelta(days=90), DAY + timedelta(days=120)),
    ]


def test_anchored_folds_grow_from_the_start_and_step_is_honoured() -> None:
    folds = parse_folds("30d+:10d:20d", DAY, DAY + timedelta(days=80))
    assert [f.train_start for f in folds] == [DAY, DAY, DAY]
    assert [(f.train_end - DAY).days for f in folds] == [30, 50, 70]
    assert all(f.test_end - f.test_start == timedelta(days=10) for f in folds)


@pytest.mark.parametrize(("spec", "words"), [
    ("60d", "expected TRAIN:TEST"), ("60d:x", "TEST 'x'"), ("0d:5d", "longer than 0"),
    ("100d:30d", "does not fit"),
])
def test_bad_walk_forward_specs_are_refused(spec: str, words: str) -> None:
    with pytest.raises(UserError, match=words):
        parse_folds(spec, DAY, DAY + timedelta(days=120))


def test_deflated_sharpe_separates_skill_from_the_best_of_many_noise_trials() -> None:
    rng = random.Random(7)
    noise = [[rng.gauss(0, 0.01) for _ in range(90)] for _ in range(200)]
    sharpes = [sharpe(r, annualise=False) for r in noise]
    luckiest = max(noise, key=lambda r: sharpe(r, annualise=False))
    assert expected_max_sharpe(sharpes) > 0.2  # the best of 200 noise runs looks good in-sample
    assert deflated_sharpe(luckiest, sharpes) < 0.95  # … and is flagged
    skill = [rng.gauss(0.01, 0.01) for _ in range(90)]  # a per-day Sharpe near 1
    assert deflated_sharpe(skill, sharpes) > 0.99
    assert deflated_sharpe(skill[:2], sharpes) is None and deflated_sharpe(skill, sharpes[:1]) is None


def test_stability_measures_spread_and_agreement() -> None:
    ema = Param("strategy.ema_fast", ParamSpec.model_validate({"int": [5, 25]}), 1)
    hold = Param("risk.max_hold", ParamSpec.model_validate({"choice": ["10m", "1h"]}), 2)
    space = Space(None, (ema, hold), Constraints(), None)  # type: ignore[arg-type]
    rows = stability(space, [{"strategy.ema_fast": 5, "risk.max_hold": "1h"},
                             {"strategy.ema_fast": 15, "risk.max_hold": "1h"},
                             {"strategy.ema_fast": 6, "risk.max_hold": "10m"}])
    assert rows[0]["spread"] == pytest.approx(0.5) and rows[0]["stable"] is False
    assert rows[1]["agreement"] == pytest.approx(2 / 3) and rows[1]["stable"] is True
