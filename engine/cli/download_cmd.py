"""`download --symbols … | --universe PROFILE --timeframes … --from DATE [--to DATE]`: Binance USD-M
candles (and funding rates) into the local parquet store; `download --check` shows what it holds."""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from engine.cli.flags import output_dir, positive_int
from engine.errors import UserError

DEFAULT_STORE = Path("state") / "market"
DEFAULT_VENUE_HOST = "fapi.binance.com"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download",
        help="download candles and funding rates into the local store",
        description="Fetch Binance USD-M klines (and funding-rate history) into a parquet store: complete "
        "months and days from Binance's public data archive (checksummed), the rest from the fapi. "
        "A second run fetches only what is missing. --check shows the store without any network.",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--symbols", nargs="+", metavar="S", help="venue ids, e.g. BTCUSDT ETHUSDC")
    which.add_argument("--universe", type=Path, metavar="PROFILE", help="the candidate symbols of a profile")
    p.add_argument("--timeframes", nargs="+", metavar="TF", help="e.g. 5m 1m")
    p.add_argument("--from", dest="start", metavar="DATE", help="first day, e.g. 2025-01-01")
    p.add_argument("--to", dest="end", metavar="DATE", help="end day (exclusive); default: now")
    p.add_argument("--data", type=output_dir, default=DEFAULT_STORE, metavar="DIR",
                   help=f"store folder (default {DEFAULT_STORE}); a valid backtest --data folder")
    p.add_argument("--funding", action=argparse.BooleanOptionalAction, default=True,
                   help="also download funding-rate history (default: yes)")
    p.add_argument("--archive-url", metavar="URL", help="replace the public data archive's host")
    p.add_argument("--venue-url", metavar="URL", help="replace the fapi host (exchangeInfo, klines, fundingRate)")
    p.add_argument("--pool", type=positive_int, default=8, metavar="N", help="archive files fetched at once")
    p.add_argument("--check", action="store_true", help="show what the store holds and its gaps; no network")
    p.set_defaults(run=run)


def _host_url(text: str | None, flag: str) -> str | None:
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{flag} {text!r}: expected a URL such as http://127.0.0.1:8080")
    return text.rstrip("/")


def _refuse_when_offline(urls: dict[str, str]) -> None:
    """Under the offline switch only the loopback address may be contacted; checked before any
    connection, on the literal address (a host name could resolve anywhere)."""
    from engine.offline import OFFLINE_ENV, is_offline

    if not is_offline():
        return
    for flag, url in urls.items():
        host = urlsplit(url).hostname or url
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = False
        if not allowed:
            raise UserError(f"offline mode is on (--offline or {OFFLINE_ENV}=1): refusing to contact {host} "
                            f"({flag}); only 127.0.0.1 may be contacted, so point {flag} at a local stand-in")


def _timeframes(values: list[str] | None) -> tuple[str, ...]:
    from engine.market.download.plan import BINANCE_INTERVALS

    if not values:
        raise UserError("--timeframes: give at least one interval, e.g. --timeframes 5m 1m")
    for tf in values:
        if tf == "1M":
            raise UserError("--timeframes 1M: calendar-month candles are not stored (their length is not "
                            "fixed); use 1w or 1d")
        if tf not in BINANCE_INTERVALS:
            raise UserError(f"--timeframes {tf}: Binance does not serve this interval; expected one of "
                            f"{' '.join(BINANCE_INTERVALS[:-1])}")
    return tuple(dict.fromkeys(values))


def _venue_ids(symbols: list[str]) -> tuple[str, ...]:
    from engine.venue.symbols import parse_symbol

    ids = []
    for symbol in symbols:
        try:
            ids.append(parse_symbol(symbol).venue_id)
        except ValueError as exc:
            raise UserError(f"--symbols {symbol}: {exc}") from None
    return tuple(dict.fromkeys(ids))


def _span(args: argparse.Namespace, now_ms: int) -> tuple[int, int]:
    from engine.cli.backtest_cmd import parse_day

    if not args.start:
        raise UserError("--from: give the first day, e.g. --from 2025-01-01")
    start = int(parse_day(args.start, "--from").timestamp() * 1000)
    end = int(parse_day(args.end, "--to").timestamp() * 1000) if args.end else now_ms
    if start >= end:
        raise UserError(f"--from {args.start} must be before --to {args.end or 'now'}")
    if start >= now_ms:
        raise UserError(f"--from {args.start} is in the future")
    return start, end


async def _universe(profile: Path, venue_url: str | None) -> tuple[str, ...]:
    from engine.config.loading import load_profile
    from engine.market.download.fapi import Fapi
    from engine.market.universe import choose_symbols

    loaded = load_profile(profile, with_overrides=False)
    fapi = Fapi(venue_url)
    try:
        markets = await fapi.markets()
    finally:
        await fapi.close()
    chosen = choose_symbols(markets, loaded.profile.universe, loaded.profile.venue.quote_assets)
    if not chosen:
        raise UserError(f"--universe {profile}: the profile's universe selects no symbol on {fapi.name}")
    return tuple(markets[s].id for s in chosen)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--help` and the light commands must start fast.
    import asyncio

    from engine.cli.output import console
    from engine.market.download.archive import DEFAULT_ARCHIVE_URL
    from engine.market.download.fapi import VenueUnavailable
    from engine.market.download.progress import Progress, print_summary
    from engine.market.download.run import DownloadFailed, DownloadRequest, check, download, refuse_unknown

    out = console()
    if args.check:
        ids = _venue_ids(args.symbols) if args.symbols else ()
        reports = check(args.data, ids, tuple(args.timeframes or ()))
        print_summary(reports, out, f"store {args.data}", sources=False)
        if not reports:
            out.print(f"(nothing stored under {args.data})")
        return 0
    if not args.symbols and not args.universe:
        raise UserError("--symbols or --universe: say what to download, e.g. --symbols BTCUSDT")
    timeframes = _timeframes(args.timeframes)
    now_ms = int(time.time() * 1000)  # the one wall-clock read: everything below takes it as an argument
    span = _span(args, now_ms)
    archive_url = _host_url(args.archive_url, "--archive-url") or DEFAULT_ARCHIVE_URL
    venue_url = _host_url(args.venue_url, "--venue-url")
    _refuse_when_offline({"--archive-url": archive_url, "--venue-url": venue_url or f"https://{DEFAULT_VENUE_HOST}"})
    ids = _venue_ids(args.symbols) if args.symbols else ()
    if args.universe:
        try:
            ids = asyncio.run(_universe(args.universe, venue_url))
        except VenueUnavailable as exc:
            print(f"error: --universe needs the venue's exchangeInfo: {exc}", file=sys.stderr)
            return 1
    request = DownloadRequest(ids, timeframes, span, args.data, args.funding, archive_url, venue_url, now_ms, args.pool)
    venue_name = venue_url or DEFAULT_VENUE_HOST
    try:
        reports = asyncio.run(download(request, Progress(out), refuse_unknown(ids, venue_name)))
    except DownloadFailed as exc:
        print_summary(exc.reports, out, f"kept in {args.data} (incomplete)")
        kept = sum(r.rows for r in exc.reports)
        print(f"error: network failure: {exc}\nthe store keeps what was fetched ({kept:,} rows in "
              f"{args.data}); run the same command again to fetch the rest", file=sys.stderr)
        return 1
    print_summary(reports, out, f"download into {args.data}")
    return 0
