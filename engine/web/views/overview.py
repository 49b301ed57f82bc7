"""`/`: mode, the bot machine's state and why, balances, PnL today and all time, win-rate, the
equity and drawdown chart, the risk state, the universe, and (live) the bot's controls."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.inspect.status import universe_lines
from engine.web.html import cards, chart, esc, money, post_button, state_tag, table
from engine.web.trades import equity_figure
from engine.web.views import csrf_of, html, source_of

RISK_SHOWN = ("day", "day_pnl", "day_start_balance", "daily_loss_limit", "last_balance", "sl_streak", "sl_streak_limit",
              "max_positions", "peak_equity", "max_drawdown_pct", "min_equity", "since", "until", "by", "last_refusal")


async def overview(request: web.Request) -> web.Response:
    source = source_of(request)
    await source.refresh()
    bot = source.bot_state()
    today = source.now().date()
    figures = source.trades.memo("figures", (today,), lambda: source.trades.figures(today))
    positions = await source.positions()
    balances = await source.balances()
    items = {
        "mode": esc(source.mode),
        "bot": state_tag(bot.state),
        "open positions": esc(len(positions)),
        "today's PnL": f"{money(figures.today_pnl)} <small>{figures.today_trades} trades</small>",
        "all-time PnL": f"{money(figures.net_pnl)} <small>{figures.trades} trades</small>",
        "win-rate": f"{figures.win_rate_pct:.1f} %" if figures.trades else "—",
        "fees": money(figures.fees, sign=False),
    }
    for asset, amount in balances.items():
        items[f"balance {asset}"] = money(amount, sign=False)
    why = "" if bot.why == bot.state.replace("_", " ") else esc(bot.why)
    body = cards(items) + f'<p class=why>bot {state_tag(bot.state)} {why}</p>'
    if source.live:
        body += controls(bot.state, csrf_of(request))
    body += _equity_chart(source)
    body += "<h2>Risk</h2>" + table(("", "value"), _risk_rows(bot.risk), cls="kv")
    universe = universe_lines(source.bot_values().get("universe"), changes=5, names=30)
    if universe:
        body += "<h2>Universe</h2><pre>" + esc("\n".join(universe)) + "</pre>"
    return html(request, "Overview", body, active="/", scripts=("plotly.min.js",))


def controls(state: str, csrf: str) -> str:
    """The bot's buttons; each leads to a confirmation page first."""
    buttons = []
    if state == "paused":
        buttons.append(post_button("/control/resume", "Resume entries", csrf))
    elif state != "stopped_out":
        buttons.append(post_button("/control/pause", "Pause entries", csrf))
    if state == "stopped_out":
        buttons.append(post_button("/control/rearm", "Re-arm", csrf))
    buttons.append(post_button("/control/panic", "PANIC: close everything", csrf, danger=True))
    return "<div class=controls>" + "".join(buttons) + "</div>"


def _equity_chart(source: Any) -> str:
    trades = source.trades.trades
    if not trades:
        return "<p class=muted>No closed trades yet: the equity chart starts with the first close.</p>"
    figure = source.trades.memo("equity", (), lambda: equity_figure(trades, source.starting_balance))
    return "<h2>Equity</h2>" + chart("equity", figure)


def _risk_rows(risk: dict[str, Any]) -> list[tuple[str, str]]:
    return [(esc(k.replace("_", " ")), esc(risk[k])) for k in RISK_SHOWN if risk.get(k) not in (None, "")]


def routes(r: web.RouteTableDef) -> None:
    r.get("/")(overview)
