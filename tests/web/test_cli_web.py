"""`--web` and `web` as a user types them: the address rule (exit 2 with the reason, nothing started),
and `python -m engine web` serving a backtest folder and its neighbours read-only."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from engine.cli.main import main
from engine.web.bind import Bind, parse_bind
from tests.e2e.support import make_profile, state_dir_of
from tests.web.browser import wait_for_url
from tests.web.runs_folders import backtest_folder, net_pnl, study_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "bind"), [
    (None, Bind("127.0.0.1", 8088)), ("", Bind("127.0.0.1", 8088)), ("9000", Bind("127.0.0.1", 9000)),
    (":9000", Bind("127.0.0.1", 9000)), ("0.0.0.0:80", Bind("0.0.0.0", 80)), ("[::1]:8090", Bind("::1", 8090)),
    ("localhost", Bind("localhost", 8088)),
])
def test_bind_forms(text: str | None, bind: Bind) -> None:
    assert parse_bind(text) == bind


@pytest.mark.parametrize("text", ["host:port", "127.0.0.1:70000", "::1:80", "a b:80"])
def test_bad_binds_are_refused_naming_the_flag(text: str) -> None:
    from engine.errors import UserError

    with pytest.raises(UserError, match=r"--web .*expected HOST:PORT"):
        parse_bind(text)


def test_run_refuses_a_public_address_without_a_token_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGINE_WEB_TOKEN", raising=False)
    profile = make_profile(tmp_path, "open")
    assert main(["run", str(profile), "--web", "0.0.0.0:8088", "--candles", "1"]) == 2
    err = capsys.readouterr().err
    assert "--web 0.0.0.0:8088" in err and "ENGINE_WEB_TOKEN" in err and "Traceback" not in err
    assert not state_dir_of(profile).exists(), "nothing started"
    monkeypatch.setenv("ENGINE_WEB_TOKEN", "short")
    assert main(["run", str(profile), "--web", "0.0.0.0:8088", "--candles", "1"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err


def test_web_refuses_a_public_bind_without_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGINE_WEB_TOKEN", raising=False)
    folder = backtest_folder(tmp_path / "bt")
    assert main(["web", "--state", str(folder), "--bind", "0.0.0.0:8088"]) == 2
    assert "--bind 0.0.0.0:8088" in capsys.readouterr().err
    assert main(["web", "--state", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err


async def test_web_serves_a_backtest_folder_and_the_runs_beside_it_read_only(tmp_path: Path) -> None:
    folder = backtest_folder(tmp_path / "runs" / "bt-jan")
    study_folder(tmp_path / "runs" / "study-sl")
    log = tmp_path / "web.log"
    env = {**os.environ, "ENGINE_OFFLINE": "1"}
    env.pop("ENGINE_WEB_TOKEN", None)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "engine", "web", "--state", str(folder), "--bind",
                                 "127.0.0.1:0"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = wait_for_url(proc, log, r"(http://127\.0\.0\.1:\d+)/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async def get(path: str) -> tuple[int, str]:
                async with http.get(url + path) as response:
                    return response.status, await response.text()

            status, overview = await get("/")
            assert status == 200 and "read-only" in overview and "Pause entries" not in overview
            status, runs = await get("/runs")
            assert status == 200 and "bt-jan" in runs and "study-sl" in runs
            status, run = await get("/runs/bt-jan")
            assert status == 200 and "KPIs" in run and f"+{net_pnl():.2f}" in run and "75.0 %" in run
            assert "stop_loss" in run and "take_profit_1" in run
            status, study = await get("/runs/study-sl")
            assert status == 200 and "Best trial" in study and "48.25" in study and "stop_loss_pct: 0.8" in study
            assert study.index("48.25") < study.index("12.5"), "trials best first"
            assert (await get("/runs/../../etc"))[0] == 404
            csrf = re.search(r'data-csrf="([^"]+)"', overview).group(1)  # type: ignore[union-attr]
            async with http.post(url + "/control/pause", data={"csrf": csrf, "confirm": "yes"}) as response:
                assert response.status == 404, "no controls without a bot"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, log.read_text()

