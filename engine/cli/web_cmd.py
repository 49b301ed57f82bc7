"""`web`: the dashboard's read-only views of a state folder or a backtest's output folder, without a bot
(a running bot serves its own, with the controls, through `run PROFILE --web`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import UserError

DEFAULT_MACHINE = Path("machines/position.yaml")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="serve the read-only web dashboard of a state or backtest folder",
                       description="Serve the dashboard (overview, positions, log, trades, backtests and studies) "
                                   "of a state folder or a backtest output folder, read-only, until Ctrl+C. It "
                                   "listens on 127.0.0.1 unless --bind says otherwise, which needs "
                                   "ENGINE_WEB_TOKEN set (then open /?token=TOKEN once).")
    p.add_argument("--state", type=Path, metavar="DIR", help="state folder or backtest output folder")
    p.add_argument("--profile", type=Path, metavar="FILE", help="use this profile's state folder")
    p.add_argument("--bind", metavar="HOST:PORT", help="where to listen (default 127.0.0.1:8088)")
    p.add_argument("--runs", type=Path, metavar="DIR",
                   help="folder searched for backtests and studies (default: the state folder's parent)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.inspect.locate import state_folder
    from engine.web.bind import web_settings

    settings = web_settings(args.bind, "--bind")
    if args.runs is not None and not args.runs.is_dir():
        raise UserError(f"--runs {args.runs}: no such folder")
    folder = state_folder(args.state, args.profile)
    source = _source(folder, args)
    return asyncio.run(_serve(source, settings))


def _source(folder: Path, args: argparse.Namespace):  # noqa: ANN202 - an engine.web.source.Source
    import json

    from engine.positions.events import load_position_machine
    from engine.web.runs import BACKTEST_MARKER
    from engine.web.source import Source

    machine, balance, title, mode = DEFAULT_MACHINE, None, f"engine · {folder.name}", "read-only"
    if args.profile is not None:
        from engine.config.loading import load_profile

        loaded = load_profile(args.profile)
        machine, balance = loaded.machine_path, loaded.profile.venue.starting_balance
        title, mode = f"engine · {loaded.profile.name}", f"{loaded.profile.mode} (read-only)"
    marker = folder / BACKTEST_MARKER
    if marker.is_file():
        mode = "backtest"
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
            if "starting_balance" in info:
                from decimal import Decimal

                balance = Decimal(str(info["starting_balance"]))
        except (OSError, ValueError):
            pass
    if not machine.is_file():
        raise UserError(f"{machine}: machine file not found (run from the project folder, or pass --profile)")
    spec = load_position_machine(machine).spec
    return Source(state_dir=folder, spec=spec, title=title, mode=mode, starting_balance=balance,
                  runs_root=args.runs or folder.parent)


async def _serve(source, settings) -> int:  # noqa: ANN001
    import asyncio
    import signal

    from engine.web.server import WebServer

    server = WebServer(source, settings.bind, settings.token)
    try:
        url = await server.start()
    except OSError as exc:
        raise UserError(f"--bind {settings.bind.host}:{settings.bind.port}: cannot listen there "
                        f"({exc.strerror or exc})") from None
    print(f"web dashboard of {source.state_dir} (read-only): {url}" + (" — open /?token=… once" if settings.token
                                                                      else ""), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
    return 0
