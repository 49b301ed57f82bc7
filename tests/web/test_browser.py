"""The dashboard in a real browser (Debian's chromium through Playwright) against a paper bot trading
a replay of real candles: every page loads and reads well on a laptop and on a phone (screenshots),
positions and their states appear, the live log grows without a reload, a control with its
confirmation reaches the engine and lands in the journal with who sent it, and a request without the
token gets 401 and changes nothing. One browser and one bot for the whole module (the suite's budget)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import journal_records, make_profile, state_dir_of
from tests.web.browser import (
    CHROMIUM_ARGS,
    LAPTOP,
    PAPER,
    PHONE,
    TOKEN,
    chromium_or_skip,
    keep_shot,
    paper_bot,
)
from tests.web.runs_folders import backtest_folder, study_folder

SECRET_KEY = "browser-test-api-key-never-shown"
PAGES = {"overview": "/", "positions": "/positions", "log": "/log", "trades": "/trades", "runs": "/runs"}


def wait(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[dict[str, Any]]:
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("web")
    profile = make_profile(root, "web", **PAPER)
    backtest_folder(root / "state" / "backtests" / "bt-jan")  # what the runs page finds beside the bot's state
    study_folder(root / "state" / "studies" / "sl")
    env = {"ENGINE_WEB_TOKEN": TOKEN, "BINANCE_API_KEY": SECRET_KEY}
    # 0.2 s a candle: the log moves while the browser watches, and the files outlast the module
    with paper_bot(profile, shared_data, root / "bot.log", speed=1500, env=env) as (url, proc), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=LAPTOP)
        page = context.new_page()
        state = state_dir_of(profile)
        wait(lambda: any(r.get("event") == "entry_filled" for r in journal_records(state)), "a first entry")
        page.goto(f"{url}?token={TOKEN}")
        try:
            yield {"url": url.rstrip("/"), "page": page, "context": context, "browser": browser, "state": state,
                   "shots": root / "shots", "proc": proc, "pw": pw}
        finally:
            context.close()
            browser.close()
        assert proc.poll() is None, "the bot kept trading while the browser used the dashboard"
    assert proc.returncode == 0, "Ctrl+C stopped the bot and its dashboard cleanly"
    assert "run the same command to resume" in (root / "bot.log").read_text()


def test_the_token_exchange_leaves_a_session_cookie_and_a_clean_address(world: dict[str, Any]) -> None:
    page = world["page"]
    assert page.url == world["url"] + "/", "the token is dropped from the address after the exchange"
    [cookie] = [c for c in world["context"].cookies() if c["name"] == "engine_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]


def test_the_equity_chart_is_drawn_by_plotly_served_locally(world: dict[str, Any]) -> None:
    page = world["page"]
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    wait(lambda: any(r.get("to") == "closed" for r in journal_records(world["state"])), "a first closed trade")
    page.goto(world["url"] + "/")
    page.wait_for_selector("#equity .main-svg", timeout=20_000)
    assert all(u.startswith(world["url"]) for u in requests), f"requests off this server: {requests}"
    assert any(u.endswith("/static/plotly.min.js") for u in requests)


def test_positions_and_their_states_appear(world: dict[str, Any]) -> None:
    page = world["page"]

    def live_rows() -> list[list[str]]:
        page.goto(world["url"] + "/positions")
        return [[c.inner_text() for c in row.query_selector_all("td")]
                for row in page.query_selector_all("table.positions tbody tr")]

    rows = wait(live_rows, "a live position on the positions page")
    states = {r[7] for r in rows}
    assert states <= {"entering", "resting", "open", "partial_tp", "closing", "emergency", "cancelling_entry"}
    assert all(r[1].endswith("/USDC:USDC") for r in rows)
    # the machine's diagram fills every state that holds a position
    for state in states:
        node = page.locator("div.diagram g.node", has=page.locator(f"title:text-is('{state}')"))
        assert node.locator("path").first.get_attribute("fill") == "#ffd54f"
    first = rows[0][0]
    page.click(f"text={first}")
    assert page.url.endswith(f"/positions/{first}")
    assert page.locator("table tbody tr").count() >= 2, "its journal records (signal, entry filled, ...)"
    assert "signal" in page.inner_text("main")


def test_the_live_log_updates_without_a_reload(world: dict[str, Any]) -> None:
    page = world["page"]
    page.goto(world["url"] + "/log")
    page.evaluate("window.__same_page = true")
    before = page.locator("#log-rows tr").count()
    page.wait_for_selector("#log-rows tr.new", state="attached", timeout=60_000)
    assert page.evaluate("window.__same_page") is True, "the page was not reloaded"
    assert page.locator("#log-rows tr").count() > before
    newest = page.locator("#log-rows tr").first.locator("td").all_inner_texts()
    assert newest[0].isdigit() or newest[0].startswith("bot#")


def test_every_page_loads_and_is_screenshot_on_laptop_and_phone(world: dict[str, Any]) -> None:
    """After the tests above saw a closed trade and a live position: the pages have something to show."""
    page, shots = world["page"], world["shots"]
    shots.mkdir(exist_ok=True)
    for size_name, size in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        extra = {"position": "/positions/P1", "backtest": "/runs/backtests/bt-jan", "study": "/runs/studies/sl"}
        for name, path in {**PAGES, **extra}.items():
            response = page.goto(world["url"] + path)
            assert response is not None and response.status == 200, f"{path}: {response and response.status}"
            html = page.content()
            assert TOKEN not in html and SECRET_KEY not in html, f"a secret in {path}"
            page.wait_for_load_state("networkidle")
            # nothing wider than the screen but the boxes that scroll on purpose
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a {size_name} screen"
            shot = shots / f"{name}-{size_name}.png"
            page.screenshot(path=str(shot), full_page=True)
            keep_shot(shot)
    page.set_viewport_size(LAPTOP)


def test_pause_with_its_confirmation_lands_in_the_journal(world: dict[str, Any]) -> None:
    page, state = world["page"], world["state"]
    page.goto(world["url"] + "/")
    page.click("button:text('Pause entries')")
    assert "Pause new entries?" in page.inner_text("main")
    for size_name, size in (("laptop", LAPTOP), ("phone", PHONE)):  # the confirmation page, looked at too
        page.set_viewport_size(size)
        shot = world["shots"] / f"confirm-{size_name}.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_shot(shot)
    page.set_viewport_size(LAPTOP)
    assert not [r for r in journal_records(state) if r.get("command") == "pause"], "nothing before the confirmation"
    page.click("button:text('Confirm pause')")
    assert "entries paused" in page.inner_text("main")
    [record] = [r for r in journal_records(state) if r.get("command") == "pause"]
    assert record["by"] == "web:127.0.0.1"
    page.goto(world["url"] + "/")
    assert "paused" in page.inner_text(".why")
    page.click("button:text('Resume entries')")
    page.click("button:text('Confirm resume')")
    assert "entries resumed" in page.inner_text("main")
    assert [r["by"] for r in journal_records(state) if r.get("command") == "resume"] == ["web:127.0.0.1"]


def test_close_a_position_with_its_confirmation(world: dict[str, Any]) -> None:
    page, state = world["page"], world["state"]

    def close_button() -> Any:
        page.goto(world["url"] + "/positions")
        buttons = page.locator("table.positions button:text('Close')")
        return buttons.count() > 0 and buttons

    close_button().first.click() if close_button() else wait(close_button, "an open position").first.click()
    question = page.inner_text("main")
    assert "at market now?" in question
    pid = question.split("Close ", 1)[1].split()[0]
    page.click("button:text('Confirm close')")
    assert "close sent" in page.inner_text("main")
    closes = [r for r in journal_records(state) if r.get("command") == "close"]
    assert [(r["by"], r["args"]["position"]) for r in closes] == [("web:127.0.0.1", pid)]
    manual = [r for r in journal_records(state) if r.get("position") == pid and r.get("event") == "close_requested"]
    assert manual and manual[0]["seq"] > closes[0]["seq"], "journaled before it acts"


def test_a_request_without_the_token_gets_401_and_changes_nothing(world: dict[str, Any]) -> None:
    stranger = world["pw"].request.new_context()  # no cookie, no token
    try:
        seen = len(journal_records(world["state"]))
        for path in PAGES.values():
            assert stranger.get(world["url"] + path).status == 401
        response = stranger.post(world["url"] + "/control/panic", form={"csrf": "guess"}, max_redirects=0)
        assert response.status == 401
        assert stranger.get(world["url"] + "/?token=wrong-token-0123456789").status == 401
        records = journal_records(world["state"])
        assert not [r for r in records[seen:] if r.get("kind") == "command"], "nothing was commanded"
        assert world["browser"].contexts, "the logged-in browser is untouched"
    finally:
        stranger.dispose()
