"""`status PROFILE`: live positions with state, age, symbol, side, size and pending intents."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.cli.output import console
from engine.clock import WallClock


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show live positions of a profile",
                       description="Show the live positions of a profile from its state snapshot "
                                   "(safe while the bot runs).")
    p.add_argument("profile", type=Path, help="profile YAML (e.g. profiles/aggressive.yaml)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--help` and the other commands must start fast.
    from rich.table import Table

    from engine.config.loading import load_profile
    from engine.inspect.status import age, read_status, universe_lines
    from engine.trading.bot_machine import describe
    from engine.trading.bot_state import resumed_state

    loaded = load_profile(args.profile)
    view = read_status(loaded.state_dir)
    now = WallClock().now()
    bot = resumed_state(view.bot)  # what the bot is in, or resumes in (an older folder's pause too)
    if args.json:
        print(json.dumps({"profile": loaded.profile.name, "state_dir": str(view.state_dir), "seq": view.seq,
                          "positions": [p.to_dict() for p in view.positions],
                          "universe": view.bot.get("universe"),
                          "bot": {**bot.to_dict(), "why": describe(bot)}}, indent=2))
        return 0
    out = console()
    out.print(f"profile {loaded.profile.name} ({loaded.profile.mode}) · state {view.state_dir} · "
              f"seq {view.seq} · {len(view.positions)} live position(s) · bot {describe(bot)}",
              markup=False, highlight=False)
    for line in universe_lines(view.bot.get("universe")):
        out.print(line, markup=False, highlight=False)
    if not view.positions:
        return 0
    table = Table(show_edge=False, box=None, pad_edge=False)
    for col in ("id", "symbol", "side", "state", "size", "entry", "age", "deadline", "pending intents", "orders"):
        table.add_column(col)
    for p in view.positions:
        deadline = f"{p.deadline_event} {p.deadline_at:%H:%M:%S}" if p.deadline_at and p.deadline_event else "-"
        pending = ", ".join(f"{i.kind.value} {i.client_id}" for i in p.intents) or "-"
        size = str(p.qty if p.qty else p.plan.get("qty", "0"))
        table.add_row(p.id, p.symbol, p.side.value if p.side else "-", p.state, size,
                      str(p.entry_price or "-"), age(p, now), deadline, pending, str(len(p.open_orders)))
    out.print(table)
    return 0
