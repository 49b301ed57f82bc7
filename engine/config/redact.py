"""The one redaction rule for secrets: a profile names the environment variables that hold its secrets
(API key and secret, Telegram token, notification URLs); whoever shows a profile (`validate`, the
bot's /config) shows whether each is set, never its value (`redacted`).

The values themselves must not reach a log either. Whoever reads one (the notifier its apprise URLs,
the Telegram front its token) hands it to `hide_in_logs`, and from then on every log record of the
process, of any logger at any level, is scrubbed when it is created: the record factory is wrapped,
so apprise's and urllib3's debug lines (which print the URL with its token in the path) are covered as
well as loggers created later and whatever handler a test or the CLI attaches (a logger's own filter
sees only records logged to that very logger, not its children's, and a handler filter only its
handler's). A secret stays hidden for the life of the process: a late line from a worker thread
after shutdown is still scrubbed.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any
from urllib.parse import unquote, urlsplit

PLACEHOLDER = "<redacted>"
MIN_FRAGMENT = 6  # shorter pieces of a URL ("hook", a port) are no credentials, and common words in logs
NUMBER = re.compile(r"[-+]?\d+")


def redacted(data: dict) -> dict:
    """Show which secret-holding environment variables are set, never their values."""
    out = json.loads(json.dumps(data))
    for section, keys in (("venue", ("api_key_env", "api_secret_env")), ("telegram", ("token_env",)),
                          ("notifications", ("urls_env",))):
        for key in keys:
            name = out.get(section, {}).get(key)
            if name:
                out[section][key] = f"{name} ({'set' if os.environ.get(name) else 'not set'})"
    return out


# --- secrets in log records ----------------------------------------------------------------------
_secrets: dict[str, str] = {}  # value → what is shown instead
_pattern: re.Pattern[str] | None = None
_installed = False


def url_secrets(url: str) -> list[str]:
    """The pieces of a notification URL that may be secrets, as they could show in a log line.

    apprise and urllib3 log what they send, not the URL as configured (`json://h/p` becomes
    `http://h/p`, `tgram://TOKEN/chat` becomes `…/botTOKEN/sendMessage`), so besides the whole URL each
    credential-bearing piece is hidden on its own: user and password, a host that is not a host name
    (tgram's token, discord's webhook id), every path segment and every query value."""
    parts = urlsplit(url)
    pieces = [url, url.split("://", 1)[-1]]
    userinfo, _, hostport = parts.netloc.rpartition("@")
    pieces += userinfo.split(":")
    host = re.sub(r":\d+$", "", hostport)
    if not ("." in host or host.lower() == "localhost" or host.startswith("[")):
        pieces += [hostport, *hostport.split(":")]
    pieces += parts.path.split("/")
    pieces += [pair.partition("=")[2] for pair in parts.query.split("&")]
    out: list[str] = []
    for piece in pieces:
        for form in (piece, unquote(piece)):
            # All digits is an id (a bot's, a chat's), not a credential; hiding it would mangle prices.
            if len(form) >= MIN_FRAGMENT and not NUMBER.fullmatch(form) and form not in out:
                out.append(form)
    return out


def hide_in_logs(*values: str, placeholder: str = PLACEHOLDER) -> None:
    """Never show `values` in a log record from now on (empty values are ignored)."""
    global _pattern
    fresh = {v: placeholder for v in values if v and v not in _secrets}
    if not fresh:
        return
    _secrets.update(fresh)
    # Longest first: the whole URL wins over its pieces, so a line keeps its shape around one placeholder.
    _pattern = re.compile("|".join(re.escape(v) for v in sorted(_secrets, key=len, reverse=True)))
    install_log_redaction()


def scrub(text: str) -> str:
    """`text` with every hidden value replaced."""
    pattern = _pattern
    return text if pattern is None else pattern.sub(lambda m: _secrets[m.group(0)], text)


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace hidden values in the record's message, traceback and stack text (in place)."""
    if _pattern is None:
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format call: logging reports it itself when the record is emitted
        return record
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        # Formatters reuse `exc_text` once set, so the traceback is rendered (and scrubbed) once, here.
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def install_log_redaction() -> None:
    """Wrap the log record factory once per process (keeping whatever factory was there)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
