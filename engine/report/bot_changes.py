"""When a run's bot changed state (halts, cool-downs, the equity hard stop…), read from its journal,
with the equity at that moment: the report's table and the marks on the equity PNG.

The bot machine's transitions are bot records of the run's journal (`engine.store.journal.
is_bot_transition`), so the backtest needs to keep nothing else. The equity is the one the hard stop
measured (marked to market, unrealised PnL included) where the record carries it, else the realised
equity of the run's trades closed by then (the report's own curve).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from rich import box
from rich.table import Table

from engine.store.journal import damage_remedy, is_bot_transition
from engine.store.sealed import LineChecker

MAX_ROWS = 40  # a long run halts most days: the table shows the first ones and counts the rest

# How each kind of change is drawn on the equity PNG (colour, line style).
STYLES: dict[str, tuple[str, str]] = {
    "halted": ("tab:orange", ":"),
    "cooling_down": ("tab:purple", ":"),
    "flattening": ("tab:red", "-"),
    "stopped_out": ("black", "-"),
    "paused": ("tab:grey", "--"),
}


@dataclass(frozen=True, slots=True)
class BotChange:
    at: datetime
    event: str
    source: str
    dest: str
    reason: str
    equity: Decimal | None
    marked: bool  # the equity is marked to market (the hard stop's), not realised


def read_bot_changes(journal: Path, equity: pd.Series | None = None) -> list[BotChange]:
    """The bot machine's changes of state in `journal`, oldest first (self-transitions left out).
    `equity` is the run's realised equity curve (Metrics.equity), read at each change's time where the
    record carries no equity of its own. Empty when the journal does not exist."""
    if not journal.is_file():
        return []
    out = []
    for record in _bot_transitions(journal):
        if record["from"] == record["to"]:
            continue
        at = datetime.fromisoformat(record["time"])
        marked = (record.get("payload") or {}).get("equity")
        value = Decimal(marked) if marked is not None else _at(equity, at)
        out.append(BotChange(at, record["event"], record["from"], record["to"], str(record.get("reason") or ""),
                             value, marked is not None))
    return out


def _bot_transitions(journal: Path) -> list[dict[str, Any]]:
    """The bot machine's transitions of a journal, each line checked as the journal's reader checks it. A
    run's journal holds ~5 records per trade and a handful of these: a line without a `"machine"` key
    cannot be one and is passed over unparsed (reading all of a 26,000-trade run's took half a second)."""
    checker = LineChecker(journal, damage_remedy(journal))
    out = []
    with journal.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if b'"machine"' in raw and raw.endswith(b"\n") and is_bot_transition(record := checker.check(raw, number)):
                out.append(record)
    return out


def _at(equity: pd.Series | None, at: datetime) -> Decimal | None:
    if equity is None or equity.empty:
        return None
    before = equity[equity.index <= pd.Timestamp(at)]
    return Decimal(str(before.iloc[-1] if len(before) else equity.iloc[0]))


def bot_changes_table(changes: Sequence[BotChange]) -> Table:
    table = Table(title="Bot state changes (machines/bot.yaml)", title_justify="left", box=box.HEAVY_HEAD,
                  show_edge=False)
    for column, justify in (("time (UTC)", "left"), ("event", "left"), ("from → to", "left"),
                            ("equity", "right"), ("why", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for change in changes[:MAX_ROWS]:
        equity = "—" if change.equity is None else f"{change.equity:,.2f}" + (" (marked)" if change.marked else "")
        table.add_row(f"{change.at:%Y-%m-%d %H:%M}", change.event, f"{change.source} → {change.dest}", equity,
                      change.reason[:90])
    if len(changes) > MAX_ROWS:
        counts: dict[str, int] = {}
        for change in changes[MAX_ROWS:]:
            counts[change.event] = counts.get(change.event, 0) + 1
        table.add_row("…", ", ".join(f"{n} × {e}" for e, n in counts.items()), "", "", "more, not shown")
    return table


def mark_bot_changes(axes: Any, changes: Sequence[BotChange]) -> None:
    """A vertical line at each change into a state that stops entries (its colour says which), labelled once."""
    labelled: set[str] = set()
    for change in changes:
        style = STYLES.get(change.dest)
        if style is None:
            continue
        colour, line = style
        label = None if change.dest in labelled else change.dest.replace("_", " ")
        labelled.add(change.dest)
        axes.axvline(change.at, color=colour, linestyle=line, linewidth=1.0, alpha=0.8, label=label)
    if labelled:
        axes.legend(loc="best", fontsize=8)
