"""The aiohttp application: the guard's middleware, security headers, every page's routes, and the
static files (our stylesheet and script, and plotly's bundled JavaScript from the installed package,
so no page ever loads anything from a CDN)."""

from __future__ import annotations

import asyncio
from importlib.util import find_spec
from pathlib import Path

from aiohttp import web

from engine.web.auth import Guard
from engine.web.bind import Bind
from engine.web.diagrams import Diagrams
from engine.web.html import login_page
from engine.web.source import Source
from engine.web.sse import STREAMS, log_stream
from engine.web.views import DIAGRAMS, SOURCE, controls, log, overview, positions, trades
from engine.web.views import runs as runs_view

STATIC = Path(__file__).parent / "static"
# Scripts only from this origin (no inline script: charts carry their data as JSON blocks); plotly
# sets inline styles; nothing may frame the dashboard (clickjacking the controls).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def plotly_js() -> Path | None:
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


@web.middleware
async def security_headers(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "plotly.min.js":
        path = plotly_js()
        if path is None:
            raise web.HTTPNotFound(text="plotly is not installed\n")
    elif name in ("app.css", "app.js"):
        path = STATIC / name
    else:
        raise web.HTTPNotFound()
    response = web.FileResponse(path)
    response.headers["Cache-Control"] = "max-age=3600"
    return response


def build_app(source: Source, bind: Bind, token: str) -> web.Application:
    guard = Guard(token, bind, login_page)
    app = web.Application(middlewares=[security_headers, guard.middleware], client_max_size=64 * 1024)
    app[SOURCE] = source
    app[DIAGRAMS] = Diagrams(source.spec)
    app[STREAMS] = asyncio.Event()
    routes = web.RouteTableDef()
    routes.get("/static/{name}")(_static)
    routes.get("/log/stream")(log_stream)
    for view in (overview, positions, log, trades, runs_view, controls):
        view.routes(routes)
    app.add_routes(routes)
    return app
