"""Notification URLs are secrets (tokens sit in their paths, headers and query values): with every
logger at DEBUG, as `-v` sets them, a real apprise notification to the local receiver (and one to a
dead port, whose error names the URL) leaves no piece of a URL's secret in any log record, apprise's
own and urllib3's included; nor do /status, /config or the state folder show them."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config.redact import PLACEHOLDER
from tests.bot.support import close_world, start_world, text
from tests.fakes.apprise_receiver import AppriseReceiver
from tests.fakes.telegram_api import FakeTelegramAPI

PATH_TOKEN = "pathtok-5b1e93c0"
HEADER_TOKEN = "hdrtok-77c2aa01"
DEAD_TOKEN = "deadtok-09af4c12"
SECRETS = (PATH_TOKEN, HEADER_TOKEN, DEAD_TOKEN)


class Records(logging.Handler):
    """Every record that reaches the root logger, formatted as a handler would write it (message,
    traceback, stack)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {self.format(record)}")


@pytest.fixture
def debug_records() -> Iterator[Records]:
    root = logging.getLogger()
    records, level = Records(), root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(records)
    root.setLevel(level)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_notification_url_secrets_reach_no_log_record(tmp_path: Path, api: FakeTelegramAPI,
                                                            hook: AppriseReceiver, debug_records: Records) -> None:
    urls = (f"{hook.url(path=f'hook/{PATH_TOKEN}', query=f'+X-Auth={HEADER_TOKEN}')},"
            f"json://127.0.0.1:{_dead_port()}/dead/{DEAD_TOKEN}")
    world = await start_world(tmp_path, api=api, hook=hook, urls=urls)
    try:
        assert await world.services.telegram_ready(10)
        world.services.notify("start", profile="ctl", mode="paper", positions=0)
        [got] = await hook.wait(1)
        assert got.path == f"/hook/{PATH_TOKEN}" and got.headers.get("X-Auth") == HEADER_TOKEN, "the URL was used"
        assert await world.services.notifier.flush(10)
        assert world.services.notifier.stats.failed == 1, "the dead URL failed (and said why in the logs)"
        replies = [text(await world.ask(command)) for command in ("/status", "/config")]
    finally:
        await close_world(world)

    lines = debug_records.lines
    # apprise did log the URLs it posted to, at DEBUG, and the error naming the dead one: scrubbed
    assert any("JSON POST URL" in line and f"/hook/{PLACEHOLDER}" in line for line in lines)
    assert any("Socket Exception" in line and f"/dead/{PLACEHOLDER}" in line for line in lines)
    assert any(line.startswith("urllib3") and f"/hook/{PLACEHOLDER}" in line for line in lines)
    leaks = [line for line in lines if any(secret in line for secret in SECRETS)]
    assert leaks == [], f"{len(leaks)} log record(s) show a URL secret, first: {leaks[:1]}"
    assert "TEST_APPRISE_URLS" in replies[1]
    for reply in replies:
        assert not [s for s in (*SECRETS, "json://", str(hook.port)) if s in reply]
    stored = [p for p in world.bot.state_dir.rglob("*") if p.is_file()]
    assert stored and not [p for p in stored if any(s.encode() in p.read_bytes() for s in SECRETS)]


async def test_a_tgram_url_token_reaches_no_log_record(monkeypatch: pytest.MonkeyPatch,
                                                       debug_records: Records) -> None:
    """tgram:// carries the bot token where a host would be; apprise posts to `…/bot<token>/sendMessage`
    and urllib3 logs that path at DEBUG. The Bot API host is apprise's class attribute, pointed at the
    fake (the reference, §10); the offline switch is off for this Notifier only because the URL's
    "host" is the token, and nothing but the fake on 127.0.0.1 is contacted."""
    from apprise.plugins.telegram import NotifyTelegram

    from engine.bot.notify.events import Message
    from engine.bot.notify.notifier import Notifier

    token = "654321:TGRAMsecret-tok_9f3a"
    api = await FakeTelegramAPI(token=token).start()
    monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{api.port}/bot")
    notifier = Notifier([f"tgram://{token}/42"], min_interval=0, send_timeout=5, offline=False)
    try:
        assert notifier.enabled
        notifier.start()
        notifier.post(Message("start", "bot started", "mode paper", "info"))
        sent = await api.wait_call("sendMessage")
        assert sent.params["chat_id"] == 42 and "bot started" in sent.params["text"]
        assert await notifier.flush(5) and notifier.stats.sent == 1
    finally:
        await notifier.close(1)
        await api.stop()
    lines = debug_records.lines
    assert any(line.startswith("urllib3") and f"/bot{PLACEHOLDER}/sendMessage" in line for line in lines)
    leaks = [line for line in lines if "TGRAMsecret-tok_9f3a" in line]
    assert leaks == [], f"{len(leaks)} log record(s) show the tgram token, first: {leaks[:1]}"
