"""What a download shows while it runs and when it ends.

On a terminal: a rich progress bar per symbol (all its timeframes and funding together) and one overall.
In a pipe or a log file bars would be noise, so plain lines are printed instead: one per finished symbol
and one per problem. The summary table is the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.market.download.plan import iso

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class SeriesReport:
    """One series after a run (or as `--check` finds it). `first`/`last`: open times in ms."""

    venue_id: str
    timeframe: str  # or "funding"
    rows: int
    first: int | None
    last: int | None
    from_archive: int = 0  # rows this run took from the archive
    from_fapi: int = 0  # rows this run took from the fapi
    gaps: list[tuple[int, int]] = field(default_factory=list)  # klines only: runs of missing candles
    problems: list[str] = field(default_factory=list)


class Progress:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._left: dict[str, int] = {}
        self._overall: Any = None

    def start(self, series: list[tuple[str, str, int]]) -> None:
        """`series`: (venue id, timeframe, units to fetch) of every series with work to do."""
        for venue_id, _, units in series:
            self._left[venue_id] = self._left.get(venue_id, 0) + units
        total = sum(self._left.values())
        if not self.console.is_terminal:
            self.console.print(f"download: {total} files/requests for {len(self._left)} symbols")
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self._bars = Bars(TextColumn("{task.description:>14}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=self.console)
        self._bars.start()
        self._overall = self._bars.add_task("[bold]all", total=total)
        for venue_id, units in self._left.items():
            self._tasks[venue_id] = self._bars.add_task(venue_id, total=units)

    def advance(self, venue_id: str, timeframe: str) -> None:
        self._left[venue_id] -= 1
        if self._bars is not None:
            self._bars.advance(self._tasks[venue_id])
            self._bars.advance(self._overall)
        elif self._left[venue_id] == 0:
            self.console.print(f"{venue_id}: done")

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]{message}[/]" if self._bars is not None else message)

    def stop(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


def _when(ms: int | None) -> str:
    return iso(ms) if ms is not None else "-"


def _gaps_text(report: SeriesReport, limit: int = 3) -> str:
    if report.timeframe == "funding":
        return "-"
    if not report.gaps:
        return "0"
    shown = ", ".join(f"{iso(a)}..{iso(b)}" for a, b in report.gaps[:limit])
    more = f", … {len(report.gaps) - limit} more" if len(report.gaps) > limit else ""
    return f"{len(report.gaps)}: {shown}{more}"


def print_summary(reports: list[SeriesReport], console: Console, title: str, *, sources: bool = True) -> None:
    """symbol, timeframe, candles, first, last, (from archive, from fapi,) gaps — then any problems."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns = ["symbol", "timeframe", "candles", "first", "last"]
    columns += ["from archive", "from fapi"] if sources else []
    for name in [*columns, "gaps"]:
        table.add_column(name, justify="right" if name in ("candles", "from archive", "from fapi") else "left")
    for r in reports:
        row = [r.venue_id, r.timeframe, f"{r.rows:,}", _when(r.first), _when(r.last)]
        row += [f"{r.from_archive:,}", f"{r.from_fapi:,}"] if sources else []
        table.add_row(*row, _gaps_text(r))
    console.print(table)
    for r in reports:
        for problem in r.problems:
            console.print(f"problem: {r.venue_id} {r.timeframe}: {problem}")
