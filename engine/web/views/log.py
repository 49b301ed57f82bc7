"""`/log`: the transition journal, newest first, filtered by position, symbol, event and time, kept up
to date without a reload by `/log/stream` (server-sent events, `engine.web.sse`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from engine.inspect.transitions_log import LogFilter, describe_payload
from engine.web.html import esc, notice, table
from engine.web.views import html, source_of

SHOWN = 200
COLUMNS = ("label", "time", "position", "symbol", "event", "edge", "details")
HEADERS = ("seq", "time (UTC)", "position", "symbol", "event", "from → to", "details")
FIELDS = ("position", "symbol", "event", "since")


def log_filter(query: Any) -> LogFilter:
    """The filter of a query string; a `since` that is not an ISO time is a 400 naming it."""
    since = None
    text = (query.get("since") or "").strip()
    if text:
        try:
            since = datetime.fromisoformat(text)
        except ValueError:
            raise web.HTTPBadRequest(text=f"since={text!r}: expected an ISO time such as 2025-03-01T12:00\n") from None
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return LogFilter(*((query.get(k) or "").strip() or None for k in ("position", "symbol", "event")), since=since)


def row(record: dict[str, Any], entry: Any) -> dict[str, str]:
    """One log line's cells, as plain text (the page escapes them, the stream's script sets textContent)."""
    edge = f"{record['from']} → {record['to']}" if "from" in record else "-"
    return {"label": entry.label, "time": entry.time[:19].replace("T", " "), "position": entry.position or "-",
            "symbol": entry.symbol or "-", "event": entry.event, "edge": edge, "details": describe_payload(record)}


async def log_page(request: web.Request) -> web.Response:
    source = source_of(request)
    flt = log_filter(request.query)
    await source.refresh()
    entries = source.journal.select(flt, SHOWN)
    cells = [row(r, e) for r, e in zip(source.journal.records(entries), entries, strict=True)]
    values = {k: request.query.get(k, "") for k in FIELDS}
    inputs = "".join(f'<label>{k} <input name="{k}" value="{esc(v)}" size=12></label> ' for k, v in values.items())
    body = f'<form method=get class=filters>{inputs}<button class=btn type=submit>filter</button></form>'
    if source.journal.damage:
        body += notice(f"the journal stops reading at {source.journal.damage} (python -m engine repair)", ok=False)
    stream = "/log/stream?" + urlencode({**{k: v for k, v in values.items() if v},
                                         "after": len(source.journal.entries)})
    body += (f'<p class=muted>newest first; the last {SHOWN} matching records; new ones appear live '
             f'<span id=live-status></span></p>')
    body += table(HEADERS, ([esc(c[k]) for k in COLUMNS] for c in cells), cls="log", body_id="log-rows")
    body += f'<div id=log-stream data-src="{esc(stream)}" hidden></div>'
    return html(request, "Transition log", body, active="/log")


def routes(r: web.RouteTableDef) -> None:
    r.get("/log")(log_page)  # its stream, /log/stream, is engine.web.sse's
