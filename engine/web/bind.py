"""Where the dashboard listens, and the rule that guards it: 127.0.0.1 unless a token is set.

Anyone who reaches the port can pause the bot or close its positions, so an address other than the
loopback one is refused (exit 2, nothing started) unless `ENGINE_WEB_TOKEN` is set in the environment.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import UserError

TOKEN_ENV = "ENGINE_WEB_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8088
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Bind:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (a name that resolves elsewhere is not trusted to be local)."""
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


def parse_bind(text: str | None, flag: str = "--web") -> Bind:
    """`HOST:PORT`, `:PORT`, `PORT` or `HOST` (None or "": the default 127.0.0.1:8088). Port 0 picks a
    free one (tests). Raises UserError naming the flag and what was expected."""
    if not text:
        return Bind()
    expected = f"{flag} {text!r}: expected HOST:PORT such as 127.0.0.1:{DEFAULT_PORT}"
    host, port_text = DEFAULT_HOST, str(DEFAULT_PORT)
    if text.startswith("["):  # [::1]:8088
        inside, _, rest = text[1:].partition("]")
        host, port_text = inside, rest.lstrip(":") or port_text
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        host = host or DEFAULT_HOST
    elif text.isdigit():
        port_text = text
    elif ":" in text:
        raise UserError(f"{expected} (an IPv6 address goes in brackets: [::1]:{DEFAULT_PORT})")
    else:
        host = text
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UserError(f"{expected} (the port must be a number from 0 to 65535)")
    if not host or any(c.isspace() for c in host):
        raise UserError(expected)
    return Bind(host, int(port_text))


def web_token(environ: Mapping[str, str] | None = None) -> str:
    """The token from the environment, "" when unset."""
    return (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip()


def check_exposure(bind: Bind, token: str, flag: str = "--web") -> None:
    """Refuse a non-loopback address without a token, and a token too short to resist guessing."""
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise UserError(f"{TOKEN_ENV}: expected at least {MIN_TOKEN_LENGTH} characters (it guards the bot's "
                        "controls); generate one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'")
    if not bind.loopback and not token:
        raise UserError(f"{flag} {bind.host}:{bind.port}: the dashboard controls the bot, so an address other "
                        f"than 127.0.0.1 needs a token: set {TOKEN_ENV} in the environment (and open "
                        f"/?token=TOKEN once), or bind 127.0.0.1")


@dataclass(frozen=True)
class WebSettings:
    """What `run --web` hands its loop: where to listen and the token ("" on loopback without one)."""

    bind: Bind
    token: str = ""


def web_settings(text: str | None, flag: str = "--web", environ: Mapping[str, str] | None = None) -> WebSettings:
    """`--web [HOST:PORT]` checked against the token rule. Raises UserError (exit 2, nothing started)."""
    bind = parse_bind(text, flag)
    token = web_token(environ)
    check_exposure(bind, token, flag)
    return WebSettings(bind, token)
