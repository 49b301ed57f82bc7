"""Replies laid out for a phone screen: Telegram HTML, short lines (about 32 characters), most
important figure first, money with a sign and two decimals. Every value from outside is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import yaml

from engine.bot.control.confirmations import Pending
from engine.bot.control.control import PerformanceView, PositionView, StatusView
from engine.bot.notify.events import duration_text
from engine.bot.stats.aggregates import PeriodSummary, Summary
from engine.inspect.status import universe_lines

MAX_TEXT = 4000  # Telegram refuses messages over 4096 characters

COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "uptime, balance, risk, last signals"),
    ("positions", "open positions with PnL"),
    ("summary", "trades, win-rate, PnL"),
    ("performance", "hourly/daily PnL + equity chart"),
    ("pause", "stop new entries"),
    ("resume", "allow entries again"),
    ("panic", "close everything (asks first)"),
    ("rearm", "trade again after the equity hard stop (asks first)"),
    ("close", "close one position: /close P3"),
    ("config", "running profile, no secrets"),
    ("aggression", "switch profile: /aggression NAME"),
    ("logs", "last transitions: /logs 20"),
    ("help", "this list"),
)


def esc(value: Any) -> str:
    return html.escape(str(value), quote=False)


def money(value: Decimal | float | str | None, *, sign: bool = True) -> str:
    if value is None:
        return "–"
    number = Decimal(str(value))
    return f"{number:+,.2f}" if sign else f"{number:,.2f}"


def short_symbol(symbol: str) -> str:
    """`BTC/USDC:USDC` → `BTC`; the quote shows in the balance line."""
    return symbol.split("/", 1)[0]


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """At most `limit` characters, cut between lines (tags never span lines here, so HTML stays valid)."""
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    while lines and len("\n".join(lines)) > limit - 2:
        lines.pop()
    return "\n".join(lines) + "\n…"


def hhmm(moment: datetime | str | None) -> str:
    if moment is None:
        return "–"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%H:%M")


def status_text(v: StatusView) -> str:
    risk = v.risk
    state = risk.get("state", "running")
    if state == "paused":
        entries = f"⏸ paused by {esc(risk.get('paused_by') or '?')}"
    elif state == "halted":
        entries = f"⛔ halted until {hhmm(risk.get('until'))} (daily loss limit)"
    elif state == "cooling_down":
        entries = f"⏸ SL pause until {hhmm(risk.get('until'))}"
    elif state == "flattening":
        entries = f"🚨 flattening: {esc(risk.get('why') or '')}"
    elif state == "stopped_out":
        entries = f"🛑 stopped out: {esc(risk.get('why') or '')}; /rearm to trade again"
    elif risk.get("entries_allowed", True):
        entries = "✅ allowed"
    else:
        entries = f"⛔ {esc(risk.get('why') or state)}"
    aggression = f" ({esc(v.aggression)})" if v.aggression and v.aggression != v.profile else ""
    lines = [
        f"<b>STATUS</b> {esc(v.profile)}{aggression} · {esc(v.mode)}",
        f"up {duration_text(v.uptime)} · {v.now.astimezone(UTC):%H:%M} UTC",
        *(f"balance <b>{money(b, sign=False)}</b> {esc(a)}" for a, b in v.balances.items()),
        f"open <b>{v.open_positions}/{v.max_positions}</b> · today {money(risk.get('day_pnl'))}",
        f"entries {entries}",
        f"SL streak {risk.get('sl_streak', 0)}/{risk.get('sl_streak_limit', '?')}",
        f"signals {v.counters['signals']} · entries {v.counters['entries']} · closed {v.counters['closed']}",
        *(esc(line) for line in universe_lines(v.universe)),
    ]
    if v.signals:
        lines.append("<b>last signals</b>")
        for s in v.signals:
            lines.append(f"{hhmm(s.at)} {esc(short_symbol(s.symbol))} {esc(s.side)} @ {s.price:g}")
            lines.append(f"  <i>{esc(s.reason[:60])}</i>")
    else:
        lines.append("no signal yet")
    return clip("\n".join(lines))


def positions_text(views: Sequence[PositionView]) -> str:
    if not views:
        return "<b>POSITIONS</b>\nnone open"
    lines = [f"<b>POSITIONS</b> ({len(views)})"]
    for p in views:
        upnl = money(p.unrealised_pnl) if p.unrealised_pnl is not None else "–"
        lines.append(f"<b>{esc(p.id)}</b> {esc(short_symbol(p.symbol))} {esc(p.side)} · {esc(p.state)}")
        entry = "–" if p.entry_price is None else f"{p.entry_price:g}"
        lines.append(f"  {p.qty:g} @ {entry} · uPnL <b>{upnl}</b>")
        stop = "" if p.stop_price is None else f" · SL {p.stop_price:g}"
        lines.append(f"  age {duration_text(p.age)}{stop}")
    return clip("\n".join(lines))


def _period(label: str, p: PeriodSummary) -> list[str]:
    return [
        f"<b>{label}</b>",
        f"  trades {p.trades} · wins {p.wins} ({p.win_rate_pct:.0f}%)",
        f"  net <b>{money(p.net_pnl)}</b> · fees {money(p.fees, sign=False)}",
    ]


def summary_text(s: Summary) -> str:
    lines = ["<b>SUMMARY</b> (net after fees)", *_period(f"today {s.day:%m-%d}", s.today),
             *_period("all time", s.all_time)]
    if s.excluded:
        lines.append(f"<i>{s.excluded} rejected/unfilled entries not counted</i>")
    return "\n".join(lines)


def _bars(series: Iterable[tuple[Any, Decimal]], label: Any) -> list[str]:
    return [f"<code>{label(t)} {money(v):>9}</code>" for t, v in series]


def performance_text(view: PerformanceView) -> str:
    p = view.performance
    lines = [
        "<b>PERFORMANCE</b>",
        f"trades {p.trades} · net <b>{money(p.net_pnl)}</b>",
        f"avg hold {duration_text(p.avg_hold)}",
        f"SL streak {p.sl_streak} (max {p.max_sl_streak})",
    ]
    if p.best_day:
        lines.append(f"best day {p.best_day[0]:%m-%d} {money(p.best_day[1])}")
    if p.worst_day:
        lines.append(f"worst day {p.worst_day[0]:%m-%d} {money(p.worst_day[1])}")
    # Only periods with a result: a phone screen has no room for rows of zeros.
    hourly = [(t, v) for t, v in p.hourly if v]
    daily = [(d, v) for d, v in p.daily if v]
    lines.append(f"<b>by hour</b> (UTC, last {len(p.hourly)}h)")
    lines += _bars(hourly, lambda t: f"{t:%d %H}h") or ["  no PnL"]
    lines.append(f"<b>by day</b> (last {len(p.daily)} days)")
    lines += _bars(daily, lambda d: f"{d:%m-%d}") or ["  no PnL"]
    if view.chart is None:
        lines.append("<i>no trade yet: no equity chart</i>")
    return clip("\n".join(lines))


def config_text(data: Mapping[str, Any]) -> str:
    body = yaml.safe_dump(dict(data), sort_keys=False, width=60, allow_unicode=True).rstrip()
    # clipped inside the <pre> so the block stays closed
    return f"<b>CONFIG</b> (merged, secrets redacted)\n<pre>{clip(esc(body), MAX_TEXT - 80)}</pre>"


def logs_text(records: Sequence[Mapping[str, Any]]) -> str:
    if not records:
        return "<b>LOGS</b>\njournal is empty"
    lines = [f"<b>LOGS</b> (last {len(records)})"]
    for r in records:
        when = hhmm(r.get("time"))
        if r.get("machine"):  # the bot's own machine (no seq: a bot record)
            lines.append(f"<code>bot#{r.get('n')} {when}</code> bot {esc(r.get('from'))}→{esc(r.get('to'))} "
                         f"<i>{esc(r.get('event'))}</i> by {esc(r.get('by'))}")
        elif r.get("kind") == "command":
            args = " ".join(f"{k}={v}" for k, v in (r.get("args") or {}).items())
            lines.append(f"<code>#{r.get('seq')} {when}</code> ⚙ {esc(r.get('command'))} "
                         f"by {esc(r.get('by'))} {esc(args)}")
        else:
            lines.append(f"<code>#{r.get('seq')} {when}</code> {esc(r.get('position'))} "
                         f"{esc(short_symbol(str(r.get('symbol', ''))))} {esc(r.get('from'))}→{esc(r.get('to'))} "
                         f"<i>{esc(r.get('event'))}</i>")
    return clip("\n".join(lines))


def help_text(profiles: Sequence[str] = ()) -> str:
    lines = ["<b>COMMANDS</b>", *(f"/{name} – {esc(what)}" for name, what in COMMANDS)]
    if profiles:
        lines.append(f"profiles: {esc(', '.join(profiles))}")
    return "\n".join(lines)


def panic_prompt(pending: Pending, ttl: timedelta) -> str:
    n = pending.args.get("positions", "?")
    return (f"🚨 <b>PANIC</b>: emergency-close all {n} live position(s) at market and cancel their orders?\n"
            f"No entry until /resume once all are flat. Expires in {duration_text(ttl)}.")


def rearm_prompt(pending: Pending, ttl: timedelta) -> str:
    return (f"🛑 The equity hard stop fired: {esc(pending.args.get('reason') or '?')}.\n"
            f"<b>Re-arm</b> and allow entries again (the drawdown is measured from the equity now)?\n"
            f"Expires in {duration_text(ttl)}.")


def close_prompt(pending: Pending, ttl: timedelta) -> str:
    return (f"Close <b>{esc(pending.args.get('position'))}</b> {esc(short_symbol(str(pending.args.get('symbol'))))} "
            f"at market?\nExpires in {duration_text(ttl)}.")
