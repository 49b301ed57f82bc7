"""compute_metrics on hand-built history records, every figure computed by hand in the docstrings."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from engine.report.metrics import Metrics, compute_metrics, drawdown_pct_series, parse_trades
from engine.store.history import History
from tests.report.support import BALANCE, BTC, END, ETH, SOL, START, at, closed_position, sample_history


@pytest.fixture
def metrics() -> Metrics:
    return compute_metrics(sample_history(), BALANCE, START, END)


def test_rejected_entries_are_not_trades(metrics: Metrics) -> None:
    assert metrics.trades == 7
    assert metrics.excluded == 1 and metrics.excluded_pnl == 0
    trades, excluded, _ = parse_trades(sample_history())
    assert "P7" not in {t.id for t in trades} and excluded == 1


def test_an_unfilled_entry_is_not_a_trade_but_its_pnl_is_reported() -> None:
    # entry timed out, emergency close found nothing, fees of the blind close were still paid
    history = [closed_position("P1", BTC, "-0.05", "0.05", None, at(1, 5), "emergency")]
    m = compute_metrics(history, BALANCE, START, END)
    assert m.trades == 0 and m.excluded == 1 and m.excluded_pnl == Decimal("-0.05")


def test_counts_win_rate_pnl_and_fees(metrics: Metrics) -> None:
    assert (metrics.wins, metrics.losses) == (3, 4)
    assert metrics.win_rate_pct == Decimal(3) / Decimal(7) * 100
    assert metrics.net_pnl == Decimal(-42)  # 30 − 20 − 60 + 10 + 5 − 5 − 2
    assert metrics.fees == Decimal("6.2")
    assert metrics.gross_profit == 45 and metrics.gross_loss == 87
    assert metrics.profit_factor == Decimal(45) / Decimal(87)
    assert metrics.expectancy == Decimal(-6)
    assert metrics.avg_win == 15 and metrics.avg_loss == Decimal("-21.75")
    assert metrics.final_equity == Decimal(958) and metrics.return_pct == Decimal("-4.2")


def test_pnl_per_hour_is_over_the_runs_duration(metrics: Metrics) -> None:
    assert metrics.duration == timedelta(hours=48)
    assert metrics.pnl_per_hour == Decimal("-0.875")  # −42 / 48 h


def test_average_hold(metrics: Metrics) -> None:
    # 30 + 5 + 10 + 20 + 2 + 60 + 1 minutes over 7 trades
    assert metrics.avg_hold == timedelta(minutes=128) / 7


def test_max_drawdown_on_the_equity_curve(metrics: Metrics) -> None:
    # peak 1030 (after P1), trough 950 (after P3)
    assert metrics.max_drawdown == Decimal(80)
    assert metrics.max_drawdown_pct == Decimal(80) / Decimal(1030) * 100


def test_days_are_utc_and_a_trade_counts_on_its_closing_day(metrics: Metrics) -> None:
    worst, best = metrics.worst_day, metrics.best_day
    assert worst is not None and best is not None
    assert worst.day == date(2025, 1, 2) and worst.pnl == Decimal(-52) and worst.trades == 5
    assert worst.start_equity == Decimal(1010)
    assert worst.drawdown_pct == Decimal(60) / Decimal(1010) * 100  # 1010 → low of 950
    assert best.day == date(2025, 1, 1) and best.pnl == Decimal(10) and best.drawdown_pct == 0
    assert metrics.max_daily_drawdown == worst


def test_daily_drawdown_is_the_intraday_low_not_the_close_of_the_day() -> None:
    """−60 then +59 ends the day at −1 but went 6 % below the day's start."""
    history = [
        closed_position("P1", BTC, "-60", "1", at(1, 1), at(1, 2), "sl"),
        closed_position("P2", BTC, "59", "1", at(1, 3), at(1, 4), "tp1"),
    ]
    m = compute_metrics(history, BALANCE, START, END)
    assert m.worst_day is not None and m.worst_day.pnl == -1
    assert m.max_daily_drawdown_pct == Decimal(6)


def test_a_later_day_starts_from_the_previous_days_close() -> None:
    history = [
        closed_position("P1", BTC, "200", "1", at(1, 1), at(1, 2), "tp1"),
        closed_position("P2", BTC, "-60", "1", at(2, 3), at(2, 4), "sl"),
    ]
    m = compute_metrics(history, BALANCE, START, END)
    assert m.max_daily_drawdown is not None
    assert m.max_daily_drawdown.start_equity == 1200 and m.max_daily_drawdown_pct == 5


def test_per_symbol_sorted_by_net_pnl(metrics: Metrics) -> None:
    rows = [(r.symbol, r.trades, r.wins, r.net_pnl) for r in metrics.by_symbol]
    assert rows == [(SOL, 1, 1, Decimal(5)), (ETH, 3, 1, Decimal(-12)), (BTC, 3, 1, Decimal(-35))]
    assert metrics.by_symbol[1].win_rate_pct == Decimal(1) / Decimal(3) * 100


def test_exit_reason_table_by_final_exit(metrics: Metrics) -> None:
    table = {r.reason: (r.count, r.net_pnl, r.avg_pnl) for r in metrics.by_exit_reason}
    assert list(table) == ["TP1", "TP2", "TP3", "SL", "max hold", "emergency", "other"]
    assert table == {
        "TP1": (1, Decimal(5), Decimal(5)),
        "TP2": (0, Decimal(0), Decimal(0)),
        "TP3": (1, Decimal(30), Decimal(30)),
        "SL": (2, Decimal(-80), Decimal(-40)),
        "max hold": (1, Decimal(10), Decimal(10)),
        "emergency": (1, Decimal(-2), Decimal(-2)),
        "other": (1, Decimal(-5), Decimal(-5)),
    }
    assert metrics.by_exit_reason[-1].raw_reasons == ("close_requested",)
    assert sum(r.count for r in metrics.by_exit_reason) == metrics.trades


def test_equity_series_is_indexed_by_close_time(metrics: Metrics) -> None:
    equity = metrics.equity
    assert equity.index[0] == pd.Timestamp(START) and equity.iloc[0] == 1000
    assert equity.index.is_monotonic_increasing and str(equity.index.tz) == "UTC"
    assert list(equity) == [1000, 1030, 1010, 950, 960, 965, 960, 958]
    assert equity.index[3] == pd.Timestamp(at(2, 0, 10))
    dd = drawdown_pct_series(equity)
    assert dd.min() == pytest.approx(-80 / 1030 * 100) and dd.iloc[0] == 0


def test_daily_pnl_series_covers_every_day_of_the_run(metrics: Metrics) -> None:
    daily = metrics.daily_pnl
    assert [d.date() for d in daily.index] == [date(2025, 1, 1), date(2025, 1, 2)]  # the run ends at midnight
    assert list(daily) == [10.0, -52.0]
    longer = compute_metrics(sample_history(), BALANCE, START, END + timedelta(days=1, hours=1))
    assert list(longer.daily_pnl) == [10.0, -52.0, 0.0, 0.0]


def test_empty_run_gives_zeros() -> None:
    m = compute_metrics([], BALANCE, START, END)
    assert (m.trades, m.wins, m.losses) == (0, 0, 0)
    assert m.win_rate_pct == m.net_pnl == m.fees == m.pnl_per_hour == m.expectancy == 0
    assert m.max_drawdown == m.max_drawdown_pct == m.max_daily_drawdown_pct == 0
    assert m.avg_hold == timedelta(0) and m.profit_factor is None
    assert m.worst_day is None and m.best_day is None
    assert m.by_symbol == () and all(r.count == 0 for r in m.by_exit_reason)
    assert list(m.equity) == [1000.0] and list(m.daily_pnl) == [0.0, 0.0]


def test_no_losses_means_no_profit_factor() -> None:
    m = compute_metrics([closed_position("P1", BTC, "3", "1", at(1, 1), at(1, 2), "tp1")], BALANCE, START, END)
    assert m.profit_factor is None and m.win_rate_pct == 100


def test_break_even_trades_count_against_the_win_rate() -> None:
    history = [
        closed_position("P1", BTC, "3", "1", at(1, 1), at(1, 2), "tp1"),
        closed_position("P2", BTC, "0", "1", at(1, 3), at(1, 4), "sl"),
    ]
    m = compute_metrics(history, BALANCE, START, END)
    assert (m.wins, m.losses, m.win_rate_pct) == (1, 0, 50)


def test_zero_length_run_has_no_hourly_rate() -> None:
    assert compute_metrics(sample_history(), BALANCE, START, START).pnl_per_hour == 0


@pytest.mark.parametrize("balance", [Decimal(0), Decimal(-1)])
def test_refuses_a_non_positive_balance(balance: Decimal) -> None:
    with pytest.raises(ValueError, match="starting balance"):
        compute_metrics([], balance, START, END)


def test_refuses_a_run_that_ends_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        compute_metrics([], BALANCE, END, START)


def test_reads_records_back_from_a_history_file(tmp_path: Path) -> None:
    history = History(tmp_path / "history.jsonl")
    for record in sample_history():
        history.append(record)
    history.close()
    records = list(History(tmp_path / "history.jsonl"))
    assert records == json.loads(json.dumps(sample_history()))
    assert compute_metrics(records, BALANCE, START, END) == compute_metrics(sample_history(), BALANCE, START, END)


def test_trade_size_is_the_planned_qty() -> None:
    trades, _, _ = parse_trades(sample_history())
    sol = next(t for t in trades if t.symbol == SOL)
    assert sol.qty == Decimal("1.5")
    assert [t.id for t in trades] == ["P1", "P2", "P3", "P4", "P5", "P6", "P8"]  # close order
