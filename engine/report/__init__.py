"""The backtest / paper performance report: metrics from closed positions, the seed's KPIs, and their
rendering (rich tables, trades CSV, equity PNG)."""

from engine.report.kpis import Comparison, Kpi, all_passed, check_kpis
from engine.report.metrics import (
    DayResult,
    EntryFills,
    ExitReasonStats,
    Metrics,
    SymbolStats,
    Trade,
    compute_metrics,
    drawdown_pct_series,
    parse_trades,
)
from engine.report.render import plot_equity, print_report, write_trades_csv

__all__ = [
    "Comparison",
    "DayResult",
    "EntryFills",
    "ExitReasonStats",
    "Kpi",
    "Metrics",
    "SymbolStats",
    "Trade",
    "all_passed",
    "check_kpis",
    "compute_metrics",
    "drawdown_pct_series",
    "parse_trades",
    "plot_equity",
    "print_report",
    "write_trades_csv",
]
