"""Who may see and control the bot: the token exchanged once for a session cookie, CSRF on every POST.

With `ENGINE_WEB_TOKEN` set, every page needs a session: a visit to `/?token=TOKEN` (or the login form)
compares the token in constant time, sets an HttpOnly SameSite=Strict cookie and redirects to the page
without the token (so it leaves the address bar and the history). Without a token (only allowed on
127.0.0.1) a browser gets a session on its first visit. Either way a state-changing request is a POST
carrying its session's CSRF token, and on a loopback bind the Host header must name the loopback
address (a DNS-rebinding page cannot pose as it). Every refusal is logged with the address and path,
never with what was sent as a token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from engine.web.bind import Bind, is_loopback

log = logging.getLogger("engine.web.auth")

COOKIE = "engine_session"
MAX_SESSIONS = 256  # the oldest is forgotten first; a forgotten browser logs in again
PUBLIC_PREFIXES = ("/static/",)  # the stylesheet and scripts hold no data
LOGIN = "/login"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WebSession:
    id: str
    csrf: str


SESSION = web.RequestKey("web_session", WebSession)
BY = web.RequestKey("by", str)  # who sent a command, as the journal records it: web:<address>


class Guard:
    def __init__(self, token: str, bind: Bind, login_page: Callable[[str], str]) -> None:
        """`login_page(message)` renders the form a refused browser is shown (status 401)."""
        self._token = token.encode()
        self.bind = bind
        self.login_page = login_page
        self._sessions: OrderedDict[str, WebSession] = OrderedDict()

    @property
    def needs_token(self) -> bool:
        return bool(self._token)

    def token_matches(self, offered: str) -> bool:
        return bool(self._token) and hmac.compare_digest(offered.encode(), self._token)

    def new_session(self) -> WebSession:
        session = WebSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def session_of(self, request: web.Request) -> WebSession | None:
        return self._sessions.get(request.cookies.get(COOKIE, ""))

    def refuse(self, request: web.Request, status: int, why: str) -> web.Response:
        log.warning("web: refused %s %s from %s (%d): %s", request.method, request.path, request.remote, status, why)
        if status == 401:
            return web.Response(status=401, text=self.login_page(why), content_type="text/html")
        return web.Response(status=status, text=f"{status}: {why}\n")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.bind.loopback and not _host_is_loopback(request.host):
            return self.refuse(request, 403, f"Host {request.host!r} is not the loopback address this binds")
        if request.path.startswith(PUBLIC_PREFIXES):
            return await handler(request)
        if "token" in request.query:
            return self._exchange(request, request.query["token"], _without_token(request))
        if request.path == LOGIN:
            return await self._login(request)
        session = self.session_of(request)
        fresh = None
        if session is None:
            if self.needs_token:
                return self.refuse(request, 401, "no session (open /?token=TOKEN or log in)")
            session = fresh = self.new_session()  # loopback without a token: the browser is the user's
        if request.method == "POST":
            form = await request.post()
            if not hmac.compare_digest(str(form.get("csrf", "")).encode(), session.csrf.encode()):
                return self.refuse(request, 403, "missing or wrong CSRF token")
        request[SESSION] = session
        request[BY] = f"web:{request.remote}"
        response = await handler(request)
        if fresh is not None:
            _set_cookie(response, fresh)
        return response

    def _exchange(self, request: web.Request, offered: str, target: str) -> web.Response:
        if not self.needs_token:
            return _see_other(target)  # nothing to exchange; keep the address clean
        if not self.token_matches(offered):
            return self.refuse(request, 401, "wrong token")
        response = _see_other(target)
        _set_cookie(response, self.new_session())
        log.info("web: session opened for %s", request.remote)
        return response

    async def _login(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.Response(text=self.login_page(""), content_type="text/html")
        form = await request.post()
        return self._exchange(request, str(form.get("token", "")), "/")


def _see_other(target: str) -> web.Response:
    return web.Response(status=303, headers={"Location": target})


def _set_cookie(response: web.StreamResponse, session: WebSession) -> None:
    response.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/")


def _without_token(request: web.Request) -> str:
    query = request.rel_url.query.copy()
    query.popall("token", None)
    return str(request.rel_url.with_query(query)) if query else request.path


def _host_is_loopback(host: str) -> bool:
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.rsplit(":", 1)[0]
    return is_loopback(name)
