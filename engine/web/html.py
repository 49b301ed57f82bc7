"""The page layout and the few HTML helpers every view uses. Every value that comes from a file or
the bot goes through `esc`; nothing here ever prints a secret (views show what the journal, the
snapshot and the statistics hold, and the profile only through `redacted`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from html import escape
from typing import Any

NAV = (("/", "Overview"), ("/positions", "Positions"), ("/log", "Log"), ("/trades", "Trades"), ("/runs", "Runs"))


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, *, active: str, heading: str, csrf: str = "", live: bool = False,
         scripts: Sequence[str] = ()) -> str:
    """A whole page: the bar (name, mode, links), then `body`. `scripts`: extra /static files."""
    links = "".join(f'<a href="{href}"{" class=on" if href == active else ""}>{name}</a>' for href, name in NAV)
    badge = '<span class="badge live">live</span>' if live else '<span class="badge">read-only</span>'
    tags = "".join(f'<script src="/static/{esc(s)}" defer></script>' for s in ("app.js", *scripts))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · {esc(heading)}</title>"
        f'<link rel=stylesheet href="/static/app.css">{tags}</head>'
        f'<body data-csrf="{esc(csrf)}"><header><strong class=name>{esc(heading)}</strong>{badge}'
        f"<nav>{links}</nav></header><main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "", body_id: str = "") -> str:
    """`rows` hold HTML already escaped (use `esc`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    lines = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    tbody = f'<tbody id="{body_id}">' if body_id else "<tbody>"
    return f'<div class=scroll><table class="{cls}"><thead><tr>{head}</tr></thead>{tbody}{lines}</tbody></table></div>'


def cards(items: Mapping[str, str]) -> str:
    """Figure cards: label → HTML value (escaped by the caller)."""
    return "<div class=cards>" + "".join(f"<div class=card><span>{esc(k)}</span><b>{v}</b></div>"
                                         for k, v in items.items()) + "</div>"


def money(value: Decimal | None, *, sign: bool = True, places: int = 2) -> str:
    if value is None:
        return "—"
    q = Decimal(value).quantize(Decimal(1).scaleb(-places))
    text = f"{q:+,}" if sign else f"{q:,}"
    cls = "pos" if q > 0 else "neg" if q < 0 else ""
    return f'<span class="{cls}">{esc(text)}</span>' if sign else esc(text)


def duration(span: timedelta | None) -> str:
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


def state_tag(state: str) -> str:
    return f'<span class="state s-{esc(state)}">{esc(state)}</span>'


def post_button(action: str, label: str, csrf: str, *, fields: Mapping[str, str] | None = None,
                danger: bool = False) -> str:
    hidden = "".join(f'<input type=hidden name="{esc(k)}" value="{esc(v)}">' for k, v in (fields or {}).items())
    cls = "btn danger" if danger else "btn"
    return (f'<form method=post action="{esc(action)}" class=inline><input type=hidden name=csrf value="{esc(csrf)}">'
            f'{hidden}<button class="{cls}" type=submit>{esc(label)}</button></form>')


def chart(chart_id: str, figure: Mapping[str, Any]) -> str:
    """A plotly chart: the figure travels as JSON in a data block (no inline script: the CSP forbids
    it) and /static/app.js draws it with plotly's own bundle."""
    import json

    data = json.dumps(figure, separators=(",", ":")).replace("</", "<\\/")
    return (f'<div class=chart id="{esc(chart_id)}"></div>'
            f'<script type="application/json" data-chart="{esc(chart_id)}">{data}</script>')


def notice(text: str, *, ok: bool = True) -> str:
    return f'<p class="notice {"ok" if ok else "bad"}">{esc(text)}</p>'


def login_page(message: str) -> str:
    why = f'<p class="notice bad">{esc(message)}</p>' if message else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1"><title>log in · engine</title>'
        '<link rel=stylesheet href="/static/app.css"></head><body><main class=login><h1>engine dashboard</h1>'
        f"{why}<form method=post action=/login><label>token <input type=password name=token "
        "autocomplete=current-password required></label> <button class=btn type=submit>log in</button></form>"
        "<p class=muted>The token is the value of ENGINE_WEB_TOKEN where the bot runs.</p></main></body></html>"
    )
