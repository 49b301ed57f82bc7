"""The equity PNG: drawn here or in a worker process started while the backtest runs.

matplotlib costs a backtest command about a second to import and half a second to draw, and 30 MB; the
backtest itself has no use for it. `PngWorker` starts `python -m engine.report.equity_png` at the start of
the command: it imports matplotlib on the other core while the engine runs, then draws the chart it is
sent (pickled over its stdin) while the command prints the report and writes trades.csv. `draw` is the
same drawing in this process (tests, and the fallback when no worker could be started).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class EquityChart:
    """What the PNG shows, in plain values (so it pickles small and draws without the metrics)."""

    times: list[datetime]
    equity: list[float]
    drawdown_pct: list[float]
    starting_balance: float
    title: str
    subtitle: str
    changes: Sequence[object] = ()  # engine.report.bot_changes.BotChange


def draw(chart: EquityChart, path: Path) -> Path:
    """Equity (a step line after each close) on top, drawdown from the running peak in % below, on a private
    Agg canvas (no display, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from engine.report.bot_changes import mark_bot_changes

    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(11, 6.5), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.step(chart.times, chart.equity, where="post", color="tab:blue", linewidth=1.4)
    top.axhline(chart.starting_balance, color="grey", linewidth=0.8, linestyle="--")
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    mark_bot_changes(top, chart.changes)  # type: ignore[arg-type]
    bottom.fill_between(chart.times, chart.drawdown_pct, 0.0, step="post", color="tab:red", alpha=0.4)
    bottom.step(chart.times, chart.drawdown_pct, where="post", color="tab:red", linewidth=1.0)
    bottom.set_ylabel("drawdown %")
    bottom.set_xlabel("time (UTC)")
    bottom.grid(alpha=0.3)
    fig.suptitle(chart.title, fontweight="bold")
    top.set_title(chart.subtitle, fontsize=9)
    fig.autofmt_xdate()
    fig.savefig(path, format="png")
    return path


class PngWorker:
    """A process that has matplotlib imported by the time a chart is ready; one chart per worker."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # where `engine` is, whatever the working folder
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            self._child: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "engine.report.equity_png"], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        except OSError:
            self._child = None  # drawn in this process instead
        self._pending: tuple[EquityChart, Path] | None = None

    def draw(self, chart: EquityChart, path: Path) -> None:
        """Hand the chart over (drawn in this process if the worker is gone); `wait` for the file."""
        child = self._child
        if child is not None and child.poll() is None and child.stdin is not None:
            try:
                child.stdin.write(pickle.dumps((chart, path)))
                child.stdin.close()
                self._pending = (chart, path)
                return
            except OSError:
                pass
        self.close()
        draw(chart, path)

    def wait(self) -> Path | None:
        """The PNG's path once written; a worker that failed is replaced by drawing here."""
        if self._pending is None or self._child is None:
            return None
        chart, path = self._pending
        err = self._child.stderr.read() if self._child.stderr is not None else b""  # (stdin is already closed)
        self._child.wait()
        self._pending = None
        if self._child.returncode != 0:  # never silently without a chart: draw it here, which raises if it fails
            sys.stderr.write(err.decode(errors="replace")[-2000:])
            return draw(chart, path)
        return path

    def close(self) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.wait()
        self._child = None


def _serve() -> None:
    import matplotlib.backends.backend_agg  # noqa: F401 - imported while the backtest runs
    import matplotlib.figure  # noqa: F401

    payload = sys.stdin.buffer.read()
    if not payload:  # the command ended without a chart (an error, Ctrl+C)
        return
    chart, path = pickle.loads(payload)  # noqa: S301 - our own parent process wrote it
    draw(chart, Path(path))


if __name__ == "__main__":
    _serve()
