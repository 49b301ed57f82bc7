"""What a trial is scored on: the backtest's report figures (engine.report.metrics) plus the ratios the
report does not compute (Sharpe, Sortino, Calmar) from the run's daily returns, and the constraints.

Ratios are annualised over 365 days (perpetuals trade every day). Figures are floats: they go to Optuna
and to CSV; money stays Decimal in the report the figures come from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.errors import UserError
from engine.optimize.space import Constraints
from engine.report.metrics import Metrics

DAYS_PER_YEAR = 365
# A run without a losing trade has no profit factor; Optuna needs a number, and a cap keeps one lucky
# trade from ranking above every sound set-up.
PROFIT_FACTOR_CAP = 10.0


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" or "minimize"
    what: str


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("net_pnl", "maximize", "net PnL after fees"),
    Objective("sharpe", "maximize", "annualised Sharpe ratio of daily returns"),
    Objective("sortino", "maximize", "annualised Sortino ratio of daily returns"),
    Objective("calmar", "maximize", "annualised return / max drawdown"),
    Objective("profit_factor", "maximize", f"gross profit / gross loss (capped at {PROFIT_FACTOR_CAP:g})"),
    Objective("win_rate_pct", "maximize", "share of winning trades, %"),
    Objective("max_drawdown_pct", "minimize", "largest fall of equity from its peak, %"),
)}


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """`sharpe` or several separated by commas (`net_pnl,max_drawdown_pct`: a Pareto front)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OBJECTIVES]
    if not names or unknown:
        raise UserError(f"--objective {text!r}: expected one or more of {', '.join(OBJECTIVES)} separated by commas")
    if len(set(names)) != len(names):
        raise UserError(f"--objective {text!r}: an objective is named twice")
    return tuple(OBJECTIVES[n] for n in names)


def daily_returns(metrics: Metrics) -> list[float]:
    """Each UTC day's PnL as a fraction of the equity it started with (every day of the run)."""
    equity = float(metrics.starting_balance)
    out = []
    for pnl in metrics.daily_pnl.tolist():
        out.append(pnl / equity if equity > 0 else 0.0)
        equity += pnl
    return out


def sharpe(returns: list[float], annualise: bool = True) -> float:
    n = len(returns)
    if n < 2:
        return 0.0
    mean = sum(returns) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    if sd == 0:
        return 0.0
    return mean / sd * (math.sqrt(DAYS_PER_YEAR) if annualise else 1.0)


def sortino(returns: list[float]) -> float:
    n = len(returns)
    if n < 2:
        return 0.0
    mean = sum(returns) / n
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
    if downside == 0:
        return 0.0
    return mean / downside * math.sqrt(DAYS_PER_YEAR)


def figures(metrics: Metrics) -> dict[str, Any]:
    """Every figure a trial reports: the objectives, the constraints' inputs and context."""
    returns = daily_returns(metrics)
    days = max(len(returns), 1)
    final = float(metrics.final_equity)
    start = float(metrics.starting_balance)
    annual = (final / start) ** (DAYS_PER_YEAR / days) - 1 if final > 0 else -1.0
    dd = float(metrics.max_drawdown_pct)
    pf = metrics.profit_factor
    worst = metrics.worst_day
    return {
        "trades": metrics.trades,
        "win_rate_pct": float(metrics.win_rate_pct),
        "net_pnl": float(metrics.net_pnl),
        "fees": float(metrics.fees),
        "return_pct": float(metrics.return_pct),
        "max_drawdown_pct": dd,
        "worst_day_pct": 0.0 if worst is None or worst.start_equity == 0
        else float(worst.pnl / worst.start_equity * Decimal(100)),
        "sharpe": sharpe(returns),
        "sortino": sortino(returns),
        "calmar": annual * 100 / dd if dd > 0 else 0.0,
        "profit_factor": min(float(pf), PROFIT_FACTOR_CAP) if pf is not None
        else (PROFIT_FACTOR_CAP if metrics.gross_profit > 0 else 0.0),
        "daily_returns": returns,
    }


def violations(values: dict[str, Any], constraints: Constraints) -> dict[str, float]:
    """Optuna's constraint values by name: each ≤ 0 when met (else the amount by which it is missed)."""
    out = {}
    if constraints.min_trades is not None:
        out["min_trades"] = float(constraints.min_trades - values["trades"])
    if constraints.max_drawdown_pct is not None:
        out["max_drawdown_pct"] = values["max_drawdown_pct"] - constraints.max_drawdown_pct
    if constraints.min_win_rate_pct is not None:
        out["min_win_rate_pct"] = constraints.min_win_rate_pct - values["win_rate_pct"]
    return out
