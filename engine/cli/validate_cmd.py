"""`validate PATH`: check a machine or a profile (with its machine) and show what was understood.

A profile that is valid but risky gets warnings on stderr (exit code still 0, and shown with
`--quiet` too: they are about who can control the bot, not about what was understood)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.cli.output import console
from engine.config.redact import redacted
from engine.config.telegram_access import telegram_warnings
from engine.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate a machine or profile YAML",
                       description="Validate a machine (machines/*.yaml) or a profile (profiles/*.yaml). "
                                   "A profile is shown merged (extends + runtime overrides), secrets redacted.")
    p.add_argument("path", type=Path, help="machine or profile YAML file")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors and warnings")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--help` and the other commands must start fast.
    import yaml

    from engine.yaml_source import load_yaml

    path: Path = args.path
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    data, _ = load_yaml(path)
    out = console()
    if isinstance(data, dict) and "transitions" in data:
        from engine.trading.bot_machine import load_machine_file

        definition = load_machine_file(path, data)
        spec = definition.spec
        if not args.quiet:
            out.print(f"OK {path}: machine {spec.name!r}: {len(spec.states)} states, "
                      f"{len(spec.transitions)} transitions, {len(spec.events)} events")
        return 0
    from engine.config.loading import load_machine_for, load_profile
    from engine.trading.bot_state import compile_bot_machine

    loaded = load_profile(path)
    load_machine_for(loaded)
    compile_bot_machine(loaded)  # the bot's own machine binds its numbers to the same profile
    for warning in telegram_warnings(loaded.profile.telegram):
        print(f"warning: {path}: {warning}", file=sys.stderr)
    if not args.quiet:
        out.print(f"OK {path}: profile {loaded.profile.name!r} ({loaded.profile.mode}), machine "
                  f"{loaded.profile.runtime.machine}, state in {loaded.state_dir}")
        if loaded.overrides:
            out.print(f"runtime overrides merged: {json.dumps(loaded.overrides)}")
        out.print(yaml.safe_dump(redacted(loaded.profile.model_dump(mode="json")), sort_keys=False).rstrip())
        if loaded.profile.venue.slippage_bps is None:  # the dump's `null` says nothing of what it means
            out.print("# venue.slippage_bps not set: market-aware slippage (the symbol's tick size and the "
                      "order's size against the candle's volume); set it to pin a flat figure")
    return 0
