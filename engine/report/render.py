"""The report as rich tables, the trades as CSV, the equity curve as a PNG.

Notes (what the numbers are made of: a synthetic market, candles borrowed from another quote asset, …)
are printed first, in a panel, because a reader who misses them misreads every figure below.
Figures that a KPI judges are rounded against the KPI (win-rate down, drawdowns up), never flattering.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from engine.report.bot_changes import BotChange, bot_changes_table
from engine.report.equity_png import EquityChart, draw
from engine.report.kpis import Kpi, all_passed
from engine.report.metrics import OTHER_ROW, DayResult, Metrics, Trade, drawdown_pct_series, parse_trades

if TYPE_CHECKING:
    from engine.market.rotation import Rotation

UNIVERSE_ROWS = 20  # changes listed in the report; universe.json in the output folder has them all

CSV_COLUMNS = (
    "id", "symbol", "side", "qty", "entry", "opened_at", "closed_at", "hold_s", "exit_reason", "realised_pnl", "fees",
    "fees_maker", "fees_taker", "fills",
)


def print_report(
    metrics: Metrics,
    kpis: Sequence[Kpi],
    console: Console,
    *,
    title: str,
    notes: Sequence[str] = (),
    universe: Rotation | None = None,
    funding: str | None = None,
    bot_changes: Sequence[BotChange] = (),
) -> None:
    """Print the notes, a summary (with the `funding` line when given), the universe and how it changed
    (when given), the per-symbol and per-exit-reason tables and the KPIs."""
    console.rule(Text(title, style="bold"))
    lines = list(notes)
    if metrics.excluded_pnl != 0:
        lines.append(
            f"{metrics.excluded} record(s) that are not trades carry {_money(metrics.excluded_pnl)} of PnL "
            "not counted below"
        )
    if lines:
        body = Text("\n".join(f"• {line}" for line in lines), style="bold yellow")
        console.print(Panel(body, title="[bold]NOTE[/bold]", border_style="yellow", expand=True))
    console.print(_summary_table(metrics, funding))
    if universe is not None:
        console.print(_universe_table(universe))
    console.print(_symbol_table(metrics))
    console.print(_exit_reason_table(metrics))
    if bot_changes:
        console.print(bot_changes_table(bot_changes))
    console.print(_kpi_table(kpis))


def write_trades_csv(trades: Iterable[Mapping[str, Any] | Trade], path: Path | str) -> int:
    """One row per trade (history records that are not trades are skipped), in close order, with exact
    Decimal strings and ISO UTC times. Creates the parent folder. Returns the number of rows."""
    rows, _, _ = parse_trades(trades)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for t in rows:
            writer.writerow({
                "id": t.id,
                "symbol": t.symbol,
                "side": t.side,
                "qty": str(t.qty),
                "entry": "" if t.entry_price is None else str(t.entry_price),
                "opened_at": t.opened_at.isoformat(),
                "closed_at": t.closed_at.isoformat(),
                "hold_s": f"{t.hold.total_seconds():g}",
                "exit_reason": t.exit_reason,
                "realised_pnl": str(t.realised_pnl),
                "fees": str(t.fees),
                "fees_maker": "" if t.fees_maker is None else str(t.fees_maker),
                "fees_taker": "" if t.fees_taker is None else str(t.fees_taker),
                "fills": "" if t.fills is None else fills_text(t.fills),
            })
    return len(rows)


def fills_text(fills: Iterable[Mapping[str, str]]) -> str:
    """A trade's fills for trades.csv: `role:liquidity qty@price` each, `; ` between, in fill order."""
    return "; ".join(f"{f['role']}:{f['liquidity']} {f['qty']}@{f['price']}" for f in fills)


def equity_chart(metrics: Metrics, *, title: str = "Equity and drawdown",
                 bot_changes: Sequence[BotChange] = ()) -> EquityChart:
    """What the equity PNG shows (engine.report.equity_png): the equity after each close, held to the end of
    the run, the drawdown from its running peak, and the bot's changes of state."""
    equity = metrics.equity
    # Hold the last equity to the end of the run so the curve spans the whole run.
    if metrics.end > equity.index[-1]:
        equity = equity.copy()
        equity.loc[metrics.end] = equity.iloc[-1]
    drawdown = drawdown_pct_series(equity)
    subtitle = (f"{metrics.trades} trades · net {_money(metrics.net_pnl)} · "
                f"max drawdown {_pct(metrics.max_drawdown_pct, ROUND_CEILING)}")
    return EquityChart(list(equity.index.to_pydatetime()), equity.to_numpy().tolist(), drawdown.to_numpy().tolist(),
                       float(metrics.starting_balance), title, subtitle, tuple(bot_changes))


def plot_equity(metrics: Metrics, path: Path | str, *, title: str = "Equity and drawdown",
                bot_changes: Sequence[BotChange] = ()) -> Path:
    """A PNG: equity (step line after each close) on top, drawdown from the running peak in % below, drawn in
    this process (the backtest command hands it to a worker: engine.report.equity_png.PngWorker)."""
    return draw(equity_chart(metrics, title=title, bot_changes=bot_changes), Path(path))


# --- tables ------------------------------------------------------------------------------------


def _fees(m: Metrics) -> str:
    split = f"maker {_money(m.fees_maker, sign=False)} · taker {_money(m.fees_taker, sign=False)}"
    if m.fees_unattributed:
        split += f" · not split {_money(m.fees_unattributed, sign=False)}"
    return f"{_money(m.fees, sign=False)} ({split})"


def _entry_fills(m: Metrics) -> str:
    e = m.entry_fills
    ratio = e.fill_ratio_pct
    text = (f"{e.limit_entries} · fill ratio {'—' if ratio is None else _pct(ratio, ROUND_FLOOR)} · "
            f"{e.filled_whole} filled whole · {e.expired} expired ({e.abandoned} abandoned)")
    return text + (f" · {e.rejected} rejected" if e.rejected else "")


def _summary_table(m: Metrics, funding: str | None = None) -> Table:
    table = Table(title="Summary", box=box.SIMPLE_HEAVY, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value")
    pf = "n/a (no losses)" if m.profit_factor is None else f"{m.profit_factor:.2f}"
    breakeven = m.trades - m.wins - m.losses
    rows = [
        ("run", f"{_time(m.start)} → {_time(m.end)} ({_duration(m.duration)})"),
        ("starting balance", _money(m.starting_balance, sign=False)),
        ("final equity", f"{_money(m.final_equity, sign=False)} ({_signed_pct(m.return_pct)})"),
        ("trades", str(m.trades)),
        ("wins / losses" + (" / break-even" if breakeven else ""),
         f"{m.wins} / {m.losses}" + (f" / {breakeven}" if breakeven else "")),
        ("win rate", _pct(m.win_rate_pct, ROUND_FLOOR)),
        ("net PnL (after fees)", _money(m.net_pnl)),
        ("fees paid", _fees(m)),
        ("PnL per hour", _money(m.pnl_per_hour)),
        ("profit factor", pf),
        ("expectancy per trade", _money(m.expectancy)),
        ("average win / loss", f"{_money(m.avg_win)} / {_money(m.avg_loss)}"),
        ("average hold", _duration(m.avg_hold)),
        ("max drawdown", f"{_money(m.max_drawdown, sign=False)} ({_pct(m.max_drawdown_pct, ROUND_CEILING)})"),
        ("best day", _day(m.best_day)),
        ("worst day", _day(m.worst_day)),
        ("worst daily drawdown", "—" if m.max_daily_drawdown is None else
         f"{_pct(m.max_daily_drawdown.drawdown_pct, ROUND_CEILING)} on {m.max_daily_drawdown.day.isoformat()}"),
    ]
    if funding is not None:
        rows.append(("funding", funding))
    if m.entry_fills.limit_entries:
        rows.append(("limit entries", _entry_fills(m)))
    if m.excluded:
        rows.append(("not trades (rejected / never filled)", str(m.excluded)))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _universe_table(rotation: Rotation) -> Table:
    """Each pick that changed the universe (time, size, who came in, who left and why), then the
    candidates that were never in it with the reasons."""
    rules = rotation.rules
    bounds = [f"24h quote volume ≥ {rules.min_quote_volume_24h:,.0f}"]
    if rules.min_atr_pct is not None or rules.max_atr_pct is not None:
        low = "0" if rules.min_atr_pct is None else f"{rules.min_atr_pct:.3%}"
        high = "∞" if rules.max_atr_pct is None else f"{rules.max_atr_pct:.3%}"
        bounds.append(f"ATR {low} – {high}")
    bounds.append(f"at most {rules.max_symbols}")
    changes = rotation.changes
    title = (f"Universe ({len(rotation.markets)} candidates · {rotation.picks} picks · {len(changes)} changes · "
             f"{' · '.join(bounds)} · every {_every(rules.rotation_interval_ms)})")
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("from")
    table.add_column("symbols", justify="right")
    table.add_column("in")
    table.add_column("out (why)")
    for change in changes[:UNIVERSE_ROWS]:
        reasons = {e.symbol: e.code for e in change.excluded}
        table.add_row(_time(change.at), str(len(change.symbols)), " ".join(change.added) or "—",
                      " ".join(f"{s} ({reasons.get(s, 'out')})" for s in change.removed) or "—")
    if len(changes) > UNIVERSE_ROWS:
        table.add_row("…", "", f"{len(changes) - UNIVERSE_ROWS} more changes in universe.json", "")
    for symbol, exclusions in sorted(rotation.exclusions().items()):
        table.add_row("never", "", "", f"{symbol}: " + "; ".join(e.detail for e in exclusions[:3]))
    return table


def _symbol_table(m: Metrics) -> Table:
    table = Table(title="Per symbol (by net PnL)", box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("symbol")
    table.add_column("trades", justify="right")
    table.add_column("win rate", justify="right")
    table.add_column("net PnL", justify="right")
    for row in m.by_symbol:
        table.add_row(row.symbol, str(row.trades), _pct(row.win_rate_pct, ROUND_FLOOR), _colored(row.net_pnl))
    if not m.by_symbol:
        table.add_row("(no trades)", "0", "—", "—")
    return table


def _exit_reason_table(m: Metrics) -> Table:
    table = Table(title="Per exit reason (final exit)", box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("exit")
    table.add_column("count", justify="right")
    table.add_column("net PnL", justify="right")
    table.add_column("average PnL", justify="right")
    table.add_column("fees", justify="right")
    table.add_column("reasons", style="dim")
    for row in m.by_exit_reason:
        empty = row.count == 0
        table.add_row(
            row.reason,
            str(row.count),
            "—" if empty else _colored(row.net_pnl),
            "—" if empty else _colored(row.avg_pnl),
            "—" if empty else _money(row.fees, sign=False),
            ", ".join(row.raw_reasons) if row.reason == OTHER_ROW else "",
        )
    return table


def _kpi_table(kpis: Sequence[Kpi]) -> Table:
    verdict = "all passed" if all_passed(kpis) else "NOT all passed"
    table = Table(title=f"KPIs ({verdict})", box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("KPI")
    table.add_column("target", justify="right")
    table.add_column("actual", justify="right")
    table.add_column("", style="dim")
    table.add_column("result")
    for kpi in kpis:
        result = Text(f"{kpi.mark} pass" if kpi.passed else f"{kpi.mark} FAIL",
                      style="bold green" if kpi.passed else "bold red")
        table.add_row(kpi.name, kpi.target_text(), kpi.actual_text(), kpi.detail, result)
    return table


# --- formatting --------------------------------------------------------------------------------


def _money(value: Decimal, *, sign: bool = True) -> str:
    return format(value, "+,.2f" if sign else ",.2f")


def _colored(value: Decimal) -> Text:
    return Text(_money(value), style="green" if value > 0 else "red" if value < 0 else "")


def _pct(value: Decimal, rounding: str) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=rounding)} %"


def _signed_pct(value: Decimal) -> str:
    return f"{value:+.2f} %"


def _day(day: DayResult | None) -> str:
    if day is None:
        return "—"
    return (f"{day.day.isoformat()}: {_money(day.pnl)} "
            f"(drawdown {_pct(day.drawdown_pct, ROUND_CEILING)}, {day.trades} trades)")


def _every(ms: int) -> str:
    """A rotation interval as `4h`, `90m` or `30s`."""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms} ms"


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    if not days:
        parts.append(f"{secs}s")
    return " ".join(parts)
