"""`/positions`: every live position and the machine with the states that hold them highlighted;
`/positions/{id}`: one position's path through the machine and its journal records."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from engine.inspect.diagram import highlight_from_records, to_mermaid
from engine.inspect.transitions_log import LogFilter, describe_payload
from engine.positions.events import PROTECTED
from engine.web.html import duration, esc, money, post_button, state_tag, table
from engine.web.views import DIAGRAMS, csrf_of, html, source_of

HEADERS = ("id", "symbol", "side", "size", "entry", "uPnL", "age", "state", "deadline")


async def positions(request: web.Request) -> web.Response:
    source = source_of(request)
    rows = await source.positions()
    csrf = csrf_of(request)
    protected = set(source.spec.tagged(PROTECTED))
    lines = []
    for p in rows:
        cells = [f'<a href="/positions/{esc(p.id)}">{esc(p.id)}</a>', esc(p.symbol), esc(p.side), esc(p.qty),
                 esc(p.entry if p.entry is not None else "—"), money(p.upnl), duration(p.age), state_tag(p.state),
                 esc(p.deadline or "—")]
        if source.live:
            cells.append(post_button("/control/close", "Close", csrf, fields={"position": p.id})
                         if p.state in protected else "")
        lines.append(cells)
    headers = HEADERS + (("",) if source.live else ())
    body = table(headers, lines, cls="positions") if lines else "<p class=muted>No live position.</p>"
    counts = Counter(p.state for p in rows)
    legend = ", ".join(f"{state_tag(s)} {n}" for s, n in sorted(counts.items())) or "none"
    svg = await request.app[DIAGRAMS].held(dict(counts))
    body += f"<h2>The position machine</h2><p>states holding positions: {legend}</p><div class=diagram>{svg}</div>"
    return html(request, f"Positions ({len(rows)})", body, active="/positions")


async def position(request: web.Request) -> web.Response:
    source = source_of(request)
    pid = request.match_info["id"]
    await source.refresh()
    entries = source.journal.select(LogFilter(position=pid), limit=10_000)[::-1]
    if not entries:
        raise web.HTTPNotFound(text=f"no position {pid} in the journal\n")
    records = source.journal.records(entries)
    highlight = highlight_from_records(pid, records)
    live = {p.id: p for p in await source.positions()}.get(pid)
    summary = f"<p>{esc(records[0].get('symbol', ''))} · now {state_tag(highlight.current)}"
    if live is not None:
        summary += f" · {esc(live.side)} {esc(live.qty)} @ {esc(live.entry or '—')} · uPnL {money(live.upnl)}"
        if source.live and live.state in set(source.spec.tagged(PROTECTED)):
            summary += " " + post_button("/control/close", "Close", csrf_of(request), fields={"position": pid})
    summary += "</p>"
    svg = await request.app[DIAGRAMS].svg(highlight)
    rows = [(esc(r.get("seq")), esc(str(r.get("time", ""))[:19].replace("T", " ")), esc(r.get("event")),
             f"{esc(r.get('from'))} → {esc(r.get('to'))}", esc(describe_payload(r))) for r in records]
    body = (summary + f"<div class=diagram>{svg}</div>"
            + f"<h2>Journal ({len(records)} records)</h2>"
            + table(("seq", "time (UTC)", "event", "from → to", "details"), rows)
            + "<details><summary>mermaid</summary><pre>" + esc(to_mermaid(source.spec, highlight)) + "</pre></details>")
    return html(request, f"Position {pid}", body, active="/positions")


def routes(r: web.RouteTableDef) -> None:
    r.get("/positions")(positions)
    r.get("/positions/{id}")(position)
