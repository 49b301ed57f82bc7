"""The seed's KPIs, checked against a run's Metrics: win-rate ≥ 55 %, worst daily drawdown ≤ 5 %, net PnL > 0.

Pass/fail is decided on the exact Decimal values; a value exactly on the threshold of a "≥" or "≤" KPI
passes. Displayed values are never rounded towards passing: a "≥" figure is rounded down, a "≤" figure
up, and when even that would make the shown number disagree with the verdict the exact value is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from engine.report.metrics import Metrics

DEFAULT_MIN_WIN_RATE_PCT = Decimal(55)
DEFAULT_MAX_DAILY_DRAWDOWN_PCT = Decimal(5)


class Comparison(StrEnum):
    AT_LEAST = "≥"
    AT_MOST = "≤"
    ABOVE = ">"

    def holds(self, actual: Decimal, target: Decimal) -> bool:
        if self is Comparison.AT_LEAST:
            return actual >= target
        if self is Comparison.AT_MOST:
            return actual <= target
        return actual > target


@dataclass(frozen=True, slots=True)
class Kpi:
    name: str
    target: Decimal
    actual: Decimal
    comparison: Comparison
    unit: str = ""  # "%" or "" (money)
    detail: str = ""  # what the actual is made of, e.g. "11 of 20 trades"

    @property
    def passed(self) -> bool:
        return self.comparison.holds(self.actual, self.target)

    @property
    def mark(self) -> str:
        return "✔" if self.passed else "✘"

    def target_text(self) -> str:
        return f"{self.comparison} {_plain(self.target)}{self._unit()}"

    def actual_text(self, places: int = 2) -> str:
        """The actual value rounded against the KPI (never towards passing)."""
        rounding = ROUND_CEILING if self.comparison is Comparison.AT_MOST else ROUND_FLOOR
        shown = self.actual.quantize(Decimal(1).scaleb(-places), rounding=rounding)
        # e.g. a PnL of +0.001 would read "0.00" next to a pass: show it exactly instead
        misleading = self.comparison.holds(shown, self.target) != self.passed
        return f"{_plain(self.actual) if misleading else shown}{self._unit()}"

    def _unit(self) -> str:
        return f" {self.unit}" if self.unit else ""


def check_kpis(
    metrics: Metrics,
    *,
    min_win_rate_pct: Decimal = DEFAULT_MIN_WIN_RATE_PCT,
    max_daily_drawdown_pct: Decimal = DEFAULT_MAX_DAILY_DRAWDOWN_PCT,
) -> tuple[Kpi, ...]:
    """The three KPIs in display order. A run without trades fails the win-rate and PnL KPIs."""
    worst = metrics.max_daily_drawdown
    return (
        Kpi(
            "win rate",
            Decimal(min_win_rate_pct),
            metrics.win_rate_pct,
            Comparison.AT_LEAST,
            "%",
            f"{metrics.wins} of {metrics.trades} trades",
        ),
        Kpi(
            "worst daily drawdown",
            Decimal(max_daily_drawdown_pct),
            metrics.max_daily_drawdown_pct,
            Comparison.AT_MOST,
            "%",
            "no closes" if worst is None else f"{worst.day.isoformat()} (UTC)",
        ),
        Kpi("net PnL", Decimal(0), metrics.net_pnl, Comparison.ABOVE, "", "after all fees"),
    )


def all_passed(kpis: Iterable[Kpi]) -> bool:
    return all(k.passed for k in kpis)


def _plain(value: Decimal) -> str:
    """A Decimal without exponent notation or trailing zeros: 55, 5.5, 0.001."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
