"""The closed trades of a state folder (its `history.jsonl`), read incrementally, and the figures the
overview shows from them (equity after each close, drawdown, today's and all-time PnL, win-rate)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from engine.report.metrics import Trade, parse_trades
from engine.store.sealed import unseal
from engine.web.tail import appended_lines

ZERO = Decimal(0)
MAX_POINTS = 1500  # a chart of 17 000 closes draws no better than of 1 500, and costs ten times more


@dataclass(frozen=True)
class PnlFigures:
    trades: int
    wins: int
    net_pnl: Decimal
    fees: Decimal
    today_trades: int
    today_pnl: Decimal

    @property
    def win_rate_pct(self) -> Decimal:
        return Decimal(self.wins) * 100 / self.trades if self.trades else ZERO


class TradeLog:
    """`history.jsonl` as `Trade`s in close order; `refresh()` reads only what was appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.trades: list[Trade] = []
        self.excluded = 0  # closed positions that were not trades (rejected, never filled)
        self._end = 0
        self._memo: dict[str, tuple[tuple, object]] = {}

    def memo(self, name: str, key: tuple, compute):  # noqa: ANN001, ANN201
        """`compute()` again only when the trades (or `key`) changed: pages polled every second redraw
        the same figures from the same trades."""
        full = (len(self.trades), self._end, *key)
        hit = self._memo.get(name)
        if hit is None or hit[0] != full:
            hit = (full, compute())
            self._memo[name] = hit
        return hit[1]

    def refresh(self) -> int:
        lines, self._end = appended_lines(self.path, self._end)
        records = []
        for raw in lines:
            try:
                records.append(unseal(raw)[0])
            except ValueError:
                continue  # `repair` reports damage; a dashboard shows what reads
        trades, excluded, _ = parse_trades(records)
        self.excluded += excluded
        self.trades.extend(trades)
        if trades:
            self.trades.sort(key=lambda t: t.closed_at)
        return len(trades)

    def figures(self, today: date) -> PnlFigures:
        wins = sum(1 for t in self.trades if t.realised_pnl > 0)
        todays = [t for t in self.trades if t.closed_at.date() == today]
        return PnlFigures(len(self.trades), wins, sum((t.realised_pnl for t in self.trades), ZERO),
                          sum((t.fees for t in self.trades), ZERO), len(todays),
                          sum((t.realised_pnl for t in todays), ZERO))


def equity_points(trades: list[Trade], start: Decimal) -> tuple[list[str], list[float], list[float]]:
    """(close times, equity after each close, drawdown % below the running peak) for the chart; the
    first point is the starting equity just before the first close. Past MAX_POINTS closes every n-th
    point is kept, and always the last one and the deepest drawdown (the figure a reader looks for)."""
    if not trades:
        return [], [], []
    times = [trades[0].opened_at.isoformat()]
    equity = [start]
    for t in trades:
        times.append(t.closed_at.isoformat())
        equity.append(equity[-1] + t.realised_pnl)
    peak = equity[0]
    drawdown = []
    for value in equity:
        peak = max(peak, value)
        drawdown.append(float((value - peak) / peak * 100) if peak > 0 else 0.0)
    if len(times) > MAX_POINTS:
        every = -(-len(times) // MAX_POINTS)
        kept = sorted({*range(0, len(times), every), len(times) - 1, drawdown.index(min(drawdown))})
        return [times[i] for i in kept], [float(equity[i]) for i in kept], [drawdown[i] for i in kept]
    return times, [float(v) for v in equity], drawdown


def equity_figure(trades: list[Trade], start: Decimal | None) -> dict:
    """The plotly figure of equity after each close (cumulative PnL when the start is unknown) over
    its drawdown below the running peak, on a second axis."""
    name = "equity" if start is not None else "cumulative PnL"
    times, equity, drawdown = equity_points(trades, start if start is not None else ZERO)
    return {
        "data": [
            {"x": times, "y": drawdown, "type": "scatter", "mode": "lines", "name": "drawdown %", "yaxis": "y2",
             "fill": "tozeroy", "fillcolor": "rgba(198,40,40,0.18)", "line": {"color": "#c62828", "width": 1}},
            {"x": times, "y": equity, "type": "scatter", "mode": "lines", "name": name,
             "line": {"color": "#1565c0", "width": 2}},
        ],
        "layout": {"margin": {"l": 55, "r": 55, "t": 20, "b": 40}, "legend": {"orientation": "h", "y": -0.2},
                   "yaxis": {"title": {"text": name}},
                   "yaxis2": {"title": {"text": "drawdown %"}, "overlaying": "y", "side": "right",
                              "tickformat": ".2f", "rangemode": "tozero"}},
    }
