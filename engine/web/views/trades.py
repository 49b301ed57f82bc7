"""`/trades`: the closed trades, newest first, with exit reasons and fees (maker/taker where the fills
were recorded), and the totals per exit reason."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from aiohttp import web

from engine.report.metrics import Trade
from engine.web.html import cards, duration, esc, money, table
from engine.web.views import html, source_of

SHOWN = 200
HEADERS = ("id", "symbol", "side", "size", "entry", "opened (UTC)", "closed (UTC)", "hold", "exit", "PnL", "fees",
           "maker / taker")


def trade_rows(trades: list[Trade], shown: int = SHOWN) -> list[list[str]]:
    rows = []
    for t in reversed(trades[-shown:]):
        split = "—" if t.fills is None else f"{money(t.fees_maker, sign=False)} / {money(t.fees_taker, sign=False)}"
        rows.append([esc(t.id), esc(t.symbol), esc(t.side), esc(t.qty), esc(t.entry_price or "—"),
                     esc(f"{t.opened_at:%Y-%m-%d %H:%M}"), esc(f"{t.closed_at:%Y-%m-%d %H:%M}"), duration(t.hold),
                     esc(t.exit_reason), money(t.realised_pnl), money(t.fees, sign=False), split])
    return rows


def exit_reason_rows(trades: list[Trade]) -> list[list[str]]:
    by: dict[str, list[Decimal]] = defaultdict(list)
    for t in trades:
        by[t.exit_reason].append(t.realised_pnl)
    return [[esc(reason), esc(len(p)), money(sum(p, Decimal(0)))] for reason, p in sorted(by.items())]


async def trades_page(request: web.Request) -> web.Response:
    source = source_of(request)
    await source.refresh()
    trades = source.trades.trades
    today = source.now().date()
    figures = source.trades.memo("figures", (today,), lambda: source.trades.figures(today))
    body = cards({"trades": esc(figures.trades), "net PnL": money(figures.net_pnl),
                  "win-rate": f"{figures.win_rate_pct:.1f} %" if figures.trades else "—",
                  "fees": money(figures.fees, sign=False), "not trades": esc(source.trades.excluded)})
    if not trades:
        return html(request, "Trades", body + "<p class=muted>No closed trade yet.</p>", active="/trades")
    reasons = source.trades.memo("exit_reasons", (), lambda: exit_reason_rows(trades))
    body += "<h2>By exit reason</h2>" + table(("exit reason", "trades", "PnL"), reasons)
    body += f"<h2>Newest {min(SHOWN, len(trades))} of {len(trades)}</h2>" + table(HEADERS, trade_rows(trades))
    return html(request, "Trades", body, active="/trades")


def routes(r: web.RouteTableDef) -> None:
    r.get("/trades")(trades_page)
