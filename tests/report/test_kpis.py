"""The seed's KPIs: pass exactly at the threshold, fail just past it, never shown rounded towards passing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from engine.report.kpis import Comparison, Kpi, all_passed, check_kpis
from engine.report.metrics import Metrics, compute_metrics
from tests.report.support import BALANCE, BTC, END, START, at, closed_position, sample_history


def by_name(metrics: Metrics) -> dict[str, Kpi]:
    return {k.name: k for k in check_kpis(metrics)}


def test_targets_and_order() -> None:
    kpis = check_kpis(compute_metrics([], BALANCE, START, END))
    assert [(k.name, k.comparison, k.target) for k in kpis] == [
        ("win rate", Comparison.AT_LEAST, Decimal(55)),
        ("worst daily drawdown", Comparison.AT_MOST, Decimal(5)),
        ("net PnL", Comparison.ABOVE, Decimal(0)),
    ]
    assert [k.target_text() for k in kpis] == ["≥ 55 %", "≤ 5 %", "> 0"]


def test_an_empty_run_fails_win_rate_and_pnl() -> None:
    kpis = by_name(compute_metrics([], BALANCE, START, END))
    assert not kpis["win rate"].passed and not kpis["net PnL"].passed
    assert kpis["worst daily drawdown"].passed
    assert not all_passed(kpis.values())


def test_sample_run_fails_everything() -> None:
    kpis = by_name(compute_metrics(sample_history(), BALANCE, START, END))
    assert [k.passed for k in kpis.values()] == [False, False, False]
    assert kpis["win rate"].actual_text() == "42.85 %"  # 42.857… rounded down
    assert kpis["worst daily drawdown"].actual_text() == "5.95 %"  # 5.9405… rounded up
    assert kpis["net PnL"].actual_text() == "-42.00"
    assert kpis["win rate"].detail == "3 of 7 trades" and "2025-01-02" in kpis["worst daily drawdown"].detail


def test_win_rate_of_exactly_55_percent_passes_computed_from_trades() -> None:
    wins = [closed_position(f"P{i}", BTC, "1", "0.1", at(1, 1), at(1, 2), "tp1") for i in range(11)]
    losses = [closed_position(f"P{i}", BTC, "-1", "0.1", at(1, 1), at(1, 2), "sl") for i in range(11, 20)]
    kpi = by_name(compute_metrics(wins + losses, BALANCE, START, END))["win rate"]
    assert kpi.actual == Decimal(55) and kpi.passed and kpi.actual_text() == "55.00 %"
    one_more_loss = losses + [closed_position("P20", BTC, "-1", "0.1", at(1, 1), at(1, 2), "sl")]
    assert not by_name(compute_metrics(wins + one_more_loss, BALANCE, START, END))["win rate"].passed


@pytest.mark.parametrize(
    ("actual", "passed", "shown"),
    [
        ("55", True, "55.00 %"),
        ("55.001", True, "55.00 %"),
        ("54.999", False, "54.99 %"),  # never shown as 55.00
        ("54.9999999", False, "54.99 %"),
    ],
)
def test_win_rate_threshold(actual: str, passed: bool, shown: str) -> None:
    metrics = replace(compute_metrics([], BALANCE, START, END), win_rate_pct=Decimal(actual))
    kpi = by_name(metrics)["win rate"]
    assert (kpi.passed, kpi.actual_text(), kpi.mark) == (passed, shown, "✔" if passed else "✘")


@pytest.mark.parametrize(
    ("loss", "passed", "shown"),
    [
        ("-50", True, "5.00 %"),  # exactly 5 % of the day's start of 1000
        ("-49.99", True, "5.00 %"),  # 4.999 % rounded up still reads as within the limit
        ("-50.01", False, "5.01 %"),  # 5.001 % is never shown as 5.00
        ("-10", True, "1.00 %"),
    ],
)
def test_daily_drawdown_threshold(loss: str, passed: bool, shown: str) -> None:
    history = [closed_position("P1", BTC, loss, "1", at(1, 1), at(1, 2), "sl")]
    kpi = by_name(compute_metrics(history, BALANCE, START, END))["worst daily drawdown"]
    assert (kpi.passed, kpi.actual_text()) == (passed, shown)


@pytest.mark.parametrize(
    ("net", "passed", "shown"),
    [
        ("0", False, "0.00"),
        ("0.001", True, "0.001"),  # too small for 2 places: shown exactly rather than "0.00" next to a pass
        ("-0.001", False, "-0.01"),
        ("12.349", True, "12.34"),
    ],
)
def test_net_pnl_must_be_positive(net: str, passed: bool, shown: str) -> None:
    metrics = replace(compute_metrics([], BALANCE, START, END), net_pnl=Decimal(net))
    kpi = by_name(metrics)["net PnL"]
    assert (kpi.passed, kpi.actual_text()) == (passed, shown)


def test_custom_thresholds() -> None:
    metrics = compute_metrics(sample_history(), BALANCE, START, END)
    kpis = check_kpis(metrics, min_win_rate_pct=Decimal(40), max_daily_drawdown_pct=Decimal(6))
    assert [k.passed for k in kpis] == [True, True, False]
