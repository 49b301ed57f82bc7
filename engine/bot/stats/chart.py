"""The equity picture /performance sends: equity after each close on top, drawdown below, as PNG bytes
small enough for a phone (drawn on a private Agg canvas: no display, no global pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.report.metrics import drawdown_pct_series


def equity_png(points: Sequence[tuple[datetime, Decimal]], *, title: str = "Equity") -> bytes:
    """PNG of an equity curve. Raises ValueError for an empty curve (there is nothing to draw)."""
    if not points:
        raise ValueError("no equity points to draw")
    equity = pd.Series([float(v) for _, v in points], index=pd.DatetimeIndex([t for t, _ in points]))
    drawdown = drawdown_pct_series(equity)
    times = list(equity.index.to_pydatetime())
    fig = Figure(figsize=(6.4, 4.0), dpi=110)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.step(times, equity.to_numpy(), where="post", color="tab:blue", linewidth=1.4)
    top.axhline(equity.iloc[0], color="grey", linewidth=0.8, linestyle="--")
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    bottom.fill_between(times, drawdown.to_numpy(), 0.0, step="post", color="tab:red", alpha=0.4)
    bottom.set_ylabel("DD %")
    bottom.grid(alpha=0.3)
    fig.suptitle(title, fontweight="bold")
    fig.autofmt_xdate()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
