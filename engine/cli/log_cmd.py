"""`log`: the transition journal as a table or JSON lines; filter, tail, follow."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from engine.cli.output import console
from engine.clock import WallClock
from engine.errors import UserError
from engine.inspect.locate import state_folder
from engine.inspect.transitions_log import (
    LogFilter,
    bot_transitions,
    describe_payload,
    event_name,
    follow,
    label,
    positions_in,
    query,
    query_checked,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="show the transition log",
                       description="Show the transition journal, oldest first.")
    p.add_argument("--position", metavar="ID", help="only this position (e.g. P17)")
    p.add_argument("--symbol", metavar="S", help="only this market (BTC/USDC:USDC, BTC/USDC or BTCUSDC)")
    p.add_argument("--event", metavar="E", help="only this event (e.g. sl_filled) or command (pause, /pause)")
    p.add_argument("--since", metavar="T", help="ISO time (2025-03-01T12:00) or a duration back from now (30m)")
    p.add_argument("--tail", metavar="N", type=int, help="only the last N matching records")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new records (Ctrl+C stops)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.add_argument("--state", type=Path, metavar="DIR", help="state folder holding the journal")
    p.add_argument("--profile", type=Path, metavar="FILE", help="use this profile's state folder")
    p.set_defaults(run=run)


def parse_since(text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        pass
    from engine.config.durations import parse_duration  # imported here (pydantic): start-up time

    try:
        return now - parse_duration(text)
    except ValueError:
        raise UserError(f"--since {text!r}: expected an ISO time (2025-03-01T12:00) or a duration (30m, 2h)") from None


def run(args: argparse.Namespace) -> int:
    from engine.positions.book import JOURNAL_FILE  # imported here (the whole book): start-up time

    if args.tail is not None and args.tail < 1:
        raise UserError(f"--tail {args.tail}: expected a positive number of records")
    folder = state_folder(args.state, args.profile)
    journal = folder / JOURNAL_FILE
    flt = LogFilter(args.position, args.symbol, args.event, parse_since(args.since, WallClock().now()))
    records, damage = query_checked(journal, flt, args.tail)
    if not records and args.position and damage is None:
        check_position(journal, args.position)
    emit = _json_line if args.json else _table_printer()
    emit(records)
    if damage is not None:  # what could be read is shown; the reader is told where and why it stops
        print(f"error: {damage}", file=sys.stderr)
        return 1
    if args.follow:
        shown = records or query(journal, LogFilter(), 1)  # follow on from the last record already shown
        last = max((int(r["seq"]) for r in shown if "seq" in r), default=0)
        last_n = max((int(r["n"]) for r in bot_transitions(journal)), default=0)  # every one so far is old
        try:
            for record in follow(journal, flt, last, after_n=last_n):
                emit([record])
        except KeyboardInterrupt:
            return 0
    return 0


def check_position(journal: Path, position: str) -> None:
    """A position the journal has never named is a mistake in the flag, not an empty result."""
    known = positions_in(journal)
    if position not in known:
        shown = ", ".join(known[:5]) + (f" … {known[-1]}" if len(known) > 5 else "")
        raise UserError(f"--position {position}: no such position in {journal}"
                        + (f" (it names {shown})" if known else " (it names no position yet)"))


def _json_line(records: list[dict]) -> None:
    for record in records:
        sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _table_printer():  # noqa: ANN202 - returns a printer bound to one console
    from rich.table import Table  # imported here: start-up time of `--help` and `--json`

    out = console()

    def emit(records: list[dict]) -> None:
        if not records:
            return
        table = Table(show_edge=False, box=None, pad_edge=False)
        for col in ("seq", "time (UTC)", "position", "symbol", "event", "from → to", "details"):
            table.add_column(col, no_wrap=col != "details")
        for r in records:
            edge = f"{r['from']} → {r['to']}" if "from" in r else "-"  # a command record moves no position
            position = r.get("position", "bot" if "machine" in r else "-")
            table.add_row(label(r), r["time"][:19].replace("T", " "), position,
                          r.get("symbol", "-"), event_name(r), edge, describe_payload(r))
        out.print(table)

    return emit
