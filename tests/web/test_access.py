"""Who gets in: the token exchanged for an HttpOnly SameSite=Strict cookie, 401 (logged, nothing
changed) without it, CSRF on every POST, the Host header on a loopback bind, no secret in any page."""

from __future__ import annotations

import logging

import pytest

from tests.bot.support import ETH
from tests.web.conftest import WEB_TOKEN, Dash

PAGES = ("/", "/positions", "/log", "/trades", "/runs")


async def test_the_token_becomes_a_session_cookie_and_leaves_the_address(dash: Dash) -> None:
    other = await dash.stranger()
    try:
        response = await other.get(f"/log?token={WEB_TOKEN}&event=signal", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/log?event=signal"
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and WEB_TOKEN not in cookie
        assert (await other.get("/log")).status == 200
    finally:
        await other.close()


async def test_without_the_token_every_page_is_401_logged_and_nothing_changes(
    dash: Dash, caplog: pytest.LogCaptureFixture
) -> None:
    await dash.world.open(ETH)
    before = dash.world.bot.records()
    other = await dash.stranger()
    try:
        with caplog.at_level(logging.WARNING, logger="engine.web.auth"):
            for path in PAGES:
                response = await other.get(path)
                assert response.status == 401 and "log in" in await response.text()
            for action in ("pause", "panic"):
                assert (await other.post(f"/control/{action}", data={"csrf": "x", "confirm": "yes"})).status == 401
            assert (await other.post("/control/close", data={"position": "P1"})).status == 401
            assert (await other.get("/?token=not-the-token-0123456789", allow_redirects=False)).status == 401
    finally:
        await other.close()
    assert dash.world.bot.records() == before and dash.world.services.session.bot.state == "running"
    assert dash.world.book.live["P1"].state == "open"
    refusals = [r.getMessage() for r in caplog.records]
    assert len(refusals) == len(PAGES) + 4 and all("refused" in m and "127.0.0.1" in m for m in refusals)
    assert not any("not-the-token" in m for m in refusals), "what was offered as a token is not logged"


async def test_a_post_without_its_csrf_token_is_refused(dash: Dash) -> None:
    for form in ({}, {"csrf": "wrong", "confirm": "yes"}):
        response = await dash.client.post("/control/pause", data={**form, "confirm": "yes"})
        assert response.status == 403
    assert dash.world.services.session.bot.state == "running" and dash.world.commands() == []


async def test_a_foreign_host_header_is_refused_on_a_loopback_bind(dash: Dash) -> None:
    response = await dash.client.get("/", headers={"Host": "evil.example:8088"})
    assert response.status == 403


async def test_no_secret_appears_in_any_page(dash: Dash, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"BINANCE_API_KEY": "unit-api-key-never-shown", "BINANCE_API_SECRET": "unit-api-secret-never-shown",
               "TELEGRAM_BOT_TOKEN": "123:unit-telegram-never-shown"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    await dash.world.open(ETH)
    for path in (*PAGES, "/positions/P1", "/log?position=P1"):
        response = await dash.client.get(path)
        text = await response.text()
        assert response.status == 200, path
        for value in (*secrets.values(), WEB_TOKEN, dash.world.services.session.loaded.profile.name + "-token"):
            assert value not in text, f"{path} shows a secret"
    assert "Content-Security-Policy" in response.headers
