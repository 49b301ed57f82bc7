"""The report's bot state changes: read from a journal's bot machine records, with the equity the record
carries (marked) or the realised curve's at that time; self-transitions and other bot records left out;
the table and the PNG marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console

from engine.report.bot_changes import MAX_ROWS, bot_changes_table, mark_bot_changes, read_bot_changes
from engine.store.journal import Journal

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def transition(event: str, source: str, dest: str, at: datetime, **payload: str) -> dict:
    return {"machine": "bot", "time": at.isoformat(), "event": event, "from": source, "to": dest, "by": "engine",
            "reason": f"{event} reason", "payload": payload, "deadline_at": None}


def write(tmp_path: Path, moves: list[dict]) -> Path:
    journal = Journal(tmp_path / "journal.jsonl", sync=False)
    journal.open()
    journal.write_bot({"paper_cursor": 1})  # a plain bot record: state, not a change
    for move in moves:
        journal.write_bot({"bot_machine": {"state": move["to"]}}, move)
    journal.close()
    return tmp_path / "journal.jsonl"


def test_changes_carry_the_marked_equity_or_the_realised_one(tmp_path: Path) -> None:
    path = write(tmp_path, [
        transition("loss_limit", "running", "halted", T0 + timedelta(hours=1)),
        transition("profile", "halted", "halted", T0 + timedelta(hours=2)),  # not a change of state
        transition("new_day", "halted", "running", T0 + timedelta(hours=14)),
        transition("hard_stop", "running", "flattening", T0 + timedelta(days=2), equity="750.5", peak="1000"),
    ])
    equity = pd.Series([1000.0, 970.0, 940.0], index=pd.DatetimeIndex(
        [T0, T0 + timedelta(minutes=30), T0 + timedelta(hours=13)]))
    changes = read_bot_changes(path, equity)
    assert [(c.event, c.source, c.dest) for c in changes] == [
        ("loss_limit", "running", "halted"), ("new_day", "halted", "running"), ("hard_stop", "running", "flattening")]
    assert [(c.equity, c.marked) for c in changes] == [
        (Decimal("970.0"), False), (Decimal("940.0"), False), (Decimal("750.5"), True)]
    out = Console(width=200, record=True)
    out.print(bot_changes_table(changes))
    text = out.export_text()
    assert "2025-03-05 10:00" in text and "750.50 (marked)" in text and "running → halted" in text
    fig = Figure()
    FigureCanvasAgg(fig)
    axes = fig.subplots()
    mark_bot_changes(axes, changes)
    assert len(axes.lines) == 2  # into halted and into flattening; back to running is not marked
    assert read_bot_changes(tmp_path / "missing.jsonl") == []


def test_a_long_run_shows_the_first_changes_and_counts_the_rest(tmp_path: Path) -> None:
    moves = []
    for day in range(MAX_ROWS):
        at = T0 + timedelta(days=day)
        moves += [transition("loss_limit", "running", "halted", at),
                  transition("new_day", "halted", "running", at + timedelta(hours=14))]
    changes = read_bot_changes(write(tmp_path, moves))
    out = Console(width=200, record=True)
    out.print(bot_changes_table(changes))
    text = out.export_text()
    assert f"{MAX_ROWS // 2} × loss_limit, {MAX_ROWS // 2} × new_day" in text and "more, not shown" in text
