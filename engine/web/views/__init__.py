"""One module per page; each exposes `routes(app_routes)` and reads only through `engine.web.source`."""

from __future__ import annotations

from aiohttp import web

from engine.web.auth import SESSION
from engine.web.diagrams import Diagrams
from engine.web.html import page
from engine.web.source import Source

SOURCE = web.AppKey("source", Source)
DIAGRAMS = web.AppKey("diagrams", Diagrams)


def source_of(request: web.Request) -> Source:
    return request.app[SOURCE]


def csrf_of(request: web.Request) -> str:
    session = request.get(SESSION)
    return session.csrf if session is not None else ""


def html(request: web.Request, title: str, body: str, *, active: str, status: int = 200,
         scripts: tuple[str, ...] = ()) -> web.Response:
    source = source_of(request)
    text = page(title, body, active=active, heading=source.title, csrf=csrf_of(request), live=source.live,
                scripts=scripts)
    return web.Response(text=text, content_type="text/html", status=status)

