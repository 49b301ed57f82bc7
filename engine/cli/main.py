"""Entry point: parse arguments, run one command, map failures to exit codes.

Exit codes: 0 ok, 1 runtime failure, 2 bad input (a message naming what is wrong, no traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from engine.cli import (
    backtest_cmd,
    diagram_cmd,
    download_cmd,
    log_cmd,
    optimize_cmd,
    rearm_cmd,
    repair_cmd,
    run_cmd,
    status_cmd,
    validate_cmd,
    web_cmd,
)
from engine.errors import UserError

COMMANDS = (run_cmd, backtest_cmd, validate_cmd, diagram_cmd, log_cmd, status_cmd, rearm_cmd, repair_cmd, download_cmd,
            optimize_cmd, web_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Declarative state-machine scalping bot for Binance USD-M perpetuals.",
        epilog="Exit codes: 0 ok, 1 runtime failure, 2 bad input.",
    )
    parser.add_argument("--offline", action="store_true",
                        help="never touch the network (same as ENGINE_OFFLINE=1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a refused flag (2, argparse named it): return, as for any command
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.offline:
        from engine.offline import force_offline

        force_offline()
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a failure of ours, not the user's: say what, keep the trace opt-in
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("ENGINE_DEBUG"):
            traceback.print_exc()
        else:
            print("(set ENGINE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
