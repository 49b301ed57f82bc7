"""`run PROFILE`: trade (paper by default) until Ctrl+C; resumes exactly after any stop."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from engine.cli.output import console
from engine.config.loading import load_profile
from engine.errors import UserError
from engine.offline import force_offline, is_offline


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the bot (paper trading by default)",
                       description="Run the bot with a profile. Paper mode trades against the simulated venue: "
                                   "offline on the seeded synthetic market (the default here; live public data "
                                   "is not wired yet), or replaying candle files with --data. Ctrl+C stops "
                                   "gracefully; running the same command again resumes exactly.")
    p.add_argument("profile", type=Path, help="profile YAML (e.g. profiles/aggressive.yaml)")
    p.add_argument("--data", type=Path, metavar="DIR", help="replay real candle files from DIR (e.g. ../shared/data)")
    p.add_argument("--speed", type=float, default=1.0, metavar="N",
                   help="replay N times faster than real time (default 1: one 5m candle every 5 minutes)")
    p.add_argument("--candles", type=int, metavar="N", help="stop after N candles (demos and tests)")
    p.add_argument("--seed", type=int, help="seed of the synthetic market on a first start (kept on resume)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.run.paper import PaperOptions, run_paper

    if args.speed <= 0:
        raise UserError(f"--speed {args.speed}: expected a positive number")
    if args.candles is not None and args.candles < 1:
        raise UserError(f"--candles {args.candles}: expected a positive number")
    if args.data is not None and not args.data.is_dir():
        raise UserError(f"--data {args.data}: no such folder")
    loaded = load_profile(args.profile)
    if not is_offline():
        # Live public market data is not wired into paper trading yet: say so instead of guessing.
        force_offline()
    options = PaperOptions(data_dir=args.data, speed=args.speed, candles=args.candles, seed=args.seed)
    return asyncio.run(run_paper(loaded, options, console()))
