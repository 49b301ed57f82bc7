"""`backtest PROFILE [--data DIR] --from DATE --to DATE`: the same engine on a simulated clock.

Without `--data` the default store (`state/market/` beside the profiles folder, which `download` fills)
is read when it holds candles of the profile's timeframe."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.flags import output_dir
from engine.cli.output import console
from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config.loading import LoadedProfile


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="backtest a profile on candle files",
        description="Run the paper engine on a simulated clock over candle files, then report "
        "trades, win-rate, PnL, drawdown, per-symbol and per-exit-reason tables, and "
        "write an equity PNG, a trades CSV and the run's transition journal.",
    )
    p.add_argument("profile", type=Path)
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="data folder (e.g. ../shared/data); default: the store `download` fills (state/market)")
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help="first day, e.g. 2025-01-01")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="end day (exclusive), e.g. 2025-02-01")
    p.add_argument("--symbols", nargs="+", metavar="S", help="BTC ETH … or BTCUSDC or BTC/USDC:USDC")
    p.add_argument(
        "--out", type=output_dir, metavar="DIR", help="output folder (default state/backtests/<profile>-<from>-<to>)"
    )
    p.set_defaults(run=run)


def parse_day(text: str, flag: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag} {text!r}: expected a date such as 2025-01-01") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    """`--from`/`--to` as UTC datetimes, the second after the first, and `--data` (if given) a folder."""
    start, end = parse_day(args.start, "--from"), parse_day(args.end, "--to")
    if end <= start:
        raise UserError(f"--to {args.end} must be after --from {args.start}")
    if args.data is not None and not args.data.is_dir():
        raise UserError(f"--data {args.data}: no such folder")
    return start, end


def default_store(loaded: LoadedProfile) -> Path:
    """The store beside the profiles folder (`<state root>/market`), if it holds candles of the
    profile's timeframe; UserError (exit 2) saying how to fill it otherwise."""
    from engine.market.datadir import DataDir

    store = loaded.state_dir.parent / "market"
    timeframe = loaded.profile.venue.timeframe
    if store.is_dir() and DataDir(store).venue_ids(timeframe):
        return store
    raise UserError(f"no --data given and the default store {store} holds no {timeframe} candles: run "
                    f"`python -m engine download --universe {loaded.path} --timeframes {timeframe} --from DATE` "
                    "first, or pass --data DIR (a folder of candle files)")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--help` and the light commands must start fast.
    from engine.config.loading import load_profile
    from engine.report.equity_png import PngWorker

    start, end = parse_window(args)
    loaded = load_profile(args.profile)
    data_dir = args.data if args.data is not None else default_store(loaded)
    out_dir = args.out or Path("state") / "backtests" / f"{loaded.profile.name}-{start:%Y%m%d}-{end:%Y%m%d}"
    out = console()
    png = PngWorker()  # imports matplotlib on the other core while the backtest runs
    try:
        return _run(args, loaded, data_dir, out_dir, start, end, out, png)
    finally:
        png.close()


def _run(args: argparse.Namespace, loaded: LoadedProfile, data_dir: Path, out_dir: Path, start: datetime,
         end: datetime, out: Any, png: Any) -> int:
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.report import check_kpis, compute_metrics, print_report, write_trades_csv
    from engine.report.bot_changes import read_bot_changes
    from engine.report.render import equity_chart
    from engine.run.backtest import run_backtest

    with Progress(
        TextColumn("[bold]backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("candles"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as progress:
        result = asyncio.run(
            run_backtest(loaded, data_dir, start, end, symbols=args.symbols, out_dir=out_dir, progress=progress)
        )
    metrics = compute_metrics(result.trades, result.starting_balance, result.start, result.end)
    changes = read_bot_changes(out_dir / "journal.jsonl", metrics.equity)  # halts, cool-downs, the hard stop
    png.draw(equity_chart(metrics, title=f"{loaded.profile.name} equity and drawdown", bot_changes=changes),
             out_dir / "equity.png")  # drawn by the worker while the report prints
    notes = [f"data: {result.data_source}" + ("" if args.data is not None else " — the default store"),
             result.fills_resolution, *dict.fromkeys(result.notes)]
    notes.append(
        f"{result.candles:,} candles of {len(result.symbols)} symbols in {result.wall_s:.1f} s "
        f"({result.candles / max(result.wall_s, 1e-9):,.0f} candles/s; "
        f"{result.steps_worked:,} of {result.steps:,} candle times worked, the rest jumped: nothing could happen)"
    )
    print_report(
        metrics,
        check_kpis(metrics),
        out,
        title=f"backtest · {loaded.profile.name} · {start:%Y-%m-%d} → {end:%Y-%m-%d}",
        notes=notes,
        universe=result.universe,
        funding=result.funding,
        bot_changes=changes,
    )
    write_trades_csv(metrics.closed, out_dir / "trades.csv")
    png.wait()
    out.print(f"wrote {out_dir / 'trades.csv'}, {out_dir / 'equity.png'} and the journal {out_dir / 'journal.jsonl'}")
    out.print(
        f"inspect: python -m engine log --state {out_dir} --tail 20 · "
        f"python -m engine diagram --state {out_dir} --position P1"
    )
    return 0
