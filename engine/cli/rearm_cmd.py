"""`rearm PROFILE`: let a bot the equity hard stop left `stopped_out` trade again.

On a stopped bot the state folder is opened under its lock and the bot machine's `rearm` is journaled
there, with who asked (`cli:<user>`). Beside a running bot (the folder is locked) a request file is
left in the folder instead; the bot takes it at its next tick and journals the same `rearm`. Either
way the drawdown is measured again from the equity at the next check.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from engine.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rearm", help="re-arm a bot stopped out by the equity hard stop",
                       description="Re-arm a bot that the equity hard stop (risk.max_drawdown_pct, risk.min_equity) "
                                   "left stopped_out: entries are allowed again. Works on a stopped bot's state "
                                   "folder, and beside a running bot (it picks the request up at its next tick).")
    p.add_argument("profile", type=Path, help="profile YAML (e.g. profiles/aggressive.yaml)")
    p.add_argument("--yes", action="store_true", help="re-arm; without it, only say what would be done")
    p.add_argument("--by", metavar="NAME", help="who re-arms, for the journal (default: the login name)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--help` and the other commands must start fast.
    from engine.bot.session import open_risk
    from engine.cli.output import console
    from engine.clock import WallClock
    from engine.config.loading import load_machine_for, load_profile
    from engine.positions.book import PositionBook
    from engine.store.lock import StateFolderBusy, state_lock
    from engine.trading.bot_machine import BOT_VALUE
    from engine.trading.bot_state import open_bot_machine, request_rearm

    loaded = load_profile(args.profile)
    folder = loaded.state_dir
    if not folder.is_dir():
        raise UserError(f"{args.profile}: its state folder {folder} does not exist; nothing to re-arm")
    by = f"cli:{args.by or _login()}"
    out = console()
    try:
        with state_lock(folder):
            book = PositionBook(load_machine_for(loaded), folder, fsync=loaded.profile.runtime.snapshot_fsync)
            book.open()
            try:
                bot = open_bot_machine(loaded, book, open_risk(loaded, book))
                if not bot.accepts("rearm"):
                    out.print(f"nothing to re-arm: the bot is {bot.why()}", markup=False, highlight=False)
                    return 1
                if not args.yes:
                    out.print(f"the bot is {bot.why()}; run again with --yes to re-arm it", markup=False,
                              highlight=False)
                    return 1
                now = WallClock().now()
                bot.command("rearm", by, now, reason=f"re-armed by {by}")
                book.record_command("rearm", by, now=now, bot={BOT_VALUE: bot.model.to_dict()})
            finally:
                book.close()
    except StateFolderBusy:
        if not args.yes:
            out.print(f"{folder} is in use by a running bot; run again with --yes to ask it to re-arm at its next "
                      "tick", markup=False, highlight=False)
            return 1
        path = request_rearm(folder, by)
        out.print(f"the bot is running: asked it to re-arm at its next tick ({path}); `status` shows when it has",
                  markup=False, highlight=False)
        return 0
    out.print(f"re-armed by {by}: entries allowed again at the next start", markup=False, highlight=False)
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "unknown"
