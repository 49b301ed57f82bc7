"""`run PROFILE`: trade (paper by default) until Ctrl+C; resumes exactly after any stop."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from engine.cli.backtest_cmd import parse_day
from engine.cli.flags import non_negative_int, positive_float, positive_int
from engine.cli.output import console
from engine.clock import to_ms
from engine.errors import UserError
from engine.offline import force_offline, is_offline


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the bot (paper trading by default)",
                       description="Run the bot with a profile. Paper mode (the default) trades against the "
                                   "simulated venue on Binance's live public data when reachable, else on the "
                                   "seeded synthetic market (always with --offline), or replays candle files "
                                   "with --data. Modes testnet and live trade on Binance through ccxt (keys from "
                                   "the environment or .env). Ctrl+C stops gracefully; running the same command "
                                   "again resumes exactly.")
    p.add_argument("profile", type=Path, help="profile YAML (e.g. profiles/aggressive.yaml)")
    p.add_argument("--data", type=Path, metavar="DIR", help="replay real candle files from DIR (e.g. ../shared/data)")
    p.add_argument("--speed", type=positive_float, default=1.0, metavar="N",
                   help="replay N times faster than real time (default 1: one 5m candle every 5 minutes)")
    p.add_argument("--candles", type=positive_int, metavar="N", help="stop after N candles (demos and tests)")
    p.add_argument("--from", dest="start", metavar="DATE",
                   help="with --data: start trading at DATE (YYYY-MM-DD, UTC) instead of the files' beginning")
    p.add_argument("--seed", type=non_negative_int,
                   help="seed of the synthetic market on a first start (kept on resume)")
    p.add_argument("--venue-url", metavar="URL",
                   help="Binance-compatible fapi base URL instead of Binance's own (e.g. the local fake server)")
    p.add_argument("--confirm-live", action="store_true",
                   help="required for mode: live (real money); refused otherwise")
    p.add_argument("--ticks", type=non_negative_int, metavar="N",
                   help="live loop: stop after N ticks (demos and tests)")
    p.add_argument("--web", nargs="?", const="", default=None, metavar="HOST:PORT",
                   help="serve the web dashboard from the bot's own loop (default 127.0.0.1:8088; any other "
                        "address needs ENGINE_WEB_TOKEN)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.data is not None and not args.data.is_dir():
        raise UserError(f"--data {args.data}: no such folder")
    start_ms = None
    if args.start is not None:
        if args.data is None:
            raise UserError("--from needs --data (it picks where a file replay starts)")
        start_ms = to_ms(parse_day(args.start, "--from"))
    if args.venue_url is not None:
        check_venue_url(args.venue_url)
    from engine.web.bind import web_settings  # light: no aiohttp until the server starts

    web = None if args.web is None else web_settings(args.web)
    # Imported here, not at the top: `--help` and the light commands must start fast.
    import asyncio

    from engine.config.loading import load_profile

    loaded = load_profile(args.profile)
    out = console()
    if loaded.profile.mode != "paper":
        from engine.run.live import LiveOptions, run_live

        return asyncio.run(run_live(loaded, LiveOptions(venue_url=args.venue_url, confirm_live=args.confirm_live,
                                                        ticks=args.ticks, web=web), out))
    from engine.run.paper import PaperOptions, run_paper

    options = PaperOptions(data_dir=args.data, speed=args.speed, candles=args.candles, seed=args.seed,
                           start_ms=start_ms, web=web)
    if args.data is None and paper_source(loaded) in (None, "binance") and (
        args.venue_url is not None or not is_offline()
    ):
        return asyncio.run(_paper_on_public_data(loaded, options, args, out))
    return asyncio.run(run_paper(loaded, options, out))


async def _paper_on_public_data(loaded, options, args: argparse.Namespace, out) -> int:  # noqa: ANN001
    """Live public data when reachable; else, on a fresh state folder, the offline synthetic market."""
    from engine.run.paper import run_paper
    from engine.run.paper_online import PublicDataUnavailable, open_public, run_paper_online

    try:
        source, markets = await open_public(args.venue_url)
    except PublicDataUnavailable as exc:
        if paper_source(loaded) == "binance":
            out.print(f"[red]Binance public data unreachable ({exc}); this state folder trades live data, so it "
                      "waits for the network: run the same command again later[/]")
            return 1
        out.print(f"[bold yellow]Binance public data unreachable ({exc}): trading the OFFLINE synthetic market[/]")
        force_offline()
        return await run_paper(loaded, options, out)
    return await run_paper_online(loaded, source, markets, out, ticks=args.ticks, web=options.web)


def paper_source(loaded) -> str | None:  # noqa: ANN001
    """Which market this profile's paper state folder trades (None on a first start): from the snapshot,
    else from the journal's bot records (both snapshot slots can be lost; the journal holds the truth)."""
    from engine.inspect.status import read_status
    from engine.positions.book import JOURNAL_FILE
    from engine.store.journal import DamagedRecord, read_records

    if not loaded.state_dir.is_dir():
        return None
    paper = read_status(loaded.state_dir).bot.get("paper") or {}
    journal = loaded.state_dir / JOURNAL_FILE
    if not paper and journal.is_file():
        try:
            for record in read_records(journal, bot=True):
                paper = (record.get("bot") or {}).get("paper") or paper
        except DamagedRecord:
            return None  # the run itself stops on the damage, naming it
    return paper.get("source") or ("synthetic" if paper.get("seed") else None)


def check_venue_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--venue-url {url}: expected an http(s) URL such as http://127.0.0.1:8765")
