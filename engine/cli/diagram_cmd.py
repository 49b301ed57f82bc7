"""`diagram`: the machine as mermaid text, SVG or PNG, optionally with one position's path, or, for the
bot's own machine (machines/bot.yaml) with --state/--profile, the bot's current state and its path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.flags import output_file
from engine.errors import UserError

DEFAULT_MACHINE = Path("machines/position.yaml")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagram", help="draw a machine (mermaid, svg, png)",
                       description="Draw a machine from its YAML. With --position, the position's current "
                                   "state and the path it took (from the journal) are highlighted; for "
                                   "machines/bot.yaml, --state DIR (or --profile) highlights the bot's.")
    p.add_argument("machine", nargs="?", type=Path, default=DEFAULT_MACHINE,
                   help=f"machine YAML (default {DEFAULT_MACHINE})")
    p.add_argument("--position", metavar="ID", help="highlight this position (e.g. P17)")
    p.add_argument("--state", type=Path, metavar="DIR", help="state folder holding the journal")
    p.add_argument("--profile", type=Path, metavar="FILE", help="use this profile's state folder")
    p.add_argument("--format", choices=("mermaid", "svg", "png"), default=None,
                   help="output format (default: from -o's extension, else mermaid)")
    p.add_argument("-o", "--output", type=output_file, metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--help` and the other commands must start fast.
    from engine.inspect.diagram import highlight_from_records, render, to_mermaid
    from engine.inspect.locate import state_folder
    from engine.inspect.transitions_log import LogFilter, query
    from engine.positions.book import JOURNAL_FILE
    from engine.trading.bot_machine import MACHINE_NAME, load_machine_file

    if not args.machine.is_file():
        raise UserError(f"{args.machine}: file not found")
    definition = load_machine_file(args.machine)
    fmt = args.format or (args.output.suffix.lstrip(".").lower() if args.output else "mermaid")
    if fmt == "mmd":
        fmt = "mermaid"
    if fmt not in ("mermaid", "svg", "png"):
        raise UserError(f"-o {args.output}: cannot tell the format from the extension; use --format mermaid|svg|png")
    if fmt != "mermaid" and args.output is None:
        raise UserError(f"--format {fmt} needs -o FILE")
    highlight = None
    if definition.spec.name == MACHINE_NAME and (args.state or args.profile):
        highlight = _bot_highlight(state_folder(args.state, args.profile))
    elif args.position:
        folder = state_folder(args.state, args.profile)
        records = query(folder / JOURNAL_FILE, LogFilter(position=args.position))
        if not records:
            raise UserError(f"position {args.position!r} has no transitions in {folder / JOURNAL_FILE}")
        highlight = highlight_from_records(args.position, records)
    if fmt == "mermaid":
        text = to_mermaid(definition.spec, highlight)
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    render(definition.spec, args.output, fmt, highlight)
    print(f"wrote {args.output}")
    return 0


def _bot_highlight(folder: Path):  # noqa: ANN202 - a diagram.Highlight
    """The bot's path from its journaled transitions, and its state now as the snapshot holds it."""
    from engine.inspect.diagram import Highlight, Step
    from engine.inspect.status import read_status
    from engine.inspect.transitions_log import bot_transitions
    from engine.positions.book import JOURNAL_FILE
    from engine.trading.bot_machine import BOT_VALUE

    records = bot_transitions(folder / JOURNAL_FILE) if (folder / JOURNAL_FILE).is_file() else []
    steps = tuple(Step(i, r["event"], r["from"], r["to"]) for i, r in enumerate(records, start=1))
    saved = read_status(folder).bot.get(BOT_VALUE) or {}
    current = saved.get("state") or (steps[-1].dest if steps else "running")
    return Highlight("bot", current, steps)
